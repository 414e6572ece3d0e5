"""The interop routes on the API's router, served by the FastAPI app itself (no dispatcher in front): each reaches its
own handler, and the router's JSON 404/405 for /api paths still answers around them; ALLOWED_MODELS=* on them.
In-process, so no streaming is proven here (the live-server tests do that)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.api import interop, routes
from app.api.access import Access
from app.config import Settings
from app.upstream import Upstream
from tests.conftest import SECRET_KEY
from tests.fake_upstream import FakeUpstream, Script

TOKEN = 'tok-in-process'
AUTH = {'Authorization': f'Bearer {TOKEN}'}


def app(settings: Settings | None = None, upstream: Upstream | None = None) -> FastAPI:
    settings = settings or Settings(api_key='sk-unused', api_tokens=frozenset({TOKEN}), model='m1')
    upstream = upstream or Upstream(settings)
    access = Access(settings)
    router = routes.create_router(settings, upstream, access)
    interop.add_routes(router, settings, upstream, access)
    server = FastAPI()
    server.include_router(router)
    return server


async def test_each_route_reaches_its_handler_before_the_catch_all() -> None:
    auth = AUTH
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url='http://app') as client:
        ui_chat = await client.post('/api/ui-chat', json={'messages': []}, headers=auth)
        wrong_method = await client.get('/api/ui-chat', headers=auth)
        completions = await client.post('/v1/chat/completions', json={'messages': []}, headers=auth)
        models = await client.get('/v1/models', headers=auth)
        unknown = await client.post('/api/nothing-here', json={}, headers=auth)
    assert (ui_chat.status_code, ui_chat.json()['error']['code']) == (422, 'invalid_request')
    assert (wrong_method.status_code, wrong_method.headers['allow']) == (405, 'POST')
    assert (completions.status_code, completions.json()['error']['param']) == (400, 'messages')
    assert models.json()['data'][0]['id'] == 'm1'
    assert unknown.status_code == 404


async def test_any_model_lists_and_takes_the_model_servers_models(upstream: FakeUpstream) -> None:
    settings = Settings(api_key=SECRET_KEY, base_url=upstream.url, api_tokens=frozenset({TOKEN}), model='m1',
                        allowed_models=('*',), upstream_retries=0)
    model_server = Upstream(settings)
    upstream.models = ['big-model', 'small-model']
    upstream.queue(Script(tokens=['ok']))
    try:
        transport = httpx.ASGITransport(app=app(settings, model_server))
        async with httpx.AsyncClient(transport=transport, base_url='http://app') as client:
            models = await client.get('/v1/models', headers=AUTH)
            answer = await client.post('/v1/chat/completions', headers=AUTH, json={
                'model': 'small-model', 'messages': [{'role': 'user', 'content': 'hi'}]})
            no_name = await client.post('/v1/chat/completions', headers=AUTH, json={
                'model': '', 'messages': [{'role': 'user', 'content': 'hi'}]})
    finally:
        await model_server.aclose()
    assert [model['id'] for model in models.json()['data']] == ['big-model', 'small-model']
    assert answer.json()['choices'][0]['message']['content'] == 'ok'
    assert upstream.wait_for_request().body['model'] == 'small-model'
    assert (no_name.status_code, no_name.json()['error']['param']) == (400, 'model')
