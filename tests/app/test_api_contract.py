"""The rest of the POST /api/chat contract on a live server: line types, SSE, pings (upstream failures: the fault
matrix, test_fault_matrix.py)."""

from __future__ import annotations

import json

import httpx

from tests.conftest import API_TOKEN, LiveApp
from tests.fake_upstream import FakeUpstream, Script

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
BODY = {'messages': [{'role': 'user', 'content': 'hello'}]}


def post(app: LiveApp, **headers: str) -> httpx.Response:
    return httpx.post(app.url + '/api/chat', json=BODY, headers=AUTH | headers, timeout=10)


def lines_of(response: httpx.Response) -> list[dict]:
    return [json.loads(line) for line in response.text.splitlines() if line]


def test_start_chunks_and_done_with_usage_and_timing(live_app: LiveApp, upstream: FakeUpstream) -> None:
    usage = {'prompt_tokens': 11, 'completion_tokens': 3, 'total_tokens': 14}
    upstream.queue(Script(tokens=['a', 'b', 'c'], finish_reason='length', usage=usage))
    lines = lines_of(post(live_app))
    assert lines[0]['type'] == 'start'
    assert lines[0]['model'] == 'fake-model'
    assert lines[0]['id']
    assert [line['type'] for line in lines[1:]] == ['chunk', 'chunk', 'chunk', 'done']
    done = lines[-1]
    assert done['full_content'] == 'abc'
    assert done['finish_reason'] == 'length'
    assert done['usage'] == usage
    timing = done['timing']
    assert 0 <= timing['ttft_s'] <= timing['total_s'] < 5


def test_reasoning_deltas_become_reasoning_lines(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(reasoning=['Let me ', 'think.'], tokens=['Yes', '.']))
    lines = [line for line in lines_of(post(live_app)) if line['type'] in {'reasoning', 'chunk', 'done'}]
    assert [(line['type'], line.get('content')) for line in lines[:4]] == [
        ('reasoning', 'Let me '), ('reasoning', 'think.'), ('chunk', 'Yes'), ('chunk', '.')]
    assert lines[-1]['full_content'] == 'Yes.'  # reasoning is not part of the reply


def test_sse_framing_carries_the_same_objects(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['x', 'y']), Script(tokens=['x', 'y']))
    ndjson = lines_of(post(live_app))
    response = post(live_app, Accept='text/event-stream')
    assert response.status_code == 200
    assert response.headers['content-type'] == 'text/event-stream'
    assert response.text.endswith('\n\n')
    events = response.text.removesuffix('\n\n').split('\n\n')
    assert all(event.startswith('data: ') and '\n' not in event for event in events)
    objects = [json.loads(event.removeprefix('data: ')) for event in events]

    def stable(line: dict) -> dict:
        return {k: v for k, v in line.items() if k not in {'id', 'timing'}}
    assert [stable(o) for o in objects] == [stable(line) for line in ndjson]


def test_pings_while_waiting_for_the_first_token_only(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    # First token after ~0.8 s (several ping intervals), the second 0.3 s later (more than one interval).
    upstream.queue(Script(tokens=['a', 'b'], first_delay=0.5, delay=0.3))
    with httpx.stream('POST', tuned_app.url + '/api/chat', json=BODY, headers=AUTH, timeout=10) as response:
        assert response.status_code == 200
        types = [json.loads(line)['type'] for line in response.iter_lines() if line]
    assert types[0] == 'start'
    assert types.count('ping') >= 2
    assert types[-3:] == ['chunk', 'chunk', 'done']
    assert set(types[1:-3]) == {'ping'}
