"""Run the app under cProfile: `python bench/api/profiled.py OUT.prof main.py` (bench.api --profile uses it).

The profile covers the whole process life and is written at exit: uvicorn shuts down on SIGTERM and then raises
the signal again with the handler it found, which here exits Python normally instead of killing the process.
Deterministic profiling inflates the cost of small Python calls, so read it for where the time goes relative to
the rest, and compare changes with the unprofiled bench.
"""

from __future__ import annotations

import atexit
import cProfile
import runpy
import signal
import sys

if __name__ == '__main__':
    out, script = sys.argv[1], sys.argv[2]
    sys.argv = [script]
    sys.path.insert(0, '.')
    profiler = cProfile.Profile()
    atexit.register(profiler.dump_stats, out)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    profiler.enable()
    runpy.run_path(script, run_name='__main__')
