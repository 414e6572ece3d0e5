"""The fault matrix on the API (docs/faults.md): every row against a live app, on `/api/chat`, on
`/v1/chat/completions` with the real openai SDK, and on `/api/ui-chat`; then the same app serves the next request
normally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.app.conftest import PING_INTERVAL, UPSTREAM_TIMEOUT
from tests.conftest import API_TOKEN, SECRET_KEY, LiveApp, app_env, start_app, stop_app
from tests.fake_address import FakeAddress
from tests.fake_upstream import FakeUpstream, Script
from tests.fault_matrix import FAULTS, Fault

AUTH = {'Authorization': f'Bearer {API_TOKEN}'}
HELLO = [{'role': 'user', 'content': 'hello'}]
# RFC 6761: a name under .invalid never resolves, so it fails at once even on a machine with no DNS at all.
UNRESOLVABLE = 'http://nicechat-fault.invalid/v1'
# The codes /v1 gives in OpenAI's own spelling (app/api/openai/protocol.py); the others are the same on both.
V1_CODES = {'rate_limited': 'rate_limit_exceeded'}
SECRETS = (SECRET_KEY, API_TOKEN)


@pytest.fixture(scope='module')
def address(fake_upstream_server: FakeUpstream) -> Iterator[FakeAddress]:
    """The address the matrix app knows its model server by: serving the fake upstream unless a row breaks it."""
    address = FakeAddress(fake_upstream_server).serve()
    yield address
    address.close()


def _app(fake: FakeUpstream, base_url: str, folder: pytest.TempPathFactory, name: str) -> Iterator[LiveApp]:
    # UPSTREAM_TIMEOUT is over the relay's 1 s header wait, as by default: a timeout ends a stream already started.
    env = app_env(fake, OPENAI_BASE_URL=base_url, PING_INTERVAL=str(PING_INTERVAL),
                  UPSTREAM_TIMEOUT=str(UPSTREAM_TIMEOUT))
    app = start_app(env, folder.mktemp(name) / 'app.log')
    yield app
    stop_app(app)
    assert not any(secret in app.log() for secret in SECRETS)


@pytest.fixture(scope='module')
def matrix_app(fake_upstream_server: FakeUpstream, address: FakeAddress,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    yield from _app(fake_upstream_server, address.url, tmp_path_factory, 'matrix')


@pytest.fixture(scope='module')
def unresolvable_app(fake_upstream_server: FakeUpstream,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    yield from _app(fake_upstream_server, UNRESOLVABLE, tmp_path_factory, 'unresolvable')


@pytest.mark.parametrize('fault', FAULTS, ids=[fault.id for fault in FAULTS])
def test_every_fault_on_the_api(fault: Fault, request: pytest.FixtureRequest, address: FakeAddress,
                                upstream: FakeUpstream) -> None:
    app: LiveApp = request.getfixturevalue('unresolvable_app' if fault.network == 'unresolvable' else 'matrix_app')
    {'refuse': address.refuse, 'hang': address.hang}.get(fault.network or '', address.serve)()
    checks = (api_chat, v1_stream, ui_chat)
    if fault.gated:  # each request releases its own script's tokens: one at a time
        for check in checks:
            check(app, fault, upstream)
    else:  # at once: the rows that end by the app's UPSTREAM_TIMEOUT wait it out only once
        with ThreadPoolExecutor(len(checks)) as pool:
            list(pool.map(lambda check: check(app, fault, upstream), checks))
    if fault.script is not None:  # the app closed its upstream requests (or read them to their end)
        assert len(upstream.records) == len(checks)
        assert all(record.finished.wait(5) for record in upstream.records), 'an upstream request was left open'
    address.serve()
    upstream.queue(Script(tokens=['Recovered', ' fine']))
    response = httpx.post(app.url + '/api/chat', json={'messages': HELLO}, headers=AUTH, timeout=10)
    if fault.network == 'unresolvable':  # nothing to recover to: the next request fails the same way, as fast
        assert response.json()['error']['code'] == fault.code
    else:
        assert response.status_code == 200
        assert json.loads(response.text.splitlines()[-1])['full_content'] == 'Recovered fine'


def api_chat(app: LiveApp, fault: Fault, upstream: FakeUpstream) -> None:
    """POST /api/chat: an HTTP error before the stream began, else the text so far and an error line at the end."""
    script = queued(fault, upstream)
    lines: list[dict] = []
    with httpx.stream('POST', app.url + '/api/chat', json={'messages': HELLO}, headers=AUTH,
                      timeout=10) as response:
        raw = []
        for line in response.iter_lines():
            raw.append(line)
            if response.status_code == 200:
                lines.append(json.loads(line))
                if lines[-1]['type'] == 'chunk' and script is not None and script.gate is not None:
                    script.gate.release()
    text = '\n'.join(raw)
    assert not any(secret in text or secret in str(response.headers) for secret in SECRETS)
    assert response.status_code == fault.api_status, text
    if fault.api_status != 200:
        error = json.loads(text)['error']
        assert (error['code'], fault.words in error['message']) == (fault.code, True), error
        assert response.headers.get('retry-after') == fault.retry_after
        return
    assert ''.join(line['content'] for line in lines if line['type'] == 'chunk') == fault.kept
    if fault.code is None:
        assert lines[-1]['type'] == 'done' and lines[-1]['full_content'] == fault.kept
    else:
        assert lines[-1]['type'] == 'error', lines[-1]
        assert (lines[-1]['error']['code'], fault.words in lines[-1]['error']['message']) == (fault.code, True)


def v1_stream(app: LiveApp, fault: Fault, upstream: FakeUpstream) -> None:
    """A streamed /v1/chat/completions through the openai SDK: its usual exception, after the text so far."""
    script = queued(fault, upstream)
    pieces: list[str] = []
    caught: openai.APIError | None = None
    with openai.OpenAI(base_url=app.url + '/v1', api_key=API_TOKEN, max_retries=0, timeout=10) as sdk:
        try:
            for chunk in sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=True):  # type: ignore
                if chunk.choices and chunk.choices[0].delta.content:
                    pieces.append(chunk.choices[0].delta.content)
                    if script is not None and script.gate is not None:
                        script.gate.release()
        except openai.APIError as error:
            caught = error
    assert ''.join(pieces) == fault.kept
    if fault.code is None:
        assert caught is None
        return
    assert caught is not None
    assert not any(secret in str(caught.body) or secret in caught.message for secret in SECRETS)
    assert fault.words in caught.message, caught.message
    if fault.v1_status == 200:  # an error event mid-stream
        assert not isinstance(caught, openai.APIStatusError)
        assert isinstance(caught.body, dict) and caught.body['code'] == V1_CODES.get(fault.code, fault.code)
    else:
        assert isinstance(caught, openai.APIStatusError)
        assert (caught.status_code, caught.code) == (fault.v1_status, V1_CODES.get(fault.code, fault.code))
        assert caught.response.headers.get('retry-after') == fault.retry_after
        assert not any(secret in str(caught.response.headers) for secret in SECRETS)


def ui_chat(app: LiveApp, fault: Fault, upstream: FakeUpstream) -> None:
    """POST /api/ui-chat (the AI SDK's useChat): the status line comes as on /v1, errors in /api/chat's JSON shape."""
    script = queued(fault, upstream)
    body = {'messages': [{'id': 'm1', 'role': 'user', 'parts': [{'type': 'text', 'text': 'hello'}]}]}
    chunks: list[dict] = []
    with httpx.stream('POST', app.url + '/api/ui-chat', json=body, headers=AUTH, timeout=10) as response:
        raw = []
        for line in response.iter_lines():
            raw.append(line)
            if response.status_code == 200 and line.startswith('data: {'):
                chunks.append(json.loads(line.removeprefix('data: ')))
                if chunks[-1]['type'] == 'text-delta' and script is not None and script.gate is not None:
                    script.gate.release()
    text = '\n'.join(raw)
    assert not any(secret in text or secret in str(response.headers) for secret in SECRETS)
    # /v1's status, except that a request the model server rejected is not a bad request in this protocol
    assert response.status_code == (502 if fault.code == 'upstream_rejected' else fault.v1_status), text
    if response.status_code != 200:
        error = json.loads(text)['error']
        assert (error['code'], fault.words in error['message']) == (fault.code, True), error
        assert response.headers.get('retry-after') == fault.retry_after
        return
    assert ''.join(chunk['delta'] for chunk in chunks if chunk['type'] == 'text-delta') == fault.kept
    assert [line for line in raw if line][-1] == 'data: [DONE]'
    if fault.code is None:
        assert chunks[-1] == {'type': 'finish', 'finishReason': 'stop'}
    else:
        assert chunks[-1]['type'] == 'error' and fault.words in chunks[-1]['errorText'], chunks[-1]


def queued(fault: Fault, upstream: FakeUpstream) -> Script | None:
    """Queue a fresh copy of the row's script, if it has one."""
    script = fault.fresh()
    if script is not None:
        upstream.queue(script)
    return script


def test_the_sdk_does_not_retry_what_a_retry_cannot_fix(matrix_app: LiveApp, upstream: FakeUpstream) -> None:
    # The model server refuses this server's key: the SDK's default two retries would each be refused the same way.
    upstream.queue(*(Script(status=401, error_message='bad key') for _ in range(3)))
    with openai.OpenAI(base_url=matrix_app.url + '/v1', api_key=API_TOKEN, timeout=10) as sdk, \
            pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=True)  # type: ignore[arg-type]
    assert caught.value.code == 'upstream_auth'
    assert caught.value.response.headers['x-should-retry'] == 'false'
    assert len(upstream.records) == 1
