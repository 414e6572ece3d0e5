"""POST /api/chat against the app as a live server: incremental delivery, content, disconnects, secrets."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from tests.conftest import API_TOKEN, SECRET_KEY, LiveApp
from tests.fake_upstream import FakeUpstream, Script

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
BODY = {'messages': [{'role': 'user', 'content': 'hello'}]}
# How long the fake upstream waits for the test to release each gated token (tests/fake_upstream.py).
GATE_WAIT = 10
# Seconds the upstream stays silent in the disconnect test: far longer than noticing a disconnect may take.
SILENCE = 30


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
    # The upstream sends each token after the first only once the client has read the one before: a relay that
    # buffered would leave the client waiting for its first chunk, and the read would time out.
    gate = threading.Semaphore(0)
    upstream.queue(Script(tokens=['a', 'b', 'c', 'd'], gate=gate))
    received: list[str] = []
    timeout = httpx.Timeout(10, read=GATE_WAIT / 2)
    with httpx.stream('POST', live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=timeout) as response:
        for line in response.iter_lines():
            event = json.loads(line)
            if event['type'] == 'chunk':
                received.append(event['content'])
                assert upstream.records[-1].tokens_sent <= len(received)  # nothing of the next token yet
                gate.release()
    assert received == ['a', 'b', 'c', 'd']
    assert event['type'] == 'done'


def test_client_disconnect_closes_upstream_quickly(live_app: LiveApp, upstream: FakeUpstream) -> None:
    # After the reasoning line the upstream stays silent, so only noticing the disconnect (not a failed write of the
    # next token) can close its request before the silence ends.
    upstream.queue(Script(reasoning=['thinking'], tokens=['never sent'], delay=SILENCE))
    with httpx.stream('POST', live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        for line in response.iter_lines():
            if json.loads(line)['type'] == 'reasoning':
                break
        left_at = time.monotonic()
    record = upstream.wait_for_request()
    assert record.disconnected.wait(SILENCE / 2), 'upstream never saw the client go away'
    assert record.disconnected_at is not None
    # docs/api.md promises "within 100 ms"; a loaded machine gets ten times that.
    assert record.disconnected_at - left_at < 1.0
    assert record.tokens_sent == 0


def test_requires_a_token_when_a_real_key_is_configured(live_app: LiveApp, upstream: FakeUpstream) -> None:
    for headers in ({}, {'Authorization': 'Bearer wrong'}, {'Authorization': API_TOKEN}):
        response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.json()['error']['code'] == 'unauthorized'
    assert upstream.records == []


def test_key_echoed_in_an_upstream_error_body_is_redacted(live_app: LiveApp, upstream: FakeUpstream) -> None:
    # A 400 is passed on with the upstream's own message (upstream_rejected): the one path that could carry it.
    upstream.queue(Script(status=400, error_message=f'Invalid request for key {SECRET_KEY} (token {API_TOKEN})'))
    response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == 502
    message = response.json()['error']['message']
    assert message == ('The model server rejected the request (400): '
                       'Invalid request for key [redacted] (token [redacted])')
    assert SECRET_KEY not in live_app.log()


def test_key_echoed_in_an_sse_error_event_is_redacted(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one', ' two'], error_after=1, error_message=f'key {SECRET_KEY} is over quota'))
    lines = lines_of(httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10))
    assert lines[-1]['type'] == 'error'
    assert lines[-1]['error']['code'] == 'upstream_error'
    assert 'key [redacted] is over quota' in lines[-1]['error']['message']
    assert SECRET_KEY not in json.dumps(lines)
    assert SECRET_KEY not in live_app.log()


def test_key_echoed_in_an_upstream_header_is_redacted(live_app: LiveApp, upstream: FakeUpstream) -> None:
    # Retry-After is the one upstream header passed on to the client.
    upstream.queue(Script(status=429, retry_after=SECRET_KEY))
    response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == 429
    assert response.headers['retry-after'] == '[redacted]'
    assert SECRET_KEY not in str(response.headers.raw)
    assert SECRET_KEY not in response.text


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


def test_client_vanishing_mid_upload_is_handled_quietly(live_app: LiveApp, upstream: FakeUpstream) -> None:
    host, port = live_app.url.removeprefix('http://').split(':')
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f'POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_TOKEN}\r\n'
                     'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"messages"'.encode())
    # The server must answer the next request normally (and log nothing: checked when the session ends).
    response = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == 200
    assert upstream.records[-1].messages == BODY['messages']
