"""Connections to the upstream are reused across replies, as a keep-alive model server (like OpenAI's) allows."""

from __future__ import annotations

import asyncio

import pytest

import app.upstream.client as client_module
from app.config import load_settings
from app.upstream.client import Upstream

# Pause between the `[DONE]` event and the end of the HTTP body, so they reach the client in separate reads (as
# they can from a real server); well under upstream.DRAIN_TIMEOUT.
TERMINATOR_DELAY = 0.02
EVENTS = (b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"stop"}]}\n\n', b'data: [DONE]\n\n')


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read one request (head and body) and send the reply's events, leaving the HTTP body open."""
    head = await reader.readuntil(b'\r\n\r\n')
    length = next(int(line.split(b':')[1]) for line in head.lower().split(b'\r\n')
                  if line.startswith(b'content-length'))
    await reader.readexactly(length)
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n')
    for event in EVENTS:
        writer.write(b'%x\r\n%s\r\n' % (len(event), event))
    await writer.drain()


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connections: list[int]) -> None:
    """A keep-alive SSE server: answers every request on the connection, ending each body after a pause."""
    connections.append(1)
    try:
        while True:
            await _answer(reader, writer)
            await asyncio.sleep(TERMINATOR_DELAY)  # the server's pacing, not the test waiting
            writer.write(b'0\r\n\r\n')
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()  # the client closed the connection


async def test_a_complete_reply_leaves_the_connection_for_the_next() -> None:
    connections: list[int] = []
    server = await asyncio.start_server(lambda r, w: _serve(r, w, connections), '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    settings = load_settings({'OPENAI_API_KEY': 'sk-test', 'OPENAI_BASE_URL': f'http://127.0.0.1:{port}/v1',
                              'OPENAI_MODEL': 'm', 'UPSTREAM_RETRIES': '0'}, env_file=None)
    upstream = Upstream(settings)
    try:
        for _ in range(3):
            async with upstream.stream([{'role': 'user', 'content': 'hi'}]) as reply:
                assert [delta async for delta in reply.deltas()] == [('content', 'Hi')]
                assert reply.complete
        assert len(connections) == 1
    finally:
        await upstream.aclose()
        server.close()


async def _serve_without_end(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                             closed: asyncio.Event) -> None:
    """Sends a complete reply up to `[DONE]` but never the end of the HTTP body; notes when the client hangs up."""
    await _answer(reader, writer)
    try:
        await reader.read()  # b'' (or a reset) once the client closes the connection
    except ConnectionError:
        pass
    closed.set()
    writer.close()


async def test_a_reply_cancelled_while_its_body_is_drained_still_closes_the_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, 'DRAIN_TIMEOUT', 30.0)  # the drain waits until cancelled
    closed = asyncio.Event()
    server = await asyncio.start_server(lambda r, w: _serve_without_end(r, w, closed), '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    settings = load_settings({'OPENAI_API_KEY': 'sk-test', 'OPENAI_BASE_URL': f'http://127.0.0.1:{port}/v1',
                              'OPENAI_MODEL': 'm', 'UPSTREAM_RETRIES': '0'}, env_file=None)
    upstream = Upstream(settings)
    read_all = asyncio.Event()

    async def consume() -> None:
        async with upstream.stream([{'role': 'user', 'content': 'hi'}]) as reply:
            assert [delta async for delta in reply.deltas()] == [('content', 'Hi')]
            assert reply.complete
            read_all.set()  # this task runs on into the drain and waits there before the test's task resumes

    task = asyncio.ensure_future(consume())
    try:
        await read_all.wait()
        assert not task.done()
        task.cancel()
        await asyncio.wait({task})
        assert task.cancelled()
        # The task (holding its frames, and the response in them) is still referenced: no garbage collection
        # closes the connection for us.
        await asyncio.wait_for(closed.wait(), 5)
    finally:
        await upstream.aclose()
        server.close()
