"""Wire encoding of the reply stream: NDJSON lines or SSE events. Pure functions, no IO."""

from __future__ import annotations

from typing import Any

import orjson

NDJSON = 'application/x-ndjson'
SSE = 'text/event-stream'
# Headers that keep proxies (nginx, CDNs) and browsers from buffering or caching the stream.
STREAM_HEADERS = {'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no'}


def ndjson(obj: dict[str, Any]) -> bytes:
    """One object as one NDJSON line."""
    return orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE)


def sse(obj: dict[str, Any]) -> bytes:
    """One object as one SSE `data:` event."""
    return b'data: ' + orjson.dumps(obj) + b'\n\n'


def chunk(content: str) -> dict[str, Any]:
    """A piece of the reply's text, as the seed's client expects it."""
    return {'type': 'chunk', 'content': content}


def reasoning(content: str) -> dict[str, Any]:
    """A piece of the model's reasoning (servers that stream `reasoning_content`)."""
    return {'type': 'reasoning', 'content': content}


def start(reply_id: str, model: str) -> dict[str, Any]:
    """The first line: which request and model this stream is."""
    return {'type': 'start', 'id': reply_id, 'model': model}


def ping() -> dict[str, Any]:
    """A keep-alive line sent while waiting for the first token."""
    return {'type': 'ping'}


def done(full_content: str, *, finish_reason: str | None = None, usage: dict[str, int] | None = None,
         timing: dict[str, float | None] | None = None) -> dict[str, Any]:
    """The last line of a successful stream."""
    return {'type': 'done', 'full_content': full_content, 'finish_reason': finish_reason, 'usage': usage,
            'timing': timing}


def error(code: str, message: str) -> dict[str, Any]:
    """The last line of a stream that failed after it began."""
    return {'type': 'error', 'error': {'code': code, 'message': message}}


def _line(kind: str, description: str, **fields: dict[str, Any]) -> dict[str, Any]:
    properties = {'type': {'const': kind}, **fields}
    return {'title': kind, 'description': description, 'type': 'object', 'properties': properties,
            'required': list(properties)}


_TEXT = {'type': 'string'}
_COUNT = {'type': 'integer', 'minimum': 0}
_SECONDS = {'type': ['number', 'null'], 'minimum': 0}

# JSON schemas of the stream's line types, for the OpenAPI document; docs/api.md describes the same protocol.
LINE_SCHEMAS: tuple[dict[str, Any], ...] = (
    _line('start', 'First line: an id for this reply and the model answering.', id=_TEXT, model=_TEXT),
    _line('ping', 'Keep-alive while no token has arrived yet: after 1 s if the model server has not answered, and '
          'every PING_INTERVAL seconds (15 by default).'),
    _line('reasoning', "A piece of the model's reasoning, from servers that stream `reasoning_content` or "
          '`reasoning`; not part of the reply.', content=_TEXT),
    _line('chunk', "A piece of the reply's text, in order; the seed's client concatenates these.", content=_TEXT),
    _line('done', 'Last line of a complete reply.', full_content=_TEXT,
          finish_reason={'type': ['string', 'null'], 'description': 'stop, length, content_filter, ...'},
          usage={'type': ['object', 'null'], 'description': 'Token counts, when the model server reports them.',
                 'properties': {'prompt_tokens': _COUNT, 'completion_tokens': _COUNT, 'total_tokens': _COUNT}},
          timing={'type': 'object', 'description': 'Seconds from sending the request upstream to the first token '
                  '(null if none) and to the end.', 'properties': {'ttft_s': _SECONDS, 'total_s': _SECONDS}}),
    _line('error', 'Last line of a reply that failed after streaming began; the text so far is incomplete.',
          error={'type': 'object', 'properties': {'code': _TEXT, 'message': _TEXT}, 'required': ['code', 'message']}),
)


def sse_event_schema(description: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """OpenAPI schema of one SSE event, as OpenAPI 3.2 reads a 3.1 `schema` of text/event-stream (and schemathesis
    checks it): an object with the event's `data` text (JSON described by `data`, when given), and `event`/`id`."""
    text: dict[str, Any] = {'type': 'string', 'description': description}
    if data is not None:
        text |= {'contentMediaType': 'application/json', 'contentSchema': data}
    return {'type': 'object', 'required': ['data'], 'properties': {
        'data': text, 'event': {'type': 'string'}, 'id': {'type': 'string'}, 'retry': {'type': 'integer'}}}
