"""Security headers on pages, docs and the API, and the session cookie's flags, over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from app.server.headers import API_CSP, DOCS_CSP, PAGE_CSP, headers_for, secure_cookie
from tests.conftest import API_TOKEN, LiveApp

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
REQUIRED = ("frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'")


def directives(policy: str) -> dict[str, str]:
    return {part.split()[0]: ' '.join(part.split()[1:]) for part in policy.split(';') if part.strip()}


def assert_common(response: httpx.Response, policy: str) -> None:
    assert response.headers.get_list('content-security-policy') == [policy]  # exactly one policy
    assert response.headers['x-content-type-options'] == 'nosniff'
    assert response.headers['referrer-policy'] == 'same-origin'


def session_cookie(response: httpx.Response) -> list[str]:
    cookies = [value for value in response.headers.get_list('set-cookie') if value.startswith('session=')]
    assert len(cookies) == 1, response.headers
    return [attribute.strip().lower() for attribute in cookies[0].split(';')[1:]]


def test_the_chat_page_has_the_page_policy_and_a_strict_cookie(demo_app: LiveApp) -> None:
    response = httpx.get(demo_app.url + '/', timeout=10)
    assert response.status_code == 200
    assert_common(response, PAGE_CSP)
    for directive in REQUIRED:
        assert directive in PAGE_CSP
    assert directives(PAGE_CSP)['connect-src'] == "'self'"
    attributes = session_cookie(response)
    assert 'httponly' in attributes and 'samesite=lax' in attributes
    assert 'secure' not in attributes  # plain HTTP: a Secure cookie would never come back


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(demo_app: LiveApp) -> None:
    # The request comes from 127.0.0.1, in the default TRUSTED_PROXIES: its X-Forwarded-Proto is believed.
    response = httpx.get(demo_app.url + '/', headers={'X-Forwarded-Proto': 'https'}, timeout=10)
    attributes = session_cookie(response)
    assert {'httponly', 'samesite=lax', 'secure'} <= set(attributes)


def test_x_forwarded_proto_from_an_untrusted_peer_is_ignored(guarded_app: LiveApp) -> None:
    response = httpx.get(guarded_app.url + '/', headers={'X-Forwarded-Proto': 'https'}, timeout=10)
    assert response.status_code == 200
    assert 'secure' not in session_cookie(response)


def test_static_files_and_pages_of_nicegui_carry_the_headers(demo_app: LiveApp) -> None:
    page = httpx.get(demo_app.url + '/', timeout=10)
    script = next(part.split('"')[1] for part in page.text.split('src=')[1:] if '/_nicegui/' in part)
    assert_common(httpx.get(demo_app.url + script, timeout=10), PAGE_CSP)
    assert_common(httpx.get(demo_app.url + '/no/such/page', timeout=10), PAGE_CSP)


@pytest.mark.parametrize(('method', 'path', 'body'), [
    ('POST', '/api/chat', {'messages': [{'role': 'user', 'content': 'hi'}]}),  # dispatched, streamed
    ('POST', '/api/chat', {'messages': []}),  # dispatched, refused
    ('POST', '/v1/chat/completions', {'model': 'fake-model', 'messages': []}),
    ('GET', '/v1/models', None),
    ('GET', '/api/unknown', None),  # served by the app's router, not the dispatcher
    ('GET', '/openapi.json', None),
])
def test_the_api_has_the_closed_policy(live_app: LiveApp, method: str, path: str, body: object) -> None:
    response = httpx.request(method, live_app.url + path, json=body, headers=AUTH, timeout=10)
    assert response.status_code < 500
    assert_common(response, API_CSP)


def test_the_docs_have_the_docs_policy(live_app: LiveApp) -> None:
    for path in ('/docs', '/redoc'):
        response = httpx.get(live_app.url + path, timeout=10)
        assert response.status_code == 200
        assert_common(response, DOCS_CSP)
        assert "'unsafe-eval'" not in DOCS_CSP


def test_headers_for_paths_and_secure_cookie() -> None:
    assert headers_for('/api')[0][1].decode() == API_CSP
    assert headers_for('/healthz')[0][1].decode() == API_CSP  # probes and metrics: machine-read, like the API
    assert headers_for('/apiary')[0][1].decode() == PAGE_CSP  # a page that merely starts like the API
    assert headers_for('/c/123')[0][1].decode() == PAGE_CSP
    assert secure_cookie(b'a=1; path=/; httponly') == b'a=1; path=/; httponly; secure'
    assert secure_cookie(b'a=1; Secure') == b'a=1; Secure'
    assert secure_cookie(b'secure=1; path=/') == b'secure=1; path=/; secure'  # a cookie named "secure" is no flag
