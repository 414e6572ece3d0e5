"""Library internals the app relies on, pinned by a hash of their source: a test fails loudly on an upgrade that
changed one, so whoever upgrades rereads the code that depends on it (the module named in each test's message)."""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from typing import Any

Pinned = dict[str, tuple[Callable[..., Any], str]]


def source_hash(function: Callable[..., Any]) -> str:
    """The first 16 hex digits of the SHA-256 of `function`'s source."""
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def changed(pinned: Pinned) -> dict[str, str]:
    """The pinned functions whose source is no longer what was pinned, with their hash now."""
    return {name: now for name, (function, digest) in pinned.items() if (now := source_hash(function)) != digest}
