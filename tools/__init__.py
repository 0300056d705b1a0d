"""Tools run from a checkout, never installed: the benchmark (``scripts/bench``), the
text-quality report (``scripts/quality``) and the search measures both use (evaluate).

They print and exit, which the package never does, and they import ``indexer`` as any
other caller would. ``pyproject.toml`` finds ``indexer*`` packages only, so a wheel or
``pip install .`` leaves this folder out.
"""
