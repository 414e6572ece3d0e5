"""Markdown that grows while it streams: the server ships only new text; the browser renders it incrementally.

Each send is `append(offset, text)`, where `offset` is how much text the browser had been sent before it, counted
as the browser's strings count (UTF-16 code units: an emoji is 2, not 1 as in Python). The browser ignores what it
already has and asks for a resync when it sees a gap, so replayed messages after a socket drop, calls dropped
before mount, or a remount can neither duplicate nor lose text.

A send is one socket message, up to ~12 a second per message at LLM pace, where its envelope, not the text, is most
of the bytes. So it is the shortest call NiceGUI's outbox can carry (see APPEND_FUNCTION and js_string).
"""

from __future__ import annotations

import asyncio
import logging
import math
from json.encoder import encode_basestring, encode_basestring_ascii  # what json.dumps(str) calls: C functions

from nicegui import events, ui

from .coalescer import Coalescer
from .loop_load import loop_load

log = logging.getLogger(__name__)

# The browser function that appends text to an element (defined in streaming_markdown.js): sent as the JavaScript
# `__nc(id,offset,'text')`, ~40 bytes less per send than `run_method('append', ...)`'s `return runMethod(...)`.
APPEND_FUNCTION = '__nc'

# Fewest seconds between two resync answers for one message. A browser asks once per gap it finds (rarely: a call
# lost before mount or in a socket drop); a script asking in a loop gets the text resent once a second at most.
RESYNC_INTERVAL = 1.0


class StreamingMarkdown(ui.element, component='streaming_markdown.js',
                        dependencies=['vendor/nicechat-markdown.js']):
    """Markdown rendered in the browser; `append` adds text (sent coalesced), `finish` renders the final form."""

    def __init__(self, text: str = '', *, streaming: bool = True) -> None:
        super().__init__()
        self._props['text'] = text
        self._props['streaming'] = streaming
        self._shipped = text  # all text sent to the browser, in order: what a resync answers from
        self._shipped_units = utf16_length(text)  # its length in the browser (what offsets count)
        self._coalescer = Coalescer()
        self._timer: asyncio.Handle | None = None  # the scheduled send (uvloop's handles have no .when())
        self._timer_due = 0.0
        self._finished = not streaming
        self._resync_from: int | None = None  # smallest offset asked for and not yet answered
        self._resync_timer: asyncio.TimerHandle | None = None
        self._resynced_at = -math.inf
        self._warned = False  # about a bad resync offset: once per message, so junk cannot flood the log
        self.on('resync', self._resync)

    @property
    def text(self) -> str:
        """All text appended so far, sent or still buffered."""
        return self._shipped + self._coalescer.peek()

    def append(self, text: str) -> None:
        """Add `text` at the end; it reaches the browser with the next coalesced send.

        The hottest call of a stream (once per delta per tab: a conversation's views hand deltas straight here, see
        `ChatPage.sink`): mostly a list append, as the batch's send is set by its first delta (or the one that fills
        it) and the coalescer says None for the others.
        """
        loop = asyncio.get_running_loop()
        due = self._coalescer.add(text, loop.time(), loop_load.age)
        if due is None or (self._timer is not None and self._timer_due <= due):
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(due, self._timer_fired)
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
        self.run_method('finish', self._shipped_units)

    def _timer_fired(self) -> None:
        loop_load.timer_ran(self._timer_due, asyncio.get_running_loop().time())  # how late the loop runs timers
        self._send()

    def _send(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.is_deleted:
            return
        text = self._coalescer.take(asyncio.get_running_loop().time())
        if text:
            self._append(self._shipped_units, text)
            self._shipped += text
            self._shipped_units += utf16_length(text)

    def _append(self, offset: int, text: str) -> None:
        """Call the browser element's `append(offset, text)`, through the client's outbox like `run_method`.

        Straight into the outbox, as `run_javascript`'s fire-and-forget path does one loop iteration later: that path
        makes a request id (uuid4), an AwaitableResponse and a task per call, ~10% of the server's time per streamed
        delta with hundreds of tabs streaming (bench/page_load). Same message, same order, same replay.
        The element's own deletion is checked by the callers; the client's is checked here as
        `_is_safe_to_interact` does (silently), without its calls: ~1.5% of the busy loop at 400 tabs.
        """
        client = self._client()
        if client is not None and not client._deleted:
            client.outbox.enqueue_message('run_javascript',
                                          {'code': f'{APPEND_FUNCTION}({self.id},{offset},{js_string(text)})'},
                                          client.id)

    def _resync(self, event: events.GenericEventArguments) -> None:
        """The browser has only `event.args` code units: send it the rest, at most once per RESYNC_INTERVAL."""
        have = event.args
        if type(have) is not int or not 0 <= have <= self._shipped_units:  # bool is an int: excluded too
            if not self._warned:
                log.warning('Ignored a resync with a bad offset (%s) from a browser', type(have).__name__)
                self._warned = True
            return
        self._resync_from = have if self._resync_from is None else min(have, self._resync_from)
        if self._resync_timer is not None:
            return  # an answer is already due; it covers this request too
        loop = asyncio.get_running_loop()
        due = self._resynced_at + RESYNC_INTERVAL
        if due <= loop.time():
            self._answer_resync()
        else:
            self._resync_timer = loop.call_at(due, self._answer_resync)

    def _answer_resync(self) -> None:
        self._resync_timer = None
        if self.is_deleted or self._resync_from is None:
            return
        have, self._resync_from = self._resync_from, None
        self._resynced_at = asyncio.get_running_loop().time()
        self._send()
        units = self._shipped.encode('utf-16-le', 'surrogatepass')
        self._append(have, units[2 * have:].decode('utf-16-le', 'surrogatepass'))
        if self._finished:
            self.run_method('finish', self._shipped_units)

    def _displayed_contents(self, *, only_visible: bool = False) -> list[object]:
        return [self.text]  # what ElementFilter (and the `user` fixture's should_see) match against

    def _handle_delete(self) -> None:
        for timer in (self._timer, self._resync_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._resync_timer = None
        super()._handle_delete()


def utf16_length(text: str) -> int:
    """The length of `text` as JavaScript counts it, in UTF-16 code units."""
    if text.isascii():  # most streamed text: its length, without encoding it
        return len(text)
    return len(text.encode('utf-16-le', 'surrogatepass')) // 2


def js_string(text: str) -> str:
    """`text` as a single-quoted JavaScript string literal, as short as it can be once the outbox JSON-encodes it.

    Non-ASCII stays UTF-8 (a \\uXXXX escape is 6 bytes for 2-4), and the quotes are ' rather than ", which the
    outbox's JSON would escape again (4 bytes a message; a " in the text then costs 2 bytes instead of 4).
    """
    body = encode_basestring(text)[1:-1]  # the C function json.dumps calls, without making a JSONEncoder each time
    if not text.isascii():
        try:
            body.encode()
        except UnicodeEncodeError:  # a lone surrogate cannot go out as UTF-8: escape everything, as JSON does
            body = encode_basestring_ascii(text)[1:-1]
    # JSON escapes are JavaScript escapes too; a " needs none between ' quotes (JSON never leaves a bare " behind a
    # backslash of its own, so every \" here is an escaped quote), and a ' needs one.
    if '"' in text:
        body = body.replace('\\"', '"')
    if "'" in text:
        body = body.replace("'", "\\'")
    return "'" + body + "'"
