"""Bootstrap: make an isolated environment in .venv, install the locked dependencies, then run the project.

    python3 dev.py run     # the app (demo mode unless .env or the environment configures a model)
    python3 dev.py test    # the test suite, ruff and mypy included (extra arguments go to pytest)
    python3 dev.py bench [api|render]   # a benchmark
    python3 dev.py lock    # rewrite requirements.lock after changing pyproject.toml's dependencies
                           # (extra arguments go to `uv pip compile`, e.g. --upgrade)

Needs only Python 3.11+: pip installs everything requirements.lock pins into .venv, checking every file's hash.
One environment serves every command; pip touches it again only when requirements.lock changes.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / '.venv'
PYTHON = VENV / ('Scripts/python.exe' if os.name == 'nt' else 'bin/python')
LOCK = ROOT / 'requirements.lock'
COMMANDS = ('run', 'test', 'bench', 'lock')
# The lock covers every platform (--universal) and every Python the project allows, all extras included, so one
# file serves Linux, macOS and Windows; pip checks each download against the hashes of all of a release's files.
LOCK_OPTIONS = ('--all-extras', '--universal', '--python-version', '3.11', '--generate-hashes',
                '--custom-compile-command', 'python3 dev.py lock', '--quiet')
# The lock records a digest of what pyproject.toml declares, so a dependency declared but not locked is caught.
DIGEST_PREFIX = '# pyproject.toml dependencies digest: '
IGNORED_LOCATION = re.compile(r"WARNING: Location '.*' is ignored: it is neither a file nor a directory\.$")


def main() -> int:
    """Ensure the environment for the command, then run it."""
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ('', [])
    if command not in COMMANDS:
        print(__doc__)
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036  # dev.py is what tells users of an older Python
        print(f'Python 3.11 or newer is needed (this is {sys.version.split()[0]}).')
        return 1
    os.chdir(ROOT)
    if command == 'lock':
        ensure_environment(check_lock=False)  # the current lock brings uv, even when it lags behind pyproject
        return write_lock(args)
    ensure_environment()
    if command == 'run':
        argv = [str(PYTHON), 'main.py', *args]
    elif command == 'test':
        argv = [str(PYTHON), '-m', 'pytest', *args]
    else:
        argv = [str(PYTHON), '-m', f'bench.{args[0] if args else "api"}', *args[1:]]
    if os.name == 'nt':
        return subprocess.call(argv)
    os.execv(argv[0], argv)
    return 0


def ensure_environment(check_lock: bool = True) -> None:
    """Create .venv and install requirements.lock into it, hashes checked, unless this very lock is installed."""
    if not LOCK.exists():
        sys.exit('requirements.lock is missing: restore it with `git checkout requirements.lock`.')
    if check_lock and (problem := lock_problem()):
        sys.exit(f'{problem}: run `python3 dev.py lock`.')
    stamp = VENV / f'.installed-{hashlib.sha256(LOCK.read_bytes()).hexdigest()[:16]}'
    if stamp.exists():
        return
    if not PYTHON.exists() or subprocess.run([str(PYTHON), '-c', 'import pip'], capture_output=True).returncode:
        create_environment()
    print('Installing the locked dependencies into .venv ...', flush=True)
    pip = [str(PYTHON), '-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', '--require-hashes']
    if run_pip([*pip, '--requirement', str(LOCK)]) != 0:
        sys.exit('Installing requirements.lock into .venv failed (pip says why above).')
    for old in VENV.glob('.installed-*'):
        old.unlink()
    stamp.touch()


def create_environment() -> None:
    """Make .venv with pip in it, anew if an earlier attempt left one without."""
    if importlib.util.find_spec('ensurepip') is None:  # Debian and Ubuntu keep it in a package of its own
        sys.exit('This Python cannot put pip into a virtual environment: install python3-venv (Debian, Ubuntu).')
    print('Creating .venv ...', flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)


def run_pip(command: list[str]) -> int:
    """Run pip, passing on its messages except one warning per package about a configured index that lacks it."""
    # pip.conf may list extra (local) indexes; pip warns for each package one of them lacks, which is harmless here.
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as pip:
        assert pip.stderr is not None
        for line in pip.stderr:
            if not IGNORED_LOCATION.match(line):
                sys.stderr.write(line)
    return pip.returncode


def declared_digest() -> str:
    """A digest of pyproject.toml's Python range, dependencies and extras (comments and layout aside)."""
    import tomllib  # here, not at the top: Python < 3.11 has none, and main() must be able to say so

    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    declared = {key: project.get(key) for key in ('requires-python', 'dependencies', 'optional-dependencies')}
    return hashlib.sha256(json.dumps(declared, sort_keys=True).encode()).hexdigest()[:16]


def lock_problem() -> str | None:
    """Why requirements.lock does not fit pyproject.toml, or None when it does."""
    if not LOCK.exists():
        return 'requirements.lock is missing'
    if f'{DIGEST_PREFIX}{declared_digest()}' not in LOCK.read_text().splitlines():
        return "pyproject.toml's dependencies changed since requirements.lock was written"
    return None


def write_lock(args: list[str]) -> int:
    """Resolve pyproject.toml into requirements.lock with uv (keeping current pins where they still fit)."""
    command = [str(PYTHON), '-m', 'uv', 'pip', 'compile', 'pyproject.toml', *LOCK_OPTIONS, *args]
    if subprocess.run([*command, '--output-file', LOCK.name]).returncode != 0:
        return 1
    lines = LOCK.read_text().splitlines(keepends=True)
    header = next(i for i, line in enumerate(lines) if not line.startswith('#'))  # after uv's own comment lines
    lines.insert(header, f'{DIGEST_PREFIX}{declared_digest()}\n')
    LOCK.write_text(''.join(lines))
    pins = sum(1 for line in lines if '==' in line and not line.startswith(' '))
    print(f'Wrote {LOCK.name}: {pins} pinned packages; the next `python3 dev.py run` or `test` installs them.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
