"""``python -m strassentile_lab.cli NAME [ARGS]``: the Python-side experiments (they need the ``hf`` extra)."""
from __future__ import annotations

import sys

COMMANDS = {"convert-minilm": "strassentile_lab.convert_minilm"}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m strassentile_lab.cli {{{','.join(COMMANDS)}}} [--help]", file=sys.stderr)
        return 2
    import importlib
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
