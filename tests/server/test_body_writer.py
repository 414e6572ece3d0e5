"""Streams written from the upstream's network callback (app/server/protocol.py: body_writer) still respect the
client's pace: a client that stops reading holds the upstream back, and then gets every byte."""

from __future__ import annotations

import http.client
import json
import socket
import time

from tests.conftest import API_TOKEN, LiveApp
from tests.fake_upstream import FakeUpstream, Script

# ~30 MB of reply: far more than the sockets and buffers between the upstream and a client that does not read can
# hold (a few MB each way on loopback), so the upstream can only finish if the server buffers without bound.
TOKENS = [f'{n:06d} ' + 'x' * 993 for n in range(30_000)]
STALL_SECONDS = 1.0  # how long the upstream's count must stand still to count as held back


def test_a_client_that_stops_reading_holds_the_upstream_back_and_gets_every_byte(live_app: LiveApp,
                                                                                upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=TOKENS))
    host, port = live_app.url.removeprefix('http://').split(':')
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # a small window: the server's side fills soon
    sock.settimeout(60)
    sock.connect((host, int(port)))
    try:
        body = json.dumps({'messages': [{'role': 'user', 'content': 'hi'}]}).encode()
        sock.sendall(f'POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {API_TOKEN}\r\n'
                     f'Content-Type: application/json\r\nContent-Length: {len(body)}\r\n'
                     'Connection: close\r\n\r\n'.encode() + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 200
        assert json.loads(response.readline())['type'] == 'start'
        record = upstream.wait_for_request()
        # The client reads nothing now. The upstream's count must stop growing short of the end: no event says
        # "held back", so watch the count until it stands still for a while.
        deadline, last, still_since = time.monotonic() + 30, -1, time.monotonic()
        while time.monotonic() < deadline and not record.finished.is_set():
            if record.tokens_sent != last:
                last, still_since = record.tokens_sent, time.monotonic()
            elif time.monotonic() - still_since > STALL_SECONDS:
                break
            time.sleep(0.05)  # polling the fake's counter, which has no event for "stopped moving"
        assert not record.finished.is_set() and 0 < record.tokens_sent < len(TOKENS), record.tokens_sent
        # Held back: now read at full speed. With the tiny buffer, loopback TCP could stall on its own (seen in CI:
        # the client had read everything, the server's kernel held 3.3 MB, and the window the client advertised was
        # 21 bytes short of the server's segment size, so the server only sent window probes, ever further apart).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        lines = [json.loads(line) for line in response.read().splitlines()]
    finally:
        sock.close()
    chunks = [line['content'] for line in lines if line['type'] == 'chunk']
    assert chunks == TOKENS  # every token once, in order, after the pause
    assert lines[-1]['type'] == 'done' and lines[-1]['full_content'] == ''.join(TOKENS)
