"""The rule for an image a client sends for the model, as `POST /api/chat` applies it (validation.py)."""

from __future__ import annotations

import base64

from ..store.images import FORMATS, sniff


def image_url_problem(url: str, max_bytes: int) -> str | None:
    """What is wrong with an image URL, or None: an https URL (the model server fetches it) or a base64 data URL of
    a PNG, JPEG, WebP or GIF of at most `max_bytes` (MAX_IMAGE_BYTES)."""
    if url.startswith('https://'):
        return None
    head, _, data = url.partition(',')
    if not head.startswith('data:image/') or not head.endswith(';base64'):
        return 'must be a data:image/...;base64, URL or an https URL'
    if len(data) * 3 // 4 > max_bytes + 3:  # refused before decoding a large one
        return f'holds an image larger than the limit of {max_bytes:,} bytes (MAX_IMAGE_BYTES)'
    try:
        decoded = base64.b64decode(data, validate=True)
    except ValueError:
        return 'is not valid base64'
    if len(decoded) > max_bytes or sniff(decoded) is None:
        return f'does not hold a {FORMATS} image of at most {max_bytes:,} bytes'
    return None
