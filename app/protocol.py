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
    return orjson.dumps(obj) + b'\n'


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
         timing: dict[str, float] | None = None) -> dict[str, Any]:
    """The last line of a successful stream."""
    return {'type': 'done', 'full_content': full_content, 'finish_reason': finish_reason, 'usage': usage,
            'timing': timing}


def error(code: str, message: str) -> dict[str, Any]:
    """The last line of a stream that failed after it began."""
    return {'type': 'error', 'error': {'code': code, 'message': message}}
