"""dev.py: one environment for every command, installed from requirements.lock, which must match pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import dev

INSTALLING = 'Installing'  # dev.py prints this when, and only when, it installs


def test_lock_matches_pyproject() -> None:
    assert dev.lock_problem() is None, f'{dev.lock_problem()}: run `python3 dev.py lock`'


def test_a_changed_dependency_asks_for_a_new_lock(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    pyproject = project / 'pyproject.toml'
    pyproject.write_text(pyproject.read_text().replace('dependencies = [', 'dependencies = [\n    "six",', 1))
    result = _dev(project, 'test', '--version')
    assert result.returncode != 0
    assert "pyproject.toml's dependencies changed since requirements.lock was written: run `python3 dev.py lock`" \
        in result.stderr
    assert INSTALLING not in result.stdout


def test_run_after_test_installs_nothing(tmp_path: Path) -> None:
    project = _project_copy(tmp_path)
    _venv_seeing_this_environment(project / '.venv')
    first = _dev(project, 'test', '--version')
    assert first.returncode == 0, first.stdout + first.stderr
    assert INSTALLING in first.stdout
    assert 'pytest' in first.stdout + first.stderr  # the command itself ran, in .venv
    second = _dev(project, 'run')  # the copy has no main.py: Python's complaint about it shows the command ran
    assert INSTALLING not in second.stdout, second.stdout + second.stderr
    assert 'main.py' in second.stderr


def _project_copy(tmp_path: Path) -> Path:
    """dev.py with the project's dependency files, in a folder of its own."""
    for name in ('dev.py', 'pyproject.toml', 'requirements.lock'):
        shutil.copy(dev.ROOT / name, tmp_path / name)
    return tmp_path


def _venv_seeing_this_environment(path: Path) -> None:
    """A real .venv whose site-packages lead to this one's, so pip finds the locked packages installed already."""
    venv.EnvBuilder(with_pip=False, symlinks=True).create(path)
    site = next(path.glob('lib*/python*/site-packages'), None) or path / 'Lib' / 'site-packages'
    paths = {sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib']}
    (site / 'this_environment.pth').write_text('\n'.join(sorted(paths)) + '\n')


def _dev(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the copy's dev.py as a user would."""
    return subprocess.run([sys.executable, str(project / 'dev.py'), *args], cwd=project, capture_output=True,
                          text=True, timeout=300)
