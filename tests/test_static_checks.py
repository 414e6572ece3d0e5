"""ruff and mypy run by the suite, as configured in pyproject.toml, so `python3 dev.py test` and CI run them too."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dev

# A cold mypy run (no .mypy_cache, as in CI) reads the typed sources of nicegui, fastapi, openai and sqlalchemy:
# about 10 s alone on this 2-core machine; the margin covers a loaded one.
STATIC_CHECK_TIMEOUT = 300


def _check(*command: str) -> None:
    """Run a checker of this environment in the project root; fail the test with its whole output."""
    result = subprocess.run([sys.executable, '-m', *command], cwd=dev.ROOT, capture_output=True, text=True,
                            timeout=STATIC_CHECK_TIMEOUT)
    if result.returncode != 0:
        pytest.fail(f'`{" ".join(command)}` failed (exit {result.returncode}):\n{result.stdout}{result.stderr}',
                    pytrace=False)


@pytest.mark.timeout(STATIC_CHECK_TIMEOUT)
def test_ruff_is_clean() -> None:
    _check('ruff', 'check', '.')


@pytest.mark.timeout(STATIC_CHECK_TIMEOUT)
def test_mypy_is_clean() -> None:
    _check('mypy')  # which files, and strict for app/, come from [tool.mypy] in pyproject.toml
