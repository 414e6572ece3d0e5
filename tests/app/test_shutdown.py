"""SIGTERM with API streams open, against the app as a live server: every stream ends with a `server_shutdown`
error in its protocol's shape, every upstream request is closed, a conversation's reply is saved as interrupted with
its text, and the process exits within 5 s."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from app.store import MessageRecord, open_store
from tests.app.conversations.conftest import ALICE, KeyedApp, _start
from tests.conftest import API_TOKEN
from tests.fake_upstream import FakeUpstream, Script

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
HELLO = [{'role': 'user', 'content': 'hello'}]
# What the issue asks of a shutdown: the process is gone within this many seconds of SIGTERM.
EXIT_WITHIN = 5.0


@pytest.fixture
def app(upstream: FakeUpstream, tmp_path: Path) -> Iterator[KeyedApp]:
    """An app of this test's own, with people's API keys (the conversation tests' app): the test stops it."""
    app = _start(upstream, tmp_path)
    yield app
    if app.process.poll() is None:
        app.process.kill()
        app.process.wait()


class Stream(threading.Thread):
    """Reads one streamed response to its end; `going` is set once its first text has arrived."""

    def __init__(self, read: Callable[[Stream], None]) -> None:
        super().__init__(daemon=True)
        self.read = read
        self.going = threading.Event()
        self.items: list[object] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            self.read(self)
        except BaseException as error:  # checked by the test
            self.failure = error
        finally:
            self.going.set()


def api_chat(url: str, body: dict | None = None, auth: dict[str, str] = AUTH) -> Callable[[Stream], None]:
    def read(stream: Stream) -> None:
        with httpx.stream('POST', url + '/api/chat', json=body or {'messages': HELLO}, headers=auth,
                          timeout=10) as response:
            for line in response.iter_lines():
                stream.items.append(json.loads(line))
                if stream.items[-1]['type'] == 'chunk':  # type: ignore[index]
                    stream.going.set()
    return read


def ui_chat(url: str) -> Callable[[Stream], None]:
    body = {'messages': [{'id': 'm1', 'role': 'user', 'parts': [{'type': 'text', 'text': 'hello'}]}]}

    def read(stream: Stream) -> None:
        with httpx.stream('POST', url + '/api/ui-chat', json=body, headers=AUTH, timeout=10) as response:
            for line in response.iter_lines():
                if line.startswith('data: '):
                    stream.items.append(line.removeprefix('data: '))
                    if '"text-delta"' in line:
                        stream.going.set()
    return read


def v1_chat(url: str) -> Callable[[Stream], None]:
    def read(stream: Stream) -> None:
        with openai.OpenAI(base_url=url + '/v1', api_key=API_TOKEN, max_retries=0, timeout=10) as sdk:
            try:
                for chunk in sdk.chat.completions.create(model='fake-model', messages=HELLO,  # type: ignore[arg-type]
                                                         stream=True):
                    if chunk.choices and chunk.choices[0].delta.content:
                        stream.items.append(chunk.choices[0].delta.content)
                        stream.going.set()
            except openai.APIError as error:
                stream.items.append(error)
    return read


def test_sigterm_ends_every_open_stream_with_server_shutdown_and_exits_in_time(app: KeyedApp,
                                                                               upstream: FakeUpstream) -> None:
    # Each reply sends its first token, then waits (for a release that never comes) until the app hangs up; the
    # fourth request's model server has not even answered yet, so its status line is still held back.
    # The fifth is a turn of a person's stored conversation: the chat runtime's reply, which the stream follows.
    upstream.queue(*(Script(tokens=['First', ' never'], hold_at=1) for _ in range(3)), Script(header_delay=30),
                   Script(tokens=['First', ' never'], hold_at=1))
    created = httpx.post(app.url + '/api/conversations', json={}, headers=app.auth(ALICE), timeout=10)
    turn = {'conversation_id': created.json()['id'], 'messages': HELLO}
    streams = [Stream(api_chat(app.url)), Stream(v1_chat(app.url)), Stream(ui_chat(app.url))]
    for stream in streams:
        stream.start()
        assert stream.going.wait(10), 'the stream never started'
    waiting = Stream(v1_chat(app.url))
    waiting.start()
    upstream.wait_for_request(4)
    streams.append(waiting)
    streams.append(Stream(api_chat(app.url, turn, app.auth(ALICE))))
    streams[-1].start()
    assert streams[-1].going.wait(10), "the conversation's reply never started"

    app.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    for stream in streams:
        stream.join(EXIT_WITHIN)
    app.process.wait(EXIT_WITHIN)  # raises if the app is still running
    assert time.monotonic() - signalled < EXIT_WITHIN

    ndjson, v1, ui, refused, turned = (stream.items for stream in streams)
    assert all(stream.failure is None for stream in streams), [stream.failure for stream in streams]
    assert [line['type'] for line in ndjson] == ['start', 'chunk', 'error']  # type: ignore[index]
    assert ndjson[-1]['error']['code'] == 'server_shutdown'  # type: ignore[index]
    assert v1[0] == 'First' and isinstance(v1[-1], openai.APIError)
    assert v1[-1].body['code'] == 'server_shutdown'  # type: ignore[index, union-attr]
    assert 'shutting down' in json.loads(ui[-2])['errorText'] and ui[-1] == '[DONE]'  # type: ignore[arg-type]
    assert len(refused) == 1 and isinstance(refused[0], openai.APIStatusError)
    assert (refused[0].status_code, refused[0].code) == (503, 'server_shutdown')
    for record in upstream.records:
        assert record.disconnected.is_set(), 'an upstream request was left open'
    assert [record.tokens_sent for record in upstream.records] == [1, 1, 1, 0, 1]
    assert [line['type'] for line in turned][-2:] == ['chunk', 'error']  # type: ignore[index]
    assert turned[-1]['error']['code'] == 'server_shutdown'  # type: ignore[index]
    reply = asyncio.run(last_message(app, turn['conversation_id']))
    assert (reply.status, reply.content) == ('interrupted', 'First')
    log = app.log()
    assert 'ERROR' not in log and 'Traceback' not in log, log


async def last_message(app: KeyedApp, conversation_id: str) -> MessageRecord:
    """The conversation's last message as the database has it (the app has exited)."""
    store = await open_store(f'sqlite:///{app.log_path.parent / "data" / "nicechat.db"}')
    try:
        return (await store.messages(conversation_id))[-1]
    finally:
        await store.close()
