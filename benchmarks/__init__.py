"""The shipped benchmark: `python -m benchmarks.run` (see docs/benchmarks.md)."""
