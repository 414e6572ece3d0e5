"""OpenAI-compatible routes: `POST /v1/chat/completions` (streamed or whole) and `GET /v1/models`.

Any OpenAI client (the official SDKs, LangChain, the AI SDK's openai-compatible provider) can point its base URL at
`<this app>/v1` with a token of this app as its API key; the model server's key stays on this server.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import Enum
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from starlette.requests import ClientDisconnect

from ...chat.chats import Chats
from ...config import Settings
from ...errors import ChatError
from ...upstream import Upstream
from ..access import Access
from ..body import read_body
from ..conversations.turns import counted_frames, metered_append
from ..held_response import HeldResponse, Last, first_batch
from ..metering import Meter, Metering
from . import conversation as stored
from . import protocol as wire
from .protocol import OpenAIError, from_chat_error
from .request import CompletionRequest, parse_completion_request
from .schema import COMPLETIONS_DESCRIPTION, MODELS_DESCRIPTION, request_schema, responses

SSE_HEADERS = {'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'}


def add_routes(router: APIRouter, settings: Settings, upstream: Upstream, access: Access, *,
               chats: Chats | None = None, metering: Metering | None = None) -> None:
    """Add the OpenAI-compatible routes to `router`, bound to one settings object and one upstream; with `chats`,
    a request with `X-Conversation-Id` continues that stored conversation."""
    metering = metering or Metering()
    tags: list[str | Enum] = ['OpenAI-compatible']
    # Declared for the docs' "Authorize" button; `authorize` does the actual check.
    bearer = HTTPBearer(auto_error=False, description='A personal API key (nck_...) or a token from API_TOKENS.')
    body_doc: dict[str, Any] = {'requestBody': {'required': True, 'content': {'application/json': {
        'schema': request_schema(settings)}}}}
    if chats is not None:
        body_doc['parameters'] = [stored.HEADER_DOC]

    @router.post('/v1/chat/completions', status_code=200, summary='Chat completion (OpenAI-compatible)',
                 description=COMPLETIONS_DESCRIPTION, tags=tags, response_class=HeldResponse,
                 response_model=None, responses=responses(streamed=True), openapi_extra=body_doc,
                 dependencies=[Depends(bearer)])
    async def chat_completions(request: Request) -> Response:
        """Answer like OpenAI's endpoint: SSE chunks with `"stream": true`, else one chat.completion object."""
        try:
            caller = await access.caller(request)
            body = await read_body(request, settings.max_request_bytes)
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError:
                raise OpenAIError(400, 'We could not parse the JSON body of your request.', code='invalid_json') \
                    from None
            completion = parse_completion_request(data, settings)
            if (conversation_id := request.headers.get(stored.HEADER)) is not None:
                if chats is None:
                    raise ChatError('conversations_unavailable', 'This server does not store conversations.', 503)
                stored.check(completion)
                model = completion.model if isinstance(data, dict) and data.get('model') is not None else None
                meter, follower = await metered_append(metering, chats, caller, conversation_id,
                                                       completion.messages, model=model, params=completion.params)
                frames = counted_frames(stored.stream_frames(follower, completion, settings.ping_interval)
                                        if completion.stream else stored.whole_frames(follower, completion),
                                        meter, follower)
                return HeldResponse(frames, media_type='text/event-stream' if completion.stream else
                                    'application/json', headers=SSE_HEADERS if completion.stream else {},
                                    before=_error_response, after=_error_event)
        except ChatError as error:
            return from_chat_error(error).to_response()
        except OpenAIError as error:
            return error.to_response()
        except ClientDisconnect:  # gone mid-upload: nobody is left to answer
            return Response(status_code=400)
        meter = metering.meter(caller)
        if completion.stream:
            return HeldResponse(stream_chunks(upstream, completion, settings.ping_interval, meter),
                                media_type='text/event-stream', headers=SSE_HEADERS, before=_error_response,
                                after=_error_event)
        return HeldResponse(whole_completion(upstream, completion, meter), media_type='application/json', headers={},
                            before=_error_response, after=_error_event)

    @router.get('/v1/models', summary='List the models (OpenAI-compatible)', description=MODELS_DESCRIPTION,
                tags=tags, responses=responses(streamed=False), dependencies=[Depends(bearer)])
    async def models(request: Request) -> Response:
        """The models a client may ask for: ALLOWED_MODELS, the default first; with `*`, the model server's list."""
        try:
            await access.caller(request)
            models = await upstream.models() if settings.any_model else settings.models
        except ChatError as error:
            return from_chat_error(error).to_response()
        return JSONResponse(wire.model_list(models))


async def stream_chunks(upstream: Upstream, completion: CompletionRequest, ping_interval: float,
                        meter: Meter | None = None) -> AsyncGenerator[bytes]:
    """The SSE events of one streamed completion: the role chunk once the model server answered, pings until the
    first token, a write per upstream read, then the finish reason, the usage if asked for, and `[DONE]`."""
    async with (meter or Meter() as meter,
                upstream.stream(completion.messages, model=completion.model, **completion.params) as reply):
        reply.with_tool_calls = True
        meter.reply = reply
        encoder = wire.ChunkEncoder(completion.model)
        yield encoder.role()
        batches = reply.batches()
        try:
            async for batch in first_batch(batches, ping_interval):
                meter.add(batch)
                yield encoder.batch(batch) if batch else wire.PING
            async for batch in batches:
                meter.add(batch)
                yield encoder.batch(batch)
        finally:
            await batches.aclose()
        # [DONE] goes out before the upstream response is read to its end and closed: the client is done now.
        await meter.settle()  # counted before the client has the end of the reply
        yield Last(encoder.finish(reply.finish_reason, reply.usage, completion.include_usage))


async def whole_completion(upstream: Upstream, completion: CompletionRequest,
                           meter: Meter | None = None) -> AsyncGenerator[bytes]:
    """One chat.completion object, built from the upstream's stream (a client that leaves still stops it)."""
    async with (meter or Meter() as meter,
                upstream.stream(completion.messages, model=completion.model, **completion.params) as reply):
        reply.with_tool_calls = True
        meter.reply = reply
        content: list[str] = []
        reasoning: list[str] = []
        calls = wire.ToolCalls()
        async for batch in reply.batches():
            meter.add(batch)
            for kind, text in batch:
                if kind == 'content':
                    content.append(text)
                elif kind == 'reasoning':
                    reasoning.append(text)
                else:
                    calls.add(orjson.loads(text))
        await meter.settle()  # counted before the client has the end of the reply
        yield Last(orjson.dumps(wire.completion(completion.model, ''.join(content), ''.join(reasoning),
                                                calls.result(), reply.finish_reason, reply.usage)))


def _error_response(error: ChatError) -> Response:
    return from_chat_error(error).to_response()


def _error_event(error: ChatError) -> bytes:
    return from_chat_error(error).event()
