"""A pure-ASGI front door: the streaming API's routes go straight to their handlers, everything else to the app.

Every body chunk a route sends passes through each layer of the app around it (FastAPI's and Starlette's error,
exception, exit-stack and routing wrappers, plus whatever middleware the app gains), and a paced stream sends one
chunk per token. Calling the same endpoint functions directly from here skips those layers per request and per
chunk; the routes stay registered on the FastAPI app, which still serves them in-process and documents them.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Response]]


class Dispatcher:
    """ASGI app that serves `router`'s routes itself (exact method and path) and hands the rest to `app`."""

    def __init__(self, app: ASGIApp, router: APIRouter) -> None:
        self.app = app
        self.endpoints: dict[tuple[str, str], Endpoint] = {}
        for route in router.routes:
            if not isinstance(route, APIRoute) or route.param_convertors:
                raise TypeError(f'{route!r}: only plain paths can be dispatched directly')
            # Route dependencies are not run here: only ones for the docs (like the bearer scheme) belong on these
            # routes, and the endpoint must take the bare request so both paths call it the same way.
            if list(inspect.signature(route.endpoint).parameters) != ['request']:
                raise TypeError(f'{route.path}: a directly dispatched endpoint takes only `request`')
            for method in route.methods or ():
                self.endpoints[method, route.path] = route.endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'http' and (endpoint := self.endpoints.get((scope['method'], scope['path']))):
            response = await endpoint(Request(scope, receive, send))
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)
