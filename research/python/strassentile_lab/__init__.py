"""The research lab's Python experiments built on strassentile (they need the ``hf`` extra): the approximation
report of issue 5 (``make approximation-report``) and the ``python -m strassentile_lab.cli`` commands. Not part of
the installed package: run with ``PYTHONPATH=python:research/python``."""
