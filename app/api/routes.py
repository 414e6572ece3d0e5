"""HTTP routes of the raw streaming API: `POST /api/chat`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.requests import ClientDisconnect

from ..chat.chats import Chats
from ..config import Settings
from ..errors import ChatError
from ..upstream import Upstream
from . import protocol
from .access import Access
from .body import read_json
from .conversations import routes as conversation_routes
from .conversations.lines import reply_lines
from .conversations.turns import counted_frames, metered_append
from .metering import Metering
from .relay import Outlet, ReplyResponse, reply_events
from .validation import parse_request, request_schema

DESCRIPTION = """Streams the reply as NDJSON: one JSON object per line, each with a `type`.
With `Accept: text/event-stream` the same objects arrive as SSE events (`data: {...}` and a blank line).

Lines: `start` (optional, first), `ping` (only while no token has arrived), `reasoning`, `chunk`, then exactly one
of `done` or `error` last. **Clients must ignore line types they do not know**: new ones may be added.

The status line comes with the first token or ping: at most about 1 s after the request while the model server
has not answered. Errors before it are HTTP errors with a JSON body `{"error": {"code", "message"}}`; after it, a
failure is a final `error` line. See docs/api.md for the full contract.

With `conversation_id` (a personal API key only), the last message is appended to that stored conversation and the
reply is produced and saved by the chat runtime, as a page's is: it shows up in the owner's sidebar, an open tab
follows it, and it goes on if the client leaves (follow it again at `/api/conversations/{id}/stream`). The `start`
line's `id` is then the reply's id and `chunk` lines carry `offset`."""

# Methods the API answers itself, with a JSON 404 or 405, on paths it does not serve that way.
METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')
ERROR_SCHEMA = {'type': 'object', 'required': ['error'], 'properties': {'error': {
    'type': 'object', 'required': ['code', 'message'],
    'properties': {'code': {'type': 'string'}, 'message': {'type': 'string'}}}}}
ERRORS = {
    400: 'The body is not valid JSON (`invalid_json`).',
    401: 'Missing, unknown or revoked API key or token (`unauthorized`).',
    403: 'The API is disabled (`api_disabled`): a server that takes neither personal API keys nor API_TOKENS; or '
         '`conversation_id` was sent without a personal API key (`personal_key_required`).',
    413: 'The body exceeds MAX_REQUEST_BYTES (`body_too_large`); refused without reading it all.',
    404: 'With `conversation_id`: no conversation with this id among the key owner\'s (`conversation_not_found`).',
    409: 'With `conversation_id`: a reply is still streaming in that conversation (`busy`).',
    422: 'The JSON is not a valid chat request; the message names the field (`invalid_request`).',
    429: 'Refused by a limit, with `Retry-After`: API_RATE_LIMIT (`rate_limited`), API_TOKEN_QUOTA '
         '(`quota_exceeded`), API_MAX_STREAMS (`too_many_streams`); or the model server is rate limiting '
         '(`rate_limited`; its `Retry-After` is passed on when it sent one).',
    502: "The model server refused the server's credentials (`upstream_auth`), failed (`upstream_unavailable`), "
         'rejected the request (`upstream_rejected`), could not be reached (`upstream_unreachable`) or answered '
         'with something that is not an event stream (`bad_upstream_response`).',
    503: 'The server streams MAX_STREAMS replies already (`server_busy`), or cannot read its rate-limit counters '
         '(`limits_unavailable`), with `Retry-After`; or it is shutting down (`server_shutdown`).',
    504: 'The model server did not answer in time (`upstream_timeout`), or nothing accepted the connection '
         '(`upstream_unreachable`), when UPSTREAM_TIMEOUT is under 1 s.',
}


def _openapi_responses() -> dict[int | str, dict[str, Any]]:
    lines = {'oneOf': list(protocol.LINE_SCHEMAS)}
    responses: dict[int | str, dict[str, Any]] = {200: {
        'description': 'The reply as a stream of lines (NDJSON) or SSE events; each item is one of these objects.',
        'content': {protocol.NDJSON: {'schema': lines}, protocol.SSE: {'schema': protocol.sse_event_schema(
            'One line object as JSON (`data: {...}`).', lines)}}}}
    for status, text in ERRORS.items():
        responses[status] = {'description': text, 'content': {'application/json': {'schema': ERROR_SCHEMA}}}
    return responses


def create_router(settings: Settings, upstream: Upstream, access: Access | None = None, *,
                  chats: Chats | None = None, metering: Metering | None = None) -> APIRouter:
    """The API routes, bound to one settings object, one upstream, one authenticator and the limits and usage;
    with `chats`, the conversation routes too (and `conversation_id` on `/api/chat`)."""
    access = access or Access(settings)
    metering = metering or Metering()
    router = APIRouter()
    # The route reads the body itself (to refuse oversized ones early), so its schema is declared, not inferred.
    body_schema = {'schema': request_schema(settings)}
    body_doc = {'requestBody': {'required': True, 'content': {'application/json': body_schema}}}
    # Declared for the docs' "Authorize" button; `authorize` does the actual check.
    bearer = HTTPBearer(auto_error=False, description='A personal API key (nck_...) or a token from API_TOKENS.')

    @router.post('/api/chat', status_code=200, response_class=ReplyResponse, response_model=None,
                 summary='Stream a chat reply',
                 description=DESCRIPTION, responses=_openapi_responses(), openapi_extra=body_doc,
                 dependencies=[Depends(bearer)])
    async def chat(request: Request) -> Response:
        """Stream a chat completion as NDJSON lines (or SSE events with `Accept: text/event-stream`)."""
        try:
            caller = await access.caller(request)
            chat_request = parse_request(await read_json(request, settings.max_request_bytes), settings)
            if chat_request.conversation_id is not None:
                if chats is None:
                    raise ChatError('conversations_unavailable', 'This server does not store conversations.', 503)
                meter, follower = await metered_append(
                    metering, chats, caller, chat_request.conversation_id, chat_request.messages,
                    model=chat_request.model if chat_request.model_given else None, params=chat_request.params)
        except ChatError as error:
            return error.to_response()
        except ClientDisconnect:  # gone mid-upload: nobody is left to answer
            return Response(status_code=400)
        wants_sse = 'text/event-stream' in request.headers.get('accept', '')
        if chat_request.conversation_id is not None:
            return ReplyResponse(counted_frames(reply_lines(follower, settings.ping_interval), meter, follower),
                                 sse=wants_sse)
        outlet = Outlet()
        return ReplyResponse(reply_events(upstream, chat_request, settings.ping_interval, metering.meter(caller),
                                          outlet), sse=wants_sse, outlet=outlet)

    if chats is not None:  # before the catch-all below, which would answer their paths with a 404
        conversation_routes.add_routes(router, settings, chats, access)

    # Without these, an API path the router does not serve falls through to the page app, which answers with HTML
    # (GET /api/chat used to get the chat page with a 200): a program should get a JSON error it can read.
    @router.api_route('/api', methods=list(METHODS), include_in_schema=False)
    @router.api_route('/api/{path:path}', methods=list(METHODS), include_in_schema=False)
    async def not_served(request: Request) -> Response:
        """404 for an unknown API path, 405 with `Allow` for a known path asked with the wrong method."""
        path = '/api/' + request.path_params.get('path', '')
        allowed = sorted({method for route in router.routes if isinstance(route, APIRoute)
                          and route.path_regex.match(path) and route.endpoint is not not_served
                          for method in route.methods or ()})
        if not allowed:
            return ChatError('not_found', 'There is no API endpoint at this path; the API is POST /api/chat '
                             '(described at /docs).', 404).to_response()
        response = ChatError('method_not_allowed', f'This endpoint accepts only {", ".join(allowed)}.',
                             405).to_response()
        response.headers['Allow'] = ', '.join(allowed)
        return response

    return router

