"""GET /metrics on the live app: what one reply adds (by outcome, deltas, time to first token, error code)."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import API_TOKEN, LiveApp
from tests.fake_upstream import FakeUpstream, Script

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
BODY = {'messages': [{'role': 'user', 'content': 'count me'}]}


def scrape(app: LiveApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, by name and labels."""
    response = httpx.get(app.url + '/metrics', timeout=10)
    assert response.status_code == 200 and response.headers['content-type'].startswith('text/plain')
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text) for sample in family.samples}


def change(before: dict, after: dict, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def scrape_until(app: LiveApp, done: Callable[[dict], bool]) -> dict:
    """Scrape until `done(scrape)`, at most 5 s; the last scrape."""
    deadline = time.monotonic() + 5
    while True:
        after = scrape(app)
        if done(after) or time.monotonic() > deadline:
            return after
        time.sleep(0.02)  # another process's counters: nothing to await


def settled(app: LiveApp, before: dict, name: str, expected: float, **labels: str) -> dict:
    """Scrape until `name` changed by `expected` since `before` (a reply is counted just after its client saw its
    end: its upstream connection is closed first)."""
    return scrape_until(app, lambda after: change(before, after, name, **labels) == expected)


def settled_above(app: LiveApp, name: str, floor: float) -> dict:
    """Scrape until `name` (no labels) is above `floor`. A sample the app takes on its own clock (the loop's lag,
    every 0.5 s from start-up) may not be taken yet when this test is the app's first."""
    return scrape_until(app, lambda after: after.get((name, ()), 0.0) > floor)


def test_a_reply_counts_as_done_with_its_deltas_and_time_to_first_token(live_app: LiveApp,
                                                                        upstream: FakeUpstream) -> None:
    script = Script(tokens=['a', 'b', 'c', 'd', 'e'], first_delay=0.3, hold_at=2)
    upstream.queue(script)
    before = scrape(live_app)
    with httpx.stream('POST', live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        lines = response.iter_lines()
        while '"chunk"' not in next(lines):
            pass
        held = scrape(live_app)  # the reply waits before its third token
        assert held[('nicechat_streams_in_flight', ())] == before[('nicechat_streams_in_flight', ())] + 1
        script.release.set()
        assert '"done"' in list(lines)[-1]
    after = settled(live_app, before, 'nicechat_replies_total', 1, outcome='done')
    assert change(before, after, 'nicechat_replies_total', outcome='done') == 1
    assert change(before, after, 'nicechat_replies_total', outcome='error') == 0
    assert change(before, after, 'nicechat_tokens_relayed_total') == 5
    assert change(before, after, 'nicechat_time_to_first_token_seconds_count') == 1
    assert change(before, after, 'nicechat_time_to_first_token_seconds_bucket', le='0.25') == 0  # 0.3 s at least
    assert change(before, after, 'nicechat_time_to_first_token_seconds_bucket', le='+Inf') == 1
    assert after[('nicechat_streams_in_flight', ())] == before[('nicechat_streams_in_flight', ())]
    sampled = settled_above(live_app, 'nicechat_event_loop_lag_seconds_count', 0)  # twice a second from start-up
    assert sampled[('nicechat_event_loop_lag_seconds_count', ())] > 0
    assert ('process_cpu_seconds_total', ()) in after  # prometheus-client's process collector


def test_a_failed_reply_counts_its_error_code(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(status=500), Script(tokens=['x', 'y'], error_after=1))
    before = scrape(live_app)
    assert httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10).status_code == 502
    streamed = httpx.post(live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10)
    assert '"error"' in streamed.text.splitlines()[-1]
    after = settled(live_app, before, 'nicechat_replies_total', 2, outcome='error')
    assert change(before, after, 'nicechat_replies_total', outcome='error') == 2
    assert change(before, after, 'nicechat_upstream_errors_total', code='upstream_unavailable') == 1
    assert change(before, after, 'nicechat_upstream_errors_total', code='upstream_error') == 1
    assert change(before, after, 'nicechat_tokens_relayed_total') == 1  # the delta before the error


def test_a_client_that_leaves_counts_as_stopped(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=[f'w{i} ' for i in range(200)], delay=0.02))
    before = scrape(live_app)
    with httpx.stream('POST', live_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        for line in response.iter_lines():
            if '"chunk"' in line:
                break
    record = upstream.wait_for_request()
    assert record.disconnected.wait(5), 'the upstream request was not closed'
    after = settled(live_app, before, 'nicechat_replies_total', 1, outcome='stopped')
    assert change(before, after, 'nicechat_replies_total', outcome='stopped') == 1
    assert change(before, after, 'nicechat_replies_total', outcome='done') == 0
