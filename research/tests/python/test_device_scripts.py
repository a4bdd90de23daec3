"""research/device/*.sh run only on a GPU machine, where a syntax error costs a whole call: each must parse here."""
import pathlib
import subprocess

import pytest

DEVICE = pathlib.Path(__file__).resolve().parents[2] / "device"
SCRIPTS = sorted(DEVICE.glob("*.sh"))


def test_the_device_folder_has_its_scripts():
    names = {s.name for s in SCRIPTS}
    assert {"run_lm_device.sh", "run_vit_device.sh", "run_side_by_side.sh", "convergence_calls.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda s: s.name)
def test_script_parses(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_side_by_side_needs_an_out_dir():
    result = subprocess.run(["bash", str(DEVICE / "run_side_by_side.sh")], capture_output=True, text=True)
    assert result.returncode != 0
    assert "usage: run_side_by_side.sh OUT_DIR" in result.stderr
