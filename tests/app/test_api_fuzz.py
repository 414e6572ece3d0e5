"""Arbitrary bodies against POST /api/chat on a live server: never a 5xx, never upstream when invalid, no secrets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.conftest import API_TOKEN, SECRET_KEY, LiveApp
from tests.fake_upstream import FakeUpstream

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=8)


def mostly(valid: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid values about seven times in eight, so enough requests get through to the upstream."""
    return st.integers(0, 7).flatmap(lambda n: valid if n else other)


roles = mostly(st.sampled_from(['system', 'user', 'assistant']), st.sampled_from(['tool', '']) | json_values)
message = st.fixed_dictionaries({'role': roles, 'content': mostly(st.text(max_size=30), json_values)})
messages = mostly(st.lists(message, min_size=1, max_size=3), st.lists(message, max_size=0) | json_values)
# Mostly near-valid requests (where the interesting edges are), some arbitrary JSON, some bytes that are not JSON.
chat_bodies = st.fixed_dictionaries({'messages': messages}, optional={
    'temperature': mostly(st.floats(0, 2), st.floats() | json_values),
    'max_tokens': mostly(st.integers(1, 32_768), st.integers() | json_values),
    'model': mostly(st.just('fake-model'), st.text(max_size=10) | json_values),
    'stream': json_values,
})
raw_bodies = mostly(chat_bodies.map(lambda body: json.dumps(body).encode()),  # NaN/Infinity: not strict JSON
                    json_values.map(lambda body: json.dumps(body).encode()) | st.binary(max_size=64))


@pytest.fixture(scope='module')
def client(live_app: LiveApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_app.url, headers=AUTH, timeout=10) as http:
        yield http


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=raw_bodies)
def test_arbitrary_bodies(client: httpx.Client, upstream: FakeUpstream, body: bytes) -> None:
    before = len(upstream.records)
    response = client.post('/api/chat', content=body)
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.text
    assert SECRET_KEY not in response.text
    if response.status_code == 200:
        assert len(upstream.records) == before + 1
        last: dict[str, Any] = json.loads(response.text.splitlines()[-1])
        assert last['type'] == 'done'
    else:
        assert response.status_code in {400, 422}
        assert set(response.json()['error']) == {'code', 'message'}
        assert len(upstream.records) == before, 'an invalid body went upstream'
