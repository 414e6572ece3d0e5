"""Benchmark of the NDJSON API (`python -m bench.api`)."""
