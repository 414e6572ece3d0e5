"""Bootstrap: make an isolated environment in .venv, install what the project needs, then run it.

    python3 dev.py run     # the app (demo mode unless .env or the environment configures a model)
    python3 dev.py test    # the test suite (extra arguments go to pytest)

Needs only Python 3.11+; everything else comes from PyPI into .venv, reinstalled when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / '.venv'
PYTHON = VENV / ('Scripts/python.exe' if os.name == 'nt' else 'bin/python')
EXTRAS = {'run': [], 'test': ['test'], 'bench': ['test']}


def main() -> int:
    """Ensure the environment for the command, then run it."""
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ('', [])
    if command not in EXTRAS:
        print(__doc__)
        return 2
    if sys.version_info < (3, 11):  # noqa: UP036  # dev.py is what tells users of an older Python
        print(f'Python 3.11 or newer is needed (this is {sys.version.split()[0]}).')
        return 1
    ensure_environment(EXTRAS[command])
    if command == 'run':
        argv = [str(PYTHON), 'main.py', *args]
    elif command == 'test':
        argv = [str(PYTHON), '-m', 'pytest', *args]
    else:
        argv = [str(PYTHON), '-m', f'bench.{args[0] if args else "api"}', *args[1:]]
    os.chdir(ROOT)
    if os.name == 'nt':
        return subprocess.call(argv)
    os.execv(argv[0], argv)
    return 0


def ensure_environment(extras: list[str]) -> None:
    """Create .venv and install the dependencies (with `extras`) unless already done for this pyproject."""
    import tomllib  # here, not at the top: Python < 3.11 has none, and main() must be able to say so

    project = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']
    requirements = list(project['dependencies'])
    for extra in extras:
        requirements += project['optional-dependencies'][extra]
    digest = hashlib.sha256('\n'.join(requirements).encode()).hexdigest()[:16]
    stamp = VENV / f'.installed-{digest}'
    if stamp.exists():
        return
    if not PYTHON.exists():
        print('Creating .venv ...', flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print('Installing dependencies into .venv ...', flush=True)
    pip = [str(PYTHON), '-m', 'pip', 'install', '--disable-pip-version-check', '--quiet']
    subprocess.run([*pip, *requirements], check=True)
    for old in VENV.glob('.installed-*'):
        old.unlink()
    stamp.touch()


if __name__ == '__main__':
    sys.exit(main())
