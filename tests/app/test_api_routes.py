"""API paths answer programs in JSON: a wrong method is a 405 with `Allow`, an unknown /api/ path a 404."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import API_TOKEN, LiveApp
from tests.fake_upstream import FakeUpstream

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}


def assert_json_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers['content-type'] == 'application/json'
    assert response.json() == {'error': {'code': code, 'message': response.json()['error']['message']}}
    assert response.json()['error']['message']


@pytest.mark.parametrize('method', ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
def test_wrong_method_on_the_chat_route_is_a_json_405(live_app: LiveApp, upstream: FakeUpstream, method: str) -> None:
    response = httpx.request(method, live_app.url + '/api/chat', headers=AUTH, timeout=10)
    assert_json_error(response, 405, 'method_not_allowed')
    assert response.headers['allow'] == 'POST'
    assert 'POST' in response.json()['error']['message']
    assert upstream.records == []


def test_head_on_the_chat_route_is_a_405_without_a_body(live_app: LiveApp) -> None:
    response = httpx.head(live_app.url + '/api/chat', timeout=10)
    assert response.status_code == 405
    assert response.headers['allow'] == 'POST'
    assert response.content == b''


@pytest.mark.parametrize(('method', 'path'), [('GET', '/api/chats'), ('POST', '/api/chat/'), ('POST', '/api/v1/chat'),
                                              ('GET', '/api/'), ('GET', '/api'), ('DELETE', '/api/x/y/z')])
def test_unknown_api_path_is_a_json_404(live_app: LiveApp, upstream: FakeUpstream, method: str, path: str) -> None:
    response = httpx.request(method, live_app.url + path, headers=AUTH, json={'messages': []}, timeout=10)
    assert_json_error(response, 404, 'not_found')
    assert '/api/chat' in response.json()['error']['message']
    assert upstream.records == []


def test_the_chat_route_and_the_docs_still_answer(live_app: LiveApp, upstream: FakeUpstream) -> None:
    assert httpx.post(live_app.url + '/api/chat', headers=AUTH, json={'messages': [{'role': 'user', 'content': 'hi'}]},
                      timeout=10).status_code == 200
    assert httpx.get(live_app.url + '/docs', timeout=10).status_code == 200
    assert '/api/{path}' not in str(httpx.get(live_app.url + '/openapi.json', timeout=10).json()['paths'])
