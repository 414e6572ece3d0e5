"""The path of a message to a tab, made shorter where the libraries spend most per message: NiceGUI's outbox and
engine.io's socket writer (installed for the whole process by `install()`).

NiceGUI's outbox is the queue of messages to one tab.
NiceGUI's own loop wakes through `asyncio.wait_for(event.wait(), 1.0)` (a task and a timer per wake) and sends each
message with `sio.emit`, which makes a task per recipient and waits for them with `asyncio.wait`, before engine.io's
`socket.send` puts the packet on the socket's queue. With hundreds of tabs streaming, that machinery was most of the
outbox's share of the server's CPU (bench/page_load, docs/page_load.md). This loop waits on the event alone (`stop()`
sets it, so nothing needs the 1 s poll) and puts each message's packet, encoded once, straight on the engine.io
socket's queue, the same packet `sio.emit` would have queued. A message enqueued while nothing else waits to be sent
(a streaming reply's append, mostly) is put there at once, without waking the loop. Ids, order, history and replay
are NiceGUI's: the messages, their `_id`s and the history entries are the same as the library's `_emit` makes.

Anything unusual takes the library's own path, message by message and in order: a socket past its ping timeout
(engine.io closes it), NiceGUI On Air, a message with binary data, another socket.io manager than the default, and
an `_emit` replaced on the instance (NiceGUI's `user` test fixture does that to answer JavaScript calls).

The packet then goes to the socket's websocket at once when nothing of engine.io's waits before it
(app/web/socket_frames.py), else on the socket's queue for engine.io's writer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import nicegui.client
import orjson
from nicegui import core
from nicegui.dependencies import JsComponent
from nicegui.json.orjson_wrapper import ORJSON_OPTS
from nicegui.json.orjson_wrapper import _orjson_converter as orjson_default
from nicegui.json.orjson_wrapper import dumps as nicegui_dumps
from nicegui.outbox import Deleted, Message, Outbox
from socketio import packet as sio_packet
from socketio.async_manager import AsyncManager

from . import socket_frames

NAMESPACE = '/'  # NiceGUI's one socket.io namespace
EVENT = str(sio_packet.EVENT)  # how a socket.io packet of an event starts
EVENT_BYTES = EVENT.encode()


class LeanOutbox(Outbox):
    """An Outbox whose loop sends each message in one synchronous step (see the module's docstring)."""

    _sending = False  # the loop has taken a batch and not sent all of it yet

    def enqueue_message(self, message_type: str, data: Any, target_id: str) -> None:
        """Send the message now when nothing waits to go before it (the loop need not wake for it), else queue it."""
        client = self.client
        if client._deleted:
            client.check_existence()  # it warns
        message = (target_id, message_type, data)
        # `updates.data`: the weak dictionary's own dict, without its `__len__` in Python (an entry whose element is
        # gone but not yet removed from it only sends this message the loop's way)
        if (self._sending or self.messages or self.updates.data  # type: ignore[attr-defined]
                or self._enqueue_event is None
                or client.tab_id is None or not self._send_now(message)):
            self.messages.append(message)
            self._set_enqueue_event()

    async def loop(self) -> None:
        """Send updates and messages to the tab whenever something is enqueued, until stopped."""
        event = self._enqueue_event = asyncio.Event()
        event.set()
        while not self._should_stop:
            try:
                if not event.is_set():
                    await event.wait()
                    continue
                client = self.client
                if not client.has_socket_connection:
                    await asyncio.sleep(0.1)  # as NiceGUI's loop: the messages wait for the socket
                    continue
                event.clear()
                self._sending = True
                try:
                    for message in self._take(client.id):
                        try:
                            if not self._send_now(message):
                                await self._emit(message)
                        except Exception as error:
                            core.app.handle_exception(error)
                finally:
                    self._sending = False
            except asyncio.CancelledError:
                break
            except Exception as error:
                core.app.handle_exception(error)
                await asyncio.sleep(0.1)

    def _take(self, client_id: str) -> list[Message]:
        """The queued element updates (with the components they need first) and messages, in NiceGUI's order."""
        batch: list[Message] = []
        if self.updates:
            data = {element_id: None if isinstance(element, Deleted) else element._to_dict()
                    for element_id, element in self.updates.items()}
            components = [component for element in self.updates.values() if not isinstance(element, Deleted)
                          and isinstance((component := element.component), JsComponent)
                          and component.name not in self._loaded_components]
            if components:
                batch.append((client_id, 'load_js_components',
                              {'components': [{'key': c.key, 'tag': c.tag} for c in components]}))
                self._loaded_components.update(c.name for c in components)
            batch.append((client_id, 'update', data))
            self.updates.clear()
        if self.messages:
            batch.extend(self.messages)
            self.messages.clear()
        return batch

    def _send_now(self, message: Message) -> bool:
        """Queue `message` on its tab's engine.io sockets as `_emit` would, without awaiting; False if it cannot."""
        sio = core.sio
        if '_emit' in self.__dict__ or core.air is not None or type(sio.manager) is not AsyncManager:
            return False
        client_id, message_type, data = message
        eio = sio.eio
        now = time.time()
        sockets = []
        # socket.io's `get_participants` without its generator and copy: the room's sids, read in place
        room = sio.manager.rooms.get(NAMESPACE, {}).get(client_id)
        for eio_sid in room._fwdm.values() if room is not None else ():
            socket = eio.sockets.get(eio_sid)
            if socket is None or socket.closed or (socket.last_ping and now - socket.last_ping > eio.ping_timeout):
                return False  # engine.io's own send logs it, or closes the socket
            sockets.append(socket)
        data['_id'] = self.next_message_id
        dumps = sio.packet_class.json.dumps
        try:  # socket.io's encoding of an event in the default namespace: its type, then the JSON of [name, data]
            encoded: str | bytes
            if dumps is nicegui_dumps:  # NiceGUI's orjson wrapper: orjson's UTF-8 bytes as they are, not as a str
                encoded = EVENT_BYTES + orjson.dumps([message_type, data], option=ORJSON_OPTS, default=orjson_default)
            else:
                encoded = EVENT + dumps([message_type, data], separators=(',', ':'))
        except TypeError:  # (orjson's error is one too)
            return False  # bytes in the data: socket.io sends them as binary attachments, in several packets
        for socket in sockets:
            socket_frames.send(socket, encoded)
        self._remember(message, now)
        return True

    def _remember(self, message: Message, now: float) -> None:
        """Keep `message` for replay after a reconnect, and count it (what `_emit` does after sending)."""
        client = self._client()
        if client is not None:
            history = self.message_history
            history.append((self.next_message_id, now, message))
            eio = core.sio.eio
            oldest = now - (eio.ping_interval + eio.ping_timeout + client.page.resolve_reconnect_timeout())
            while history and history[0][1] < oldest:
                history.popleft()
            while len(history) > core.app.config.message_history_length:
                history.popleft()
        self.next_message_id += 1

    def prune_history(self, next_message_id: int) -> None:
        """Forget the messages before `next_message_id` (the tab has them: its ack), as NiceGUI's `prune_history`.

        The history's ids are consecutive (`_remember` and `_emit` append the next id, everything else takes from
        its ends or clears it), so the number to drop is a subtraction, not a comparison per entry.
        """
        history = self.message_history
        if not history:
            return
        first = history[0][0]
        if type(next_message_id) is not int or history[-1][0] - first != len(history) - 1:
            super().prune_history(next_message_id)  # not the usual case: the library's loop
            return
        count = next_message_id - first
        if count >= len(history):
            history.clear()
        else:
            popleft = history.popleft
            for _ in range(count):
                popleft()


def install() -> None:
    """Give every NiceGUI client made from now on a LeanOutbox, and engine.io's sockets socket_frames' writes."""
    nicegui.client.Outbox = LeanOutbox  # type: ignore[attr-defined]
    socket_frames.install()
