"""Benchmark of the database layer (`python -m bench.store`)."""
