"""Where the server's event loop spends its time while streaming, from the sampler's stacks (bench/page_load/launch.py).

A sample is *idle* when the loop thread is waiting in the loop itself (its stack is only the runner). Busy samples
are shared out two ways: by the parts of the send path they pass through (a sample counts for every part it is
inside of), and by the function on top of the stack (self time).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

# Parts of the path a streamed delta takes, each known by a frame (`file:function`, matched as a substring).
PARTS = (
    ('upstream read + parse (app/upstream, openai, httpx2)', ('app/upstream/', 'openai/', 'httpx2/', 'httpcore')),
    ('conversation turn (app/chat)', ('app/chat/',)),
    ('page: StreamingMarkdown.append/_send + coalescer', ('components/streaming_markdown.py',
                                                          'components/coalescer.py')),
    ('page: run_javascript / run_method + AwaitableResponse', ('nicegui/client.py:run_javascript',
                                                              'nicegui/awaitable_response.py')),
    ('NiceGUI outbox loop', ('nicegui/outbox.py:loop',)),
    ('  of which socket.io emit', ('socketio/async_server.py:emit',)),
    ('engine.io socket send/writer', ('engineio/async_socket.py', 'engineio/async_drivers')),
    ('uvicorn wsproto (frames, deflate)', ('uvicorn/protocols/websockets/', 'wsproto/')),
    ('frames written straight to the websocket (app/web/socket_frames.py)', ('web/socket_frames.py:send',)),
    ('socket events from tabs (handle_event)', ('nicegui/nicegui.py:_on_event', 'nicegui/client.py:handle_event')),
    ('store (app/store, sqlalchemy)', ('app/store/', 'sqlalchemy/', 'aiosqlite/')),
    ('page builds (app/web, components/chat)', ('app/web/pages.py', 'components/chat.py:__init__')),
)
# Frames that mean the loop thread is waiting, not working.
IDLE = ('asyncio/runners.py', 'uvloop/__init__.py', 'asyncio/base_events.py:run_forever',
        'asyncio/base_events.py:run_until_complete', 'selectors.py:select')


def summary(stacks: list[tuple[list[str], int]]) -> dict[str, Any]:
    """Shares of the samples: idle, each part of the path (inclusive), the top functions (self and inclusive)."""
    total = sum(count for _, count in stacks)
    busy = 0
    parts: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in stacks:
        if not stack or any(stack[-1].startswith(frame) or frame in stack[-1] for frame in IDLE):
            continue
        busy += count
        own[stack[-1]] += count
        for frame in set(stack):
            inclusive[frame] += count
        for name, markers in PARTS:
            if any(marker in frame for frame in stack for marker in markers):
                parts[name] += count
    share = (lambda n: round(100 * n / busy, 1)) if busy else (lambda n: 0.0)
    return {'samples': total, 'busy_share': round(100 * busy / total, 1) if total else 0.0,
            'parts_pct_of_busy': {name: share(parts[name]) for name, _ in PARTS},
            'top_self_pct': [(frame, share(n)) for frame, n in own.most_common(15)],
            'top_inclusive_pct': [(frame, share(n)) for frame, n in inclusive.most_common(30)]}


def render(data: dict[str, Any]) -> str:
    """The summary as text."""
    lines = [f'  profile: {data["samples"]} samples, loop busy in {data["busy_share"]}%; of busy samples:']
    lines += [f'    {pct:5.1f}%  {name}' for name, pct in data['parts_pct_of_busy'].items()]
    lines.append('  top functions (self):')
    lines += [f'    {pct:5.1f}%  {frame}' for frame, pct in data['top_self_pct']]
    lines.append('  top functions (inclusive):')
    lines += [f'    {pct:5.1f}%  {frame}' for frame, pct in data['top_inclusive_pct']]
    return '\n'.join(lines)
