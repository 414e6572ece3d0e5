"""Reading a request body under a size limit, and as JSON."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from ..errors import ChatError


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



async def read_json(request: Request, limit: int) -> Any:
    """The body decoded as JSON: 413 past `limit` bytes, 400 (`invalid_json`) when it is not JSON."""
    body = await read_body(request, limit)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ChatError('invalid_json', 'The body is not valid JSON.', 400) from None
