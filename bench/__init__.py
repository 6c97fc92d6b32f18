"""Benchmarks of the service: `python -m bench [COMMAND]`, one command per measured thing.

`throughput` (the default), `batching`, `reliability` and `request-path` each live in the module
of that name; `server`, `load`, `models`, `workload` and `report` are what they share (the
gunicorn process and HTTP calls, load generators, the real-shape models, the texts sent, tables
and JSON). Outputs go to bench/out/ (git-ignored); bench/RESULTS.md keeps the recorded runs.
"""
