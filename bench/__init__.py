"""Benchmarks: every figure is a ratio against bare Temporal, same run (docs/operating.md).

Each scenario is a module with a ``main()`` (``python -m bench.ingest``, ``bench.latency``,
``bench.drain``, ``bench.scale``; ``python -m bench.run_all`` runs them all, ``--quick`` for a
short smoke run). Each starts its own stack (``bench.stack``): a Temporal dev server on a
temporary SQLite file, the stand-in Graph API, the API and the worker as subprocesses. Results are
printed as a table and appended as one JSON line to ``bench/results/<scenario>.jsonl``.

Nothing here is a test: the numbers depend on the machine, so no threshold is asserted anywhere.
"""
