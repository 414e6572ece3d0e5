"""POST /api/chat against the app as a live server: incremental delivery, content, disconnects, secrets."""

from __future__ import annotations

import itertools
import json
import socket
import time

import httpx
import pytest

from tests.conftest import API_TOKEN, SECRET_KEY, LiveApp
from tests.fake_upstream import FakeUpstream, Script

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
BODY = {'messages': [{'role': 'user', 'content': 'hello'}]}


def lines_of(response: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_streams_seed_compatible_lines(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Hel', 'lo', ' wor', 'ld']))
    response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == 200
    assert response.headers['content-type'] == 'application/x-ndjson'
    assert response.headers['cache-control'] == 'no-cache'
    assert response.headers['x-accel-buffering'] == 'no'
    assert 'content-encoding' not in response.headers
    lines = lines_of(response)
    assert [line['content'] for line in lines if line['type'] == 'chunk'] == ['Hel', 'lo', ' wor', 'ld']
    assert lines[-1]['type'] == 'done'
    assert lines[-1]['full_content'] == 'Hello world'
    sent = upstream.wait_for_request()
    assert sent.messages == BODY['messages']
    assert sent.headers['authorization'] == f'Bearer {SECRET_KEY}'
    assert sent.body['stream'] is True


def test_lines_arrive_as_they_are_produced(live_app: LiveApp, upstream: FakeUpstream) -> None:
    gap = 0.2
    upstream.queue(Script(tokens=['a', 'b', 'c', 'd'], delay=gap))
    arrivals: list[tuple[float, dict]] = []
    with httpx.stream('POST', live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        for line in response.iter_lines():
            if line:
                arrivals.append((time.monotonic(), json.loads(line)))
    chunks = [(t, line) for t, line in arrivals if line['type'] == 'chunk']
    assert [line['content'] for _, line in chunks] == ['a', 'b', 'c', 'd']
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(chunks)]
    # Each chunk is read about one upstream gap after the one before it; a buffered body would give ~0 gaps.
    assert all(g > gap * 0.5 for g in gaps), gaps


def test_client_disconnect_closes_upstream_quickly(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['x'] * 1000, delay=0.05))
    with httpx.stream('POST', live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        for line in response.iter_lines():
            if json.loads(line)['type'] == 'chunk':
                break
        left_at = time.monotonic()
    record = upstream.wait_for_request()
    assert record.disconnected.wait(2), 'upstream never saw the client go away'
    assert record.disconnected_at is not None
    assert record.disconnected_at - left_at < 0.1
    assert record.tokens_sent < 1000


@pytest.mark.parametrize('status', [401, 429, 500])
def test_upstream_http_error_is_a_json_error(live_app: LiveApp, upstream: FakeUpstream, status: int) -> None:
    upstream.queue(Script(status=status, error_message=f'Incorrect API key provided: {SECRET_KEY}'))
    response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == {401: 502, 429: 429, 500: 502}[status]
    error = response.json()['error']
    assert error['code'] and error['message']
    assert SECRET_KEY not in response.text


def test_mid_stream_failure_ends_with_error_line(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one', ' two', ' three'], error_after=2, error_message=f'boom {SECRET_KEY}'))
    response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == 200
    lines = lines_of(response)
    assert [line['content'] for line in lines if line['type'] == 'chunk'] == ['one', ' two']
    assert lines[-1]['type'] == 'error'
    assert lines[-1]['error']['code'] == 'upstream_error'
    assert 'boom' in lines[-1]['error']['message']
    assert SECRET_KEY not in response.text
    assert not any(line['type'] == 'done' for line in lines)


def test_dropped_upstream_connection_ends_with_error_line(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one', ' two', ' three'], drop_after=1))
    response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    lines = lines_of(response)
    assert [line['content'] for line in lines if line['type'] == 'chunk'] == ['one']
    assert lines[-1]['type'] == 'error'
    assert lines[-1]['error']['code'] == 'upstream_disconnected'


def test_requires_a_token_when_a_real_key_is_configured(live_app: LiveApp, upstream: FakeUpstream) -> None:
    for headers in ({}, {'Authorization': 'Bearer wrong'}, {'Authorization': API_TOKEN}):
        response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()['error']['code'] == 'unauthorized'
    assert upstream.records == []


def test_key_never_in_output_or_log(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(status=401, error_message=f'bad key {SECRET_KEY}'), Script())
    for _ in range(2):
        response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
        assert SECRET_KEY not in response.text
        assert SECRET_KEY not in str(response.headers)
    page = httpx.get(live_app.url + '/', timeout=10)
    assert SECRET_KEY not in page.text
    assert SECRET_KEY not in live_app.log()


def test_client_leaving_before_the_first_token_closes_upstream_cleanly(live_app: LiveApp,
                                                                       upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['never seen'], first_delay=5))
    # The server holds its status line back until the first token, so the client gives up waiting for headers.
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=httpx.Timeout(10, read=0.5))
    record = upstream.wait_for_request()
    assert record.disconnected.wait(2), 'upstream never saw the client go away'
    assert record.tokens_sent == 0
    # (the live app's log is checked for errors when the session ends: this path used to log a RuntimeError)


def test_upstream_body_ending_mid_reply_is_an_error_line_not_done(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['The', ' answer', ' is'], end_after=2))
    lines = lines_of(httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10))
    assert [line['content'] for line in lines if line['type'] == 'chunk'] == ['The', ' answer']
    assert lines[-1]['type'] == 'error'
    assert lines[-1]['error']['code'] == 'upstream_disconnected'


def test_client_vanishing_mid_upload_is_handled_quietly(live_app: LiveApp, upstream: FakeUpstream) -> None:
    host, port = live_app.url.removeprefix('http://').split(':')
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f'POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_TOKEN}\r\n'
                     'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"messages"'.encode())
    # The server must answer the next request normally (and log nothing: checked when the session ends).
    response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == 200
    assert upstream.records[-1].messages == BODY['messages']
