"""The conversation routes are in the live server's OpenAPI document, with their parameters and answers."""

from __future__ import annotations

import httpx

from tests.conftest import LiveApp


def test_openapi_describes_the_conversation_routes(conv_app: LiveApp) -> None:
    schema = httpx.get(conv_app.url + '/openapi.json', timeout=10).json()
    paths = schema['paths']
    listing, create = paths['/api/conversations']['get'], paths['/api/conversations']['post']
    read = paths['/api/conversations/{conversation_id}']['get']
    follow = paths['/api/conversations/{conversation_id}/stream']['get']
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
    for operation in (listing, create, read, follow):
        assert operation['tags'] == ['Conversations'] and operation['security'] == [{'HTTPBearer': []}]
    body = paths['/api/chat']['post']['requestBody']['content']['application/json']['schema']
    assert 'conversation_id' in body['properties'] and '404' in paths['/api/chat']['post']['responses']
    header = paths['/v1/chat/completions']['post']['parameters']
    assert [(p['name'], p['in']) for p in header] == [('X-Conversation-Id', 'header')]
