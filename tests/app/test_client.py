"""app.api.client against the live server: the async generator and the `python -m app.api.client` command."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from app.api.client import READ_TIMEOUT, APIError, stream_chat, stream_text
from app.config import DEFAULT_UPSTREAM_TIMEOUT
from tests.conftest import API_TOKEN, ROOT, LiveApp
from tests.fake_upstream import FakeUpstream, Script

USER = [{'role': 'user', 'content': 'hello'}]
NDJSON_HEAD = b'HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nConnection: close\r\n\r\n'
START = b'{"type":"start","id":"chat-1","model":"fake-model"}\n'
CHUNK = b'{"type":"chunk","content":"Hel"}\n'
# Upper bound for anything in these tests that should take a moment, so a hang fails instead of waiting 90 s.
SETTLE = 10.0


@contextlib.asynccontextmanager
async def canned_server(response: bytes, *, hold: bool = False) -> AsyncIterator[str]:
    """Serve `response` to every request on loopback, then close (or, with `hold`, stay silent until the end)."""
    release = asyncio.Event()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b'\r\n\r\n')
        length = next((int(line.split(b':')[1]) for line in head.lower().split(b'\r\n')
                       if line.startswith(b'content-length:')), 0)
        await reader.readexactly(length)  # read the whole request, so closing does not reset the connection
        writer.write(response)
        await writer.drain()
        if hold:
            await release.wait()
        writer.close()

    server = await asyncio.start_server(answer, '127.0.0.1', 0)
    try:
        yield f'http://127.0.0.1:{server.sockets[0].getsockname()[1]}'
    finally:
        release.set()
        server.close()
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


def run_command(live_app: LiveApp, *args: str, token: str = API_TOKEN) -> subprocess.Popen[str]:
    env = {**os.environ, 'NICECHAT_URL': live_app.url, 'NICECHAT_TOKEN': token}
    return subprocess.Popen([sys.executable, '-m', 'app.api.client', *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_command_prints_the_reply_as_it_streams(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['first', ' second', ' third'], delay=0.3))
    command = run_command(live_app, 'hello', '--system', 'be brief')
    assert command.stdout is not None
    assert command.stdout.read(5) == 'first'
    assert upstream.wait_for_request().tokens_sent < 3  # printed before the reply was over
    out, err = command.communicate(timeout=10)
    assert 'first' + out == 'first second third\n'
    assert command.returncode == 0, err
    assert upstream.records[0].messages == [{'role': 'system', 'content': 'be brief'},
                                            {'role': 'user', 'content': 'hello'}]


def test_command_reports_errors_on_stderr(live_app: LiveApp, upstream: FakeUpstream) -> None:
    command = run_command(live_app, 'hello', token='wrong')
    out, err = command.communicate(timeout=10)
    assert command.returncode == 1
    assert 'unauthorized' in err
    assert 'Traceback' not in err
    assert out.strip() == ''


def test_read_timeout_outlasts_the_servers_upstream_timeout() -> None:
    # after the first token the server sends no pings: its own upstream_timeout line must come before ours fires
    assert READ_TIMEOUT >= DEFAULT_UPSTREAM_TIMEOUT + 20


async def test_read_timeout_is_configurable() -> None:
    async with canned_server(NDJSON_HEAD + START, hold=True) as url:
        events, error = await collect(url, read_timeout=0.2)
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
    async with canned_server(NDJSON_HEAD + START + line + b'\n' + CHUNK) as url:
        events, error = await collect(url)
    assert [event['type'] for event in events] == ['start']
    assert error.code == 'bad_response'
    assert line[:20].decode() in error.message


async def test_an_error_line_without_an_error_object_still_raises() -> None:
    async with canned_server(NDJSON_HEAD + START + b'{"type":"error","error":"boom"}\n') as url:
        _, error = await collect(url)
    assert error.code == 'error'


@pytest.mark.parametrize('body', [b'', START, START + CHUNK, START + CHUNK + b'{"type":"chunk","content":"lo'])
async def test_a_stream_cut_before_done_raises_incomplete(body: bytes) -> None:
    async with canned_server(NDJSON_HEAD + body) as url:
        events, error = await collect(url)
    assert len(events) == body.count(b'\n')
    assert error.code == 'incomplete'


async def test_a_stream_with_done_ends_quietly() -> None:
    done = b'{"type":"done","full_content":"Hel","finish_reason":"stop","usage":null,"timing":null}\n'
    async with canned_server(NDJSON_HEAD + START + CHUNK + done) as url:
        async with asyncio.timeout(SETTLE):
            pieces = [piece async for piece in stream_text('hello', url=url)]
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
    async with canned_server(response, hold=bool(args)) as url:
        status, out, err = await run_command_against(url, *args)
    assert status == 1
    assert out.strip() == printed
    assert f'({code})' in err
    assert 'Traceback' not in err
