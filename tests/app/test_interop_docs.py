"""The OpenAI-compatible and AI SDK routes are in the live server's OpenAPI document, with summaries and bodies."""

from __future__ import annotations

import httpx

from tests.conftest import LiveApp


def test_openapi_lists_the_interop_routes(live_app: LiveApp) -> None:
    schema = httpx.get(live_app.url + '/openapi.json', timeout=10).json()
    completions = schema['paths']['/v1/chat/completions']['post']
    models = schema['paths']['/v1/models']['get']
    ui_chat = schema['paths']['/api/ui-chat']['post']
    assert completions['summary'] == 'Chat completion (OpenAI-compatible)'
    assert models['summary'] == 'List the models (OpenAI-compatible)'
    assert ui_chat['summary'] == 'Stream a chat reply for the AI SDK (useChat)'
    body = completions['requestBody']['content']['application/json']['schema']
    assert body['properties']['model']['enum'] == ['fake-model']
    assert {'messages', 'stream', 'stream_options', 'tools', 'tool_choice'} <= set(body['properties'])
    assert set(completions['responses']['200']['content']) == {'application/json', 'text/event-stream'}
    assert {'400', '401', '404', '413', '429', '502'} <= set(completions['responses'])
    error = completions['responses']['404']['content']['application/json']['schema']['properties']['error']
    assert error['required'] == ['message', 'type', 'param', 'code']
    assert ui_chat['requestBody']['content']['application/json']['schema']['required'] == ['messages']
    assert 'x-vercel-ai-ui-message-stream: v1' in ui_chat['description']
    for operation in (completions, models, ui_chat):
        assert operation['security'] == [{'HTTPBearer': []}]
