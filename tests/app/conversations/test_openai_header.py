"""/v1/chat/completions with X-Conversation-Id, through the official openai SDK against the live app."""

from __future__ import annotations

import openai
import pytest

from app.store import new_id
from tests.app.conversations.conftest import ADMIN, ALICE, KeyedApp, create, read
from tests.fake_upstream import FakeUpstream, Script


def sdk(app: KeyedApp, who: str = ALICE, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=app.url + '/v1', api_key=app.keys[who], max_retries=retries, timeout=20)


def test_a_streamed_completion_continues_the_stored_conversation(conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Stored', ' and', ' streamed'], reasoning=['Hmm.']))
    conversation = create(conv_app)
    with sdk(conv_app) as client:
        stream = client.chat.completions.create(
            model='other-model', messages=[{'role': 'user', 'content': 'hi'}], stream=True,
            stream_options={'include_usage': True}, extra_headers={'X-Conversation-Id': conversation})
        chunks = list(stream)
    text = ''.join(c.choices[0].delta.content or '' for c in chunks if c.choices)
    assert text == 'Stored and streamed'
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ['stop']
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 9
    assert upstream.records[0].body['model'] == 'other-model'
    stored = read(conv_app, conversation).json()
    assert stored['title'] == 'hi'  # started without a title: its first prompt names it, as on the page
    messages = stored['messages']
    assert [(m['role'], m['content'], m['model']) for m in messages] == [
        ('user', 'hi', None), ('assistant', 'Stored and streamed', 'other-model')]
    assert messages[1]['reasoning'] == 'Hmm.' and chunks[0].id == f'chatcmpl-{messages[1]["id"]}'


def test_an_sdk_retry_after_a_failed_reply_asks_again_and_stores_the_prompt_once(
        conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(status=500), Script(tokens=['Recovered']))
    conversation = create(conv_app)
    with sdk(conv_app, retries=2) as client:  # the SDK's default: it retries a 502
        answer = client.chat.completions.create(
            model='fake-model', messages=[{'role': 'user', 'content': 'please'}],
            extra_headers={'X-Conversation-Id': conversation})
    assert answer.choices[0].message.content == 'Recovered' and len(upstream.records) == 2
    messages = read(conv_app, conversation).json()['messages']
    assert [(m['role'], m['content']) for m in messages] == [('user', 'please'), ('assistant', 'Recovered')]


def test_refusals_raise_the_sdks_usual_exceptions_and_store_nothing(
        conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    conversation = create(conv_app)
    hello = [{'role': 'user', 'content': 'hello'}]
    with sdk(conv_app, ADMIN) as admin, pytest.raises(openai.PermissionDeniedError) as denied:
        admin.chat.completions.create(model='fake-model', messages=hello,
                                      extra_headers={'X-Conversation-Id': conversation})
    assert 'personal API key' in denied.value.message
    with sdk(conv_app) as client:
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model='fake-model', messages=hello,
                                           extra_headers={'X-Conversation-Id': new_id()})
        with pytest.raises(openai.BadRequestError) as tools:
            client.chat.completions.create(model='fake-model', messages=hello, tools=[{'type': 'function', 'function': {
                'name': 'f'}}], extra_headers={'X-Conversation-Id': conversation})
    assert tools.value.body['param'] == 'tools'  # type: ignore[index]
    assert upstream.records == [] and read(conv_app, conversation).json()['messages'] == []
