"""A reply followed over the API from a character offset: a client that drops mid-stream and reconnects with the
offset it had misses nothing and gets nothing twice; the reply goes on while nobody follows it."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.app.conversations.conftest import ALICE, BOB, KeyedApp, create, lines_of, read
from tests.fake_upstream import FakeUpstream, Script

# Tokens with characters outside ASCII (and outside the BMP), so offsets that counted bytes or UTF-16 units would
# cut or repeat text.
TOKENS = [f'{i:02d}é🙂 ' for i in range(60)]
FULL = ''.join(TOKENS)


def read_until(response: httpx.Response, offset: int) -> tuple[dict[str, Any], str, int]:
    """Read lines until the text reaches `offset` characters; the start line, the text and the offset it reached."""
    start, text, reached = {}, '', 0
    for raw in response.iter_lines():
        line = json.loads(raw)
        if line['type'] == 'start':
            start = line
        elif line['type'] == 'chunk':
            text += line['content']
            reached = line['offset']
            if reached >= offset:
                break
    return start, text, reached


def test_a_client_that_drops_twice_resumes_from_its_offset_and_gets_the_reply_exactly_once(
        any_app: KeyedApp, upstream: FakeUpstream) -> None:
    auth = any_app.auth(ALICE)
    upstream.queue(Script(tokens=TOKENS, delay=0.03))
    conversation = create(any_app)
    body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': 'count'}]}
    with httpx.stream('POST', any_app.url + '/api/chat', json=body, headers=auth, timeout=20) as first:
        start, text, offset = read_until(first, 60)
    # The connection is closed now (a real disconnect); the reply goes on without anyone following it.
    assert 0 < offset < len(FULL) and text == FULL[:offset]
    stream_url = f'{any_app.url}/api/conversations/{conversation}/stream'
    params = {'offset': offset, 'reply_id': start['id']}
    with httpx.stream('GET', stream_url, params=params, headers=auth, timeout=20) as second:
        assert second.status_code == 200 and second.headers['content-type'] == 'application/x-ndjson'
        again, more, offset = read_until(second, 150)
    assert again['id'] == start['id'] and text + more == FULL[:offset] and offset < len(FULL)
    with httpx.stream('GET', stream_url, params={**params, 'offset': offset}, headers=auth, timeout=20) as third:
        lines = [json.loads(raw) for raw in third.iter_lines()]
    rest = ''.join(line['content'] for line in lines if line['type'] == 'chunk')
    assert text + more + rest == FULL
    assert lines[-1]['type'] == 'done' and lines[-1]['full_content'] == FULL
    record = upstream.records[0]
    assert record.completed and not record.disconnected.is_set(), 'a client leaving stopped the reply'
    assert read(any_app, conversation).json()['messages'][-1]['content'] == FULL


def test_following_a_finished_reply_gives_its_text_from_the_offset_then_its_last_line(
        conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    auth = conv_app.auth(ALICE)
    upstream.queue(Script(tokens=['Ab', 'cd', 'ef']), Script(tokens=['x'] * 5, error_after=2))
    conversation = create(conv_app)
    for prompt in ('one', 'two'):
        body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': prompt}]}
        httpx.post(conv_app.url + '/api/chat', json=body, headers=auth, timeout=20).raise_for_status()
    first_reply = read(conv_app, conversation).json()['messages'][1]
    url = f'{conv_app.url}/api/conversations/{conversation}/stream'
    whole = lines_of(httpx.get(url, params={'offset': 2, 'reply_id': first_reply['id']}, headers=auth, timeout=10))
    assert [line['type'] for line in whole] == ['start', 'chunk', 'done']
    assert whole[1] == {'type': 'chunk', 'content': 'cdef', 'offset': 6} and whole[2]['full_content'] == 'Abcdef'
    last = httpx.get(url, headers={**auth, 'Accept': 'text/event-stream'}, timeout=10)  # the last reply, as SSE
    events = [json.loads(part.removeprefix('data: ')) for part in last.text.split('\n\n') if part]
    assert [e['type'] for e in events] == ['start', 'chunk', 'error'] and events[1]['content'] == 'xx'
    assert events[2]['error']['code'] == 'reply_failed'
    past = httpx.get(url, params={'offset': 3}, headers=auth, timeout=10)
    assert past.status_code == 416 and past.json()['error']['code'] == 'offset_out_of_range'
    for params, status in (({'offset': '-1'}, 422), ({'offset': '²'}, 422),
                           ({'reply_id': first_reply['parent_id']}, 404)):
        assert httpx.get(url, params=params, headers=auth, timeout=10).status_code == status
    assert httpx.get(url, headers=conv_app.auth(BOB), timeout=10).status_code == 404


def test_stop_ends_a_reply_that_a_disconnect_would_not(conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    auth = conv_app.auth(ALICE)
    upstream.queue(Script(tokens=['tick '] * 400, delay=0.02))
    conversation = create(conv_app)
    body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': 'count'}]}
    with httpx.stream('POST', conv_app.url + '/api/chat', json=body, headers=auth, timeout=20) as response:
        start, _, offset = read_until(response, 10)
    stop_url = f'{conv_app.url}/api/conversations/{conversation}/stop'
    busy = httpx.post(conv_app.url + '/api/chat', json=body, headers=auth, timeout=10)  # still streaming
    assert busy.status_code == 409 and busy.json()['error']['code'] == 'busy'
    assert httpx.post(stop_url, headers=auth, timeout=10).json() == {'stopped': True}
    assert upstream.records[0].disconnected.wait(5), 'the model server kept generating'
    lines = lines_of(httpx.get(f'{conv_app.url}/api/conversations/{conversation}/stream',
                               params={'offset': offset, 'reply_id': start['id']}, headers=auth, timeout=10))
    assert lines[-1]['type'] == 'error' and lines[-1]['error']['code'] == 'stopped'
    messages = read(conv_app, conversation).json()['messages']
    assert [(m['role'], m['status']) for m in messages] == [('user', 'complete'), ('assistant', 'stopped')]
    assert httpx.post(stop_url, headers=auth, timeout=10).json() == {'stopped': False}
    assert httpx.post(stop_url, headers=conv_app.auth(BOB), timeout=10).status_code == 404
