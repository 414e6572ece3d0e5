"""While the upstream is slow to start (no headers yet, or no first token), the client gets a status line and pings."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from app.api.relay import HEADER_WAIT
from tests.app.conftest import PING_INTERVAL, UPSTREAM_TIMEOUT
from tests.conftest import API_TOKEN, LiveApp, app_env, start_app, stop_app
from tests.fake_upstream import FakeUpstream, Script

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
BODY = {'messages': [{'role': 'user', 'content': 'hello'}]}
# The upstream's silence in these tests: several times HEADER_WAIT, so the checks below keep a wide margin.
SLOW = 3 * HEADER_WAIT


@pytest.fixture(scope='module')
def patient_app(fake_upstream_server: FakeUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The app with fast pings and the default, long upstream timeout (tuned_app's would end these waits)."""
    app = start_app(app_env(fake_upstream_server, PING_INTERVAL=str(PING_INTERVAL)),
                    tmp_path_factory.mktemp('patient') / 'app.log')
    yield app
    stop_app(app)


def read(response: httpx.Response) -> list[tuple[float, dict]]:
    """Every line with the monotonic time it was read."""
    return [(time.monotonic(), json.loads(line)) for line in response.iter_lines() if line]


def test_status_line_and_pings_come_while_the_upstream_sends_no_headers(patient_app: LiveApp,
                                                                        upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['a', 'b'], header_delay=SLOW))
    with httpx.stream('POST', patient_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        status_at = time.monotonic()
        record = upstream.wait_for_request()
        assert response.status_code == 200
        lines = read(response)
    assert status_at - record.started < SLOW  # the upstream had not even sent its status line yet
    kinds = [line['type'] for _, line in lines]
    assert kinds[0] == 'start'
    assert kinds[-3:] == ['chunk', 'chunk', 'done']
    assert set(kinds[1:-3]) == {'ping'}
    pings_before_headers = [at for at, line in lines if line['type'] == 'ping' and at - record.started < SLOW]
    # (SLOW - HEADER_WAIT) / PING_INTERVAL = 10 pings on an idle machine; a loaded one still gets a few.
    assert len(pings_before_headers) >= 3, kinds
    assert lines[-1][1]['full_content'] == 'ab'


def test_status_line_comes_with_the_first_ping_while_no_token_has_come(patient_app: LiveApp,
                                                                       upstream: FakeUpstream) -> None:
    # Headers at once, then the first token only after several ping intervals.
    upstream.queue(Script(tokens=['a', 'b'], first_delay=SLOW))
    with httpx.stream('POST', patient_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        status_at = time.monotonic()
        record = upstream.wait_for_request()
        assert response.status_code == 200
        lines = read(response)
    assert status_at - record.started < SLOW  # not held back until the first token
    kinds = [line['type'] for _, line in lines]
    assert kinds[:2] == ['start', 'ping']
    assert kinds.count('ping') >= 3
    assert kinds[-3:] == ['chunk', 'chunk', 'done']


@pytest.mark.parametrize(('script', 'code'), [
    (Script(status=503, header_delay=SLOW), 'upstream_unavailable'),
    (Script(status=429, retry_after='7', header_delay=SLOW), 'rate_limited'),
])
def test_upstream_failing_after_the_header_wait_is_an_error_line(patient_app: LiveApp, upstream: FakeUpstream,
                                                                 script: Script, code: str) -> None:
    upstream.queue(script)
    assert_error_line(httpx.post(patient_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10), code)


def test_upstream_timeout_before_headers_is_an_error_line(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    # UPSTREAM_TIMEOUT (1.5 s) is over HEADER_WAIT: the 200 is out when the timeout ends the wait (a 504 is left
    # for a timeout shorter than HEADER_WAIT).
    upstream.queue(Script(header_delay=UPSTREAM_TIMEOUT + SLOW))
    started = time.monotonic()
    assert_error_line(httpx.post(tuned_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10),
                      'upstream_timeout')
    assert time.monotonic() - started < UPSTREAM_TIMEOUT + SLOW  # ended by our timeout, not the upstream


def assert_error_line(response: httpx.Response, code: str) -> None:
    """A 200 committed with a ping before the upstream answered, ending in an error line with `code`."""
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [line['type'] for line in lines[:2]] == ['start', 'ping']
    assert set(line['type'] for line in lines[1:-1]) == {'ping'}
    assert lines[-1]['type'] == 'error'
    assert lines[-1]['error']['code'] == code


def test_upstream_failing_within_the_header_wait_keeps_its_status(patient_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(status=503, header_delay=HEADER_WAIT / 5))
    response = httpx.post(patient_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert response.status_code == 502
    assert response.json()['error']['code'] == 'upstream_unavailable'


def test_client_leaving_before_the_status_line_closes_the_upstream_request(patient_app: LiveApp,
                                                                           upstream: FakeUpstream) -> None:
    upstream.queue(Script(header_delay=30))
    with pytest.raises(httpx.ReadTimeout):  # gives up waiting for the status line, before HEADER_WAIT
        httpx.post(patient_app.url + '/api/chat', json=BODY, headers=AUTH,
                   timeout=httpx.Timeout(10, read=HEADER_WAIT / 4))
    record = upstream.wait_for_request()
    assert record.disconnected.wait(10), 'upstream never saw the client go away'


def test_client_leaving_during_pings_before_headers_closes_the_upstream_request(patient_app: LiveApp,
                                                                                upstream: FakeUpstream) -> None:
    upstream.queue(Script(header_delay=30))
    with httpx.stream('POST', patient_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        for line in response.iter_lines():
            if json.loads(line)['type'] == 'ping':
                break
    record = upstream.wait_for_request()
    assert record.disconnected.wait(10), 'upstream never saw the client go away'
    assert not record.completed


def test_ping_interval_is_kept_before_and_after_the_upstream_answers(patient_app: LiveApp,
                                                                     upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['a'], header_delay=SLOW / 2, first_delay=SLOW / 2))
    with httpx.stream('POST', patient_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        started = time.monotonic()
        kinds = [json.loads(line)['type'] for line in response.iter_lines()]
        waited = time.monotonic() - started
    assert kinds[-2:] == ['chunk', 'done']
    # Pings keep coming across the upstream's answer, with no burst: at most one per interval (counted, not timed
    # at the client, where a loaded machine can deliver two pings in one read); load only makes them fewer.
    assert 3 <= kinds.count('ping') <= waited / PING_INTERVAL + 1, kinds
