"""Ending a test server's process: politely first, then for sure."""

from __future__ import annotations

import subprocess

# Seconds a server may take to exit after SIGTERM before it gets SIGKILL.
TERM_TIMEOUT_S = 10


def end(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited within TERM_TIMEOUT_S; returns once it is gone."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(TERM_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
