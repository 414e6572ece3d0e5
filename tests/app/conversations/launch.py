"""Runs main.py as `python main.py` does, with personal API keys stood in for until the keys feature lands.

The stand-in is the seam the real keys use: `Access(settings, lookup=...)`, whose lookup maps a presented secret to
`Caller(id='key:<id>', owner_id=<users.id>)`. Here each secret in KEYS names a person, made (or found) through the
store exactly as the page makes one for a sign-in proxy's user header (`header:<name>`), so a test can open that
person's page with TRUSTED_USER_HEADER and see what their key did. Once personal keys are merged, tests create real
keys instead and this file goes.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path
from typing import Any

from app.api import access

# Secret -> the person it belongs to.
KEYS = {'convkey-alice-0123456789abcdef': 'alice', 'convkey-bob-0123456789abcdef': 'bob',
        'convkey-carol-0123456789abcdef': 'carol'}
USER_HEADER = 'X-Test-User'

_init = access.Access.__init__


async def lookup(secret: str) -> access.Caller | None:
    """The caller of a stand-in personal key, its person made through the store on first use."""
    name = KEYS.get(secret)
    if name is None:
        return None
    chats: Any = sys.modules['__main__'].chats  # main.py's runtime (runpy runs it as __main__)
    await chats.ready()
    owner = await chats.store.user_id(f'header:{name}')
    return access.Caller(f'key:{name}', owner_id=owner, key_id=name)


def _with_keys(self: access.Access, settings: Any, lookup_: Any = None) -> None:
    _init(self, settings, lookup_ or lookup)


if __name__ == '__main__':
    access.Access.__init__ = _with_keys  # type: ignore[method-assign]
    runpy.run_path(str(Path(__file__).resolve().parents[3] / 'main.py'), run_name='__main__')
