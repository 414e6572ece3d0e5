"""The API is documented where integrators look: /docs and /openapi.json on the live server."""

from __future__ import annotations

import httpx

from tests.conftest import LiveApp


def test_openapi_describes_the_chat_route(live_app: LiveApp) -> None:
    schema = httpx.get(live_app.url + '/openapi.json', timeout=10).json()
    operation = schema['paths']['/api/chat']['post']
    body = operation['requestBody']['content']['application/json']['schema']
    assert body['required'] == ['messages']
    assert '$ref' not in str(body)  # self-contained: the request schema is inlined from the pydantic model
    assert body['properties']['model']['anyOf'][0]['const'] == 'fake-model'
    assert set(body['properties']['messages']['items']['properties']['role']['enum']) == {'system', 'user', 'assistant'}
    assert body['properties']['messages']['minItems'] == 1
    assert body['properties']['max_tokens']['anyOf'][0]['maximum'] == 32_768
    assert body['properties']['temperature']['anyOf'][0] == {'type': 'number', 'minimum': 0, 'maximum': 2}
    ok = operation['responses']['200']['content']
    assert set(ok) == {'application/x-ndjson', 'text/event-stream'}
    kinds = [line['properties']['type']['const'] for line in ok['application/x-ndjson']['schema']['oneOf']]
    assert kinds == ['start', 'ping', 'reasoning', 'chunk', 'done', 'error']
    assert {'400', '401', '413', '422', '429', '502', '504'} <= set(operation['responses'])
    assert 'ignore line types they do not know' in operation['description']
    assert operation['security'] == [{'HTTPBearer': []}]
    assert schema['components']['securitySchemes']['HTTPBearer']['scheme'] == 'bearer'


def test_docs_page_serves(live_app: LiveApp) -> None:
    page = httpx.get(live_app.url + '/docs', timeout=10)
    assert page.status_code == 200
    assert 'swagger-ui' in page.text
    assert '/openapi.json' in page.text
