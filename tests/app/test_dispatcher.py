"""The dispatcher in front of the FastAPI app: API routes go straight to their endpoints, everything else to the app."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send

from app.api.dispatcher import Dispatcher
from tests.conftest import LiveApp


def _app_and_router() -> tuple[FastAPI, APIRouter]:
    router = APIRouter()

    @router.post('/api/echo')
    async def echo(request: Request) -> Response:
        return JSONResponse({'body': (await request.body()).decode(), 'query': request.url.query})

    app = FastAPI()
    app.include_router(router)

    @app.get('/page')
    async def page() -> dict[str, str]:
        return {'page': 'yes'}

    @app.middleware('http')
    async def mark(request: Request, call_next: object) -> Response:
        response: Response = await call_next(request)  # type: ignore[operator]
        response.headers['x-through-app'] = '1'
        return response

    return app, router


async def test_api_route_skips_the_app_and_the_rest_goes_through_it() -> None:
    app, router = _app_and_router()
    transport = httpx.ASGITransport(app=Dispatcher(app, router))
    async with httpx.AsyncClient(transport=transport, base_url='http://test') as client:
        direct = await client.post('/api/echo?x=1', content=b'hello')
        assert direct.json() == {'body': 'hello', 'query': 'x=1'}
        assert 'x-through-app' not in direct.headers
        page = await client.get('/page')
        assert page.json() == {'page': 'yes'}
        assert page.headers['x-through-app'] == '1'
        wrong_method = await client.get('/api/echo')  # only the exact method and path are dispatched directly
        assert wrong_method.status_code == 405
        assert wrong_method.headers['x-through-app'] == '1'


async def test_the_app_still_serves_the_same_route() -> None:
    app, _ = _app_and_router()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url='http://test') as client:
        response = await client.post('/api/echo', content=b'hello')
    assert response.json() == {'body': 'hello', 'query': ''}
    assert response.headers['x-through-app'] == '1'


async def test_lifespan_goes_to_the_app() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope['type'])

    async def receive() -> Message:
        return {'type': 'lifespan.startup'}

    async def send(message: Message) -> None:
        pass

    await Dispatcher(app, APIRouter())({'type': 'lifespan'}, receive, send)
    assert seen == ['lifespan']


async def test_routes_with_path_parameters_are_left_to_the_app() -> None:
    app, router = _app_and_router()

    @router.get('/api/items/{item}')
    async def item(item: str) -> Response:
        return JSONResponse({'item': item})

    app.include_router(router)
    transport = httpx.ASGITransport(app=Dispatcher(app, router))
    async with httpx.AsyncClient(transport=transport, base_url='http://test') as client:
        response = await client.get('/api/items/42')
    assert response.json() == {'item': '42'}
    assert response.headers['x-through-app'] == '1'  # served by the app, which parsed the parameter


def test_refuses_plain_endpoints_it_could_not_call_like_fastapi() -> None:
    router = APIRouter()

    @router.post('/api/search')
    async def search(request: Request, q: str) -> Response:
        return Response(q)

    with pytest.raises(TypeError, match='only `request`'):
        Dispatcher(FastAPI(), router)


async def test_an_endpoint_that_raises_gets_the_api_json_500(caplog: pytest.LogCaptureFixture) -> None:
    router = APIRouter()

    @router.post('/api/broken')
    async def broken(request: Request) -> Response:
        raise KeyError('secret-looking request data')

    transport = httpx.ASGITransport(app=Dispatcher(FastAPI(), router))
    async with httpx.AsyncClient(transport=transport, base_url='http://test') as client:
        response = await client.post('/api/broken')
    assert response.status_code == 500
    assert response.json() == {'error': {'code': 'internal_error',
                                         'message': 'The server failed while answering the request.'}}
    assert [record.getMessage() for record in caplog.records] == ['POST /api/broken failed: KeyError']


def test_live_server_serves_api_pages_and_docs_side_by_side(live_app: LiveApp) -> None:
    page = httpx.get(live_app.url + '/', timeout=10)
    assert page.status_code == 200
    assert 'text/html' in page.headers['content-type']
    assert '/api/chat' in httpx.get(live_app.url + '/openapi.json', timeout=10).json()['paths']
    refused = httpx.post(live_app.url + '/api/chat', json={'messages': []}, timeout=10)
    assert refused.status_code == 401  # no token: the route's own check, reached directly
    assert refused.json()['error']['code'] == 'unauthorized'
