"""main.py's chat page, for what the components' tests do not reach: a tab that goes away before it connects."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
from nicegui import Client, background_tasks

# Time for the page function to finish once its client is gone; it has nothing left to wait for.
PAGE_DONE_TIMEOUT = 10.0


async def test_a_tab_gone_before_it_connects_is_dropped_without_an_error(
        user_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    user = await user_factory()
    page = await user.http_client.get('/')  # the HTML is served, but no websocket follows (curl, a tab closed at once)
    match = re.search(r"'client_id': '([0-9a-f-]+)'", page.text)
    assert match is not None
    page_function = next(task for task in background_tasks.running_tasks
                         if task.get_name().startswith('wait for result of page'))
    Client.instances[match.group(1)].delete()  # what NiceGUI does to a client still unconnected after 60 s
    done, _ = await asyncio.wait([page_function], timeout=PAGE_DONE_TIMEOUT)
    assert done, 'the page function did not finish'
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert not errors
