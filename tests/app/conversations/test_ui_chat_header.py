"""/api/ui-chat with X-Conversation-Id: a useChat body's new turn continues the key owner's stored conversation."""

from __future__ import annotations

from typing import Any

import httpx

from app.store import new_id
from tests.app.conversations.conftest import ADMIN, ALICE, BOB, KeyedApp, create, read
from tests.app.test_ui_stream import events
from tests.fake_upstream import FakeUpstream, Script


def ui_chat(app: KeyedApp, conversation: str, text: str, who: str = ALICE, **body: Any) -> httpx.Response:
    """What useChat's transport posts (its own chat id included), with the header its `headers` option adds."""
    messages = [{'id': 'u1', 'role': 'user', 'parts': [{'type': 'text', 'text': text}]}]
    return httpx.post(app.url + '/api/ui-chat', json={'id': 'useChat-id', 'trigger': 'submit-message',
                                                      'messages': messages, **body},
                      headers={**app.auth(who), 'X-Conversation-Id': conversation}, timeout=20)


def test_a_ui_stream_continues_the_stored_conversation(conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Stored', ' for', ' useChat'], reasoning=['Hmm.']),
                   Script(tokens=['Second']))
    conversation = create(conv_app)
    response = ui_chat(conv_app, conversation, 'hi')
    assert response.status_code == 200, response.text
    assert response.headers['x-vercel-ai-ui-message-stream'] == 'v1'
    chunks = [c for c in events(response) if c != ': ping']
    text = ''.join(c['delta'] for c in chunks if isinstance(c, dict) and c['type'] == 'text-delta')
    assert text == 'Stored for useChat'
    assert chunks[-2:] == [{'type': 'finish', 'finishReason': 'stop'}, '[DONE]']
    assert upstream.records[0].body['model'] == 'fake-model'  # no "model" in the body: the conversation's own
    stored = read(conv_app, conversation).json()
    assert stored['title'] == 'hi'  # started without a title: its first prompt names it, as on the page
    messages = stored['messages']
    assert [(m['role'], m['content']) for m in messages] == [('user', 'hi'), ('assistant', 'Stored for useChat')]
    assert messages[1]['reasoning'] == 'Hmm.' and chunks[0] == {'type': 'start', 'messageId': messages[1]['id']}
    # The next turn: useChat sends the whole history again; only its last message is new.
    assert ui_chat(conv_app, conversation, 'again', model='other-model').status_code == 200
    assert upstream.records[1].body['model'] == 'other-model'
    assert upstream.records[1].messages == [{'role': 'user', 'content': 'hi'},
                                            {'role': 'assistant', 'content': 'Stored for useChat'},
                                            {'role': 'user', 'content': 'again'}]
    assert [m['content'] for m in read(conv_app, conversation).json()['messages']] == [
        'hi', 'Stored for useChat', 'again', 'Second']


def test_a_failed_reply_is_an_error_chunk_and_sending_it_again_asks_again(
        conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(status=500), Script(tokens=['Recovered']))
    conversation = create(conv_app)
    chunks = events(ui_chat(conv_app, conversation, 'please'))
    assert chunks[-2]['type'] == 'error' and chunks[-1] == '[DONE]'
    assert [m['status'] for m in read(conv_app, conversation).json()['messages']] == ['complete', 'failed']
    chunks = events(ui_chat(conv_app, conversation, 'please'))  # useChat's regenerate sends the same last prompt
    assert chunks[-2:] == [{'type': 'finish', 'finishReason': 'stop'}, '[DONE]']
    messages = read(conv_app, conversation).json()['messages']
    assert [(m['role'], m['content']) for m in messages] == [('user', 'please'), ('assistant', 'Recovered')]


def test_refusals_come_before_anything_is_stored_or_sent_upstream(
        conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    conversation = create(conv_app)
    admin = ui_chat(conv_app, conversation, 'hello', ADMIN)
    assert admin.status_code == 403 and admin.json()['error']['code'] == 'personal_key_required'
    for stranger in (ui_chat(conv_app, conversation, 'hello', BOB), ui_chat(conv_app, new_id(), 'hello')):
        assert stranger.status_code == 404 and stranger.json()['error']['code'] == 'conversation_not_found'
    image = [{'type': 'file', 'mediaType': 'image/png', 'url': 'https://example.com/a.png'}]
    linked = httpx.post(conv_app.url + '/api/ui-chat', json={'messages': [{'role': 'user', 'parts': image}]},
                        headers={**conv_app.auth(ALICE), 'X-Conversation-Id': conversation}, timeout=10)
    assert linked.status_code == 422 and 'data: URLs' in linked.json()['error']['message']
    assert upstream.records == [] and read(conv_app, conversation).json()['messages'] == []
