"""The quiet line under a finished reply: time to first token, speed, token counts; or how far a cut reply got."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.chat.message import Message


def describe(message: Message) -> str:
    """E.g. '0.42 s to first token · 38 tokens/s · 12 → 230 tokens'; empty when nothing is known."""
    timing, usage = message.timing or {}, message.usage or {}
    parts = []
    ttft, total = timing.get('ttft_s'), timing.get('total_s')
    if ttft is not None:
        parts.append(f'{ttft:.2f} s to first token')
    completion = usage.get('completion_tokens')
    if completion and ttft is not None and total is not None and total > ttft:
        parts.append(f'{completion / (total - ttft):.0f} tokens/s')
    if completion is not None:
        parts.append(f'{usage.get("prompt_tokens", "?")} → {completion} tokens')
    if message.status in {'stopped', 'failed', 'interrupted'} and message.content:
        parts.append(f'{len(message.content):,} characters before it {_ended(message.status)}')
    return ' · '.join(parts)


def _ended(status: str) -> str:
    return {'stopped': 'was stopped', 'failed': 'failed', 'interrupted': 'was interrupted'}[status]
