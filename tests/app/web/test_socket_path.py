"""The shorter path of a message to a tab (app/web/socket_path.py) keeps what NiceGUI's outbox promises: every message
once, in order, with consecutive ids, and the ones a reconnecting tab missed replayed from the history, the same."""

from __future__ import annotations

import asyncio
import copy
import urllib.parse
from collections import deque
from typing import Any

import aiohttp
import orjson
import pytest
import socketio

from app.web import socket_path
from bench.page_load.tab import Tab
from tests.conftest import LiveApp
from tests.fake_upstream import FakeUpstream, Script

pytestmark = pytest.mark.nicegui_main_file('')  # the app runs as a live server here

TOKENS = [f'w{i} ' for i in range(30)] + ['"q" ', 'Café 🙂 ', 'end.']
DELAY = 0.01


class RecordingTab(Tab):
    """A simulated tab that also keeps every message as it arrived, its `_id` included."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        super().__init__(url, http, record=True)
        self.raw: list[tuple[str, Any]] = []

    async def _on_message(self, event: str, data: Any = None) -> None:
        self.raw.append((event, copy.deepcopy(data)))
        await super()._on_message(event, data)


async def _chat(url: str) -> tuple[RecordingTab, int]:
    """A tab that sent a prompt and has its whole reply; and the next message id its page was built with."""
    http = aiohttp.ClientSession()
    tab = RecordingTab(url, http)
    await tab.open()
    first = tab.next_message_id
    await tab.type('Hello')
    await tab.press_enter()
    await tab.wait_for(lambda: tab.replies() and tab.seen.streams[tab.replies()[-1]].done, 15)
    return tab, first


def test_every_message_arrives_once_in_order_with_consecutive_ids(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=TOKENS, delay=DELAY))

    async def run() -> tuple[list[int], int, str, int]:
        tab, first = await _chat(live_app.url)
        try:
            ids = [data['_id'] for _, data in tab.raw if isinstance(data, dict) and '_id' in data]
            appends = sum(1 for event, data in tab.raw if event == 'run_javascript' and '__nc(' in data['code'])
            return ids, first, tab.seen.streams[tab.replies()[-1]].source, appends
        finally:
            await tab.close()
            await tab.http.close()

    ids, first, text, appends = asyncio.run(run())
    assert text == ''.join(TOKENS)
    assert appends > 1  # it streamed: several sends, not the reply in one piece
    assert ids == list(range(first, first + len(ids)))


async def _reconnect(tab: RecordingTab,
                     next_id: int) -> tuple[socketio.AsyncClient, list[tuple[str, Any]], asyncio.Event]:
    """A new socket for `tab`'s client, asking for the messages from `next_id` on as a reconnecting tab does: the
    connected client, the messages it receives (as they come) and an event set at each one."""
    client = socketio.AsyncClient(reconnection=False)
    got: list[tuple[str, Any]] = []
    arrived = asyncio.Event()

    async def on_message(event: str, data: Any = None) -> None:
        got.append((event, data))
        arrived.set()
    client.on('*', on_message)
    query = {**tab.socket_query, 'next_message_id': str(next_id)}
    cookies = '; '.join(f'{c.key}={c.value}' for c in tab.http.cookie_jar)
    await client.connect(f'{tab.url}?{urllib.parse.urlencode(query)}', socketio_path='/_nicegui_ws/socket.io',
                         transports=['websocket'], headers={'Cookie': cookies}, wait_timeout=10)
    return client, got, arrived


def test_a_reconnecting_tab_gets_what_it_missed_again_from_the_history(live_app: LiveApp,
                                                                       upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=TOKENS, delay=DELAY))

    async def run() -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
        tab, _ = await _chat(live_app.url)
        try:
            await tab.sio.disconnect()  # the tab's socket drops; its client waits for a reconnect
            sent = [(event, data) for event, data in tab.raw if isinstance(data, dict) and '_id' in data]
            missed = sent[len(sent) // 2:]  # the tab says it has the first half only
            replay, got, arrived = await _reconnect(tab, missed[0][1]['_id'])
            try:
                async with asyncio.timeout(10):
                    while len(got) < len(missed):
                        arrived.clear()
                        await arrived.wait()
                return missed, got[:len(missed)]
            finally:
                await replay.disconnect()
        finally:
            await tab.http.close()

    missed, replayed = asyncio.run(run())
    assert any(event == 'run_javascript' and '__nc(' in data['code'] for event, data in missed)
    assert replayed == missed


def test_an_ack_prunes_the_history_up_to_it_and_replay_from_there_still_works(live_app: LiveApp,
                                                                               upstream: FakeUpstream) -> None:
    """The tab acks half of what it got (pruned by count, socket_path.LeanOutbox.prune_history): a reconnect from
    there gets the rest again, one from before it cannot be replayed (the page reloads instead), as with NiceGUI's
    own prune."""
    upstream.queue(Script(tokens=TOKENS, delay=DELAY))

    async def reconnect(tab: RecordingTab, next_id: int) -> list[tuple[str, Any]]:
        """What a reconnect of `tab` asking from `next_id` is sent first (up to `len(missed)` messages)."""
        client, got, arrived = await _reconnect(tab, next_id)
        try:
            async with asyncio.timeout(10):
                while not got:
                    arrived.clear()
                    await arrived.wait()
                await asyncio.sleep(0.3)  # what else comes with it
            return got
        finally:
            await client.disconnect()

    async def run() -> tuple[list[tuple[str, Any]], list[tuple[str, Any]], list[tuple[str, Any]]]:
        tab, _ = await _chat(live_app.url)
        try:
            sent = [(event, data) for event, data in tab.raw if isinstance(data, dict) and '_id' in data]
            missed = sent[len(sent) // 2:]
            acked = missed[0][1]['_id']
            await tab.sio.emit('ack', {'client_id': tab.client_id, 'next_message_id': acked})
            # a call of the same event answers once the server has handled what came before it (the ack above);
            # acking the first id again prunes nothing more
            await tab.sio.call('ack', {'client_id': tab.client_id, 'next_message_id': sent[0][1]['_id']}, timeout=10)
            await tab.sio.disconnect()  # the tab's socket drops; its client waits for a reconnect
            # first from the message before the ack (pruned: the page reloads; a failed rewind re-sends what is left,
            # under the same ids), then from the ack (a rewind that succeeds clears the history before it)
            before = await reconnect(tab, acked - 1)
            replayed = await reconnect(tab, acked)
            return missed, replayed[:len(missed)], before
        finally:
            await tab.http.close()

    missed, replayed, before = asyncio.run(run())
    assert replayed == missed
    assert any('reloading because outbox rewind failed' in str(data) for _, data in before)


@pytest.mark.parametrize('data', [{'code': "__nc(7,0,'Café 🙂 \"q\" \\n')", '_id': 3},
                                  {'1': {'props': {'a': [1, 2.5, None, True]}}}, {'x': float('nan')}])
def test_the_packet_is_socketios_encoding_of_the_event(data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The event's packet, made from orjson's bytes, is the text socket.io's `emit` encodes (with NiceGUI's json)."""
    from nicegui import json as nicegui_json
    from socketio import packet as sio_packet

    from app.web.socket_path import EVENT_BYTES, ORJSON_OPTS, orjson_default

    monkeypatch.setattr(sio_packet.Packet, 'json', nicegui_json)  # as NiceGUI's AsyncServer(json=...) sets it
    library = sio_packet.Packet(sio_packet.EVENT, data=['run_javascript', data]).encode()
    ours = EVENT_BYTES + orjson.dumps(['run_javascript', data], option=ORJSON_OPTS, default=orjson_default)
    assert ours.decode() == library


def _histories() -> list[tuple[deque[Any], Any]]:
    consecutive = deque((n, 0.0, ('c', 'm', {})) for n in range(10, 40))
    gapped = deque((n, 0.0, ('c', 'm', {})) for n in [*range(10, 20), *range(25, 30)])
    cases: list[tuple[deque[Any], Any]] = [(deque(), 5)]
    for history in (consecutive, gapped):
        cases += [(history, n) for n in (0, 10, 11, 25, 27, 39, 40, 41, 1000, -3, 15.5)]
    return cases


@pytest.mark.parametrize(('history', 'next_id'), _histories())
def test_ack_prune_is_nicegui_prune(history: deque[Any], next_id: Any) -> None:
    ours = socket_path.LeanOutbox.__new__(socket_path.LeanOutbox)  # its history alone (no client, no loop)
    theirs = socket_path.Outbox.__new__(socket_path.Outbox)
    ours.message_history, theirs.message_history = deque(history), deque(history)
    ours.prune_history(next_id)
    theirs.prune_history(next_id)
    assert ours.message_history == theirs.message_history
