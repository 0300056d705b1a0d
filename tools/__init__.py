"""Tools run from a checkout, never installed: the benchmark (``scripts/bench``), the
text-quality report (``scripts/quality``), the search measures both use (evaluate) and
the synthetic archive of N unique articles (synth).

They print and exit, which the package never does, and they import ``indexer`` as any
other caller would. ``pyproject.toml`` finds ``indexer*`` packages only, so a wheel or
``pip install .`` leaves this folder out.
"""
