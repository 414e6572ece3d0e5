"""One simulated browser tab on the chat page, speaking NiceGUI 3.18's socket.io protocol as nicegui.js does.

What a tab does, and the browser code it mirrors (nicegui/static/nicegui.js, templates/index.html):

- GET the page (keeping its cookie, as a browser would), and read what `createApp(parseElements(...), {query})`
  gets: the elements (to find the prompt box's listeners) and the socket query (`client_id`, `next_message_id`,
  `implicit_handshake`).
- Connect socket.io at `/_nicegui_ws/socket.io` (websocket) with that query plus `document_id`, `tab_id` (random
  UUIDs) and `old_tab_id=null`: the handshake is implicit, done by the server in `connect`.
- Handle what the server sends as the page's messageHandlers do: drop a message whose `_id` is below the next
  expected one, `update` replaces elements, `run_javascript` runs code. The code a streaming reply sends is
  `__nc(id,offset,'text')` (components/streaming_markdown.py) and `return runMethod(id, "finish", [total])`; both
  are applied as streaming_markdown.js applies them (text beyond what the tab has is appended, a gap asks for a
  resync with the `resync` event). `return runMethod(id, "updateValue", [])` on an input (the server cleared the
  prompt box) makes the input take its new value and, as it changed, emit it back (input.js). Every 3 s, an `ack`
  of the next message id, as the page does.
- Type: one `event` per keystroke with the prompt box's value so far (`update:value`, args `["\"...\""]`), then
  Enter: the box's `keydown` listener for `enter` (its js_handler calls `emit()`: args `[]`).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio

# The streaming element's two calls, as components/streaming_markdown.py sends them.
APPEND = re.compile(r"__nc\((\d+),(\d+),'(.*)'\)\Z", re.S)
FINISH = re.compile(r'return runMethod\((\d+), "finish", \[(\d+)\]\)\Z')
# The server set an input's value (`prompt.value = ''` after a send): the input takes it and, as it changed, emits it.
UPDATE_VALUE = re.compile(r'return runMethod\((\d+), "updateValue", \[\]\)\Z')
ELEMENTS = re.compile(r'parseElements\(String\.raw`(.*?)`\)', re.S)
QUERY = re.compile(r'query: (\{.*?\}),\n')
_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_SIMPLE_ESCAPES = {'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'f': '\f', '/': '/', '\\': '\\', "'": "'", '"': '"'}
# The page acks received messages this often (nicegui.js: setInterval(() => ack(), 3000)).
ACK_INTERVAL = 3.0
STREAMING_TAG = 'nicegui-streaming_markdown'


def js_string_value(body: str) -> str:
    """The text of a single-quoted JavaScript literal's body, as components/streaming_markdown.js_string wrote it."""
    def unescape(match: re.Match[str]) -> str:
        code = match[1]
        if code[0] == 'u' and len(code) == 5:
            return chr(int(code[1:], 16))
        return _SIMPLE_ESCAPES.get(code, code)
    text = _ESCAPE.sub(unescape, body)
    return text.encode('utf-16-le', 'surrogatepass').decode('utf-16-le', 'surrogatepass')  # joins escaped pairs


def utf16_units(text: str) -> int:
    """Length as JavaScript counts it."""
    return len(text.encode('utf-16-le', 'surrogatepass')) // 2


@dataclass
class Stream:
    """One streaming markdown element as the browser holds it: its text, counted in UTF-16 units like offsets."""

    source: str = ''
    units: int = 0
    total: int | None = None  # final length, once `finish` came
    resyncs: int = 0

    def append(self, offset: int, chunk: str) -> bool:
        """streaming_markdown.js's append: keep what is beyond what we have; False on a gap (resync needed)."""
        if offset > self.units:
            return False
        skip = self.units - offset
        encoded = chunk.encode('utf-16-le', 'surrogatepass')
        fresh = encoded[2 * skip:].decode('utf-16-le', 'surrogatepass')
        self.source += fresh
        self.units += max(0, len(encoded) // 2 - skip)
        return True

    @property
    def done(self) -> bool:
        return self.total is not None and self.units >= self.total


@dataclass
class Received:
    """What the tab saw: every socket message (time, event, payload), and the streams by element id."""

    messages: list[tuple[float, str, Any]] = field(default_factory=list)
    sent: list[tuple[float, str, Any]] = field(default_factory=list)
    streams: dict[int, Stream] = field(default_factory=dict)
    # (arrival time, element id, UTF-16 length of that element's text after the message)
    growth: list[tuple[float, int, int]] = field(default_factory=list)


class Tab:
    """A browser tab on `url`: `open()`, `send(prompt)`, `wait_reply()`, `close()`."""

    def __init__(self, url: str, http: aiohttp.ClientSession, *, record: bool = False, deflate: bool = True) -> None:
        self.url = url.rstrip('/')
        self.http = http  # one session per tab: its own cookie jar, i.e. its own browser (and person)
        self.record = record  # keep every message's payload (for the browser comparison); else only counts
        self.seen = Received()
        self.elements: dict[str, dict[str, Any]] = {}
        self.client_id = ''
        self.next_message_id = 0
        # Chromium offers `permessage-deflate; client_max_window_bits` on every websocket, and aiohttp's compress=15
        # offers exactly that (its default offers no extension): the server then compresses what it sends, as for a
        # browser (app/web/socket_frames.py: all but short messages).
        self.sio = socketio.AsyncClient(reconnection=False,
                                        websocket_extra_options={'compress': 15} if deflate else {})
        self.sio.on('*', self._on_message)
        self.sio.on('disconnect', self._on_disconnect)
        self.disconnected = False  # the server dropped the socket (a browser would reconnect; this tab does not)
        self._changed = asyncio.Event()
        self._acker: asyncio.Task[None] | None = None
        self._acked = -1
        self.page_bytes = 0
        self.values: dict[str, str] = {}  # what each input holds in this tab (its v-model)
        self.socket_query: dict[str, str] = {}

    async def open(self, path: str = '/') -> None:
        """Load the page and connect its socket, as the page's createApp does."""
        async with self.http.get(self.url + path) as response:
            response.raise_for_status()
            page = await response.text()
        self.page_bytes = len(page)
        match = ELEMENTS.search(page)
        query_match = QUERY.search(page)
        if match is None or query_match is None:
            raise RuntimeError(f'not a NiceGUI page: {page[:200]!r}')
        self.elements = json.loads(_unescape_elements(match[1]))
        query = _python_literal(query_match[1])
        self.client_id = query['client_id']
        self.next_message_id = int(query['next_message_id'])
        socket_query = {**{k: _js_value(v) for k, v in query.items()},
                        'document_id': str(uuid.uuid4()), 'tab_id': str(uuid.uuid4()), 'old_tab_id': 'null'}
        self.socket_query = socket_query  # what a reconnect of this tab sends again (with its next_message_id)
        cookies = '; '.join(f'{c.key}={c.value}' for c in self.http.cookie_jar)
        await self.sio.connect(f'{self.url}?{urllib.parse.urlencode(socket_query)}',
                               socketio_path='/_nicegui_ws/socket.io', transports=['websocket'],
                               headers={'Cookie': cookies} if cookies else {}, wait_timeout=30)
        self._acker = asyncio.create_task(self._ack_loop())

    @property
    def deflate(self) -> bool:
        """Whether the socket's websocket negotiated permessage-deflate."""
        ws = getattr(self.sio.eio, 'ws', None)
        return bool(ws is not None and ws.compress)

    def listener(self, element_id: str, kind: str, key: str | None = None) -> str:
        """The listener id of element `element_id`'s `kind` event (with `key`, for keydown)."""
        for event in self.elements[element_id].get('events') or []:
            if event['type'] == kind and (key is None or key in event['keys']):
                return str(event['listener_id'])
        raise KeyError(f'element {element_id} has no {kind} {key or ""} listener')

    def prompt_box(self) -> str:
        """The id of the prompt textarea (the page's only textarea)."""
        return next(i for i, e in self.elements.items() if e['tag'] == 'nicegui-input'
                    and (e.get('props') or {}).get('type') == 'textarea')

    async def type(self, text: str, keystroke_gap: float = 0.0) -> None:
        """Type `text` into the prompt box, one value update per keystroke (as Vue's v-model emits them)."""
        box = self.prompt_box()
        listener = self.listener(box, 'update:value')
        for end in range(1, len(text) + 1):
            self.values[box] = text[:end]
            await self.emit_event(box, listener, [json.dumps(text[:end], ensure_ascii=False)])
            if keystroke_gap:
                await asyncio.sleep(keystroke_gap)

    async def press_enter(self) -> float:
        """Press Enter in the prompt box; returns the time (time.time()) it was sent."""
        box = self.prompt_box()
        at = time.time()
        await self.emit_event(box, self.listener(box, 'keydown', 'enter'), [])
        return at

    async def emit_event(self, element_id: int | str, listener_id: str, args: list[str]) -> None:
        """The page's `event` message for a listener (nicegui.js's emitter)."""
        message = {'id': int(element_id), 'client_id': self.client_id, 'listener_id': listener_id, 'args': args}
        if self.record:
            self.seen.sent.append((time.time(), 'event', message))
        await self.sio.emit('event', message)

    def replies(self) -> list[int]:
        """Ids of the streaming elements seen, in order of creation."""
        return sorted(self.seen.streams)

    async def wait_for(self, condition: Any, seconds: float) -> None:
        """Wait until `condition()` holds, re-checking after every message; TimeoutError after `seconds`."""
        async with asyncio.timeout(seconds):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        """Close the tab: the socket goes away, as when a browser tab is closed."""
        if self._acker is not None:
            self._acker.cancel()
        await self.sio.disconnect()

    # What the page's messageHandlers do
    def _on_disconnect(self, *_: Any) -> None:
        self.disconnected = True
        self._changed.set()

    async def _on_message(self, event: str, data: Any = None) -> None:
        now = time.time()
        if isinstance(data, dict) and '_id' in data:
            if data['_id'] < self.next_message_id:
                return  # already handled (a replay after a reconnect)
            self.next_message_id = data['_id'] + 1
        self.seen.messages.append((now, event, data if self.record else None))
        if event == 'update':
            self._update(data)
        elif event == 'run_javascript':
            await self._run_javascript(now, data.get('code', ''))
        self._changed.set()

    def _update(self, data: dict[str, Any]) -> None:
        for element_id, element in data.items():
            if element_id == '_id':
                continue
            if element is None:
                self.elements.pop(element_id, None)
                self.seen.streams.pop(int(element_id), None)
                continue
            known = element_id in self.elements
            self.elements[element_id] = element
            if element.get('tag') == STREAMING_TAG and not known:  # mounted: starts from its text prop
                text = (element.get('props') or {}).get('text') or ''
                stream = Stream(text, utf16_units(text))
                if not (element.get('props') or {}).get('streaming', True):
                    stream.total = stream.units
                self.seen.streams[int(element_id)] = stream
                if stream.units:  # mounted with text already (a reply read while its turn was being saved): shown
                    self.seen.growth.append((time.time(), int(element_id), stream.units))

    async def _run_javascript(self, now: float, code: str) -> None:
        if match := APPEND.match(code):
            element_id = int(match[1])
            stream = self.seen.streams.get(element_id)
            if stream is None:
                return  # getElement(id)?.append: an element not mounted drops the call (it resyncs later)
            if not stream.append(int(match[2]), js_string_value(match[3])):
                await self._resync(element_id, stream)
                return
            self.seen.growth.append((now, element_id, stream.units))
        elif match := UPDATE_VALUE.match(code):
            element_id = match[1]
            value = (self.elements.get(element_id, {}).get('props') or {}).get('value')
            if isinstance(value, str) and element_id in self.values and value != self.values[element_id]:
                self.values[element_id] = value  # input.js: updateValue sets inputValue; its watcher emits it
                await self.emit_event(element_id, self.listener(element_id, 'update:value'), [json.dumps(value)])
        elif match := FINISH.match(code):
            element_id = int(match[1])
            if (stream := self.seen.streams.get(element_id)) is not None:
                stream.total = int(match[2])
                if stream.units < stream.total:
                    await self._resync(element_id, stream)

    async def _resync(self, element_id: int, stream: Stream) -> None:
        stream.resyncs += 1
        listener = self.listener(str(element_id), 'resync')
        await self.emit_event(element_id, listener, [json.dumps(stream.units)])

    async def _ack_loop(self) -> None:
        while True:
            await asyncio.sleep(ACK_INTERVAL)
            if self._acked < self.next_message_id and self.sio.connected:
                await self.sio.emit('ack', {'client_id': self.client_id, 'next_message_id': self.next_message_id})
                self._acked = self.next_message_id


def _unescape_elements(raw: str) -> str:
    """nicegui.js's parseElements: the five entities the template escapes, in its order."""
    for entity, char in (('&#36;', '$'), ('&#96;', '`'), ('&gt;', '>'), ('&lt;', '<'), ('&amp;', '&')):
        raw = raw.replace(entity, char)
    return raw


def _python_literal(text: str) -> dict[str, Any]:
    """The page's socket query, written by Jinja as a Python dict literal (True, None, single quotes)."""
    import ast

    return dict(ast.literal_eval(text))


def _js_value(value: Any) -> str:
    """A query value as socket.io's encodeURIComponent(String(value)) sends it."""
    if value is True or value is False:
        return 'true' if value else 'false'
    return 'null' if value is None else str(value)
