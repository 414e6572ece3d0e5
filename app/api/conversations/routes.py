"""The conversation routes: list, create and read the key owner's conversations, and follow a reply.

Every route acts for the person a personal API key belongs to (`Caller.owner_id`): an admin token or the open demo
API belongs to nobody and gets 403. Reading goes through the chat runtime, so a reply being streamed is read (and
followed) as it is in memory, not as last checkpointed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from starlette.requests import ClientDisconnect

from ...chat.chats import Chats
from ...chat.follow import Follower, reply_of
from ...config import Settings
from ...errors import ChatError
from ..access import Access
from ..body import read_json
from ..relay import ReplyResponse
from . import listing, schema
from .lines import reply_lines
from .turns import UNTITLED, open_owned, owner_of

TAGS: list[Any] = ['Conversations']
STREAM_DESCRIPTION = """NDJSON lines (SSE events with `Accept: text/event-stream`) of one reply, from character
`offset` of its text: what was produced so far, then live as it streams, then its `done` or `error` line. Without
`reply_id`, the reply on the end of the conversation (the one streaming, if any). The lines are those of
`POST /api/chat`; `chunk` lines also carry `offset` (the reply's length once that chunk is added). A client that
drops reconnects with the last `offset` it received (and the `reply_id` from the `start` line) and misses nothing
and gets nothing twice, on any server instance (with REDIS_URL: one that does not stream the reply follows it from
Redis, with the same offsets). `reasoning` lines come live only. Following never stops the reply."""


def _query(name: str, description: str, kind: dict[str, Any] | None = None) -> dict[str, Any]:
    return {'name': name, 'in': 'query', 'required': False, 'description': description,
            'schema': kind or {'type': 'string'}}


_LIMIT = _query('limit', f'Page size, 1 to {listing.MAX_LIMIT} (default {listing.DEFAULT_LIMIT}).',
                {'type': 'integer', 'minimum': 1, 'maximum': listing.MAX_LIMIT})


def add_routes(router: APIRouter, settings: Settings, chats: Chats, access: Access) -> None:
    """Add `/api/conversations` and its sub-routes to `router`."""
    bearer = HTTPBearer(auto_error=False, description='A personal API key (conversations are a person\'s own).')
    auth = [Depends(bearer)]

    @router.get('/api/conversations', summary='List your conversations', tags=TAGS, dependencies=auth,
                description='Newest activity first, the same list as the sidebar; keyset paging with `cursor`.',
                responses=schema.responses('A page of conversations.', schema.LIST, schema.INVALID),
                openapi_extra={'parameters': [_LIMIT, _query('cursor', '`next_cursor` of the page before.'),
                                              _query('q', 'Only conversations whose title or text holds this.')]})
    async def list_conversations(request: Request) -> Response:
        """A page of the key owner's conversations."""
        try:
            owner = owner_of(await access.caller(request))
            query = request.query_params
            limit = listing.limit_of(query.get('limit'))
            before = listing.parse_cursor(query['cursor']) if query.get('cursor') else None
            await chats.ready()
            search = listing.text_param(query.get('q'), 'q')
            found = await chats.conversations(owner, query=search, limit=limit + 1, before=before)
        except ChatError as error:
            return error.to_response()
        return JSONResponse(listing.conversations_page(found, limit))

    @router.post('/api/conversations', status_code=201, summary='Start a conversation', tags=TAGS,
                 dependencies=auth, description='An empty conversation of yours, shown in your sidebar; send its '
                 'turns to `POST /api/chat` with `conversation_id` (or `/v1/chat/completions` with the '
                 '`X-Conversation-Id` header).',
                 responses=schema.responses('The new conversation (no messages yet).', schema.CONVERSATION,
                                            {422: 'The body is not a valid request (`invalid_request`).'},
                                            status=201),
                 openapi_extra={'requestBody': {'required': False, 'content': {'application/json': {
                     'schema': schema.CREATE_BODY}}}})
    async def create_conversation(request: Request) -> Response:
        """Create an empty conversation of the key owner's."""
        try:
            owner = owner_of(await access.caller(request))
            body = await read_json(request, settings.max_request_bytes) if await _has_body(request) else {}
            title, model, prompt = _create_fields(body, settings)
            await chats.ready()
            conversation = await chats.create(owner, title=title, model=model, system_prompt=prompt)
        except ChatError as error:
            return error.to_response()
        except ClientDisconnect:
            return Response(status_code=400)
        return JSONResponse(listing.messages_page(conversation, 1, None), status_code=201)

    @router.get('/api/conversations/{conversation_id}', summary='Read a conversation', tags=TAGS,
                dependencies=auth, description='Its settings and the messages of the branch the page shows, '
                'oldest first, the last `limit` of them; `before` pages back.',
                responses=schema.responses('The conversation and a page of its messages.', schema.CONVERSATION,
                                           {**schema.NOT_FOUND, **schema.INVALID}),
                openapi_extra={'parameters': [_LIMIT, _query('before', '`next_before` of the page after.')]})
    async def read_conversation(request: Request, conversation_id: str) -> Response:
        """One of the key owner's conversations with a page of its messages."""
        try:
            limit = listing.limit_of(request.query_params.get('limit'))
            conversation = await open_owned(chats, access, request, conversation_id)
        except ChatError as error:
            return error.to_response()
        try:
            return JSONResponse(listing.messages_page(conversation, limit, request.query_params.get('before')))
        except ChatError as error:
            return error.to_response()
        finally:
            chats.release(conversation)  # read, not shown: the runtime need not hold it

    @router.get('/api/conversations/{conversation_id}/stream', status_code=200, summary='Follow a reply from an offset',
                tags=TAGS,
                dependencies=auth, description=STREAM_DESCRIPTION, response_class=ReplyResponse,
                response_model=None,
                responses=schema.responses('The reply as NDJSON lines or SSE events.', schema.STREAM_LINES,
                                           {**schema.NOT_FOUND, **schema.INVALID,
                                            409: 'Only with several server instances on one database and no '
                                                 'REDIS_URL: another instance is streaming that reply '
                                                 '(`streaming_elsewhere`). With REDIS_URL any instance follows it.',
                                            416: 'The offset is past the reply\'s text (`offset_out_of_range`).'},
                                           streamed=True),
                openapi_extra={'parameters': [
                    _query('offset', 'Characters of the reply already received (Unicode code points); default 0.',
                           {'type': 'integer', 'minimum': 0}),
                    _query('reply_id', 'The reply to follow (the `id` of the `start` line); default: the last.')]})
    async def follow_reply(request: Request, conversation_id: str) -> Response:
        """Stream one reply of the key owner's conversation from a character offset, then live."""
        try:
            offset = _offset(request.query_params.get('offset'))
            conversation = await open_owned(chats, access, request, conversation_id)
            try:
                reply = reply_of(conversation, request.query_params.get('reply_id') or None)
                if reply is None:
                    raise ChatError('reply_not_found', 'This conversation has no such reply (yet).', 404)
                follower = Follower(conversation, reply, offset)
            finally:
                chats.release(conversation)  # a follower holds it while it follows
        except ChatError as error:
            return error.to_response()
        wants_sse = 'text/event-stream' in request.headers.get('accept', '')
        return ReplyResponse(reply_lines(follower, settings.ping_interval), sse=wants_sse)

    @router.post('/api/conversations/{conversation_id}/stop', summary='Stop the reply being streamed', tags=TAGS,
                 dependencies=auth, description='As the page\'s Stop button: the reply ends as `stopped`, its text '
                 'so far kept, and the model server\'s request is closed, by whichever server instance streams it '
                 '(with REDIS_URL). (A client that disconnects does not stop a conversation\'s reply.)',
                 responses=schema.responses('Whether a reply was streaming (and is now stopped).', schema.STOPPED,
                                            schema.NOT_FOUND))
    async def stop_reply(request: Request, conversation_id: str) -> Response:
        """Stop the reply streaming in one of the key owner's conversations, if any."""
        try:
            conversation = await open_owned(chats, access, request, conversation_id)
        except ChatError as error:
            return error.to_response()
        try:
            streaming = conversation.busy
            conversation.stop()
            await conversation.wait()
        finally:
            chats.release(conversation)
        return JSONResponse({'stopped': streaming})


def _offset(value: str | None) -> int:
    if value is None:
        return 0
    if (offset := listing.whole_number(value)) is None:
        raise ChatError('invalid_request', '"offset" must be a whole number of characters, 0 or more.', 422)
    return offset


async def _has_body(request: Request) -> bool:
    return request.headers.get('content-length', '0') != '0' or 'chunked' in request.headers.get(
        'transfer-encoding', '')


def _create_fields(body: Any, settings: Settings) -> tuple[str, str | None, str | None]:
    if not isinstance(body, dict):
        raise ChatError('invalid_request', 'The body must be a JSON object (or empty).', 422)
    if unknown := sorted(set(body) - {'title', 'model', 'system_prompt'}):
        raise ChatError('invalid_request', f'Unknown field "{unknown[0]}"; accepted: title, model, system_prompt.',
                        422)
    title, model, prompt = body.get('title', UNTITLED), body.get('model'), body.get('system_prompt')
    if not isinstance(title, str) or not 1 <= len(' '.join(title.split())) <= 200:
        raise ChatError('invalid_request', '"title" must be text of 1 to 200 characters.', 422)
    if model is not None and (not isinstance(model, str) or (model not in settings.models and not
                                                             (settings.any_model and 0 < len(model) <= 200))):
        raise ChatError('invalid_request', f'"model" must be one of {", ".join(settings.models)}.', 422)
    if prompt is not None and not isinstance(prompt, str):
        raise ChatError('invalid_request', '"system_prompt" must be text.', 422)
    listing.text_param(title, 'title')
    listing.text_param(prompt, 'system_prompt')
    return ' '.join(title.split()), model, prompt
