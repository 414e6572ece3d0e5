"""A page whose build outlasts its response_timeout gets NiceGUI's error page and leaves no task behind."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import pytest

from app.store.store import Store

# Short enough for a test; the pages' own limit is app/web/page_timeout.RESPONSE_TIMEOUT.
TEST_TIMEOUT = 0.3
# Longest the released wait may take to end (a loop turn or two).
END_TIMEOUT = 2.0


def waits_for_connection() -> set[asyncio.Task[Any]]:
    """NiceGUI's tasks waiting for a tab's socket (nicegui/page.py names them so)."""
    return {task for task in asyncio.all_tasks() if task.get_name().startswith('wait for connection')}


async def test_a_page_past_its_response_timeout_leaves_no_task(
        user_factory: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The module main.py's pages will use (NiceGUI's test reset re-imports app.web, so not by attribute path).
    monkeypatch.setattr(importlib.import_module('app.web.page_timeout'), 'RESPONSE_TIMEOUT', TEST_TIMEOUT)
    asked = asyncio.Event()

    async def stalled(self: Store, key: str) -> str:
        asked.set()
        await asyncio.Event().wait()  # the database never answers: the build outlasts the timeout
        raise AssertionError('unreachable')

    monkeypatch.setattr(Store, 'user_id', stalled)
    user = await user_factory()
    response = await user.http_client.get('/')
    assert asked.is_set()
    assert response.status_code == 500
    assert 'response_timeout' in response.text
    left = waits_for_connection()
    if left:  # released when the client was deleted: each ends on its next turn
        _, pending = await asyncio.wait(left, timeout=END_TIMEOUT)
        assert not pending, f'{len(pending)} wait(s) for a deleted tab are left behind'
    assert not waits_for_connection()
