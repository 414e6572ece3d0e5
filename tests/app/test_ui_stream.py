"""POST /api/ui-chat: the AI SDK's UI message stream, read off the live server; useChat bodies turned into messages."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from app.api.ui.stream import PartWriter, parse_ui_request
from app.config import Settings
from app.errors import ChatError
from tests.conftest import API_TOKEN, SECRET_KEY, LiveApp
from tests.fake_upstream import FakeUpstream, Script

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
PNG = 'data:image/png;base64,iVBORw0KGgo='
# What useChat posts after one exchange and a second question with an image (its DefaultChatTransport's body).
BODY = {'id': 'chat-1', 'trigger': 'submit-message', 'messageId': None, 'messages': [
    {'id': 'u1', 'role': 'user', 'parts': [{'type': 'text', 'text': 'Hi'}]},
    {'id': 'a1', 'role': 'assistant', 'parts': [
        {'type': 'step-start'}, {'type': 'reasoning', 'text': 'Greet back.', 'state': 'done'},
        {'type': 'text', 'text': 'Hello!', 'state': 'done'}]},
    {'id': 'u2', 'role': 'user', 'parts': [{'type': 'text', 'text': 'What is this?'},
                                           {'type': 'file', 'mediaType': 'image/png', 'url': PNG}]},
]}


def events(response: httpx.Response) -> list[Any]:
    """The stream's SSE events: chunk objects, ': ping' comments as the string, and '[DONE]'."""
    out: list[Any] = []
    for event in response.text.split('\n\n'):
        if event.startswith('data: '):
            data = event.removeprefix('data: ')
            out.append(data if data == '[DONE]' else json.loads(data))
        elif event:
            out.append(event)
    return out


def test_reply_as_ui_message_chunks(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['It is', ' a pixel.'], reasoning=['Looking', '...']))
    response = httpx.post(live_app.url + '/api/ui-chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == 200
    assert response.headers['x-vercel-ai-ui-message-stream'] == 'v1'
    assert response.headers['content-type'] == 'text/event-stream'
    assert response.headers['cache-control'] == 'no-cache'
    assert response.headers['x-accel-buffering'] == 'no'
    chunks = events(response)
    start = chunks[0]
    assert start['type'] == 'start' and start['messageId'].startswith('msg-')
    assert chunks[1:] == [
        {'type': 'start-step'},
        {'type': 'reasoning-start', 'id': 'reasoning-1'},
        {'type': 'reasoning-delta', 'id': 'reasoning-1', 'delta': 'Looking'},
        {'type': 'reasoning-delta', 'id': 'reasoning-1', 'delta': '...'},
        {'type': 'reasoning-end', 'id': 'reasoning-1'},
        {'type': 'text-start', 'id': 'text-2'},
        {'type': 'text-delta', 'id': 'text-2', 'delta': 'It is'},
        {'type': 'text-delta', 'id': 'text-2', 'delta': ' a pixel.'},
        {'type': 'text-end', 'id': 'text-2'},
        {'type': 'finish-step'},
        {'type': 'finish', 'finishReason': 'stop'},
        '[DONE]',
    ]
    assert upstream.wait_for_request().messages == [
        {'role': 'user', 'content': 'Hi'},
        {'role': 'assistant', 'content': 'Hello!'},
        {'role': 'user', 'content': [{'type': 'text', 'text': 'What is this?'},
                                     {'type': 'image_url', 'image_url': {'url': PNG}}]},
    ]


def test_model_from_the_body_option(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    response = httpx.post(tuned_app.url + '/api/ui-chat', json={**BODY, 'model': 'other-model'}, headers=AUTH,
                          timeout=10)
    assert response.status_code == 200
    assert upstream.wait_for_request().body['model'] == 'other-model'


def test_failure_mid_stream_is_an_error_chunk(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one', ' two', ' three'], error_after=1, error_message=f'boom {SECRET_KEY}'))
    chunks = events(httpx.post(live_app.url + '/api/ui-chat', json=BODY, headers=AUTH, timeout=10))
    assert {'type': 'text-delta', 'id': 'text-1', 'delta': 'one'} in chunks
    assert chunks[-2]['type'] == 'error' and 'boom [redacted]' in chunks[-2]['errorText']
    assert chunks[-1] == '[DONE]'
    assert not any(isinstance(c, dict) and c['type'] == 'finish' for c in chunks)


@pytest.mark.parametrize(('script', 'status', 'code'), [
    (Script(status=500), 502, 'upstream_unavailable'),
    (Script(status=429, retry_after='3'), 429, 'rate_limited'),
])
def test_failure_before_the_stream_is_an_http_error(live_app: LiveApp, upstream: FakeUpstream, script: Script,
                                                    status: int, code: str) -> None:
    upstream.queue(script)
    response = httpx.post(live_app.url + '/api/ui-chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == status
    assert response.json()['error']['code'] == code


def test_requests_refused_before_anything_goes_upstream(live_app: LiveApp, upstream: FakeUpstream) -> None:
    unauthorized = httpx.post(live_app.url + '/api/ui-chat', json=BODY, timeout=10)
    bad_json = httpx.post(live_app.url + '/api/ui-chat', content=b'{', headers=AUTH, timeout=10)
    invalid = httpx.post(live_app.url + '/api/ui-chat', json={'messages': [{'role': 'user', 'content': 'hi'}]},
                         headers=AUTH, timeout=10)
    assert (unauthorized.status_code, unauthorized.json()['error']['code']) == (401, 'unauthorized')
    assert (bad_json.status_code, bad_json.json()['error']['code']) == (400, 'invalid_json')
    assert (invalid.status_code, invalid.json()['error']['code']) == (422, 'invalid_request')
    assert 'messages[0].parts' in invalid.json()['error']['message']
    assert upstream.records == []


def test_client_disconnect_closes_upstream_quickly(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['x'] * 1000, delay=0.05))
    with httpx.stream('POST', live_app.url + '/api/ui-chat', json=BODY, headers=AUTH, timeout=10) as response:
        for line in response.iter_lines():
            if '"text-delta"' in line:
                break
        left_at = time.monotonic()
    record = upstream.wait_for_request()
    assert record.disconnected.wait(2), 'upstream never saw the client go away'
    assert record.disconnected_at is not None
    assert record.disconnected_at - left_at < 0.1
    assert record.tokens_sent < 1000


def test_pings_while_the_model_has_not_started(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['late'], first_delay=1.0))
    chunks = events(httpx.post(tuned_app.url + '/api/ui-chat', json=BODY, headers=AUTH, timeout=10))
    first_text = chunks.index({'type': 'text-start', 'id': 'text-1'})
    assert chunks[2:first_text].count(': ping') >= 2
    assert ': ping' not in chunks[first_text:]


@pytest.mark.parametrize(('body', 'fragment'), [
    ([], 'JSON object'),
    ({'messages': []}, '"messages"'),
    ({'messages': [{'role': 'tool', 'parts': []}]}, 'messages[0].role'),
    ({'messages': [{'role': 'user', 'parts': 'hi'}]}, 'messages[0].parts must be a list'),
    ({'messages': [{'role': 'user', 'parts': [{'type': 'text'}]}]}, 'messages[0].parts[0].text'),
    ({'messages': [{'role': 'user', 'parts': [{'text': 'hi'}]}]}, 'messages[0].parts[0] must be an object'),
    ({'messages': [{'role': 'user', 'parts': [{'type': 'file', 'mediaType': 'application/pdf', 'url': 'x'}]}]},
     'only image files'),
    ({'messages': [{'role': 'assistant', 'parts': [{'type': 'file', 'mediaType': 'image/png', 'url': PNG}]}]},
     'only image files'),
    ({'messages': [{'role': 'assistant', 'parts': [{'type': 'tool-weather', 'state': 'output-available'}]}]},
     'no text or image'),
    ({'messages': BODY['messages'], 'model': 'gpt-9'}, '"model"'),
    ({'messages': [{'role': 'user', 'parts': [{'type': 'file', 'mediaType': 'image/png',
                                               'url': 'data:image/png;base64,aGVsbG8='}]}]},
     'messages[0].parts[0].url does not hold a PNG, JPEG, WebP or GIF image'),
    ({'messages': [{'role': 'user', 'parts': [{'type': 'file', 'mediaType': 'image/png', 'url': 'http://x/a.png'}]}]},
     'messages[0].parts[0].url must be a data:image/...;base64, URL or an https URL'),
])
def test_invalid_bodies_are_refused_naming_the_problem(body: Any, fragment: str) -> None:
    with pytest.raises(ChatError) as caught:
        parse_ui_request(body, Settings(model='m1'))
    assert (caught.value.status, caught.value.code) == (422, 'invalid_request')
    assert fragment in caught.value.message


def test_part_writer_alternates_parts_and_maps_finish_reasons() -> None:
    writer = PartWriter()
    frames = writer.batch([('content', 'a'), ('reasoning', 'b'), ('content', 'c')]) + writer.finish('content_filter')
    chunks = [json.loads(e.removeprefix('data: ')) for e in frames.decode().split('\n\n') if e and 'DONE' not in e]
    assert [(c['type'], c.get('id')) for c in chunks] == [
        ('text-start', 'text-1'), ('text-delta', 'text-1'), ('text-end', 'text-1'),
        ('reasoning-start', 'reasoning-2'), ('reasoning-delta', 'reasoning-2'), ('reasoning-end', 'reasoning-2'),
        ('text-start', 'text-3'), ('text-delta', 'text-3'), ('text-end', 'text-3'),
        ('finish-step', None), ('finish', None)]
    assert chunks[-1]['finishReason'] == 'content-filter'
    assert json.loads(PartWriter().finish('tool_calls').split(b'\n\n')[1][6:])['finishReason'] == 'tool-calls'
    assert json.loads(PartWriter().finish('eos').split(b'\n\n')[1][6:])['finishReason'] == 'other'


def test_any_model_takes_any_name_of_a_model() -> None:
    settings = Settings(model='m1', allowed_models=('*',))
    assert parse_ui_request({**BODY, 'model': 'whatever-1'}, settings)[1] == 'whatever-1'
    with pytest.raises(ChatError):
        parse_ui_request({**BODY, 'model': ''}, settings)
