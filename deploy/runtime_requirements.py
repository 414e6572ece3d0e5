"""Print the part of requirements.lock the app needs at run time: the Dockerfile installs only that, with hashes.

The lock pins every extra too (tests, linters, benchmarks); an image needs only the project's own dependencies and
what they pull in. uv writes, under each pin, which packages need it (`# via`), so the run-time set is the project's
direct dependencies (pyproject.toml's [project] dependencies) and, repeatedly, anything one of them needs. pip's
--require-hashes then refuses to install if anything needed were missing.

    python deploy/runtime_requirements.py pyproject.toml requirements.lock > runtime.txt
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_PIN = re.compile(r'^([A-Za-z0-9][A-Za-z0-9._-]*)==')
_NAME = re.compile(r'^\s*([A-Za-z0-9][A-Za-z0-9._-]*)')


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r'[-_.]+', '-', name).lower()


def runtime_blocks(pyproject: str, lock: str) -> dict[str, str]:
    """The lock's entries (name -> their text: pins, hashes, comments) that the project needs at run time.

    A name may have several entries, one per range of Python versions (`deprecated==1.3.1 ; python_full_version <
    '3.12'`): all of them are kept, and pip picks the one whose marker fits.
    """
    direct = {normalized(_NAME.match(spec).group(1))  # type: ignore[union-attr]
              for spec in tomllib.loads(pyproject)['project']['dependencies']}
    blocks: dict[str, list[str]] = {}
    parents: dict[str, set[str]] = {}
    current = ''
    for line in lock.splitlines():
        if pin := _PIN.match(line):
            current = normalized(pin.group(1))
            blocks.setdefault(current, []).append(line)
            parents.setdefault(current, set())
        elif current and line.startswith(' '):
            blocks[current].append(line)
            comment = line.strip().removeprefix('#').strip()
            if line.strip().startswith('#') and comment != 'via':
                parent = comment.removeprefix('via ').split(' (')[0].strip()
                parents[current].add(normalized(parent))
    selected = direct & blocks.keys()
    while grown := {name for name, needed_by in parents.items() if name not in selected and needed_by & selected}:
        selected |= grown
    return {name: '\n'.join(blocks[name]) for name in sorted(selected)}


def main() -> None:
    pyproject, lock = (Path(arg).read_text() for arg in sys.argv[1:3])
    print('\n'.join(runtime_blocks(pyproject, lock).values()))


if __name__ == '__main__':
    main()
