"""Seed-scale benchmarks, each run from the repository root as `python -m bench.NAME` (see README.md)."""
