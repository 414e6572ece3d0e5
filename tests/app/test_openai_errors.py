"""Errors of /v1/chat/completions as the official openai SDK raises them, against the app as a live server."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.app.conftest import MAX_REQUEST_BYTES, MAX_TOKENS_LIMIT
from tests.conftest import API_TOKEN, SECRET_KEY, LiveApp
from tests.fake_upstream import FakeUpstream, Script

HELLO = [{'role': 'user', 'content': 'hello'}]


def client(app: LiveApp, token: str = API_TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=app.url + '/v1', api_key=token, max_retries=0, timeout=10)


def test_unknown_token_is_authentication_error(live_app: LiveApp, upstream: FakeUpstream) -> None:
    with client(live_app, 'wrong-token') as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.chat.completions.create(model='fake-model', messages=HELLO)
        with pytest.raises(openai.AuthenticationError):
            sdk.models.list()
    assert caught.value.status_code == 401
    assert caught.value.body == {'message': caught.value.body['message'], 'type': 'invalid_request_error',
                                 'param': None, 'code': 'invalid_api_key'}
    assert 'wrong-token' not in str(caught.value.body)
    assert upstream.records == []


def test_unknown_model_is_not_found(live_app: LiveApp, upstream: FakeUpstream) -> None:
    with client(live_app) as sdk, pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(model='gpt-9', messages=HELLO)
    assert caught.value.code == 'model_not_found'
    assert caught.value.param == 'model'
    assert 'gpt-9' in caught.value.message and 'fake-model' in caught.value.message
    assert upstream.records == []


@pytest.mark.parametrize(('extra', 'param'), [
    ({'temperature': 3}, 'temperature'),
    ({'extra_body': {'top_k': 5}}, 'top_k'),
    ({'n': 2}, 'n'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'input_audio', 'input_audio': {}}]}]},
     'messages[0].content[0].type'),
])
def test_invalid_parameters_are_bad_requests_naming_the_parameter(live_app: LiveApp, upstream: FakeUpstream,
                                                                  extra: dict, param: str) -> None:
    with client(live_app) as sdk, pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(**{'model': 'fake-model', 'messages': HELLO, **extra})
    assert caught.value.param == param
    assert caught.value.type == 'invalid_request_error'
    assert upstream.records == []


def test_invalid_json_is_a_bad_request_in_openai_shape(live_app: LiveApp) -> None:
    response = httpx.post(live_app.url + '/v1/chat/completions', content=b'{"messages": [',
                          headers={'Authorization': f'Bearer {API_TOKEN}'}, timeout=10)
    assert response.status_code == 400
    assert response.json()['error'] == {'message': 'We could not parse the JSON body of your request.',
                                        'type': 'invalid_request_error', 'param': None, 'code': 'invalid_json'}


def test_limits_of_this_server(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    with client(tuned_app) as sdk:
        with pytest.raises(openai.BadRequestError) as too_many_tokens:
            sdk.chat.completions.create(model='fake-model', messages=HELLO, max_tokens=MAX_TOKENS_LIMIT + 1)
        with pytest.raises(openai.APIStatusError) as too_large:
            sdk.chat.completions.create(model='fake-model',
                                        messages=[{'role': 'user', 'content': 'x' * MAX_REQUEST_BYTES}])
    assert too_many_tokens.value.param == 'max_tokens'
    assert str(MAX_TOKENS_LIMIT) in too_many_tokens.value.message
    assert too_large.value.status_code == 413
    assert too_large.value.code == 'request_too_large'
    assert upstream.records == []


@pytest.mark.parametrize(('status', 'error_type', 'code'), [
    (429, openai.RateLimitError, 'rate_limit_exceeded'),
    (500, openai.InternalServerError, 'upstream_unavailable'),
    (401, openai.InternalServerError, 'upstream_auth'),
    (400, openai.BadRequestError, 'upstream_rejected'),
])
def test_upstream_refusals_map_to_the_sdk_exception_without_stream(live_app: LiveApp, upstream: FakeUpstream,
                                                                   status: int, error_type: type, code: str) -> None:
    # Streamed, every fault of the matrix is checked through the SDK in test_fault_matrix.py.
    upstream.queue(Script(status=status, error_message=f'no thanks {SECRET_KEY}', retry_after='7'))
    with client(live_app) as sdk, pytest.raises(error_type) as caught:
        sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=False)
    assert caught.value.code == code
    assert SECRET_KEY not in str(caught.value.body) and SECRET_KEY not in str(caught.value.response.headers)
    if status == 429:
        assert caught.value.response.headers['retry-after'] == '7'
    if status == 400:  # the model server's reason reaches the client (with the key redacted)
        assert 'no thanks [redacted]' in caught.value.message


def test_failure_mid_stream_is_an_error_event_the_sdk_raises(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one', ' two', ' three'], error_after=2, error_message=f'boom {SECRET_KEY}'))
    pieces = []
    with client(live_app) as sdk, pytest.raises(openai.APIError) as caught:
        for chunk in sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=True):
            pieces.append(chunk.choices[0].delta.content or '')
    assert ''.join(pieces) == 'one two'
    assert 'boom [redacted]' in caught.value.message
    assert caught.value.body == {'message': caught.value.message, 'type': 'server_error', 'param': None,
                                 'code': 'upstream_error'}


def test_failure_mid_reply_without_stream_is_an_http_error(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one', ' two'], drop_after=1))
    with client(live_app) as sdk, pytest.raises(openai.InternalServerError) as caught:
        sdk.chat.completions.create(model='fake-model', messages=HELLO)
    assert caught.value.code == 'upstream_disconnected'


def test_dropped_upstream_mid_stream_ends_with_an_error_event(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one', ' two', ' three'], drop_after=1))
    response = httpx.post(live_app.url + '/v1/chat/completions', headers={'Authorization': f'Bearer {API_TOKEN}'},
                          json={'messages': HELLO, 'stream': True}, timeout=10)
    events = [event for event in response.text.split('\n\n') if event]
    assert '"content":"one"' in events[-2]
    assert events[-1].startswith('data: {"error":') and '"code":"upstream_disconnected"' in events[-1]
    assert 'data: [DONE]' not in events


def test_demo_mode_without_tokens_is_open(demo_app: LiveApp) -> None:
    with client(demo_app, 'anything') as sdk:
        answer = sdk.chat.completions.create(model='demo', messages=HELLO)
        assert [model.id for model in sdk.models.list()] == ['demo']
    assert answer.choices[0].message.content is not None
    assert answer.choices[0].message.content.startswith('## Demo reply')


def test_key_never_in_output_or_log(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(status=401, error_message=f'bad key {SECRET_KEY}'),
                   Script(error_after=0, error_message=f'bad key {SECRET_KEY}'))
    for stream in (False, True):
        response = httpx.post(live_app.url + '/v1/chat/completions', headers={'Authorization': f'Bearer {API_TOKEN}'},
                              json={'messages': HELLO, 'stream': stream}, timeout=10)
        assert SECRET_KEY not in response.text and SECRET_KEY not in str(response.headers)
    assert SECRET_KEY not in live_app.log()
