"""A scriptable OpenAI-compatible server on loopback, speaking the real SSE wire format.

It runs on its own thread and event loop (like a remote server would), answers
`POST /v1/chat/completions`, and records every request: body, headers, and whether and when the client
went away before the reply ended. Tests queue a `Script` per request to choose pacing, HTTP errors,
a mid-stream error event, a dropped connection, silence, or a body that is not a well-formed event stream.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Script:
    """How the fake answers one request."""

    tokens: list[str] = field(default_factory=lambda: ['Hello', ',', ' world', '!'])
    delay: float = 0.0  # seconds before each token
    first_delay: float = 0.0  # extra seconds before the first token
    header_delay: float = 0.0  # seconds before the status line (a server slow to accept the request)
    status: int = 200  # a non-200 answers with an OpenAI-style JSON error instead of a stream
    error_message: str = 'scripted failure'
    retry_after: str | None = None
    error_after: int | None = None  # send a `data: {"error": ...}` event after this many tokens
    drop_after: int | None = None  # abort the TCP connection after this many tokens
    end_after: int | None = None  # end the HTTP body cleanly after this many tokens, with no finish or [DONE]
    hold_at: int | None = None  # before this token, wait until `release` is set (a test acts on a reply mid-stream)
    release: threading.Event = field(default_factory=threading.Event)
    reasoning: list[str] = field(default_factory=list)
    gate: threading.Semaphore | None = None  # before each token after the first (or the error, end or drop there),
    # wait up to 10 s for the test to release it
    tool_calls: list[list[dict[str, Any]]] = field(default_factory=list)  # `delta.tool_calls` lists, after the tokens
    finish_reason: str = 'stop'
    send_done: bool = True  # end a complete reply with `data: [DONE]` (some servers stop after the finish reason)
    silent_after: int | None = None  # after this many tokens (0: right after the status line, before any event), send
    # nothing more until the client leaves: a model server that hangs
    inject: dict[int, bytes] = field(default_factory=dict)  # raw bytes written into the body before token N
    raw_body: bytes | None = None  # answer `status` with this body as it is, not an event stream
    content_type: str = 'text/event-stream'  # of `raw_body`
    usage: dict[str, int] | None = field(default_factory=lambda: {'prompt_tokens': 5, 'completion_tokens': 4,
                                                                   'total_tokens': 9})


@dataclass
class Record:
    """What the fake saw of one request."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    tokens_sent: int = 0
    completed: bool = False
    disconnected_at: float | None = None  # monotonic time the client closed the connection early
    disconnected: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The `messages` the client sent."""
        return list(self.body.get('messages', []))


class FakeUpstream:
    """The server; `url` is the base URL to give the SDK (ends in /v1)."""

    def __init__(self) -> None:
        self.scripts: deque[Script] = deque()
        self.default = Script()
        self.records: list[Record] = []
        self.models: list[str] | None = ['fake-model']  # what GET /v1/models lists; None answers 404
        self._arrived = threading.Condition()  # notified for each request recorded
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name='fake-upstream', daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        """Base URL for the SDK."""
        return f'http://127.0.0.1:{self.port}/v1'

    def start(self) -> FakeUpstream:
        """Start serving on a free loopback port."""
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError('fake upstream did not start')
        return self

    def stop(self) -> None:
        """Stop the server thread, after cancelling requests still being answered (a loop must not die under them)."""
        asyncio.run_coroutine_threadsafe(self._cancel_handlers(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _cancel_handlers(self) -> None:
        handlers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def reset(self) -> None:
        """Forget scripts and records (between tests)."""
        self.scripts.clear()
        self.default = Script()
        self.records.clear()
        self.models = ['fake-model']

    def queue(self, *scripts: Script) -> None:
        """Answer the next requests with these scripts, in order; then with `default`."""
        self.scripts.extend(scripts)

    def wait_for_request(self, count: int = 1, timeout: float = 10) -> Record:
        """Block until at least `count` requests arrived; return the `count`-th."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.records) >= count, timeout):
                raise TimeoutError(f'expected {count} upstream request(s), got {len(self.records)}')
            return self.records[count - 1]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, '127.0.0.1', 0))
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b'\r\n\r\n')
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        request_line, *header_lines = head.decode('latin-1').split('\r\n')
        headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(':') for h in header_lines if h)}
        body = await reader.readexactly(int(headers.get('content-length', '0')))
        method, path = request_line.split(' ')[:2]
        if method == 'GET' and path.split('?')[0].endswith('/models'):  # the model list, not recorded
            await self._models(writer)
            return
        record = Record(path, headers, json.loads(body or b'{}'))
        with self._arrived:
            self.records.append(record)
            self._arrived.notify_all()
        script = self.scripts.popleft() if self.scripts else self.default
        watcher = asyncio.ensure_future(self._watch_disconnect(reader, record))
        try:
            await self._answer(writer, record, script)
        except ConnectionError:
            record.disconnected_at = record.disconnected_at or time.monotonic()
            record.disconnected.set()
        finally:
            watcher.cancel()
            record.finished.set()
            writer.close()

    def serve(self, sock: socket.socket) -> asyncio.Server:
        """Also answer on `sock` (bound, not yet listening), like on the main port; `unserve` the server returned."""
        return asyncio.run_coroutine_threadsafe(asyncio.start_server(self._handle, sock=sock), self._loop).result(10)

    def unserve(self, server: asyncio.Server) -> None:
        """Stop answering on a socket given to `serve` (the socket is closed)."""
        async def close() -> None:
            server.close()
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)

    async def _models(self, writer: asyncio.StreamWriter) -> None:
        """GET /v1/models: the `models` a test set, or a 404 when it is None (servers without the endpoint)."""
        if self.models is None:
            body, status = json.dumps({'error': {'message': 'Not found'}}).encode(), '404 Not Found'
        else:
            body = json.dumps({'object': 'list', 'data': [{'id': m, 'object': 'model'} for m in self.models]}).encode()
            status = '200 OK'
        writer.write(f'HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n'
                     f'Connection: close\r\n\r\n'.encode() + body)
        await writer.drain()
        writer.close()

    async def _watch_disconnect(self, reader: asyncio.StreamReader, record: Record) -> None:
        await reader.read()  # returns b'' at EOF: the client closed its side
        if not record.completed:
            record.disconnected_at = time.monotonic()
            record.disconnected.set()

    async def _answer(self, writer: asyncio.StreamWriter, record: Record, script: Script) -> None:
        if script.header_delay:
            await asyncio.sleep(script.header_delay)
        if script.raw_body is not None:
            writer.write(f'HTTP/1.1 {script.status} Scripted\r\nContent-Type: {script.content_type}\r\n'
                         f'Content-Length: {len(script.raw_body)}\r\nConnection: close\r\n\r\n'.encode()
                         + script.raw_body)
            await writer.drain()
            record.completed = True
            return
        if script.status != 200:
            payload = json.dumps({'error': {'message': script.error_message, 'type': 'scripted', 'code': None}})
            extra = f'Retry-After: {script.retry_after}\r\n' if script.retry_after else ''
            writer.write(f'HTTP/1.1 {script.status} Scripted\r\nContent-Type: application/json\r\n{extra}'
                         f'Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n{payload}'.encode())
            await writer.drain()
            record.completed = True
            return
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n'
                     b'Connection: close\r\n\r\n')
        await writer.drain()
        if script.silent_after == 0:
            await self._silence(record)
            return
        model = record.body.get('model', 'fake-model')
        base = {'id': 'chatcmpl-fake', 'object': 'chat.completion.chunk', 'created': 0, 'model': model}

        async def send(obj: dict[str, Any] | str) -> None:
            data = obj if isinstance(obj, str) else json.dumps(obj)
            event = f'data: {data}\n\n'.encode()
            writer.write(f'{len(event):x}\r\n'.encode() + event + b'\r\n')
            await writer.drain()
            if record.disconnected.is_set():
                raise ConnectionResetError('client went away')

        def delta(**fields: Any) -> dict[str, Any]:
            return {**base, 'choices': [{'index': 0, 'delta': fields, 'finish_reason': None}]}

        await send(delta(role='assistant', content=''))
        if script.first_delay:
            await asyncio.sleep(script.first_delay)
        for text in script.reasoning:
            await send(delta(reasoning_content=text))
        for index, token in enumerate(script.tokens):
            if script.gate is not None and index:
                await asyncio.to_thread(script.gate.acquire, True, 10)
            if index in script.inject:
                raw = script.inject[index]
                writer.write(f'{len(raw):x}\r\n'.encode() + raw + b'\r\n')
                await writer.drain()
            if script.silent_after == index:
                await self._silence(record)
                return
            if script.error_after == index:
                record.completed = True  # the client is expected to hang up after an error event
                await send({'error': {'message': script.error_message, 'type': 'server_error'}})
                break
            if script.end_after == index:
                record.completed = True
                writer.write(b'0\r\n\r\n')
                await writer.drain()
                return
            if script.drop_after == index:
                writer.transport.abort()
                record.completed = True
                return
            if script.hold_at == index:
                # `release` is a threading.Event set from the test's thread; polling it keeps this task cancellable
                while not script.release.is_set() and not record.disconnected.is_set():  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
            if script.delay:
                await asyncio.sleep(script.delay)
            await send(delta(content=token))
            record.tokens_sent += 1
        else:
            for calls in script.tool_calls:
                await send(delta(tool_calls=calls))
            await send({**base, 'choices': [{'index': 0, 'delta': {}, 'finish_reason': script.finish_reason}]})
            if script.usage is not None and (record.body.get('stream_options') or {}).get('include_usage'):
                await send({**base, 'choices': [], 'usage': script.usage})
            record.completed = True  # the client may hang up as soon as it has [DONE]
            if script.send_done:
                await send('[DONE]')
        writer.write(b'0\r\n\r\n')
        await writer.drain()

    async def _silence(self, record: Record) -> None:
        """Send nothing more; return once the client has gone (the connection is then closed)."""
        # `disconnected` is a threading.Event set by the disconnect watcher; polling it keeps this task cancellable
        while not record.disconnected.is_set():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
