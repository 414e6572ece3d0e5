"""Markdown that grows while it streams: the server ships only new text; the browser renders it incrementally.

Each send is `append(offset, text)`, where `offset` is how much text the browser had been sent before it. The
browser ignores what it already has and asks for a resync when it sees a gap, so replayed messages after a socket
drop, calls dropped before mount, or a remount can neither duplicate nor lose text.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import events, json, ui

from .coalescer import Coalescer


class StreamingMarkdown(ui.element, component='streaming_markdown.js',
                        dependencies=['vendor/nicechat-markdown.js']):
    """Markdown rendered in the browser; `append` adds text (sent coalesced), `finish` renders the final form."""

    def __init__(self, text: str = '', *, streaming: bool = True) -> None:
        super().__init__()
        self._props['text'] = text
        self._props['streaming'] = streaming
        self._shipped = text  # all text sent to the browser, in order: what a resync answers from
        self._coalescer = Coalescer()
        self._loop: asyncio.AbstractEventLoop | None = None  # cached: get_running_loop() costs a getpid() call
        self._timer: asyncio.Handle | None = None  # the one scheduled send (uvloop's handles have no .when())
        self._timer_due = 0.0
        self._finished = not streaming
        self.on('resync', self._resync)

    @property
    def text(self) -> str:
        """All text appended so far, sent or still buffered."""
        return self._shipped + self._coalescer.peek()

    def append(self, text: str) -> None:
        """Add `text` at the end; it reaches the browser with the next coalesced send."""
        loop = self._loop or self._running_loop()
        now = loop.time()
        due = self._coalescer.add(text, now)
        if due is None or (self._timer is not None and self._timer_due <= due):
            return  # the usual case: the batch's timer is already set for this time or earlier
        if due <= now:
            self._send()  # due already (a batch just filled up): send in this wakeup, no timer needed
            return
        if self._timer is not None:
            self._timer.cancel()  # at most once per batch: it filled up before its age limit
        self._timer = loop.call_at(due, self._send)
        self._timer_due = due

    def finish(self) -> None:
        """Send what is buffered now and let the browser render the final form."""
        if self._finished:
            return
        self._send()
        self._finished = True
        with self._props.suspend_updates():  # a remount after this starts from the full text, already final
            self._props['text'] = self._shipped
            self._props['streaming'] = False
        self._call('finish', len(self._shipped))

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.is_deleted:
            return
        text = self._coalescer.take((self._loop or self._running_loop()).time())
        if text:
            self._call('append', len(self._shipped), text)
            self._shipped += text

    def _call(self, name: str, *args: Any) -> None:
        """Run a method of the browser element, fire and forget, in order with the page's other updates.

        This is what `run_method` does when not awaited, minus what only an awaited call needs: `run_method` makes a
        request id, an AwaitableResponse and a background task per call, which at ~12 sends a second was a large
        part of our server CPU. The message goes through the same outbox, so it keeps its place among the page's
        updates and is replayed after a short socket drop like any other.
        """
        client = self.client
        if self.is_deleted or client.is_deleted:
            return
        code = f'return runMethod({self.id},{json.dumps(name)},{json.dumps(args)})'
        client.outbox.enqueue_message('run_javascript', {'code': code}, client.id)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        self._loop = asyncio.get_running_loop()
        return self._loop

    def _resync(self, event: events.GenericEventArguments) -> None:
        """The browser has only `event.args` characters: send it the rest."""
        self._send()
        have = min(max(int(event.args), 0), len(self._shipped))
        self._call('append', have, self._shipped[have:])
        if self._finished:
            self._call('finish', len(self._shipped))

    def _displayed_contents(self, *, only_visible: bool = False) -> list[object]:
        return [self.text]  # what ElementFilter (and the `user` fixture's should_see) match against

    def _handle_delete(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super()._handle_delete()
