"""The conversation routes are in the live server's OpenAPI document, with their parameters and answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.app.conversations.conftest import ALICE, KeyedApp, create
from tests.conftest import ROOT
from tests.fake_upstream import FakeUpstream, Script


def test_openapi_describes_the_conversation_routes(conv_app: KeyedApp) -> None:
    schema = httpx.get(conv_app.url + '/openapi.json', timeout=10).json()
    paths = schema['paths']
    listing, create = paths['/api/conversations']['get'], paths['/api/conversations']['post']
    read = paths['/api/conversations/{conversation_id}']['get']
    follow = paths['/api/conversations/{conversation_id}/stream']['get']
    stop = paths['/api/conversations/{conversation_id}/stop']['post']
    assert [p['name'] for p in listing['parameters']] == ['limit', 'cursor', 'q']
    assert listing['responses']['200']['content']['application/json']['schema']['required'] == ['data',
                                                                                                 'next_cursor']
    assert set(create['responses']) >= {'201', '401', '403', '422'}
    assert {p['name'] for p in read['parameters']} == {'conversation_id', 'limit', 'before'}
    assert {p['name'] for p in follow['parameters']} == {'conversation_id', 'offset', 'reply_id'}
    lines = follow['responses']['200']['content']['application/x-ndjson']['schema']['oneOf']
    chunk = next(line for line in lines if line['title'] == 'chunk')
    assert chunk['required'] == ['type', 'content', 'offset']
    assert {'404', '416', '422'} <= set(follow['responses'])
    assert stop['responses']['200']['content']['application/json']['schema']['required'] == ['stopped']
    for operation in (listing, create, read, follow, stop):
        assert operation['tags'] == ['Conversations'] and operation['security'] == [{'HTTPBearer': []}]
    body = paths['/api/chat']['post']['requestBody']['content']['application/json']['schema']
    assert 'conversation_id' in body['properties'] and '404' in paths['/api/chat']['post']['responses']
    for path in ('/v1/chat/completions', '/api/ui-chat'):
        header = paths[path]['post']['parameters']
        assert [(p['name'], p['in']) for p in header] == [('X-Conversation-Id', 'header')]
    assert {'403', '404', '409'} <= set(paths['/api/ui-chat']['post']['responses'])


def test_the_docs_python_follower_prints_a_reply_and_returns_its_last_line(
        conv_app: KeyedApp, upstream: FakeUpstream, capsys: pytest.CaptureFixture[str]) -> None:
    docs = (ROOT / 'docs' / 'api.md').read_text()
    section = docs.split('### Python: following a reply through disconnects', 1)[1]
    code = section.split('```python\n', 1)[1].split('```', 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # the example as published
    upstream.queue(Script(tokens=['Doc', 'umented'], delay=0.05))
    conversation = create(conv_app)
    body = {'conversation_id': conversation, 'messages': [{'role': 'user', 'content': 'hi'}]}
    with httpx.stream('POST', conv_app.url + '/api/chat', json=body, headers=conv_app.auth(ALICE), timeout=10):
        pass  # the turn is started; leaving at once does not stop its reply
    last = namespace['follow'](conv_app.url, conv_app.keys[ALICE], conversation)
    assert last['type'] == 'done' and capsys.readouterr().out == 'Documented'
