"""Soak of the API and the page: `python -m bench.soak` (see __main__.py)."""
