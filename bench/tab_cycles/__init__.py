"""What closed tabs leave in garbage cycles: `python -m bench.tab_cycles` (see __main__.py)."""
