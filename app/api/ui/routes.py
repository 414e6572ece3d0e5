"""`POST /api/ui-chat`: the reply in the Vercel AI SDK's UI message stream protocol, for `useChat` in a web app."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPBearer
from starlette.requests import ClientDisconnect

from ...chat.chats import Chats
from ...config import Settings
from ...errors import ChatError
from ...upstream import Upstream
from ..access import Access
from ..body import read_json
from ..conversations.turns import counted_frames, metered_append
from ..held_response import HeldResponse, Last, first_batch
from ..metering import Meter, Metering
from ..openai.conversation import HEADER, HEADER_DOC
from ..protocol import sse_event_schema
from . import stream as ui_stream
from .conversation import ui_frames

DESCRIPTION = """For the AI SDK's `useChat` (its default transport, `api: '/api/ui-chat'`): takes the body it posts,
`{"messages": [UIMessage with parts]}` (text parts, and image `file` parts in user messages; other parts are ignored)
plus an optional `"model"` from its `body` option, and answers with the UI message stream protocol v1: SSE events
`start`, `start-step`, `reasoning-start`/`-delta`/`-end`, `text-start`/`-delta`/`-end`, `finish-step`, `finish`,
then `data: [DONE]`, with the header `x-vercel-ai-ui-message-stream: v1`.

Errors before the stream starts are HTTP errors with `{"error": {"code", "message"}}` (as `/api/chat`); after, an
`error` chunk (`errorText`), then `[DONE]`. Comment lines (`: ping`) may come while the model has not started.

With the `X-Conversation-Id` header (a personal API key only; useChat's transport `headers` option), the last UI
message is appended to that stored conversation and the reply is produced and saved by the chat runtime, as with
`/api/chat`'s `conversation_id`; the `start` chunk's `messageId` is then the stored reply's id. The body's `id`
(useChat's own chat id) is not a conversation id."""

_ERRORS = {400: 'The body is not valid JSON (`invalid_json`).',
           401: 'Missing, unknown or revoked API key.',
           403: 'The API is disabled (no personal keys, no API_TOKENS); or `X-Conversation-Id` was sent without a '
                'personal API key (`personal_key_required`).',
           404: 'With `X-Conversation-Id`: no conversation with this id among the key owner\'s '
                '(`conversation_not_found`).',
           409: 'With `X-Conversation-Id`: a reply is still streaming in that conversation (`busy`).',
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
               metering: Metering | None = None, *, chats: Chats | None = None) -> None:
    """Add the AI SDK route to `router`, bound to one settings object and one upstream; with `chats`, a request
    with `X-Conversation-Id` continues that stored conversation."""
    metering = metering or Metering()
    bearer = HTTPBearer(auto_error=False, description='A personal API key (nck_...) or a token from API_TOKENS.')
    responses: dict[int | str, dict[str, Any]] = {200: {'description': 'The UI message stream', 'content': {
        'text/event-stream': {'schema': sse_event_schema('A UI message chunk as JSON, then [DONE].')}}}}
    for status, text in _ERRORS.items():
        responses[status] = {'description': text, 'content': {'application/json': {'schema': _ERROR_SCHEMA}}}
    body_doc: dict[str, Any] = {'requestBody': {'required': True, 'content': {'application/json': {
        'schema': _BODY_SCHEMA}}}}
    if chats is not None:
        body_doc['parameters'] = [HEADER_DOC]

    @router.post('/api/ui-chat', status_code=200, summary='Stream a chat reply for the AI SDK (useChat)',
                 description=DESCRIPTION, tags=['AI SDK'], response_class=HeldResponse, response_model=None,
                 responses=responses, openapi_extra=body_doc, dependencies=[Depends(bearer)])
    async def ui_chat(request: Request) -> Response:
        """Stream the reply to a useChat conversation as UI message chunks."""
        try:
            caller = await access.caller(request)
            body = await read_json(request, settings.max_request_bytes)
            messages, model = ui_stream.parse_ui_request(body, settings)
            if (conversation_id := request.headers.get(HEADER)) is not None:
                if chats is None:
                    raise ChatError('conversations_unavailable', 'This server does not store conversations.', 503)
                given = model if body.get('model') is not None else None  # else the conversation's own model
                meter, follower = await metered_append(metering, chats, caller, conversation_id, messages,
                                                       model=given, params={})
                return HeldResponse(counted_frames(ui_frames(follower, settings.ping_interval), meter, follower),
                                    media_type='text/event-stream', headers=ui_stream.HEADERS,
                                    before=ChatError.to_response, after=ui_stream.error_frame)
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
        await meter.settle()  # counted before the client has the end of the reply
        yield Last(writer.finish(reply.finish_reason))
