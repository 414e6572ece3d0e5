"""OpenAPI pieces of the conversation routes: their answers' JSON schemas and documented errors."""

from __future__ import annotations

from typing import Any

from .. import protocol

ERROR_SCHEMA = {'type': 'object', 'required': ['error'], 'properties': {'error': {
    'type': 'object', 'required': ['code', 'message'],
    'properties': {'code': {'type': 'string'}, 'message': {'type': 'string'}}}}}
_TEXT = {'type': 'string'}
_MAYBE_TEXT = {'type': ['string', 'null']}
_ID = {'type': 'string', 'pattern': '^[0-9a-f]{32}$'}
SUMMARY = {'type': 'object', 'required': ['id', 'title', 'updated_at'], 'properties': {
    'id': _ID, 'title': _TEXT, 'updated_at': {'type': 'string', 'format': 'date-time'}}}
LIST = {'type': 'object', 'required': ['data', 'next_cursor'], 'properties': {
    'data': {'type': 'array', 'items': SUMMARY},
    'next_cursor': {**_MAYBE_TEXT, 'description': 'Pass as `cursor` for the next page; null on the last.'}}}
MESSAGE = {'type': 'object', 'properties': {
    'id': _ID, 'parent_id': {'type': ['string', 'null']}, 'role': {'enum': ['system', 'user', 'assistant']},
    'content': _TEXT, 'reasoning': _TEXT,
    'status': {'enum': ['complete', 'streaming', 'stopped', 'failed', 'interrupted']}, 'error': _MAYBE_TEXT,
    'model': _MAYBE_TEXT, 'finish_reason': _MAYBE_TEXT, 'usage': {'type': ['object', 'null']},
    'timing': {'type': ['object', 'null']},
    'attachments': {'type': 'array', 'items': {'type': 'object'}, 'description': 'Images: {id, mime, size}.'}}}
CONVERSATION = {'type': 'object', 'required': ['id', 'title', 'model', 'messages', 'next_before'], 'properties': {
    'id': _ID, 'title': _TEXT, 'model': _TEXT, 'system_prompt': _MAYBE_TEXT,
    'streaming': {'type': 'boolean', 'description': 'A reply is being streamed (follow it at `/stream`).'},
    'messages': {'type': 'array', 'items': MESSAGE, 'description': 'Oldest first: the branch the page shows.'},
    'next_before': {**_MAYBE_TEXT, 'description': 'Pass as `before` for the earlier page; null at the start.'}}}
STOPPED = {'type': 'object', 'required': ['stopped'], 'properties': {'stopped': {'type': 'boolean'}}}
CREATE_BODY = {'type': 'object', 'additionalProperties': False, 'properties': {
    'title': {'type': 'string', 'minLength': 1, 'maxLength': 200},
    'model': {'type': 'string', 'description': 'One of ALLOWED_MODELS; default: the first.'},
    'system_prompt': {'type': 'string'}}, 'example': {'title': 'Nightly report'}}
_CHUNK_WITH_OFFSET = {'title': 'chunk', 'type': 'object', 'required': ['type', 'content', 'offset'],
                      'description': 'A piece of the reply\'s text; `offset` is the reply\'s length in characters '
                                     'once it is added: reconnect with it.',
                      'properties': {'type': {'const': 'chunk'}, 'content': _TEXT,
                                     'offset': {'type': 'integer', 'minimum': 0}}}
STREAM_LINES = {'oneOf': [_CHUNK_WITH_OFFSET if line['title'] == 'chunk' else line for line in protocol.LINE_SCHEMAS]}

COMMON = {401: 'Missing or unknown bearer token (`unauthorized`).',
          403: 'The token is not a personal API key (`personal_key_required`), or the API is disabled '
               '(`api_disabled`).'}
NOT_FOUND = {404: 'No conversation with this id among the key owner\'s (`conversation_not_found`); someone '
                  'else\'s reads the same.'}
INVALID = {422: 'A query parameter is out of range or not one this server handed out (`invalid_request`).'}


def responses(ok: str, schema: dict[str, Any], errors: dict[int, str], *, status: int = 200,
              streamed: bool = False) -> dict[int | str, dict[str, Any]]:
    """A route's documented answers: `ok` with `schema` (JSON, or stream lines), then each error in the API's JSON
    error shape."""
    content = ({protocol.NDJSON: {'schema': schema}, protocol.SSE: {'schema': schema}} if streamed else
               {'application/json': {'schema': schema}})
    documented: dict[int | str, dict[str, Any]] = {status: {'description': ok, 'content': content}}
    for code, text in {**COMMON, **errors}.items():
        documented[code] = {'description': text, 'content': {'application/json': {'schema': ERROR_SCHEMA}}}
    return documented
