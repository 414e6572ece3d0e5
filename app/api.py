"""HTTP routes of the raw streaming API: `POST /api/chat`."""

from __future__ import annotations

import hmac
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .config import Settings
from .errors import ChatError
from .reply_stream import ReplyResponse, reply_events
from .upstream import Upstream
from .validation import parse_request


def create_router(settings: Settings, upstream: Upstream) -> APIRouter:
    """The API routes, bound to one settings object and one upstream."""
    router = APIRouter()

    @router.post('/api/chat', response_model=None)
    async def chat(request: Request) -> Response:
        """Stream a chat completion as NDJSON lines (or SSE events with `Accept: text/event-stream`)."""
        try:
            authorize(request.headers.get('authorization'), settings)
            body = await read_body(request, settings.max_request_bytes)
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise ChatError('invalid_json', 'The body is not valid JSON.', 400) from None
            chat_request = parse_request(data, settings)
        except ChatError as error:
            return error_json(error)
        wants_sse = 'text/event-stream' in request.headers.get('accept', '')
        return ReplyResponse(reply_events(upstream, chat_request, settings.ping_interval), sse=wants_sse)

    return router


def authorize(header: str | None, settings: Settings) -> None:
    """Check the bearer token; the API is open only in demo mode with no tokens configured."""
    if not settings.api_tokens:
        if settings.demo:
            return
        raise ChatError('api_disabled', 'The API is disabled because a real model is configured and no API_TOKENS '
                        'are set. Set API_TOKENS=token1,token2 on the server and send "Authorization: Bearer <token>".',
                        403)
    scheme, _, token = (header or '').partition(' ')
    token = token.strip()
    # Compare against every token in constant time, so timing does not reveal how much of a token matched.
    valid = scheme.lower() == 'bearer' and any(
        hmac.compare_digest(token.encode(), known.encode()) for known in settings.api_tokens)
    if not valid:
        raise ChatError('unauthorized', 'Missing or invalid token: send "Authorization: Bearer <token>" with a token '
                        "from the server's API_TOKENS.", 401)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    too_large = ChatError('body_too_large', f'The body exceeds the limit of {limit} bytes.', 413)
    length = request.headers.get('content-length', '')
    if length.isdigit() and int(length) > limit:
        raise too_large
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > limit:
            raise too_large
    return bytes(body)


def error_json(error: ChatError) -> JSONResponse:
    """A JSON error answer: `{"error": {"code", "message"}}` with the error's status."""
    headers: dict[str, Any] = {'Retry-After': error.retry_after} if error.retry_after else {}
    if error.status == 401:
        headers['WWW-Authenticate'] = 'Bearer'
    return JSONResponse({'error': error.to_dict()}, status_code=error.status, headers=headers)
