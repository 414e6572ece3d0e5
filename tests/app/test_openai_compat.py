"""POST /v1/chat/completions and GET /v1/models with the official openai SDK, against the app as a live server."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from tests.app.conftest import ALLOWED_MODELS
from tests.conftest import API_TOKEN, SECRET_KEY, LiveApp
from tests.fake_upstream import FakeUpstream, Script

HELLO = [{'role': 'user', 'content': 'hello'}]
WEATHER_TOOL = {'type': 'function', 'function': {
    'name': 'get_weather', 'description': 'The weather in a city.',
    'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}}, 'required': ['city']}}}
# How a model streams one call of WEATHER_TOOL: the call's id and name first, then its arguments in pieces.
WEATHER_CALL = [
    [{'index': 0, 'id': 'call_1', 'type': 'function', 'function': {'name': 'get_weather', 'arguments': ''}}],
    [{'index': 0, 'function': {'arguments': '{"city":'}}],
    [{'index': 0, 'function': {'arguments': ' "Paris"}'}}],
]


def client(app: LiveApp, token: str = API_TOKEN) -> openai.OpenAI:
    return openai.OpenAI(base_url=app.url + '/v1', api_key=token, max_retries=0, timeout=10)


def async_client(app: LiveApp) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=app.url + '/v1', api_key=API_TOKEN, max_retries=0, timeout=10)


def test_streams_chunks_then_usage_and_passes_parameters_through(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Hel', 'lo', '!'], reasoning=['Thinking.']))
    with client(live_app) as sdk:
        stream = sdk.chat.completions.create(
            model='fake-model', messages=HELLO, stream=True, stream_options={'include_usage': True},
            temperature=0.5, top_p=0.9, max_completion_tokens=50, stop=['\n\n'], seed=7,
            response_format={'type': 'json_object'}, frequency_penalty=0.1, presence_penalty=0.2, user='u-1')
        chunks = list(stream)
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert content == ['Hel', 'lo', '!']
    assert chunks[0].choices[0].delta.role == 'assistant'
    reasoning = [c.choices[0].delta.model_extra.get('reasoning_content') for c in chunks if c.choices]
    assert 'Thinking.' in reasoning
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ['stop']
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.total_tokens) == (5, 9)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith('chatcmpl-')
    assert {c.model for c in chunks} == {'fake-model'}
    sent = upstream.wait_for_request()
    assert sent.headers['authorization'] == f'Bearer {SECRET_KEY}'
    assert sent.messages == HELLO
    assert {k: sent.body[k] for k in ('temperature', 'top_p', 'max_completion_tokens', 'stop', 'seed',
                                      'response_format', 'frequency_penalty', 'presence_penalty', 'user')} == {
        'temperature': 0.5, 'top_p': 0.9, 'max_completion_tokens': 50, 'stop': ['\n\n'], 'seed': 7,
        'response_format': {'type': 'json_object'}, 'frequency_penalty': 0.1, 'presence_penalty': 0.2, 'user': 'u-1'}


def test_stream_without_include_usage_sends_no_usage_chunk(live_app: LiveApp, upstream: FakeUpstream) -> None:
    with client(live_app) as sdk:
        chunks = list(sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=True))
    assert all(c.choices for c in chunks)
    assert all(c.usage is None for c in chunks)
    assert ''.join(c.choices[0].delta.content or '' for c in chunks) == 'Hello, world!'


def test_stream_headers_keep_proxies_from_buffering(live_app: LiveApp, upstream: FakeUpstream) -> None:
    response = httpx.post(live_app.url + '/v1/chat/completions', headers={'Authorization': f'Bearer {API_TOKEN}'},
                          json={'model': 'fake-model', 'messages': HELLO, 'stream': True}, timeout=10)
    assert response.headers['content-type'] == 'text/event-stream'
    assert response.headers['cache-control'] == 'no-cache'
    assert response.headers['x-accel-buffering'] == 'no'
    assert 'content-encoding' not in response.headers
    events = [line for line in response.text.split('\n\n') if line]
    assert events[-1] == 'data: [DONE]'
    assert all(event.startswith('data: ') for event in events)


def test_whole_completion_without_stream(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Hel', 'lo'], reasoning=['Hmm.'], finish_reason='length'))
    with client(live_app) as sdk:
        answer = sdk.chat.completions.create(model='fake-model', messages=HELLO, max_tokens=2)
    assert answer.object == 'chat.completion'
    assert answer.choices[0].message.content == 'Hello'
    assert answer.choices[0].message.role == 'assistant'
    assert answer.choices[0].message.model_extra['reasoning_content'] == 'Hmm.'
    assert answer.choices[0].finish_reason == 'length'
    assert answer.usage is not None and answer.usage.completion_tokens == 4
    assert upstream.wait_for_request().body['max_tokens'] == 2


async def test_async_client_streams_and_answers_whole(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['a', 'b']), Script(tokens=['c', 'd']))
    async with async_client(live_app) as sdk:
        stream = await sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=True)
        pieces = [c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content]
        answer = await sdk.chat.completions.create(model='fake-model', messages=HELLO)
    assert pieces == ['a', 'b']
    assert answer.choices[0].message.content == 'cd'


def test_tool_call_round_trip_streamed(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=[], tool_calls=WEATHER_CALL, finish_reason='tool_calls'),
                   Script(tokens=['Sunny', ' in Paris.']))
    with client(live_app) as sdk:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in sdk.chat.completions.create(model='fake-model', messages=HELLO, tools=[WEATHER_TOOL],
                                                 tool_choice='auto', parallel_tool_calls=False, stream=True):
            choice = chunk.choices[0]
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {'id': '', 'name': '', 'arguments': ''})
                call['id'] += delta.id or ''
                call['name'] += delta.function.name or '' if delta.function else ''
                call['arguments'] += delta.function.arguments or '' if delta.function else ''
        assert finish == 'tool_calls'
        assert calls == {0: {'id': 'call_1', 'name': 'get_weather', 'arguments': '{"city": "Paris"}'}}
        call = {'id': 'call_1', 'type': 'function',
                'function': {'name': 'get_weather', 'arguments': calls[0]['arguments']}}
        history = [*HELLO, {'role': 'assistant', 'content': None, 'tool_calls': [call]},
                   {'role': 'tool', 'tool_call_id': 'call_1', 'content': '{"sky": "sunny"}'}]
        answer = sdk.chat.completions.create(model='fake-model', messages=history, tools=[WEATHER_TOOL])
    assert answer.choices[0].message.content == 'Sunny in Paris.'
    first, second = upstream.records
    assert first.body['tools'] == [WEATHER_TOOL]
    assert (first.body['tool_choice'], first.body['parallel_tool_calls']) == ('auto', False)
    assert second.messages == history


def test_tool_call_whole_completion(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=[], tool_calls=WEATHER_CALL, finish_reason='tool_calls'))
    with client(live_app) as sdk:
        answer = sdk.chat.completions.create(model='fake-model', messages=HELLO, tools=[WEATHER_TOOL],
                                             tool_choice={'type': 'function', 'function': {'name': 'get_weather'}})
    message = answer.choices[0].message
    assert answer.choices[0].finish_reason == 'tool_calls'
    assert message.content is None
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert (call.id, call.type, call.function.name) == ('call_1', 'function', 'get_weather')
    assert json.loads(call.function.arguments) == {'city': 'Paris'}
    assert upstream.wait_for_request().body['tool_choice'] == {'type': 'function',
                                                               'function': {'name': 'get_weather'}}


def test_image_parts_pass_through(live_app: LiveApp, upstream: FakeUpstream) -> None:
    messages = [{'role': 'system', 'content': [{'type': 'text', 'text': 'Be brief.'}]},
                {'role': 'user', 'content': [
                    {'type': 'text', 'text': 'What is this?'},
                    {'type': 'image_url', 'image_url': {'url': 'data:image/png;base64,iVBORw0KGgo=',
                                                        'detail': 'low'}}]}]
    with client(live_app) as sdk:
        sdk.chat.completions.create(model='fake-model', messages=messages)
    assert upstream.wait_for_request().messages == messages


def test_models_lists_the_allowed_models(tuned_app: LiveApp) -> None:
    with client(tuned_app) as sdk:
        assert [model.id for model in sdk.models.list()] == list(ALLOWED_MODELS)


def test_client_disconnect_closes_upstream_quickly(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['x'] * 1000, delay=0.05))
    with client(live_app) as sdk:
        stream = sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=True)
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        stream.close()
        left_at = time.monotonic()
    record = upstream.wait_for_request()
    assert record.disconnected.wait(2), 'upstream never saw the client go away'
    assert record.disconnected_at is not None
    assert record.disconnected_at - left_at < 0.1
    assert record.tokens_sent < 1000


def test_client_leaving_a_whole_completion_closes_upstream(live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['x'] * 1000, delay=0.05))
    with client(live_app) as sdk, pytest.raises(openai.APITimeoutError):
        sdk.chat.completions.create(model='fake-model', messages=HELLO, timeout=0.5)
    record = upstream.wait_for_request()
    assert record.disconnected.wait(2), 'upstream never saw the client go away'
    assert record.tokens_sent < 1000


def test_chunks_arrive_as_the_upstream_sends_them(live_app: LiveApp, upstream: FakeUpstream) -> None:
    gap = 0.5
    upstream.queue(Script(tokens=['a', 'b', 'c'], delay=gap))
    with client(live_app) as sdk:
        for chunk in sdk.chat.completions.create(model='fake-model', messages=HELLO, stream=True):
            if chunk.choices and chunk.choices[0].delta.content == 'a':
                sent_when_first_arrived = upstream.wait_for_request().tokens_sent
    # A buffered body would arrive only once all three were sent; the next one is a whole gap away. (The fake counts
    # a token just after writing it, on its own thread: the count may still lag by that one.)
    assert sent_when_first_arrived <= 1


def test_pings_while_the_model_has_not_started(tuned_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['late'], first_delay=1.0))
    response = httpx.post(tuned_app.url + '/v1/chat/completions', headers={'Authorization': f'Bearer {API_TOKEN}'},
                          json={'messages': HELLO, 'stream': True}, timeout=10)
    events = [event for event in response.text.split('\n\n') if event]
    first_content = next(i for i, event in enumerate(events) if '"content":"late"' in event)
    assert events[1:first_content].count(': ping') >= 2
    assert ': ping' not in events[first_content:]
