"""A pure-ASGI front door: the streaming API's routes go straight to their handlers, everything else to the app.

Every body chunk a route sends passes through each layer of the app around it (FastAPI's and Starlette's error,
exception, exit-stack and routing wrappers, plus whatever middleware the app gains), and a paced stream sends one
chunk per token. Calling the same endpoint functions directly from here skips those layers per request and per
chunk: about a tenth of the server's CPU per token at 100 paced streams (README, "How it is built"). The routes
stay registered on the FastAPI app, which still serves them in-process and documents them.

What the skipped layers would do, this does for the routes it serves: an exception escaping an endpoint is answered
with the API's JSON 500 (not uvicorn's bare text; the streamed response handles its own failures), and routes with
path parameters are left to the app. It serves only paths exactly: with a `root_path`, requests go through the app.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ChatError

Endpoint = Callable[[Request], Awaitable[Response]]
log = logging.getLogger(__name__)


class Dispatcher:
    """ASGI app that serves `router`'s plain-path routes itself (exact method and path) and hands the rest to `app`."""

    def __init__(self, app: ASGIApp, router: APIRouter) -> None:
        self.app = app
        self.endpoints: dict[tuple[str, str], Endpoint] = {}
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f'{route!r}: only API routes can be dispatched directly')
            if route.param_convertors:
                continue  # a path with parameters: the app's router parses them
            # Route dependencies are not run here: only ones for the docs (like the bearer scheme) belong on these
            # routes, and the endpoint must take the bare request so both paths call it the same way.
            if list(inspect.signature(route.endpoint).parameters) != ['request']:
                raise TypeError(f'{route.path}: a directly dispatched endpoint takes only `request`')
            for method in route.methods or ():
                self.endpoints[method, route.path] = route.endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] == 'http' and (endpoint := self.endpoints.get((scope['method'], scope['path']))):
            try:
                response = await endpoint(Request(scope, receive, send))
            except Exception as exc:
                # A bug: log the type only (its text could carry request data); answer like the API's own errors.
                log.error('%s %s failed: %s', scope['method'], scope['path'], type(exc).__name__)
                response = ChatError('internal_error', 'The server failed while answering the request.',
                                     500).to_response()
            await response(scope, receive, send)
        else:
            await self.app(scope, receive, send)
