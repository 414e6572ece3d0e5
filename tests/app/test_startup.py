"""Start-up: a database that cannot be opened stops the app with one line; the storage secret survives restarts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from app.config import stable_secret
from tests.conftest import ROOT, app_env, free_port


def start_failing(tmp_path: Path, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **app_env(None), 'DATA_DIR': str(tmp_path / 'data'), 'DATABASE_URL': database_url,
           'PORT': str(free_port())}
    env.pop('PYTEST_CURRENT_TEST', None)
    env.pop('NICEGUI_USER_SIMULATION', None)
    return subprocess.run([sys.executable, 'main.py'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_an_unopenable_database_stops_start_up_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / 'file'
    blocker.write_text('not a folder')
    result = start_failing(tmp_path, f'sqlite:///{blocker}/nicechat.db')
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('Database error: ') and str(blocker) in lines[0], result.stderr
    assert 'Traceback' not in result.stdout + result.stderr


def test_an_unreachable_postgresql_is_one_line_without_its_password(tmp_path: Path) -> None:
    result = start_failing(tmp_path, f'postgresql://chat:hunter2-SECRET@127.0.0.1:{free_port()}/chat')
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('Database error: '), result.stderr
    assert 'hunter2-SECRET' not in result.stdout + result.stderr and '127.0.0.1' in lines[0]


def test_the_storage_secret_is_made_once_kept_private_and_reused(tmp_path: Path) -> None:
    folder = tmp_path / 'data'
    secret = stable_secret(folder)
    assert len(secret) >= 32
    assert stat.S_IMODE((folder / 'storage-secret').stat().st_mode) == 0o600
    assert stable_secret(folder) == secret
    assert stable_secret(tmp_path / 'other') != secret
