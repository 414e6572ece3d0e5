"""GET /healthz, /readyz and /metrics: plain routes the API's dispatcher serves directly, outside NiceGUI's layers."""

from __future__ import annotations

import hmac

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from ..config import Settings
from .readiness import Readiness

# Probes and scrapes must never be cached by a proxy: each answer is the state now.
NO_STORE = {'Cache-Control': 'no-store'}


def add_routes(router: APIRouter, settings: Settings, readiness: Readiness) -> None:
    """Add the probes and /metrics (which asks for METRICS_TOKEN as a bearer token when that is set) to `router`.

    Added to the API's own router, not included as a sub-router, so the dispatcher serves them directly. They stay
    out of the OpenAPI schema: operations, not the API's contract (README, "Deploying").
    """
    token = settings.metrics_token

    @router.get('/healthz', include_in_schema=False)
    async def healthz(request: Request) -> Response:
        """The process is up and its event loop answers."""
        return JSONResponse({'status': 'ok'}, headers=NO_STORE)

    @router.get('/readyz', include_in_schema=False)
    async def readyz(request: Request) -> Response:
        """200 when the database (and Redis, if configured) answer in time; 503 naming what does not."""
        checks = await readiness.check()
        failing = [f'{name}: {state}' for name, state in checks.items() if state != 'ok']
        if failing:
            return JSONResponse({'status': 'unavailable', 'reason': '; '.join(failing), 'checks': checks},
                                status_code=503, headers=NO_STORE)
        return JSONResponse({'status': 'ready', 'checks': checks}, headers=NO_STORE)

    @router.get('/metrics', include_in_schema=False)
    async def metrics(request: Request) -> Response:
        """Prometheus's text format; 401 without the bearer token when METRICS_TOKEN is set."""
        if token is not None and not _bearer_matches(request, token):
            return JSONResponse({'error': {'code': 'unauthorized', 'message': 'This endpoint needs the metrics '
                                           'token as a bearer token.'}}, status_code=401,
                                headers={'WWW-Authenticate': 'Bearer', **NO_STORE})
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST, headers=NO_STORE)


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get('authorization', '').partition(' ')
    # Constant time, so the answer's timing tells nothing about how much of a guess was right.
    return scheme.lower() == 'bearer' and hmac.compare_digest(given.strip().encode(), token.encode())
