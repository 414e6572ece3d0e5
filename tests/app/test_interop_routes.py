"""The interop routes on the API's router, served by the FastAPI app itself (no dispatcher in front): each reaches its
own handler, and the router's JSON 404/405 for /api paths still answers around them. In-process: no streaming here."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.api import interop, routes
from app.config import Settings
from app.upstream import Upstream

TOKEN = 'tok-in-process'


def app() -> FastAPI:
    settings = Settings(api_key='sk-unused', api_tokens=frozenset({TOKEN}), model='m1')
    upstream = Upstream(settings)
    router = routes.create_router(settings, upstream)
    interop.add_routes(router, settings, upstream)
    server = FastAPI()
    server.include_router(router)
    return server


async def test_each_route_reaches_its_handler_before_the_catch_all() -> None:
    auth = {'Authorization': f'Bearer {TOKEN}'}
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
