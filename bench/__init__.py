"""Throughput and latency benchmarks: raw `generate` ceiling vs the engine vs HTTP end to end.

Run `python -m bench.run` (see bench/run.py and bench/RESULTS.md). Raw outputs go to bench/out/,
which git ignores.
"""
