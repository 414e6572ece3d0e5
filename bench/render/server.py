"""The app under test: one page per run, streaming a scripted reply into a naive `ui.markdown` or into ours.

Run by `python -m bench.render` as a subprocess (so its CPU time can be read from /proc); not for use on its own.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import wsproto
from nicegui import app, ui

from bench.render.reply import SENTINEL, deltas, reply_text, words
from components.streaming_markdown import StreamingMarkdown

# What the browser records: after every DOM change in the message, the time and how many `wN` words it shows;
# and when the final form is on screen (our element's data-done, or the naive one showing the last sentence).
WATCH_JS = '''
window.bench = {log: [], doneAt: null};
const target = document.querySelector('.bench-target');
new MutationObserver(() => {
  const text = target.textContent;
  bench.log.push([Date.now(), (text.match(/\\bw\\d+\\b/g) || []).length]);
  if (bench.doneAt === null && (target.querySelector('[data-done]') || (NAIVE && text.includes(SENTINEL)))) {
    bench.doneAt = Date.now();
  }
}).observe(target, {subtree: true, childList: true, characterData: true, attributes: true});
'''
results: dict[str, object] = {}
wire = {'bytes': 0}  # websocket bytes on the wire: frames as sent, after permessage-deflate compression
_send = wsproto.WSConnection.send


def _counting_send(self: wsproto.WSConnection, event: Any) -> bytes:
    data = _send(self, event)
    wire['bytes'] += len(data)
    return data


wsproto.WSConnection.send = _counting_send  # type: ignore[method-assign]  # uvicorn's wsproto server sends here


def script(reply: str) -> list[str]:
    """Deltas for `reply`: `words:N` (plain words, for per-delta latency) or a size in KB of markdown."""
    return words(int(reply.split(':')[1])) if reply.startswith('words:') else deltas(reply_text(float(reply)))


@ui.page('/')
async def page(kind: str, reply: str, pace: float) -> None:
    """kind: `naive` (ui.markdown, set per delta), `ours` (StreamingMarkdown), or `none` (the upstream alone:
    deltas are only collected, and the whole text is shown at the end)."""
    pieces = script(reply)
    with ui.element().classes('bench-target w-full max-w-3xl'):
        target = ui.markdown() if kind == 'naive' else StreamingMarkdown()

    def show(piece: str, content: str) -> None:
        if kind == 'naive':
            target.set_content(content)  # type: ignore[union-attr]
        elif kind == 'ours':
            target.append(piece)  # type: ignore[union-attr]

    async def stream() -> None:
        results.clear()
        results.update(submitted=time.time(), wire_start=wire['bytes'])
        start, content, arrivals = time.monotonic(), '', []
        for i, piece in enumerate(pieces):
            due = start + (i + 1) * pace  # the upstream's schedule: a late loop does not slow the upstream down
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            arrivals.append(time.time() - (time.monotonic() - due))  # wall time the delta reached the server
            content += piece
            show(piece, content)
        if isinstance(target, StreamingMarkdown):
            if kind == 'none':
                target.append(content)
            target.finish()
        results.update(arrivals=arrivals, chars=len(content), bytes=len(content.encode()), deltas=len(pieces))

    ui.button('Start', on_click=stream).mark('start')
    await ui.context.client.connected()
    ui.run_javascript(WATCH_JS.replace('NAIVE', 'true' if kind == 'naive' else 'false')
                      .replace('SENTINEL', json.dumps(SENTINEL)))


@app.get('/result')
def result() -> dict[str, object]:
    """What the server recorded for the last run."""
    return {**results, 'wire_bytes': wire['bytes'] - int(results.get('wire_start', 0))}  # type: ignore[call-overload]


ui.run(port=int(sys.argv[1]), show=False, reload=False, title='render bench', show_welcome_message=False,
       access_log=False, uvicorn_logging_level='warning')
