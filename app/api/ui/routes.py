"""`POST /api/ui-chat`: the reply in the Vercel AI SDK's UI message stream protocol, for `useChat` in a web app."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from starlette.requests import ClientDisconnect

from ...config import Settings
from ...errors import ChatError
from ...upstream import Upstream
from ..access import Access
from ..body import read_json
from ..held_response import HeldResponse, Last, first_batch
from ..metering import Meter, Metering
from ..protocol import sse_event_schema
from . import stream as ui_stream

DESCRIPTION = """For the AI SDK's `useChat` (its default transport, `api: '/api/ui-chat'`): takes the body it posts,
`{"messages": [UIMessage with parts]}` (text parts, and image `file` parts in user messages; other parts are ignored)
plus an optional `"model"` from its `body` option, and answers with the UI message stream protocol v1: SSE events
`start`, `start-step`, `reasoning-start`/`-delta`/`-end`, `text-start`/`-delta`/`-end`, `finish-step`, `finish`,
then `data: [DONE]`, with the header `x-vercel-ai-ui-message-stream: v1`.

Errors before the stream starts are HTTP errors with `{"error": {"code", "message"}}` (as `/api/chat`); after, an
`error` chunk (`errorText`), then `[DONE]`. Comment lines (`: ping`) may come while the model has not started."""

_ERRORS = {400: 'The body is not valid JSON (`invalid_json`).',
           401: 'Missing, unknown or revoked API key.', 403: 'The API is disabled (no personal keys, no API_TOKENS).',
           413: 'The body exceeds MAX_REQUEST_BYTES.', 422: 'Not a valid useChat body; the message names the field.',
           429: 'A limit of this server (rate, token quota, streams) or the model server is refusing; see Retry-After.',
           502: 'The model server failed or could not be reached.',
           503: 'The server is busy (MAX_STREAMS), cannot check its limits (see Retry-After), or is shutting down.',
           504: 'The model server could not be reached or did not answer in time.'}
_ERROR_SCHEMA = {'type': 'object', 'properties': {'error': {'type': 'object', 'properties': {
    'code': {'type': 'string'}, 'message': {'type': 'string'}}}}}
_BODY_SCHEMA: dict[str, Any] = {'type': 'object', 'required': ['messages'], 'properties': {
    'messages': {'type': 'array', 'minItems': 1, 'items': {'type': 'object', 'required': ['role', 'parts'],
                 'properties': {'id': {'type': 'string'}, 'role': {'enum': list(ui_stream.ROLES)},
                                'parts': {'type': 'array', 'items': {'type': 'object'}}}}},
    'model': {'type': 'string'}, 'id': {'type': 'string'}, 'trigger': {'type': 'string'}},
    'example': {'messages': [{'id': 'm1', 'role': 'user', 'parts': [{'type': 'text', 'text': 'Say hello.'}]}]}}


def add_routes(router: APIRouter, settings: Settings, upstream: Upstream, access: Access,
               metering: Metering | None = None) -> None:
    """Add the AI SDK route to `router`, bound to one settings object and one upstream."""
    metering = metering or Metering()
    bearer = HTTPBearer(auto_error=False, description='A personal API key (nck_...) or a token from API_TOKENS.')
    responses: dict[int | str, dict[str, Any]] = {200: {'description': 'The UI message stream', 'content': {
        'text/event-stream': {'schema': sse_event_schema('A UI message chunk as JSON, then [DONE].')}}}}
    for status, text in _ERRORS.items():
        responses[status] = {'description': text, 'content': {'application/json': {'schema': _ERROR_SCHEMA}}}
    body_doc = {'requestBody': {'required': True, 'content': {'application/json': {'schema': _BODY_SCHEMA}}}}

    @router.post('/api/ui-chat', status_code=200, summary='Stream a chat reply for the AI SDK (useChat)',
                 description=DESCRIPTION, tags=['AI SDK'], response_class=HeldResponse, response_model=None,
                 responses=responses, openapi_extra=body_doc, dependencies=[Depends(bearer)])
    async def ui_chat(request: Request) -> Response:
        """Stream the reply to a useChat conversation as UI message chunks."""
        try:
            caller = await access.caller(request)
            messages, model = ui_stream.parse_ui_request(await read_json(request, settings.max_request_bytes),
                                                         settings)
        except ChatError as error:
            return error.to_response()
        except ClientDisconnect:  # gone mid-upload: nobody is left to answer
            return Response(status_code=400)
        return HeldResponse(ui_chunks(upstream, messages, model, settings.ping_interval, metering.meter(caller)),
                            media_type='text/event-stream', headers=ui_stream.HEADERS,
                            before=ChatError.to_response, after=ui_stream.error_frame)


async def ui_chunks(upstream: Upstream, messages: list[dict[str, Any]], model: str, ping_interval: float,
                    meter: Meter | None = None) -> AsyncGenerator[bytes]:
    """The UI message stream of one reply: start once the model server answered, pings until the first token, a
    write per upstream read, then the finish and `[DONE]`."""
    async with meter or Meter() as meter, upstream.stream(messages, model=model) as reply:
        meter.reply = reply
        writer = ui_stream.PartWriter()
        yield writer.start()
        batches = reply.batches()
        try:
            async for batch in first_batch(batches, ping_interval):
                meter.add(batch)
                yield writer.batch(batch) if batch else ui_stream.PING
            async for batch in batches:
                meter.add(batch)
                yield writer.batch(batch)
        finally:
            await batches.aclose()
        yield Last(writer.finish(reply.finish_reason))
