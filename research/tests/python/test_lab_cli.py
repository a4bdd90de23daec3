"""python -m strassentile_lab.cli: the lab's experiments by name."""
from strassentile_lab import cli


def test_unknown_or_missing_command_prints_the_usage(capsys):
    assert cli.main([]) == 2
    assert cli.main(["nope"]) == 2
    assert "usage: python -m strassentile_lab.cli {convert-minilm}" in capsys.readouterr().err
