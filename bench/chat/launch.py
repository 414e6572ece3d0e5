"""Runs one version of the app (`python bench/chat/launch.py APP_DIR`) as `python main.py` would, plus bench probes.

The benchmark starts both versions (this tree, and an older commit exported to a folder) through this same file, so
both pay the same probes. The probes only count and time; they change nothing the app does:

- every websocket frame the server sends is counted as it goes on the wire (after permessage-deflate);
- where the app has a database (app/store): each write transaction, and how long the page's queries and builds take;
- `NICECHAT_BENCH_FIRST_SCREEN`, `NICECHAT_BENCH_SEARCH_DEBOUNCE_MS` and `NICECHAT_BENCH_CHECKPOINT_INTERVAL`, if
  set, replace components/chat.py's FIRST_SCREEN, components/sidebar.py's SEARCH_DEBOUNCE_MS and the chat runtime's
  checkpoint interval (seconds), to compare other values or to tell what a cost comes from;
  `NICECHAT_BENCH_RELAY_INTERVAL` replaces the page's pace the relay follows (the chat runtime's `batch_gap`: fewest
  seconds between a reply's Redis flushes, with REDIS_URL), or app/chat/relay.py's RELAY_INTERVAL in trees before it.

`GET /bench/stats` answers the figures so far, and the process's CPU time (all threads, to the microsecond).
Standalone on purpose: it must import the app from APP_DIR, not bench.
"""

from __future__ import annotations

import functools
import os
import runpy
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

stats: dict[str, Any] = {'wire_bytes': 0, 'db_writes': 0, 'timings': defaultdict(list)}
held: dict[str, Any] = {}  # the app's Chats object, once made


def _timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (async) wrapped so each call's wall time, in ms, is appended to stats['timings'][name]."""
    @functools.wraps(function)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            stats['timings'][name].append((time.perf_counter() - started) * 1000)
    return wrapper


def _count_wire() -> None:
    import wsproto

    send = wsproto.WSConnection.send

    def counting_send(self: Any, event: Any) -> bytes:
        data = send(self, event)
        stats['wire_bytes'] += len(data)
        return data

    wsproto.WSConnection.send = counting_send  # uvicorn's wsproto server sends every frame here
    try:  # and the frames the page writes itself, beneath engine.io (trees with app/web/socket_frames.py)
        from app.web.socket_frames import Frames
    except ImportError:
        return
    frame = Frames.frame

    def counting_frame(self: Any, text: str) -> bytes:
        data: bytes = frame(self, text)
        stats['wire_bytes'] += len(data)
        return data

    Frames.frame = counting_frame  # type: ignore[method-assign]


def _probe_store() -> None:
    """Count write transactions and time the queries; a version without app/store (the old design) has none."""
    try:
        from app.chat import chats
        from app.store import base, store
    except ImportError:
        return
    from app.web import pages
    from components import sidebar

    write = base.Database._write

    def counting_write(self: Any) -> Any:
        stats['db_writes'] += 1
        return write(self)

    base.Database._write = counting_write
    init = chats.Chats.__init__

    def keep(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        held['chats'] = self
        if interval := os.environ.get('NICECHAT_BENCH_CHECKPOINT_INTERVAL'):
            self.checkpoint_interval = float(interval)
        if (gap := os.environ.get('NICECHAT_BENCH_RELAY_INTERVAL')) and hasattr(self, 'batch_gap'):
            self.batch_gap = lambda: float(gap)

    chats.Chats.__init__ = keep
    chats.Chats.save_turn = _timed('save_turn', chats.Chats.save_turn)  # a prompt and its empty reply inserted
    chats.Chats.open = _timed('open_conversation', chats.Chats.open)  # from memory, or loaded from the database
    store.Store.conversations = _timed('list_query', store.Store.conversations)  # the sidebar's query
    sidebar.Sidebar.refresh = _timed('sidebar_refresh', sidebar.Sidebar.refresh)  # query + building the list
    pages._build = _timed('build_page', pages._build)  # sidebar + chat page, elements made (not yet sent)


def _probe_turns() -> None:
    """Wall-clock stamps (time.time(), the clock the tabs stamp Enter with) of each page turn's steps, from the send
    handler to the first text put in the page's outbox: where the time between Enter and the first text goes.

    Keyed by the `tab=<tag>` of the bench's prompt; each step is stamped once (the first time). Steps: `handler`
    (ChatPage.send starts), `save` / `saved` (Chats.save_turn called / returned), `write` / `written` (the turn's
    transaction under the write lock, whoever writes it), `stream` (the reply task is made), `task` (it runs; then
    the upstream request's steps, see _probe_request), `delta` (the first text
    read from upstream), `view` (the reply's MessageView built), `sent` (its first text put in the outbox).
    """
    try:
        from app.chat import chats, conversation, view
        from components import chat, message, streaming_markdown
    except ImportError:
        return
    import contextvars
    import re
    current: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar('bench_turn', default=None)
    by_conversation: dict[int, dict[str, float]] = {}
    by_message: dict[str, dict[str, float]] = {}
    by_markdown: dict[int, dict[str, float]] = {}
    stats['turns'] = {}

    def stamp(record: dict[str, float] | None, step: str) -> None:
        if record is not None and step not in record:
            record[step] = time.time()

    send = chat.ChatPage.send

    async def timed_send(self: Any) -> Any:
        match = re.search(r'tab=(\S+)', self.prompt.value or '')
        if match and not self.conversation.busy:
            record = stats['turns'][match.group(1)] = {'handler': time.time()}
            by_conversation[id(self.conversation)] = record
        return await send(self)
    chat.ChatPage.send = timed_send

    save_turn = chats.Chats.save_turn

    async def timed_save_turn(self: Any, conv: Any, new: Any, **kwargs: Any) -> Any:
        record = by_conversation.get(id(conv))
        if record is not None:
            by_message[new[-1].id] = record
        stamp(record, 'save')
        try:
            return await save_turn(self, conv, new, **kwargs)
        finally:
            stamp(record, 'saved')
    chats.Chats.save_turn = timed_save_turn

    write_turns = chats.Chats._write_turns

    async def timed_write_turns(self: Any, turns: Any) -> Any:
        records = [by_conversation.get(id(turn.conversation)) for turn in turns]
        for record in records:
            stamp(record, 'write')
        try:
            return await write_turns(self, turns)
        finally:
            for record in records:
                stamp(record, 'written')
    chats.Chats._write_turns = timed_write_turns

    stream = conversation.Conversation._stream

    def timed_stream(self: Any, reply: Any, *args: Any, **kwargs: Any) -> Any:
        record = by_message.get(reply.id)
        stamp(record, 'stream')  # called when the task is made: its coroutine is made there

        async def run() -> Any:
            stamp(record, 'task')  # the task's first step
            current.set(record)  # the task's own context: the upstream request's steps below find their record
            return await stream(self, reply, *args, **kwargs)
        return run()
    conversation.Conversation._stream = timed_stream
    _probe_request(current, stamp)

    delta = view.Views.delta

    def timed_delta(self: Any, reply: Any, text: str) -> None:
        stamp(by_message.get(reply.id), 'delta')
        delta(self, reply, text)
    view.Views.delta = timed_delta

    view_init = message.MessageView.__init__

    def timed_view(self: Any, shown: Any, *args: Any, **kwargs: Any) -> None:
        view_init(self, shown, *args, **kwargs)
        record = by_message.get(shown.id)
        stamp(record, 'view')
        if record is not None and self.markdown is not None:
            by_markdown[id(self.markdown)] = record
    message.MessageView.__init__ = timed_view

    markdown = streaming_markdown.StreamingMarkdown
    for name in ('_append', '_send'):
        if hasattr(markdown, name):
            original = getattr(markdown, name)

            def timed_append(self: Any, *args: Any, original: Any = original, **kwargs: Any) -> Any:
                stamp(by_markdown.get(id(self)), 'sent')
                return original(self, *args, **kwargs)
            setattr(markdown, name, timed_append)
            break


def _probe_request(current: Any, stamp: Callable[[dict[str, float] | None, str], None]) -> None:
    """Stamps of the upstream request's steps in aiohttp, for the turn whose reply task runs them (`current`):
    `connect` / `connected` (a connection asked of the pool, got: from the pool, or a new one opened; for a new one,
    see _probe_dial), `posted` (the
    request's head buffered, its body's writer made), `flushed` (head and body handed to the transport), `headers`
    (the response's status and headers read). Trees whose upstream is not aiohttp's get none."""
    try:
        from aiohttp import client_reqrep, connector
    except ImportError:
        return

    def around(owner: Any, name: str, before: str | None, after: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            record = current.get()
            if before:
                stamp(record, before)
            try:
                return await original(*args, **kwargs)
            finally:
                stamp(record, after)
        setattr(owner, name, wrapper)

    around(connector.BaseConnector, 'connect', 'connect', 'connected')
    _probe_dial(current, stamp)
    around(client_reqrep.ClientRequest, 'send', None, 'posted')
    around(client_reqrep.ClientRequest, 'write_bytes', None, 'flushed')
    around(client_reqrep.ClientResponse, 'start', None, 'headers')


def _probe_dial(current: Any, stamp: Callable[[dict[str, float] | None, str], None]) -> None:
    """The steps of opening a new connection: `dial` (aiohappyeyeballs.start_connection called, the address
    resolved), `syn` (the socket's connect() called: the kernel sends the SYN), `dialed` (the socket connected); then
    aiohttp makes its transport (`connected`)."""
    import socket

    import aiohappyeyeballs

    class StampedSocket(socket.socket):
        def connect(self, address: Any) -> None:
            stamp(current.get(), 'syn')
            super().connect(address)

    def stamped_socket(addr_info: Any) -> socket.socket:
        family, kind, proto, _, _ = addr_info
        return StampedSocket(family=family, type=kind, proto=proto)

    start = aiohappyeyeballs.start_connection

    @functools.wraps(start)
    async def start_connection(*args: Any, **kwargs: Any) -> Any:
        record = current.get()
        stamp(record, 'dial')
        if kwargs.get('socket_factory') is None:
            kwargs['socket_factory'] = stamped_socket
        try:
            return await start(*args, **kwargs)
        finally:
            stamp(record, 'dialed')
    aiohappyeyeballs.start_connection = start_connection


def _constants() -> None:
    """The UI constants a benchmark compares other values of."""
    if value := os.environ.get('NICECHAT_BENCH_FIRST_SCREEN'):
        from components import chat

        chat.FIRST_SCREEN = int(value)
    if value := os.environ.get('NICECHAT_BENCH_SEARCH_DEBOUNCE_MS'):
        from components import sidebar

        sidebar.SEARCH_DEBOUNCE_MS = int(value)
    if value := os.environ.get('NICECHAT_BENCH_RELAY_INTERVAL'):
        try:
            from app.chat import relay
        except ImportError:  # a version without replies shared through Redis
            return
        relay.RELAY_INTERVAL = float(value)


def _route() -> None:
    from nicegui import app

    @app.get('/bench/stats')
    async def bench_stats() -> dict[str, Any]:  # on the event loop: no thread pool hop
        chats = held.get('chats')
        return {**stats, 'cpu_s': time.process_time(),  # all threads, exited ones too
                'live_conversations': None if chats is None else len(chats.live)}


def main() -> None:
    """Import the app from APP_DIR (the working directory too, as for `python main.py`), probe it, run it."""
    app_dir = os.path.abspath(sys.argv[1])
    os.chdir(app_dir)
    sys.path[0] = app_dir  # instead of this file's folder
    sys.argv = [os.path.join(app_dir, 'main.py')]
    _count_wire()
    _probe_store()
    _probe_turns()
    _constants()
    _route()
    runpy.run_path('main.py', run_name='__main__')


if __name__ == '__main__':
    main()
