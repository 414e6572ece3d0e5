"""app.client against the live server: the async generator and the `python -m app.client` command."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.client import APIError, stream_chat, stream_text
from tests.conftest import API_TOKEN, ROOT, LiveApp
from tests.fake_upstream import FakeUpstream, Script

USER = [{'role': 'user', 'content': 'hello'}]


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
    return subprocess.Popen([sys.executable, '-m', 'app.client', *args], cwd=ROOT, env=env, text=True,
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
