"""The OpenAI request checks outside HTTP: what goes upstream, each refusal's status and param, the error mapping."""

from __future__ import annotations

from typing import Any

import pytest

from app.api.openai.protocol import OpenAIError, from_chat_error
from app.api.openai.request import ACCEPTED, parse_completion_request
from app.api.openai.schema import request_schema
from app.config import Settings
from app.errors import ChatError

SETTINGS = Settings(model='m1', allowed_models=('m1', 'm2'), max_tokens_limit=100, max_image_bytes=100)
PNG = 'data:image/png;base64,iVBORw0KGgo='  # the PNG signature: enough for the type check
HELLO = [{'role': 'user', 'content': 'hi'}]


def refusal(body: Any) -> OpenAIError:
    with pytest.raises(OpenAIError) as caught:
        parse_completion_request(body, SETTINGS)
    return caught.value


def test_a_full_request_goes_upstream_as_checked_copies() -> None:
    messages = [
        {'role': 'developer', 'content': 'Be brief.'},
        {'role': 'user', 'content': [{'type': 'text', 'text': 'Look:'},
                                     {'type': 'image_url', 'image_url': {'url': 'https://x/y.png'}},
                                     {'type': 'image_url', 'image_url': {'url': PNG, 'detail': 'high'}}],
         'name': 'ann'},
        {'role': 'assistant', 'content': None, 'tool_calls': [
            {'id': 'c1', 'type': 'function', 'function': {'name': 'f', 'arguments': '{}'}}]},
        {'role': 'tool', 'tool_call_id': 'c1', 'content': 'ok'},
    ]
    params = {'temperature': 0, 'top_p': 1, 'max_tokens': 100, 'max_completion_tokens': 1, 'stop': 'END',
              'seed': -3, 'response_format': {'type': 'json_schema', 'json_schema': {'name': 's', 'schema': {}}},
              'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': {'type': 'object'}}}],
              'tool_choice': 'required', 'parallel_tool_calls': True, 'user': 'u', 'logit_bias': {'5': -100},
              'reasoning_effort': 'low', 'presence_penalty': -2, 'frequency_penalty': 2}
    request = parse_completion_request({'model': 'm2', 'messages': messages, 'stream': True,
                                        'stream_options': {'include_usage': True}, 'n': 1, 'logprobs': False,
                                        **params}, SETTINGS)
    assert request.messages == messages
    assert request.params == params
    assert (request.model, request.stream, request.include_usage) == ('m2', True, True)


def test_defaults() -> None:
    request = parse_completion_request({'messages': HELLO}, SETTINGS)
    assert (request.model, request.params, request.stream, request.include_usage) == ('m1', {}, False, False)


def test_unknown_keys_of_a_message_stay_here() -> None:
    request = parse_completion_request({'messages': [{'role': 'user', 'content': 'hi', 'secret_flag': 1}]}, SETTINGS)
    assert request.messages == HELLO


@pytest.mark.parametrize(('body', 'param'), [
    ([], None),
    ({'messages': []}, 'messages'),
    ({'messages': 'hi'}, 'messages'),
    ({'messages': ['hi']}, 'messages[0]'),
    ({'messages': [{'role': 'robot', 'content': 'x'}]}, 'messages[0].role'),
    ({'messages': [{'role': ['user'], 'content': 'x'}]}, 'messages[0].role'),
    ({'messages': [{'role': 'user'}]}, 'messages[0].content'),
    ({'messages': [{'role': 'user', 'content': []}]}, 'messages[0].content'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'text', 'text': 1}]}]}, 'messages[0].content[0].text'),
    ({'messages': [{'role': 'system', 'content': [{'type': 'image_url', 'image_url': {'url': 'https://x'}}]}]},
     'messages[0].content[0].type'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'file:///etc/passwd'}}]}]},
     'messages[0].content[0].image_url.url'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'http://x/a.png'}}]}]},
     'messages[0].content[0].image_url.url'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'image_url',
                                                 'image_url': {'url': 'data:image/png;base64,aGVsbG8='}}]}]},
     'messages[0].content[0].image_url.url'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'image_url',
                                                 'image_url': {'url': PNG[:-1] + 'A' * 200 + '='}}]}]},
     'messages[0].content[0].image_url.url'),
    ({'messages': [{'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': 'https://x',
                                                                                     'detail': 'max'}}]}]},
     'messages[0].content[0].image_url.detail'),
    ({'messages': [{'role': 'tool', 'content': 'x'}]}, 'messages[0].tool_call_id'),
    ({'messages': [{'role': 'assistant', 'content': None}]}, 'messages[0].content'),
    ({'messages': [{'role': 'assistant', 'tool_calls': [{'id': 'c', 'function': {'name': 'f'}}]}]},
     'messages[0].tool_calls[0].function.arguments'),
    ({'messages': HELLO, 'model': 3}, 'model'),
    ({'messages': HELLO, 'temperature': 2.5}, 'temperature'),
    ({'messages': HELLO, 'temperature': True}, 'temperature'),
    ({'messages': HELLO, 'top_p': float('nan')}, 'top_p'),
    ({'messages': HELLO, 'max_tokens': 101}, 'max_tokens'),
    ({'messages': HELLO, 'max_completion_tokens': 0}, 'max_completion_tokens'),
    ({'messages': HELLO, 'max_tokens': 5.0}, 'max_tokens'),
    ({'messages': HELLO, 'stop': ['a', 'b', 'c', 'd', 'e']}, 'stop'),
    ({'messages': HELLO, 'seed': '1'}, 'seed'),
    ({'messages': HELLO, 'response_format': {'type': 'xml'}}, 'response_format'),
    ({'messages': HELLO, 'response_format': {'type': 'json_schema'}}, 'response_format'),
    ({'messages': HELLO, 'tools': [{'type': 'function', 'function': {'name': 'bad name'}}]}, 'tools[0].function.name'),
    ({'messages': HELLO, 'tools': [{'type': 'code', 'function': {'name': 'f'}}]}, 'tools[0]'),
    ({'messages': HELLO, 'tools': [{'type': 'function', 'function': {'name': 'f', 'parameters': []}}]},
     'tools[0].function.parameters'),
    ({'messages': HELLO, 'tools': [{'type': 'function', 'function': {'name': 'f'}}] * 129}, 'tools'),
    ({'messages': HELLO, 'tool_choice': 'always'}, 'tool_choice'),
    ({'messages': HELLO, 'parallel_tool_calls': 'yes'}, 'parallel_tool_calls'),
    ({'messages': HELLO, 'logit_bias': {'5': 101}}, 'logit_bias'),
    ({'messages': HELLO, 'n': 3}, 'n'),
    ({'messages': HELLO, 'logprobs': True}, 'logprobs'),
    ({'messages': HELLO, 'stream': 'yes'}, 'stream'),
    ({'messages': HELLO, 'stream_options': {'include_usage': 'yes'}}, 'stream_options'),
    ({'messages': HELLO, 'functions': []}, 'functions'),
])
def test_each_refusal_is_a_400_naming_the_parameter(body: Any, param: str | None) -> None:
    error = refusal(body)
    assert (error.status, error.param, error.type) == (400, param, 'invalid_request_error')
    assert error.message


def test_a_model_not_served_here_is_a_404() -> None:
    error = refusal({'messages': HELLO, 'model': 'gpt-4o'})
    assert (error.status, error.param, error.code) == (404, 'model', 'model_not_found')


@pytest.mark.parametrize(('code', 'status', 'openai_status', 'openai_type', 'openai_code'), [
    ('unauthorized', 401, 401, 'invalid_request_error', 'invalid_api_key'),
    ('api_disabled', 403, 403, 'permission_error', 'api_disabled'),
    ('body_too_large', 413, 413, 'invalid_request_error', 'request_too_large'),
    ('rate_limited', 429, 429, 'rate_limit_error', 'rate_limit_exceeded'),
    ('upstream_rejected', 502, 400, 'invalid_request_error', 'upstream_rejected'),
    ('upstream_auth', 502, 502, 'server_error', 'upstream_auth'),
    ('upstream_timeout', 504, 504, 'server_error', 'upstream_timeout'),
    ('internal_error', 500, 500, 'server_error', 'internal_error'),
])
def test_app_errors_in_openai_shape(code: str, status: int, openai_status: int, openai_type: str,
                                    openai_code: str) -> None:
    error = from_chat_error(ChatError(code, 'Something safe to show.', status, retry_after='3'))
    assert error.to_dict() == {'message': 'Something safe to show.', 'type': openai_type, 'param': None,
                               'code': openai_code}
    response = error.to_response()
    assert response.status_code == openai_status
    assert response.headers['retry-after'] == '3'
    assert (response.headers.get('www-authenticate') == 'Bearer') == (openai_status == 401)


def test_the_documented_schema_lists_exactly_the_accepted_fields() -> None:
    schema = request_schema(SETTINGS)
    assert set(schema['properties']) == ACCEPTED
    assert schema['properties']['model']['enum'] == ['m1', 'm2']
    assert schema['properties']['max_tokens']['maximum'] == 100
    parse_completion_request(schema['example'], SETTINGS)


def test_any_model_takes_any_name_of_a_model() -> None:
    settings = Settings(model='m1', allowed_models=('*',))
    assert parse_completion_request({'messages': HELLO, 'model': 'whatever-1'}, settings).model == 'whatever-1'
    assert parse_completion_request({'messages': HELLO}, settings).model == 'm1'
    for name in ('', 'x' * 201, 5):
        with pytest.raises(OpenAIError) as caught:
            parse_completion_request({'messages': HELLO, 'model': name}, settings)
        assert (caught.value.status, caught.value.param) == (400, 'model')
    assert request_schema(settings)['properties']['model'] == {'type': 'string', 'minLength': 1, 'maxLength': 200,
                                                               'default': 'm1'}
