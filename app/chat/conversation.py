"""A conversation held in memory while it is open on a page or streaming a reply.

The database is the source of truth: the first message creates the conversation there, each turn is inserted before
its reply starts, and the reply is checkpointed while it streams (see `Chats`). Views (open pages, in any tab) render
from this copy and are told of every change, so a reload or a second tab shows the reply so far and follows it.
Messages form a tree (regenerate and edit add versions); the branch shown ends at `leaf`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from ..errors import ChatError
from ..limits import Lease
from ..store import new_id
from ..upstream.reply import Batch, Reply
from . import export, remote
from .continuation import check_continuable, continuation_tail
from .hints import explain
from .message import COMPLETE, FAILED, INTERRUPTED, STOPPED, STREAMING, Message
from .relay import Relay
from .tree import Tree
from .view import View, Views

if TYPE_CHECKING:
    from .chats import Chats

log = logging.getLogger(__name__)

# Longest prompt accepted from the chat box, in characters.
MAX_PROMPT_CHARS = 100_000
# Longest conversation continued, in characters of all its messages and reasoning: bounds memory per conversation.
MAX_CONVERSATION_CHARS = 2_000_000
# Longest title taken from the first prompt.
TITLE_CHARS = 80
# Settings that go upstream with every request, as the conversation's settings panel sets them.
PARAMS = ('temperature', 'max_tokens')
# Seconds Stop of a reply streaming on another instance waits for its end before asking its holder again: a request
# published while the holder's listener was reconnecting to Redis is lost (pub/sub keeps nothing).
STOP_AGAIN_S = 1.0


class Conversation:
    """Messages (every version), the views that follow them, and at most one reply being streamed."""

    def __init__(self, chats: Chats, *, id: str, owner_id: str, model: str, title: str = '',
                 system_prompt: str | None = None, settings: dict[str, Any] | None = None,
                 messages: list[Message] | None = None, stored: bool = False) -> None:
        self.chats = chats
        self.id = id
        self.owner_id = owner_id
        self.model = model
        self.title = title
        self.system_prompt = system_prompt
        self.settings: dict[str, Any] = dict(settings or {})
        self.tree = Tree(messages or [])
        leaf = self.settings.get('leaf')
        newest = self.tree.newest
        self.leaf = leaf if leaf in self.tree.by_id else newest.id if newest else None
        self.stored = stored  # False for a new chat until its first message is saved
        self.views = Views()
        self._task: asyncio.Task[None] | None = None
        self._starting = False  # the turn is being saved; its reply task does not exist yet
        self._stop_requested = False
        self._relay: Relay | None = None  # with REDIS_URL: publishes the reply streaming here
        self._reply_id: str | None = None  # the reply the task streams
        self._following: tuple[str, asyncio.Task[None]] | None = None  # a reply streaming on another instance
        self._syncing = asyncio.Lock()  # with REDIS_URL: catching up with a turn made on another instance (sync)

    @property
    def messages(self) -> list[Message]:
        """The branch shown: what later turns build on and what goes upstream."""
        return self.tree.path(self.leaf)

    @property
    def busy(self) -> bool:
        """True while a turn is being saved or its reply is streaming (here, or on another instance)."""
        return self._starting or self._syncing.locked() or (self._task is not None and not self._task.done()) or (
            self._following is not None and not self._following[1].done())

    @property
    def replying(self) -> str | None:
        """The id of the reply streaming on this instance, if any."""
        return self._reply_id if self._task is not None and not self._task.done() else None

    @property
    def size(self) -> int:
        """Characters held in memory for this conversation."""
        return self.tree.size

    @property
    def params(self) -> dict[str, Any]:
        """Request parameters set for this conversation (temperature, max_tokens)."""
        return {name: self.settings[name] for name in PARAMS if self.settings.get(name) is not None}

    def attach(self, view: View) -> None:
        """Start telling `view` about changes."""
        self.views.add(view)

    def detach(self, view: View) -> None:
        """Stop telling `view`; the reply keeps streaming (and is saved) with nobody watching."""
        self.views.remove(view)
        self.chats.release(self)

    async def send(self, prompt: str, images: list[dict[str, Any]] | None = None, *, model: str | None = None,
                   params: dict[str, Any] | None = None) -> Message:
        """Save the prompt (with its images) and an empty reply at the end of the branch shown; stream the reply.

        `model` and `params` (an API request's own) apply to this reply only, instead of the conversation's.
        """
        self._check_prompt(prompt)
        return await self._turn(prompt, parent=self.leaf, branch=self.messages, images=images or [], model=model,
                                params=params)

    async def edit(self, message: Message, prompt: str) -> Message:
        """Send an edited prompt as a new version of `message`; the old one stays reachable."""
        self._check_prompt(prompt)
        parent = self.tree.by_id.get(message.parent_id) if message.parent_id else None
        return await self._turn(prompt, parent=parent.id if parent else None, branch=self._branch_to(parent),
                                images=message.attachments)

    async def regenerate(self, reply: Message, *, model: str | None = None,
                         params: dict[str, Any] | None = None) -> Message:
        """Ask again for `reply`'s prompt: a new version of the answer (also how a failed reply is retried)."""
        self._check_idle()
        prompt = self.tree.by_id.get(reply.parent_id) if reply.parent_id else None
        if prompt is None or prompt.role != 'user':
            raise ChatError('invalid_request', 'Only an answer to a prompt can be regenerated.', 422)
        answer = Message(new_id(), 'assistant', status=STREAMING, parent_id=prompt.id, model=model or self.model)
        return await self._start([answer], self._branch_to(prompt), params=params)

    async def continue_reply(self, reply: Message) -> Message:
        """Ask the model to go on from an interrupted reply's text, appending to the same message (see continuation).

        On one instance nothing is written before it streams (until the next checkpoint the database holds it as
        interrupted, which is also what a crash in between would leave); with REDIS_URL it is saved as streaming
        first, after its lease is taken, so an instance that opens the conversation meanwhile follows it.
        """
        self._check_idle()
        check_continuable(reply, self.leaf)
        prompt = self.tree.by_id.get(reply.parent_id) if reply.parent_id else None
        async with self._admitted(reply) as lease:  # CHAT_RATE_LIMIT and MAX_STREAMS, as for a new turn
            reply.status, reply.error, reply.finish_reason = STREAMING, None, None
            if self._relay is not None:
                await self.chats.save_now(reply)
                self._announce(reply)
        self.views.notify(lambda view: view.on_message(reply))  # shown streaming again, in its place
        self._task = self.chats.spawn(self._stream(reply, self._branch_to(prompt), self.params,
                                                   tail=continuation_tail(reply)), name='chat reply')
        self._task.add_done_callback(lambda _: self._finish(reply, lease))
        return reply

    async def switch(self, message: Message, step: int) -> None:
        """Show the previous (step -1) or next (+1) version of `message`, and the newest branch below it."""
        self._check_idle()
        versions = self.tree.versions(message)
        index = versions.index(message) + step
        if not 0 <= index < len(versions):
            return
        self.leaf = self.tree.latest_leaf(versions[index]).id
        self.settings['leaf'] = self.leaf
        await self.chats.save_settings(self)
        self.chats.announce('branch', self.owner_id, self.id)
        self.views.notify(lambda view: view.on_branch())

    async def configure(self, *, model: str, system_prompt: str, temperature: float | None,
                        max_tokens: int | None) -> None:
        """Set what later turns send upstream (stored with the conversation); checked by the API's own rules."""
        self.chats.check_settings(model=model, temperature=temperature, max_tokens=max_tokens)
        self.model, self.system_prompt = model, system_prompt.strip() or None
        self.settings.update(temperature=temperature, max_tokens=max_tokens)
        if self.stored:
            await self.chats.save_settings(self)
            self.chats.announce('settings', self.owner_id, self.id)
        self.views.notify(lambda view: view.on_details())

    def export_markdown(self) -> str:
        """The branch shown, as Markdown."""
        return export.to_markdown(self.title, self.messages)

    def export_json(self) -> dict[str, Any]:
        """Every version of every message, as JSON that imports back."""
        return export.to_json(title=self.title, model=self.model, system_prompt=self.system_prompt,
                              settings=self.settings, messages=list(self.tree.by_id.values()))

    async def sync(self, reply_id: str | None = None) -> None:
        """With REDIS_URL: take from the database what another instance added (a turn, a new version) or started
        again (a Continue) while this copy was held here, show it to the views, and follow the reply streaming there.

        `reply_id` is the reply that started (from the instance's notice, app/live/hub.py); without it (an open of
        a conversation held here) the newest new message is shown. A reply streaming or being started here is left
        alone: this copy is the newest there is. Messages that ended here are never overwritten from the database
        (its copy can lag behind a final save), except an interrupted one it has streaming again: continued
        elsewhere (only an interrupted reply can be; one that ended otherwise here is streaming there only until
        its final save lands).
        """
        async with self._syncing:
            if self.chats.closing or self._starting or self.replying is not None:
                return
            if self._following is not None and not self._following[1].done():
                if reply_id is None or self._following[0] == reply_id:
                    return
                await asyncio.wait({self._following[1]})  # the reply before it: its end entry is on its way
            records = await self.chats.store.messages(self.id)
            added: list[Message] = []
            continued: list[Message] = []
            for record in records:
                message = self.tree.by_id.get(record.id)
                if message is None:
                    added.append(Message.from_record(record))
                    self.tree.add(added[-1])
                elif record.status == STREAMING and message.interrupted and len(record.content) >= len(message.content):
                    message.content, message.reasoning, message.status = record.content, record.reasoning, STREAMING
                    message.error, message.finish_reason, message.usage = None, None, None
                    continued.append(message)
            if not added and not continued:
                return
            shown = self.tree.by_id.get(reply_id) if reply_id else None
            shown = shown or (added or continued)[-1]
            leaf = self.leaf
            if added or shown not in self.messages:  # a new turn or version is shown, as on the instance that made it
                self.leaf = self.tree.latest_leaf(shown).id
                self.settings.pop('leaf', None)
            for message in [*added, *continued]:
                if message.streaming and not self.chats.closing:
                    await self.chats.adopt(self, message)  # follow it from Redis (or, if nobody holds it, end it)
        if self.leaf != leaf or added:
            self.views.notify(lambda view: view.on_branch())
        else:
            for message in continued:
                self.views.notify(lambda view, message=message: view.on_message(message))  # type: ignore[misc]

    async def refresh(self) -> None:
        """With REDIS_URL: take the title, model, system prompt and settings another instance stored (a rename, new
        settings, or another version of a message shown), and show them. The row is read afresh, not carried in
        the notice, so notices that cross each other still leave the newest state."""
        record = await self.chats.store.conversation(self.owner_id, self.id)
        if record is None or self.chats.closing:  # deleted meanwhile: its own notice closes it
            return
        before = (self.title, self.model, self.system_prompt, _details(self.settings))
        self.title, self.model, self.system_prompt = record.title, record.model, record.system_prompt or None
        self.settings = dict(record.settings)
        shown = self.leaf
        if not self.busy:  # a reply streaming (here or followed) is at the end of the branch shown: that stays
            leaf = record.settings.get('leaf')
            if leaf is not None and leaf not in self.tree.by_id:  # a version this copy lacks (a missed notice)
                await self.sync()
            newest = self.tree.newest
            self.leaf = leaf if leaf in self.tree.by_id else newest.id if newest else None
        if (self.title, self.model, self.system_prompt, _details(self.settings)) != before:
            self.views.notify(lambda view: view.on_details())
        if self.leaf != shown:
            self.views.notify(lambda view: view.on_branch())

    async def follow(self, reply: Message, *, catch_up: bool = False) -> None:
        """Show `reply`, streaming on another instance, as it goes on there (from Redis; see remote.py). With
        `catch_up` (a conversation being loaded, no page yet), first what Redis has now, awaited, so the page built
        next shows it rather than the older checkpoint."""
        reader = await remote.catch_up(self, reply) if catch_up else None
        self._following = (reply.id, self.chats.spawn(remote.follow(self, reply, reader), name='follow reply'))

    def stop(self, *, elsewhere: bool = True) -> None:
        """Cancel the running reply, if any; the upstream HTTP stream is closed (by its instance, if another; with
        `elsewhere` False, a reply streaming on another instance goes on there and is only no longer followed)."""
        if self._following is not None and not self._following[1].done():
            if elsewhere and self.chats.shared is not None:
                self.chats.background(self._stop_elsewhere(*self._following), name='stop elsewhere')
            else:
                self._following[1].cancel()
        if self._starting:
            self._stop_requested = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def _stop_elsewhere(self, reply_id: str, following: asyncio.Task[None]) -> None:
        """Ask the instance holding the reply to stop it, again each STOP_AGAIN_S until it has ended here, or no
        instance holds it (its end is on its way, or its holder died and the reaper ends it)."""
        assert self.chats.shared is not None
        while not following.done() and await self.chats.shared.stop(reply_id):
            await asyncio.wait({following}, timeout=STOP_AGAIN_S)

    async def wait(self) -> None:
        """Wait until the running reply, if any, has ended (or stopped being followed)."""
        tasks = [task for task in (self._task, self._following and self._following[1]) if task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    def history(self) -> list[dict[str, Any]]:
        """What goes upstream (images aside): the system prompt, then every turn with text on the branch shown."""
        system = [{'role': 'system', 'content': self.system_prompt}] if self.system_prompt else []
        return system + [m.upstream() for m in _sent(self.messages)]

    def _branch_to(self, message: Message | None) -> list[Message]:
        return self.tree.path(message.id) if message is not None else []

    def _check_idle(self) -> None:
        if self.busy:
            raise ChatError('busy', 'A reply is still streaming; stop it or wait for it to finish.', 409)

    def _check_prompt(self, prompt: str) -> None:
        self._check_idle()
        if len(prompt) > MAX_PROMPT_CHARS:
            raise ChatError('prompt_too_long', f'The message is too long ({len(prompt):,} characters; '
                            f'the limit is {MAX_PROMPT_CHARS:,}).', 413)
        if self.size + len(prompt) > MAX_CONVERSATION_CHARS:
            raise ChatError('conversation_too_long', 'This conversation has grown too long to continue; '
                            'start a New chat.', 413)

    async def _turn(self, prompt: str, *, parent: str | None, branch: list[Message], images: list[dict[str, Any]],
                    model: str | None = None, params: dict[str, Any] | None = None) -> Message:
        user = Message(new_id(), 'user', prompt, parent_id=parent, attachments=list(images))
        reply = Message(new_id(), 'assistant', status=STREAMING, parent_id=user.id, model=model or self.model)
        return await self._start([user, reply], [*branch, user], title=title_of(prompt), params=params)

    async def _start(self, new: list[Message], branch: list[Message], *, title: str = '',
                     params: dict[str, Any] | None = None) -> Message:
        """Save `new` (the last is the reply), show it as the branch's end, and stream the reply."""
        reply = new[-1]
        self._stop_requested = False
        # Refused by the limits (too fast, server busy): nothing saved, the page keeps the prompt.
        async with self._admitted(reply) as lease:
            await self.chats.save_turn(self, new, title=title)
            self._announce(reply)
        branched = bool(self.leaf) and new[0].parent_id != self.leaf
        for message in new:
            self.tree.add(message)
        self.leaf = reply.id
        if branched:  # a new version: the branch shown changed above its end
            self.views.notify(lambda view: view.on_branch())
        else:
            for message in new:
                self.views.notify(lambda view, message=message: view.on_message(message))  # type: ignore[misc]
        if self._stop_requested:  # Stop came while the turn was being saved: end it before it starts
            self._finish(reply, lease)
            return reply
        self._task = self.chats.spawn(self._stream(reply, branch, self.params if params is None else params),
                                      name='chat reply')
        # The end is marked from the task's done callback: it runs even for a task cancelled before its first step.
        self._task.add_done_callback(lambda _: self._finish(reply, lease))
        return reply

    async def _stream(self, reply: Message, branch: list[Message], params: dict[str, Any], *,
                      tail: list[dict[str, Any]] | None = None) -> None:
        """Stream `reply` from the model, given `branch` (and `tail` after it: a continuation's partial text)."""
        dirty, started, relay = self.chats.dirty, time.perf_counter(), self._relay
        add = relay.add if relay is not None else partial(self._append, reply)  # shared: Redis first, then the reply
        opened: Reply | None = None
        self._reply_id = reply.id

        def deliver(batch: Batch) -> bool:
            """Apply the deltas of one network read to the reply and its views, and mark it for the next checkpoint.

            Called from the upstream's network callback (Reply.relay over raw_body's tap), not from this task: no
            task wake, future or aiohttp read per read, which a paced upstream (a token per read) pays per token.
            Never refuses a batch: the page's sends queue in NiceGUI's outbox whatever the reader does (as they did
            when this task read each batch), and a view that raises is detached by `Views`, not the reply's end.
            """
            for kind, text in batch:
                add(kind, text)
            dirty.add(reply)
            return True

        try:
            history = await self.chats.upstream_messages(self.owner_id, self.system_prompt, _sent(branch))
            history += tail or []
            async with self.chats.upstream.stream(history, model=reply.model, **params) as stream:
                opened = stream
                # What the tap cannot deliver comes back here: the rest of a body that ended without [DONE], or every
                # batch when there is no tap (a compressed body read through httpx2). Failures are raised.
                while (batch := await stream.relay(deliver)) is not None:
                    deliver(batch)
                reply.finish_reason, reply.usage, reply.status = stream.finish_reason, stream.usage, COMPLETE
        except ChatError as error:
            reply.error, reply.status = explain(error, self.chats.where), FAILED
        except Exception as exc:  # a bug: show a generic message, log the type (the text may hold request data)
            log.error('reply failed: %s', type(exc).__name__)
            reply.error, reply.status = 'The server failed while streaming the reply.', FAILED
        finally:  # also for a stopped reply: how far it got, and how fast
            if relay is not None:
                await relay.drain()
            first = None if opened is None else opened.first_delta_at  # set by the parse of the first delivered delta
            reply.timing = {'ttft_s': None if first is None else round(first - started, 4),
                            'total_s': round(time.perf_counter() - started, 4)}

    async def _share(self, reply: Message) -> Relay | None:
        """With REDIS_URL: take the reply's lease and start publishing it (relay.py)."""
        if self.chats.shared is None:
            return None
        relay = Relay(self.chats.shared.writer(reply.id, reply.content, reply.reasoning), partial(self._append, reply),
                      self.chats.batch_gap)
        await relay.start()
        return relay

    @asynccontextmanager
    async def _admitted(self, reply: Message) -> AsyncIterator[Lease]:
        """While a reply is being started: its stream slot from the limits and, with REDIS_URL, its lease and relay
        (taken before the reply is saved as streaming, so no instance that opens the conversation meanwhile can find
        it streaming with nobody holding it). If the block fails, both are given back."""
        self._starting = True
        try:
            lease = await self.chats.admit(self.owner_id)
            try:
                self._relay = await self._share(reply)
                yield lease
            except BaseException:
                lease.release()
                self._abandon_relay()
                raise
        finally:
            self._starting = False

    def _announce(self, reply: Message) -> None:
        """With REDIS_URL, once `reply` is saved as streaming: tell the instances that hold this conversation too
        (their copy lacks it; see sync)."""
        if self._relay is not None:
            self.chats.announce('reply', self.owner_id, self.id, reply.id)

    def _abandon_relay(self) -> None:
        """The turn was refused after its lease was taken: give the lease up (the reply never existed)."""
        if (relay := self._relay) is not None:
            self._relay = None
            self.chats.background(relay.end(FAILED, None, {}), name='live end')

    def _append(self, reply: Message, kind: str, text: str) -> None:
        """Add a delta to the reply and tell the views: as it is read, or with REDIS_URL once published (relay.py)."""
        if kind == 'content':
            reply.content += text
            self.views.delta(reply, text)
        else:
            reply.reasoning += text
            self.views.notify(lambda view: view.on_reasoning(reply, text))

    def _finish(self, reply: Message, lease: Lease) -> None:
        lease.release()  # its stream slot, before anything below can fail
        if reply.status == STREAMING:  # cancelled: by a person (Stop), or by a server shutting down
            reply.status = INTERRUPTED if self.chats.closing else STOPPED
        if (relay := self._relay) is not None:  # followers elsewhere learn the outcome
            self._relay = None
            self.chats.background(relay.end(reply.status, reply.error, remote.outcome(reply)), name='live end')
        saving = self.chats.save_final(reply)
        self.views.notify(lambda view: view.on_finish(reply))
        # Held until saved: a reload in between (here or, with REDIS_URL, on another instance) finds the final reply.
        saving.add_done_callback(lambda _: self.chats.release(self))


def _details(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings that are the conversation's details (the version shown aside)."""
    return {name: value for name, value in settings.items() if name != 'leaf'}


def _sent(branch: list[Message]) -> list[Message]:
    """The turns that go upstream: those with text or images (a failed reply without text is left out)."""
    return [m for m in branch if (m.content or m.attachments) and not m.streaming]


def title_of(prompt: str) -> str:
    """A conversation's title from its first prompt: the first line, trimmed."""
    line = next((line.strip() for line in prompt.splitlines() if line.strip()), 'New chat')
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1].rstrip() + '…'


def clean_settings(settings: dict[str, Any], max_tokens_limit: int | None = None) -> dict[str, Any]:
    """Only the settings this app knows, with values it accepts (imports and old rows cannot smuggle others in)."""
    clean: dict[str, Any] = {}
    temperature, max_tokens = settings.get('temperature'), settings.get('max_tokens')
    if isinstance(temperature, int | float) and not isinstance(temperature, bool) and 0 <= temperature <= 2:
        clean['temperature'] = temperature
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and 1 <= max_tokens <= (max_tokens_limit or
                                                                                                 max_tokens):
        clean['max_tokens'] = max_tokens
    return clean
