"""Experiments built on strassentile (they need the ``hf`` extra; ``import strassentile`` never imports them):
the approximation report of issue 5 (``make approximation-report``) and the ``strassentile-experiment``
commands (cli.py)."""
