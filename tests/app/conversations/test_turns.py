"""POST /api/chat with conversation_id, against the live app: a turn appended to a stored conversation of the key's
owner, its reply produced and saved by the chat runtime, and shown on the owner's page."""

from __future__ import annotations

import httpx

from app.store import new_id
from tests.app.conversations.conftest import ADMIN, ALICE, BOB, USER_HEADER, KeyedApp, create, lines_of, read
from tests.fake_upstream import FakeUpstream, Script


def chat(app: KeyedApp, body: dict, auth: str = ALICE) -> httpx.Response:
    return httpx.post(app.url + '/api/chat', json=body, headers=app.auth(auth), timeout=20)


def test_the_last_message_is_the_new_turn_and_the_stored_conversation_is_the_history(
        any_app: KeyedApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Hi', ' Alice']), Script(tokens=['Second', ' answer']))
    conversation = create(any_app, title='Integration chat', system_prompt='Be brief.')
    first = chat(any_app, {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': 'hello'}]})
    assert first.status_code == 200, first.text
    lines = lines_of(first)
    assert lines[0]['type'] == 'start' and lines[-1] == {**lines[-1], 'type': 'done', 'full_content': 'Hi Alice'}
    assert [(line['content'], line['offset']) for line in lines if line['type'] == 'chunk'][-1][1] == 8
    # The whole history, as an OpenAI-style client sends it, with an edited earlier turn and its own system prompt:
    # only the last message is new; what goes upstream is the stored history.
    second = chat(any_app, {'conversation_id': conversation, 'temperature': 0.5, 'messages': [
        {'role': 'system', 'content': 'Ignored.'}, {'role': 'user', 'content': 'hello (edited)'},
        {'role': 'assistant', 'content': 'Hi Alice'}, {'role': 'user', 'content': 'and now?'}]})
    assert lines_of(second)[-1]['full_content'] == 'Second answer'
    assert upstream.records[1].messages == [
        {'role': 'system', 'content': 'Be brief.'}, {'role': 'user', 'content': 'hello'},
        {'role': 'assistant', 'content': 'Hi Alice'}, {'role': 'user', 'content': 'and now?'}]
    assert upstream.records[1].body['temperature'] == 0.5
    stored = read(any_app, conversation).json()
    assert [(m['role'], m['content'], m['status']) for m in stored['messages']] == [
        ('user', 'hello', 'complete'), ('assistant', 'Hi Alice', 'complete'),
        ('user', 'and now?', 'complete'), ('assistant', 'Second answer', 'complete')]
    assert stored['messages'][1]['id'] == lines[0]['id']  # the start line names the stored reply
    # The owner's page lists it in the sidebar; another person's does not.
    page = httpx.get(any_app.url + '/', headers={USER_HEADER: 'alice'}, timeout=20).text
    assert 'Integration chat' in page and f'/c/{conversation}' in page
    assert f'/c/{conversation}' not in httpx.get(any_app.url + '/', headers={USER_HEADER: 'bob'}, timeout=20).text


def test_without_a_personal_key_or_with_someone_elses_conversation_nothing_is_appended(
        conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    conversation = create(conv_app)
    body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': 'hello'}]}
    refused = chat(conv_app, body, auth=ADMIN)
    assert refused.status_code == 403 and refused.json()['error']['code'] == 'personal_key_required'
    assert 'personal API key' in refused.json()['error']['message']
    theirs, unknown, malformed = (chat(conv_app, {**body, 'conversation_id': cid}, auth=auth)
                                  for cid, auth in ((conversation, BOB), (new_id(), ALICE), ('../etc', ALICE)))
    assert theirs.status_code == unknown.status_code == malformed.status_code == 404
    assert theirs.json() == unknown.json() == malformed.json()
    not_a_prompt = chat(conv_app, {**body, 'messages': [{'role': 'assistant', 'content': 'x'}]})
    assert not_a_prompt.status_code == 422 and 'last message' in not_a_prompt.json()['error']['message']
    with_nul = chat(conv_app, {**body, 'messages': [{'role': 'user', 'content': 'a\x00b'}]})
    assert with_nul.status_code == 422 and 'NUL' in with_nul.json()['error']['message']
    assert upstream.records == [] and read(conv_app, conversation).json()['messages'] == []
    # Without conversation_id nothing is stored, with any token (today's behaviour).
    assert chat(conv_app, {'messages': body['messages']}, auth=ADMIN).status_code == 200
    assert read(conv_app, conversation).json()['messages'] == []


def test_repeating_a_prompt_whose_reply_failed_asks_again_instead_of_adding_it_twice(
        conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(status=500), Script(tokens=['Better']))
    conversation = create(conv_app)
    body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': 'try'}]}
    failed = lines_of(chat(conv_app, body))
    assert failed[-1]['type'] == 'error' and failed[-1]['error']['code'] == 'reply_failed'
    assert lines_of(chat(conv_app, body))[-1]['full_content'] == 'Better'
    messages = read(conv_app, conversation).json()['messages']
    assert [(m['role'], m['content']) for m in messages] == [('user', 'try'), ('assistant', 'Better')]
    assert messages[1]['parent_id'] == messages[0]['id']
