"""app.api.client against the live server: the async generator and the `python -m app.api.client` command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import orjson
import pytest

from app.api.client import READ_TIMEOUT, APIError, _lines, stream_chat, stream_text
from app.config import DEFAULT_UPSTREAM_TIMEOUT
from tests.app.conftest import UPSTREAM_TIMEOUT
from tests.conftest import API_TOKEN, ROOT, LiveApp
from tests.fake_upstream import FakeUpstream, Script

USER = [{'role': 'user', 'content': 'hello'}]
NDJSON_HEAD = b'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n'
START = b'{"type":"start","id":"chat-1","model":"fake-model"}\n'
CHUNK = b'{"type":"chunk","content":"Hel"}\n'
DONE = b'{"type":"done","full_content":"Hel","finish_reason":"stop","usage":null,"timing":null}\n'
# Upper bound for anything in these tests that should take a moment, so a hang fails instead of waiting 90 s.
SETTLE = 10.0


@dataclass
class Canned:
    """A canned server: its URL, the request bodies it received, and the event that lets a held answer go on."""

    url: str
    bodies: list[bytes] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)


@contextlib.asynccontextmanager
async def canned_server(response: bytes, *, hold: bool = False, rest: bytes = b'',
                        endless: bytes = b'') -> AsyncIterator[Canned]:
    """Serve `response` to every request on loopback, then close.

    With `hold`, stay silent until `release` is set (or the end), then send `rest` and close; with `endless`, send
    it over and over until the client hangs up.
    """
    answers: list[asyncio.Task[None]] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answers.append(asyncio.current_task())  # type: ignore[arg-type]
        head = await reader.readuntil(b'\r\n\r\n')
        length = next((int(line.split(b':')[1]) for line in head.lower().split(b'\r\n')
                       if line.startswith(b'content-length:')), 0)
        canned.bodies.append(await reader.readexactly(length))  # all of it: closing then does not reset
        writer.write(response)
        try:
            await writer.drain()
            while endless:
                writer.write(endless)
                await writer.drain()
            if hold:
                await canned.release.wait()
                writer.write(rest)
        except ConnectionError:
            pass  # the client hung up, as the endless answer expects
        finally:
            writer.close()

    server = await asyncio.start_server(answer, '127.0.0.1', 0)
    canned = Canned(f'http://127.0.0.1:{server.sockets[0].getsockname()[1]}')
    try:
        yield canned
    finally:
        canned.release.set()
        server.close()
        for task in answers:
            task.cancel()  # an answer still waiting or sending is of no use once the test is over
        await asyncio.gather(*answers, return_exceptions=True)
        await server.wait_closed()


async def collect(url: str, **options: object) -> tuple[list[dict[str, object]], APIError]:
    """Read a stream that must fail: the objects it yielded first and the error."""
    events: list[dict[str, object]] = []
    with pytest.raises(APIError) as failed:
        async with asyncio.timeout(SETTLE):
            async for event in stream_chat(USER, url=url, **options):  # type: ignore[arg-type]
                events.append(event)
    return events, failed.value


async def test_stream_chat_yields_every_object(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Hi', ' there'], reasoning=['hmm']))
    events = [event async for event in stream_chat(USER, url=live_app.url, token=API_TOKEN, temperature=0.5)]
    assert [event['type'] for event in events] == ['start', 'reasoning', 'chunk', 'chunk', 'done']
    assert events[-1]['full_content'] == 'Hi there'
    assert upstream.wait_for_request().body['temperature'] == 0.5


async def test_stream_text_reads_url_and_token_from_the_environment(live_app: LiveApp, upstream: FakeUpstream,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('NICECHAT_URL', live_app.url)
    monkeypatch.setenv('NICECHAT_TOKEN', API_TOKEN)
    upstream.queue(Script(tokens=['a', 'b', 'c']))
    assert [piece async for piece in stream_text('hello')] == ['a', 'b', 'c']


async def test_http_errors_raise_with_status_and_code(live_app: LiveApp, upstream: FakeUpstream) -> None:
    with pytest.raises(APIError) as refused:
        [event async for event in stream_chat(USER, url=live_app.url, token='wrong')]
    assert (refused.value.status, refused.value.code) == (401, 'unauthorized')
    upstream.queue(Script(status=429, retry_after='3'))
    with pytest.raises(APIError) as limited:
        [event async for event in stream_chat(USER, url=live_app.url, token=API_TOKEN)]
    assert (limited.value.status, limited.value.code, limited.value.retry_after) == (429, 'rate_limited', '3')


async def test_error_line_raises_after_the_chunks(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one', 'two'], error_after=1))
    pieces: list[str] = []
    with pytest.raises(APIError) as failed:
        async for piece in stream_text('hello', url=live_app.url, token=API_TOKEN):
            pieces.append(piece)
    assert pieces == ['one']
    assert failed.value.code == 'upstream_error'


def run_command(live_app: LiveApp, *args: str, token: str) -> subprocess.Popen[str]:
    env = {**os.environ, 'NICECHAT_URL': live_app.url, 'NICECHAT_TOKEN': token}
    return subprocess.Popen([sys.executable, '-m', 'app.api.client', *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def test_command_prints_the_reply_as_it_streams() -> None:
    first = b'{"type":"chunk","content":"first"}\n'
    rest = b'{"type":"chunk","content":" second"}\n' + DONE
    async with canned_server(NDJSON_HEAD + START + first, hold=True, rest=rest) as server:
        command = await asyncio.create_subprocess_exec(
            sys.executable, '-m', 'app.api.client', 'hello', '--system', 'be brief', cwd=ROOT,
            env={**os.environ, 'NICECHAT_URL': server.url}, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        assert command.stdout is not None
        async with asyncio.timeout(SETTLE):
            # printed while the server still holds back the rest of the reply: no timing window to race
            assert await command.stdout.readexactly(5) == b'first'
            server.release.set()
            out, err = await command.communicate()
    assert b'first' + out == b'first second\n'
    assert command.returncode == 0, err
    assert orjson.loads(server.bodies[0])['messages'] == [{'role': 'system', 'content': 'be brief'},
                                                           {'role': 'user', 'content': 'hello'}]


def test_command_reports_errors_on_stderr(live_app: LiveApp, upstream: FakeUpstream) -> None:
    command = run_command(live_app, 'hello', token='wrong')
    out, err = command.communicate(timeout=10)
    assert command.returncode == 1
    assert 'unauthorized' in err
    assert 'Traceback' not in err
    assert out.strip() == ''


async def test_the_servers_upstream_timeout_line_comes_before_the_read_timeout(tuned_app: LiveApp,
                                                                             upstream: FakeUpstream) -> None:
    # After the first token the server sends no pings, so a silent upstream is reported by the server's own
    # `upstream_timeout` line, which must arrive before the client's read timeout fires. The tuned app's
    # UPSTREAM_TIMEOUT and the client's read timeout stand in the same ratio as the two defaults.
    read_timeout = UPSTREAM_TIMEOUT * READ_TIMEOUT / DEFAULT_UPSTREAM_TIMEOUT
    upstream.queue(Script(reasoning=['thinking'], tokens=['late'], delay=SETTLE))
    events: list[dict[str, object]] = []
    with pytest.raises(APIError) as failed:
        async with asyncio.timeout(SETTLE):
            async for event in stream_chat(USER, url=tuned_app.url, token=API_TOKEN, read_timeout=read_timeout):
                events.append(event)
    assert [event['type'] for event in events] == ['start', 'reasoning']
    assert failed.value.code == 'upstream_timeout'


async def test_read_timeout_is_configurable() -> None:
    async with canned_server(NDJSON_HEAD + START, hold=True) as server:
        events, error = await collect(server.url, read_timeout=0.2)
    assert [event['type'] for event in events] == ['start']
    assert error.code == 'connection_failed'
    assert 'ReadTimeout' in error.message


@pytest.mark.parametrize('line', [
    b'<html><body><h1>502 Bad Gateway</h1></body></html>',
    b'[1, 2]',
    b'"just a string"',
    b'{"content": "no type"}',
    b'{"type": "chunk", "content": 3}',
])
async def test_a_line_that_is_not_a_reply_object_raises_bad_response(line: bytes) -> None:
    async with canned_server(NDJSON_HEAD + START + line + b'\n' + CHUNK) as server:
        events, error = await collect(server.url)
    assert [event['type'] for event in events] == ['start']
    assert error.code == 'bad_response'
    assert line[:20].decode() in error.message


async def test_an_error_line_without_an_error_object_still_raises() -> None:
    async with canned_server(NDJSON_HEAD + START + b'{"type":"error","error":"boom"}\n') as server:
        _, error = await collect(server.url)
    assert error.code == 'error'


@pytest.mark.parametrize('body', [b'', START, START + CHUNK, START + CHUNK + b'{"type":"chunk","content":"lo'])
async def test_a_stream_cut_before_done_raises_incomplete(body: bytes) -> None:
    async with canned_server(NDJSON_HEAD + body) as server:
        events, error = await collect(server.url)
    assert len(events) == body.count(b'\n')
    assert error.code == 'incomplete'


async def test_a_stream_with_done_ends_quietly() -> None:
    async with canned_server(NDJSON_HEAD + START + CHUNK + DONE) as server:
        async with asyncio.timeout(SETTLE):
            pieces = [piece async for piece in stream_text('hello', url=server.url)]
    assert pieces == ['Hel']


async def run_command_against(url: str, *args: str) -> tuple[int, str, str]:
    """Run `python -m app.api.client` without blocking the loop that serves `url`."""
    command = await asyncio.create_subprocess_exec(
        sys.executable, '-m', 'app.api.client', 'hello', *args, cwd=ROOT, env={**os.environ, 'NICECHAT_URL': url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(SETTLE):
        out, err = await command.communicate()
    assert command.returncode is not None
    return command.returncode, out.decode(), err.decode()


@pytest.mark.parametrize(('response', 'args', 'printed', 'code'), [
    (NDJSON_HEAD + START + b'<html>proxy page</html>\n', (), '', 'bad_response'),
    (NDJSON_HEAD + START + CHUNK, (), 'Hel', 'incomplete'),
    (NDJSON_HEAD + START + CHUNK, ('--timeout', '0.2'), 'Hel', 'connection_failed'),
])
async def test_command_reports_bad_cut_and_silent_streams(response: bytes, args: tuple[str, ...], printed: str,
                                                          code: str) -> None:
    async with canned_server(response, hold=bool(args)) as server:
        status, out, err = await run_command_against(server.url, *args)
    assert status == 1
    assert out.strip() == printed
    assert f'({code})' in err
    assert 'Traceback' not in err


@pytest.mark.parametrize('endless', [b'', b'x' * 1024], ids=['a cut line', 'a line that never ends'])
async def test_a_line_longer_than_the_limit_raises_bad_response(endless: bytes) -> None:
    long_line = NDJSON_HEAD + START + b'{"type":"chunk","content":"' + b'x' * 5000
    async with canned_server(long_line, endless=endless) as server:
        events, error = await collect(server.url, max_line_bytes=1000)
    assert [event['type'] for event in events] == ['start']
    assert error.code == 'bad_response'
    assert 'longer than 1,000 bytes' in error.message


async def test_a_long_line_in_small_reads_takes_linear_time() -> None:
    line = b'{"type":"chunk","content":"' + b'x' * 3_500_000 + b'"}'
    body = line + b'\n'
    reads = [body[start:start + 256] for start in range(0, len(body), 256)]  # a slow link, 256 bytes a read

    async def from_reads() -> AsyncIterator[bytes]:
        for piece in reads:
            yield piece

    started = time.process_time()
    lines = [line async for line in _lines(httpx.Response(200, content=from_reads()))]
    cpu = time.process_time() - started
    assert lines == [line]
    # CPU time, not wall time, so a loaded machine does not fail it: a linear read takes a few milliseconds, the
    # old one (the pending bytes copied and split again on every read) several seconds.
    assert cpu < 1.0
