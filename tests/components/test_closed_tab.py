"""A closed tab's chat page goes by reference counting alone: nothing of it waits for the garbage collector.

In production the collector freezes what survives each full pass (app/ops/collector.py), so a cycle left by a closed
tab waits for the next reclaim, a stop-the-world pass over everything. NiceGUI deletes a closed tab's client once
the tab has not come back within its reconnect timeout; here the test deletes it, as test_chat_page's closing-tab
test does, with the collector switched off from before the deletion to the end.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from nicegui import ElementFilter
from nicegui.testing import User

from components.message_frame import MessageFrame
from components.upload import Upload
from tests.components.chat_helpers import STREAM_RETRIES, open_chat, press, send
from tests.fake_upstream import FakeUpstream, Script

# Where the page's objects come from: what is left of them in garbage cycles is what this test is about.
PAGE_MODULES = ('nicegui.', 'components.', 'app.')


@pytest.fixture
def no_collector() -> Iterator[None]:
    """The garbage collector off (after one full pass), and back on afterwards."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def _left_in_cycles() -> list[str]:
    """The types of the page's objects that only a full pass of the collector would free now (it frees nothing)."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        left = [f'{type(obj).__module__}.{type(obj).__qualname__}' for obj in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    return sorted(name for name in left if name.startswith(PAGE_MODULES))


async def test_a_closed_tab_leaves_nothing_for_the_garbage_collector(configured: FakeUpstream, user: User,
                                                                     no_collector: None) -> None:
    configured.queue(Script(tokens=['Hello', ' there']))
    await open_chat(user)
    await send(user, 'hi')
    await user.should_see('Hello there', retries=STREAM_RETRIES)
    await user.should_see(marker='send')  # the reply has ended
    client = user.client
    assert client is not None
    with client:
        frame = next(iter(ElementFilter(kind=MessageFrame)))
        search = user.find(marker='search').elements.pop()
        upload = next(iter(ElementFilter(kind=Upload)))
    # The parts of each cycle the page had (NiceGUI's and ours): the client, the chat page (the frames' view's
    # actions), a message's frame, the sidebar's search box (its value handler is the sidebar's), the attachments'
    # upload (its handler is the attachments'), and one element's props, classes and style (each its own handler).
    prompt = user.find(marker='prompt').elements.pop()
    page = frame._on_press.__self__.actions  # type: ignore[attr-defined]
    parts: dict[str, Any] = {'client': client, 'chat page': page, 'message frame': frame, 'search box': search,
                             'upload': upload, 'prompt box': prompt, 'props': prompt._props,
                             'classes': prompt._classes, 'style': prompt._style}
    gone, alive = _watch(parts)
    user.client = None
    client.outbox.__dict__.pop('_emit', None)  # the simulated user's hook, a closure over the user: not the app's
    client.delete()  # what NiceGUI does once a closed tab has not come back within its reconnect timeout
    del client, frame, search, upload, prompt, page, parts
    try:
        await asyncio.wait_for(gone.wait(), 5)  # freed by reference counting: the collector is off
    except TimeoutError:
        pytest.fail(f'still alive after the tab was deleted: {sorted(alive)}; '
                    f'left in cycles: {_summary(_left_in_cycles())}')
    assert not (left := _left_in_cycles()), f'left in cycles: {_summary(left)}'


async def test_messages_redrawn_while_the_page_lives_go_by_reference_counting(configured: FakeUpstream, user: User,
                                                                             no_collector: None) -> None:
    configured.queue(Script(tokens=['First', ' answer']), Script(tokens=['Second', ' answer']))
    await open_chat(user)
    await send(user, 'question')
    await user.should_see('First answer', retries=STREAM_RETRIES)
    await user.should_see(marker='send')
    assert user.client is not None
    with user.client:
        frames = list(ElementFilter(kind=MessageFrame))
    assert len(frames) == 2
    gone, alive = _watch({f'frame {number}': frame for number, frame in enumerate(frames)})
    del frames
    press(user, 'regenerate')  # a new version: the page draws the conversation's messages again (ChatPage.on_branch)
    await user.should_see('Second answer', retries=STREAM_RETRIES)
    try:
        await asyncio.wait_for(gone.wait(), 5)  # the collector is off
    except TimeoutError:
        pytest.fail(f'{len(alive)} removed message frames still alive; left in cycles: {_summary(_left_in_cycles())}')
    assert not (left := _left_in_cycles()), f'left in cycles: {_summary(left)}'


def _watch(parts: dict[str, Any]) -> tuple[asyncio.Event, set[str]]:
    """An event set once every one of `parts` has been freed, and the names of those still alive (held weakly)."""
    gone, alive = asyncio.Event(), set(parts)

    def freed(name: str) -> None:
        alive.discard(name)
        if not alive:
            gone.set()

    for name, part in parts.items():
        weakref.finalize(part, freed, name)
    return gone, alive


def _summary(names: list[str]) -> dict[str, int]:
    """The most common of `names`, with their counts."""
    return dict(Counter(names).most_common(12))
