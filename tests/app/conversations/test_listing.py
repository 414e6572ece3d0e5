"""GET /api/conversations (keyset pages, newest activity first) and GET /api/conversations/{id} (pages of messages)."""

from __future__ import annotations

import httpx

from tests.app.conversations.conftest import ADMIN, CAROL, KeyedApp, create, read
from tests.fake_upstream import FakeUpstream, Script


def listing(app: KeyedApp, auth: str = CAROL, **params: object) -> httpx.Response:
    return httpx.get(app.url + '/api/conversations', params=params, headers=app.auth(auth), timeout=10)


def test_the_list_pages_newest_activity_first_and_a_turn_moves_a_conversation_to_the_top(
        any_app: KeyedApp, upstream: FakeUpstream) -> None:
    ids = [create(any_app, CAROL, title=f'Report {n}') for n in range(5)]
    body = {'conversation_id': ids[1], 'messages': [{'role': 'user', 'content': 'kubernetes question'}]}
    httpx.post(any_app.url + '/api/chat', json=body, headers=any_app.auth(CAROL), timeout=20).raise_for_status()
    seen, cursor = [], None
    while True:
        page = listing(any_app, limit=2, **({'cursor': cursor} if cursor else {})).json()
        assert len(page['data']) <= 2
        seen += [entry['id'] for entry in page['data']]
        if (cursor := page['next_cursor']) is None:
            break
    assert seen == [ids[1], ids[4], ids[3], ids[2], ids[0]]
    assert [e['id'] for e in listing(any_app, q='KUBERNETES').json()['data']] == [ids[1]]
    assert listing(any_app, q='Report 3').json()['data'][0]['title'] == 'Report 3'
    for params in ({'limit': 0}, {'limit': 'x'}, {'limit': '²'}, {'cursor': 'not-a-cursor'}, {'q': 'a\x00b'}):
        refused = listing(any_app, **params)
        assert refused.status_code == 422 and refused.json()['error']['code'] == 'invalid_request'
    assert listing(any_app, auth=ADMIN).status_code == 403


def test_a_conversation_reads_in_pages_of_messages_from_its_end(conv_app: KeyedApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['A1']), Script(tokens=['A2']))
    conversation = create(conv_app, CAROL, title='Two turns', model='other-model')
    for prompt in ('Q1', 'Q2'):
        body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': prompt}]}
        httpx.post(conv_app.url + '/api/chat', json=body, headers=conv_app.auth(CAROL),
                   timeout=20).raise_for_status()
    last = read(conv_app, conversation, CAROL, limit=3).json()
    assert (last['title'], last['model'], last['streaming']) == ('Two turns', 'other-model', False)
    assert [m['content'] for m in last['messages']] == ['A1', 'Q2', 'A2']
    earlier = read(conv_app, conversation, CAROL, limit=3, before=last['next_before']).json()
    assert [m['content'] for m in earlier['messages']] == ['Q1'] and earlier['next_before'] is None
    assert read(conv_app, conversation, CAROL, before='f' * 32).status_code == 422
    created = httpx.post(conv_app.url + '/api/conversations', json={'model': 'gpt-nope'},
                         headers=conv_app.auth(CAROL), timeout=10)
    assert created.status_code == 422 and 'model' in created.json()['error']['message']


def test_paths_under_conversations_answer_json_404_and_405(conv_app: KeyedApp) -> None:
    wrong_method = httpx.delete(conv_app.url + '/api/conversations', headers=conv_app.auth(CAROL), timeout=10)
    assert wrong_method.status_code == 405 and wrong_method.headers['allow'] == 'GET, POST'
    stream_post = httpx.post(conv_app.url + f'/api/conversations/{"a" * 32}/stream', timeout=10)
    assert stream_post.status_code == 405 and stream_post.headers['allow'] == 'GET'
    unknown = httpx.get(conv_app.url + f'/api/conversations/{"a" * 32}/nothing', timeout=10)
    assert unknown.status_code == 404 and unknown.json()['error']['code'] == 'not_found'
