"""Request checks of POST /api/chat on a live server: each failure is a 4xx JSON error and nothing goes upstream."""

from __future__ import annotations

import socket
from typing import Any

import httpx
import pytest

from app.api.validation import ChatRequest, parse_request
from app.config import Settings
from app.errors import ChatError
from tests.app.conftest import MAX_REQUEST_BYTES, MAX_TOKENS_LIMIT
from tests.conftest import API_TOKEN, LiveApp
from tests.fake_upstream import FakeUpstream

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
USER = {'role': 'user', 'content': 'hi'}


def assert_error(response: httpx.Response, status: int, code: str, *words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers['content-type'].startswith('application/json')
    error = response.json()['error']
    assert error['code'] == code
    for word in words:
        assert word in error['message'], error['message']


def test_malformed_json_is_400(live_app: LiveApp, upstream: FakeUpstream) -> None:
    for body in (b'{"messages": [', b'', b'\xff\xfe', b'{"messages": NaN}'):
        response = httpx.post(live_app.url + '/api/chat', content=body, headers=AUTH, timeout=10)
        assert_error(response, 400, 'invalid_json', 'JSON')
    assert upstream.records == []


INVALID_BODIES: list[tuple[Any, str]] = [
    ([], 'JSON object'),
    ({}, '"messages"'),
    ({'messages': None}, '"messages"'),
    ({'messages': 'hi'}, '"messages"'),
    ({'messages': {'role': 'user', 'content': 'hi'}}, '"messages"'),
    ({'messages': []}, 'must not be empty'),
    ({'messages': ['hi']}, 'messages[0]'),
    ({'messages': [USER, {'role': 'tool', 'content': 'x'}]}, 'messages[1].role'),
    ({'messages': [{'role': 'developer', 'content': 'x'}]}, 'system, user, assistant'),
    ({'messages': [{'content': 'x'}]}, 'messages[0].role'),
    ({'messages': [{'role': 'user'}]}, 'messages[0].content'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'input_audio', 'input_audio': {}}]}]},
     'content[0] must be {"type": "text"'),
    ({'messages': [{'role': 'user', 'content': {'type': 'image_url'}}]}, 'a list of text and image_url parts'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,'
                                                                                          'QUJD'}}]}]},
     'not a PNG, JPEG, WebP or GIF image'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'file:///etc/passwd'}}]}]},
     'must be a data:image/...;base64, URL or an https URL'),
    ({'messages': [{'role': 'assistant', 'content': [{'type': 'image_url',
                                                      'image_url': {'url': 'https://example.com/a.png'}}]}]},
     'images are accepted only in user messages'),
    ({'messages': [USER], 'temperature': 2.5}, '"temperature"'),
    ({'messages': [USER], 'temperature': -0.1}, '"temperature"'),
    ({'messages': [USER], 'temperature': '1'}, '"temperature"'),
    ({'messages': [USER], 'temperature': True}, '"temperature"'),
    ({'messages': [USER], 'max_tokens': 0}, '"max_tokens"'),
    ({'messages': [USER], 'max_tokens': 1.5}, '"max_tokens"'),
    ({'messages': [USER], 'max_tokens': 10**9}, '"max_tokens"'),
    ({'messages': [USER], 'model': 'gpt-4o'}, '"model"'),
    ({'messages': [USER], 'model': 7}, '"model"'),
]


@pytest.mark.parametrize(('body', 'named'), INVALID_BODIES, ids=[str(i) for i in range(len(INVALID_BODIES))])
def test_invalid_request_is_422_naming_the_problem(live_app: LiveApp, upstream: FakeUpstream, body: Any,
                                                  named: str) -> None:
    response = httpx.post(live_app.url + '/api/chat', json=body, headers=AUTH, timeout=10)
    assert_error(response, 422, 'invalid_request', named)
    assert upstream.records == []


def test_limits_and_models_follow_settings(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    def post(**extra: Any) -> httpx.Response:
        body = {'messages': [USER], **extra}
        return httpx.post(tuned_app.url + '/api/chat', json=body, headers=AUTH, timeout=10)

    assert_error(post(max_tokens=MAX_TOKENS_LIMIT + 1), 422, 'invalid_request', f'1 to {MAX_TOKENS_LIMIT}')
    assert_error(post(model='third-model'), 422, 'invalid_request', 'fake-model, other-model')
    assert upstream.records == []
    assert post(max_tokens=MAX_TOKENS_LIMIT, model='other-model', temperature=0).status_code == 200
    sent = upstream.wait_for_request()
    assert (sent.body['model'], sent.body['max_tokens'], sent.body['temperature']) == ('other-model', 100, 0)
    assert post().status_code == 200
    assert upstream.wait_for_request(2).body['model'] == 'fake-model'  # the first allowed model is the default


def test_body_over_the_limit_is_413(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    big = {'messages': [{'role': 'user', 'content': 'x' * MAX_REQUEST_BYTES}]}
    response = httpx.post(tuned_app.url + '/api/chat', json=big, headers=AUTH, timeout=10)
    assert_error(response, 413, 'body_too_large', str(MAX_REQUEST_BYTES))
    assert upstream.records == []


def test_streamed_body_is_refused_before_it_ends(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    host, port = tuned_app.url.removeprefix('http://').split(':')
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f'POST /api/chat HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {API_TOKEN}\r\n'
                     'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'.encode())
        piece = b'x' * 1000
        for _ in range(MAX_REQUEST_BYTES // len(piece) + 1):
            sock.sendall(f'{len(piece):x}\r\n'.encode() + piece + b'\r\n')
        # The body has no end chunk: an answer now proves the server stopped reading at the limit.
        answer = b''
        while b'}}' not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b'HTTP/1.1 413 ')
    assert b'"body_too_large"' in answer
    assert upstream.records == []


@pytest.mark.parametrize(('body', 'named'), INVALID_BODIES, ids=[str(i) for i in range(len(INVALID_BODIES))])
def test_parse_request_outside_http_raises_the_same_422(body: Any, named: str) -> None:
    with pytest.raises(ChatError) as raised:
        parse_request(body, Settings(model='fake-model'))
    assert (raised.value.status, raised.value.code) == (422, 'invalid_request')
    assert named in raised.value.message


def test_parse_request_outside_http_returns_what_goes_upstream() -> None:
    settings = Settings(model='fake-model', allowed_models=('fake-model', 'other-model'), max_tokens_limit=50)
    body = {'messages': [{'role': 'system', 'content': 'Be brief.', 'name': 'ignored'}, USER], 'temperature': 1,
            'max_tokens': 50, 'model': 'other-model', 'stream': False}
    assert parse_request(body, settings) == ChatRequest(
        [{'role': 'system', 'content': 'Be brief.'}, USER], 'other-model', {'temperature': 1, 'max_tokens': 50})
    assert parse_request({'messages': [USER]}, settings) == ChatRequest([USER], 'fake-model', {})
