"""All conversations of this process: opened from the database, held while in use, saved as their replies stream.

Writes stay off the hot path: a delta only marks its message dirty; every CHECKPOINT_INTERVAL one transaction saves
every dirty reply, and a reply is saved in full when it ends. So a reply costs O(seconds streamed) writes, a hard kill
loses at most the last interval of text, and a clean shutdown saves every reply in flight as interrupted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..errors import ChatError
from ..limits import Lease, Limits
from ..live.hub import Live
from ..live.notices import ALL, Kind, Notice
from ..store import ConversationSummary, NewTurn, Store, new_id
from ..store.images import ImageFiles
from ..upstream import Upstream
from . import export
from .conversation import MAX_CONVERSATION_CHARS, Conversation, clean_settings
from .message import INTERRUPTED, Message

log = logging.getLogger(__name__)

# Seconds between checkpoints of streaming replies: what a hard kill can lose at most.
CHECKPOINT_INTERVAL = 1.0
# Seconds the upstream's model list is kept before it is asked again.
MODELS_CACHE_SECONDS = 300.0
# Largest image a person may attach (MAX_IMAGE_BYTES sets it).
MAX_IMAGE_BYTES = 5_000_000
# Characters of messages held in memory by all open conversations together (about that many bytes for ASCII text;
# up to 4 per character for other scripts). Opening one more past it is refused with a "server busy" message.
MAX_HELD_CHARS = 200_000_000

# Seconds a request waits for the database to open at start-up before it is told to try again.
READY_TIMEOUT = 10.0
# Seconds a shutdown waits for the replies it cancelled (and the ones it stopped following) to end: SIGTERM must
# exit within 5 s even if one is stuck in a call that does not honour cancellation (a blocking Redis read).
SHUTDOWN_WAIT = 3.0

Spawn = Callable[..., asyncio.Task[Any]]


def _spawn(coroutine: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
    return asyncio.create_task(coroutine, name=name)


class Chats:
    """Opens, creates, lists and deletes a person's conversations; keeps the ones in use; checkpoints replies."""

    def __init__(self, upstream: Upstream, *, model: str, models: Sequence[str] = (), system_prompt: str | None = None,
                 check_settings: Callable[..., object] = lambda **_: None, where: str = 'the model server',
                 spawn: Spawn = _spawn,
                 images_root: str | Path = 'data/images', max_image_bytes: int = MAX_IMAGE_BYTES,
                 max_held_chars: int = MAX_HELD_CHARS, checkpoint_interval: float = CHECKPOINT_INTERVAL,
                 limits: Limits | None = None, shared: Live | None = None,
                 batch_gap: Callable[[], float] | None = None) -> None:
        self.store: Store  # given to start(): the database opens with the event loop
        self.upstream = upstream
        self.model, self.models, self.system_prompt = model, tuple(models) or (model,), system_prompt
        self._models_cache: tuple[float, list[str]] | None = None
        self.check_settings = check_settings  # the API's request rules, so the page cannot set what the API refuses
        self.where = where  # the model server's address fit for a person: no key, no query
        self.images_root, self.max_image_bytes = Path(images_root), max_image_bytes
        self.spawn = spawn
        self.max_held_chars = max_held_chars
        self.checkpoint_interval = checkpoint_interval
        self.limits = limits  # CHAT_RATE_LIMIT and MAX_STREAMS; None: no limits
        self.shared = shared  # with REDIS_URL: replies published to, followed from and stopped through Redis
        self.batch_gap = batch_gap  # with REDIS_URL: how far apart the pages want batches (relay.py; None: PAGE_GAP)
        self.closing = False
        self.live: dict[str, Conversation] = {}
        self.dirty: set[Message] = set()  # streaming replies changed since the last checkpoint
        self._loading: dict[str, asyncio.Future[Conversation | None]] = {}
        self._writes = asyncio.Lock()  # one write at a time, in order: a checkpoint never overwrites a final save
        self._turns: list[_Turn] = []  # turns waiting for the lock, written together by one task
        self._turn_writer: asyncio.Task[None] | None = None  # that task, until it has the lock and took the queue
        self._saves: set[asyncio.Task[Any]] = set()
        self._checkpoints: asyncio.Task[None] | None = None
        self._list_watchers: dict[str, set[Callable[[], object]]] = {}
        # Watchers that can take "this conversation is now at the top" without reloading the list (the drawers).
        self._top_watchers: dict[Callable[[], object], Callable[[ConversationSummary], object]] = {}
        self._latest: dict[str, tuple[str, date]] = {}  # per person: the top of their list (conversation, day)
        self._started = asyncio.Event()
        self._opening: asyncio.Task[Any] | None = None

    async def start(self, store: Store) -> int:
        """Use (and own) `store`; mark replies a crash left streaming as interrupted; start checkpointing."""
        self.store = store
        if self.shared is None:
            recovered = await self.store.recover_interrupted()
        else:  # a reply left streaming may be streaming on another instance: leases tell (see adopt)
            recovered = 0
            self.shared.start(on_stop=self._stop_reply, on_interrupted=self._interrupted, on_notice=self._noticed)
        self._checkpoints = self.spawn(self._checkpoint_loop(), name='checkpoints')
        self._started.set()
        return recovered

    async def open_and_start(self, open_store: Callable[[], Awaitable[Store]]) -> int:
        """Open the database and start(); a shutdown meanwhile waits for this, so the store is not left open.

        Once only: a second start-up (NiceGUI's `create_user` test fixture enters the app's lifespan again) waits for
        the first instead of opening the same SQLite file a second time, which raced it into 'database is locked'."""
        if self._opening is not None:
            if self._opening is not asyncio.current_task():
                await asyncio.wait({self._opening})
            return 0
        self._opening = asyncio.current_task()
        return await self.start(await open_store())

    async def ready(self) -> None:
        """Wait until start() has run (NiceGUI runs start-up handlers as tasks, so a request can come first)."""
        try:
            await asyncio.wait_for(self._started.wait(), READY_TIMEOUT)
        except TimeoutError:
            raise ChatError('not_ready', 'The server is still starting (or its database failed to open); try again '
                            'in a moment.', 503) from None

    @property
    def held_chars(self) -> int:
        """Characters of messages held by the open conversations."""
        return sum(conversation.size for conversation in self.live.values())

    async def available_models(self) -> list[str]:
        """With ALLOWED_MODELS=*: the upstream's models, asked at most every MODELS_CACHE_SECONDS."""
        loop = asyncio.get_running_loop()
        if self._models_cache is None or loop.time() - self._models_cache[0] > MODELS_CACHE_SECONDS:
            try:
                self._models_cache = (loop.time(), await self.upstream.models())
            except ChatError as error:
                raise ChatError('models_unavailable', f'The model server at {self.where} did not list its models '
                                f'({error.message}); type a model name instead.', 502) from None
        return self._models_cache[1]

    async def admit(self, owner_id: str) -> Lease:
        """Let one reply start for the person, or raise ChatError (429 too fast, 503 server busy)."""
        return await self.limits.admit_page(owner_id) if self.limits is not None else Lease()

    def images(self, owner_id: str) -> ImageFiles:
        """The person's image files (a folder each, so serving one checks its owner by where it is)."""
        return ImageFiles(self.images_root / owner_id, self.max_image_bytes)

    async def upstream_messages(self, owner_id: str, system_prompt: str | None,
                                branch: list[Message]) -> list[dict[str, Any]]:
        """The messages as the model server takes them: text, and images as `image_url` parts (data URLs)."""
        out: list[dict[str, Any]] = [{'role': 'system', 'content': system_prompt}] if system_prompt else []
        files: ImageFiles | None = None  # the person's folder, only for a message with images (most have none)
        for message in branch:
            if not message.attachments:
                out.append(message.upstream())
                continue
            files = files or self.images(owner_id)
            parts: list[dict[str, Any]] = [{'type': 'text', 'text': message.content}] if message.content else []
            for image in message.attachments:
                if (url := await files.data_url(image)) is None:
                    raise ChatError('image_missing', 'An image of this conversation is no longer stored.', 410)
                parts.append({'type': 'image_url', 'image_url': {'url': url}})
            out.append({'role': message.role, 'content': parts})
        return out

    def draft(self, owner_id: str, defaults: dict[str, Any] | None = None) -> Conversation:
        """A new, empty conversation, set up like the person's last one (or the server's defaults); it reaches the
        database with its first message."""
        choices = defaults or {}
        model = choices.get('model') if choices.get('model') in self.models else self.model
        prompt = choices['system_prompt'] if isinstance(choices.get('system_prompt'), str) else self.system_prompt
        return Conversation(self, id=new_id(), owner_id=owner_id, model=str(model), system_prompt=prompt or None,
                            settings=clean_settings(choices))

    async def create(self, owner_id: str, *, title: str = 'New chat', model: str | None = None,
                     system_prompt: str | None = None) -> Conversation:
        """A new, empty, stored conversation of the person (an API client's; the page stores one with its first
        turn), set up with the server's defaults except what is given; listed in their drawers at once."""
        conversation = self.draft(owner_id)
        conversation.model = model or conversation.model
        conversation.system_prompt = system_prompt if system_prompt is not None else conversation.system_prompt
        async with self._writes:
            await self.store.create_conversation(owner_id, title=title, model=conversation.model,
                                                 system_prompt=conversation.system_prompt,
                                                 settings=conversation.settings, id=conversation.id)
        conversation.stored, conversation.title = True, title
        self.lists_changed(owner_id)
        self.announce('created', owner_id, conversation.id)
        return conversation

    async def open(self, owner_id: str, conversation_id: str) -> Conversation | None:
        """The person's conversation, from memory or the database; None when it is not theirs or does not exist."""
        if (live := self.live.get(conversation_id)) is not None:
            if live.owner_id != owner_id:
                return None
            if self.shared is not None:  # another instance may have added a turn (a missed notice); a catch-up under
                await live.sync()  # way (a notice's) is waited for, so the reply it brings is there (sync() says when)
            return live
        if (loading := self._loading.get(conversation_id)) is None:  # two tabs opening it at once share one load
            loading = self._loading[conversation_id] = asyncio.ensure_future(self._load(owner_id, conversation_id))
            loading.add_done_callback(lambda _: self._loading.pop(conversation_id, None))
        conversation = await asyncio.shield(loading)
        return conversation if conversation is not None and conversation.owner_id == owner_id else None

    async def _load(self, owner_id: str, conversation_id: str) -> Conversation | None:
        record = await self.store.conversation(owner_id, conversation_id)
        if record is None:
            return None
        messages = [Message.from_record(m) for m in await self.store.messages(record.id)]
        size = sum(message.size for message in messages)
        if self.held_chars + size > self.max_held_chars:
            raise ChatError('server_busy', 'The server is holding too many open conversations right now; close some '
                            'tabs or try again in a minute.', 503)
        conversation = Conversation(self, id=record.id, owner_id=owner_id, model=record.model, title=record.title,
                                    system_prompt=record.system_prompt, settings=record.settings, messages=messages,
                                    stored=True)
        self.live[record.id] = conversation
        if self.shared is not None:
            for message in [m for m in messages if m.streaming]:
                await self.adopt(conversation, message, catch_up=True)
        return conversation

    async def adopt(self, conversation: Conversation, message: Message, *, catch_up: bool = False) -> None:
        """A reply the database has as streaming: follow it if Redis has it, else it was interrupted
        (`catch_up`: see Conversation.follow)."""
        assert self.shared is not None
        known = await self.shared.known(message.id)
        # Streaming or just ended elsewhere, or Redis is down (the follower waits for it); or claimed here just now:
        # in flight, but its holder died before its first batch (no stream yet): its end entry `interrupted` is
        # there now, and following reads it (else it stayed streaming here, and the API refused to follow it).
        if known is not False or await self.shared.reap(message.id):
            await conversation.follow(message, catch_up=catch_up)
        else:  # no lease and not in flight: e.g. every instance restarted
            message.status = INTERRUPTED
            async with self._writes:
                await self.store.interrupt_reply(message.id, message.content, message.reasoning)

    def announce(self, kind: Kind, owner_id: str, conversation_id: str = ALL, reply_id: str = '') -> None:
        """With REDIS_URL: tell the other instances what changed here (app/live/notices.py), in the background."""
        if self.shared is not None:
            self.background(self.shared.announce(kind, owner_id, conversation_id, reply_id), name='live notice')

    def _noticed(self, notice: Notice) -> None:
        """Another instance changed one of a person's conversations: catch up in what this one holds and shows."""
        if self.closing:
            return
        conversation = self.live.get(notice.conversation_id)
        if conversation is not None and conversation.owner_id != notice.owner_id:
            conversation = None  # ids are unguessable, so only a forged notice gets here: act on nothing of it
        if notice.kind == 'reply':
            if conversation is not None:
                self.background(self._catch_up(conversation, conversation.sync(notice.reply_id)),
                                name='sync conversation')
            self._moved_to_top(notice.owner_id, notice.conversation_id)
        elif notice.kind in ('renamed', 'branch', 'settings'):
            if conversation is not None:
                self.background(self._catch_up(conversation, conversation.refresh()), name='refresh conversation')
            if notice.kind == 'renamed':
                self.lists_changed(notice.owner_id)
        else:  # deleted, deleted_all, created
            gone = [conversation] if conversation is not None else [] if notice.kind != 'deleted_all' else [
                c for c in self.live.values() if c.owner_id == notice.owner_id]
            for held in gone:
                self._gone(held)
            self.lists_changed(notice.owner_id)

    async def _catch_up(self, conversation: Conversation, catching_up: Awaitable[None]) -> None:
        try:
            await catching_up
        except Exception as exc:  # the database is down: the next open of the conversation tries again
            log.error('could not reload conversation %s: %s', conversation.id, type(exc).__name__)
        self.release(conversation)

    def _gone(self, conversation: Conversation) -> None:
        """A conversation held here was deleted on another instance: stop its reply (one streaming here is cancelled,
        one followed from elsewhere is asked to stop and followed to its end, `stopped`, as on one instance), forget
        it, and close its pages."""
        conversation.stop()
        if self.live.get(conversation.id) is conversation:
            del self.live[conversation.id]
        conversation.views.notify(lambda view: view.on_deleted())

    def _moved_to_top(self, owner_id: str, conversation_id: str) -> None:
        """A turn on another instance moved a conversation to the top of the person's list: refresh the lists shown
        here when it was not there already (as save_turn does for a turn made here)."""
        top = (conversation_id, datetime.now(UTC).date())
        if owner_id in self._list_watchers and self._latest.get(owner_id) != top:
            self._latest[owner_id] = top
            self.lists_changed(owner_id)

    def _stop_reply(self, reply_id: str) -> None:
        """Stop requested on some instance: if the reply streams here, stop it."""
        for conversation in list(self.live.values()):
            if conversation.replying == reply_id:
                conversation.stop()

    async def _interrupted(self, reply_id: str, content: str, reasoning: str) -> None:
        """This instance claimed a reply whose instance died: save it as interrupted with the text Redis had."""
        async with self._writes:
            await self.store.interrupt_reply(reply_id, content, reasoning)

    def release(self, conversation: Conversation) -> None:
        """Forget a conversation nobody shows and no reply streams into: it is all in the database."""
        if not len(conversation.views) and not conversation.busy and self.live.get(conversation.id) is conversation:
            del self.live[conversation.id]

    async def save_turn(self, conversation: Conversation, new: list[Message], *, title: str) -> None:
        """Insert a turn's new messages (a prompt and its empty, streaming reply, or a reply alone).

        A new conversation is created first, with its settings; a stored choice of branch is dropped (the new reply
        is the newest message, which is what is shown by default). Turns that arrive while another write runs are
        written together, in one transaction, by one writer task once it has the lock; each sender waits for its own
        turn only (many people pressing Enter at once queued seconds behind each other's commits; bench/page_load).
        """
        if conversation.size + self.held_chars > self.max_held_chars and conversation.id not in self.live:
            raise ChatError('server_busy', 'The server is holding too many open conversations right now; try again '
                            'in a minute.', 503)
        turn = _Turn(conversation, new, title)
        self._turns.append(turn)
        if self._turn_writer is None or self._turn_writer.done():  # else the writer waiting for the lock takes it
            self._turn_writer = self.spawn(self._write_queued_turns(), name='write turns')
        await asyncio.shield(turn.written)  # a sender that goes away leaves the others' write alone
        if (error := turn.written.result()) is not None:
            raise error
        # A turn moves its conversation to the top of the person's list (and into Today): a change for their drawers
        # only when it was not there already (a drawer refresh costs 40-80 ms of server time; bench.chat).
        now = datetime.now(UTC)
        top = (conversation.id, now.date())
        if self._latest.get(conversation.owner_id) != top:
            self._latest[conversation.owner_id] = top
            self.lists_changed(conversation.owner_id, ConversationSummary(conversation.id, conversation.title, now))

    async def _write_queued_turns(self) -> None:
        """Take the write lock, then write every turn queued by then, together; their senders wait on their own
        turn only, not on the lock (turns that were written in a batch used to queue for the lock one by one after
        it, hundreds of ms under load: bench/page_load's turn steps)."""
        turns: list[_Turn] = []
        try:
            async with self._writes:
                turns, self._turns = self._turns, []
                self._turn_writer = None  # turns queued from now on need a writer of their own
                await self._write_turns(turns)
        except BaseException as error:  # cancelled (shutdown) or a bug: no sender may wait forever
            failure = error if isinstance(error, Exception) else ChatError(
                'not_saved', 'The server stopped before the message was saved.', 503)
            if not turns:  # cancelled while waiting for the lock: the queue is this writer's to fail
                turns, self._turns, self._turn_writer = self._turns, [], None
            for turn in turns:
                turn.done(failure)
            raise

    async def _write_turns(self, turns: list[_Turn]) -> None:
        """Write `turns` in one transaction; if that fails, each on its own, so a bad one fails alone."""
        for turn in turns:
            if turn.conversation.stored and turn.conversation.settings.pop('leaf', None) is not None:
                await self.store.update_conversation(turn.conversation.owner_id, turn.conversation.id,
                                                     settings=turn.conversation.settings)
        try:
            await self.store.add_turns([turn.to_new() for turn in turns])
        except Exception as error:
            if len(turns) == 1:
                turns[0].done(error)
                return
            for turn in turns:
                try:
                    await self.store.add_turns([turn.to_new()])
                except Exception as own_error:
                    turn.done(own_error)
                else:
                    self._written(turn)
            return
        for turn in turns:
            self._written(turn)

    def _written(self, turn: _Turn) -> None:
        conversation = turn.conversation
        if not conversation.stored:
            conversation.stored, conversation.title = True, turn.title
            self.live[conversation.id] = conversation
        turn.done()

    async def save_settings(self, conversation: Conversation) -> None:
        """Store a conversation's model, system prompt and settings (including the branch shown)."""
        async with self._writes:
            await self.store.update_conversation(conversation.owner_id, conversation.id, model=conversation.model,
                                                 system_prompt=conversation.system_prompt or '',
                                                 settings=conversation.settings)

    def save_final(self, message: Message) -> asyncio.Task[Any]:
        """Save a message that has stopped streaming, in full, soon (in order after any checkpoint under way)."""
        self.dirty.discard(message)
        return self.background(self._save([message]), name='save reply')

    def background(self, work: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        """Run `work` as a task that shutdown (and `settle`) waits for: a final save, a reply's end in Redis."""
        task = self.spawn(work, name=name)
        self._saves.add(task)
        task.add_done_callback(self._saves.discard)
        return task

    async def save_now(self, message: Message) -> None:
        """Save a message's current state now (in order with checkpoints and final saves)."""
        await self._save([message])

    async def settle(self) -> None:
        """Wait until every final save (and other `background` work) under way is done."""
        await asyncio.gather(*list(self._saves), return_exceptions=True)

    async def checkpoint(self) -> None:
        """Save every reply changed since the last checkpoint, in one transaction."""
        if self.dirty:
            messages = list(self.dirty)
            self.dirty.clear()  # in place: running replies hold this very set
            await self._save(messages)

    async def _save(self, messages: list[Message]) -> None:
        updates = [message.to_update() for message in messages]
        async with self._writes:
            try:
                await self.store.save_messages(updates)
            except Exception as exc:  # the database is down: keep the text in memory, try again at the next tick
                log.error('could not save %d message(s): %s', len(updates), type(exc).__name__)
                self.dirty.update(message for message in messages if message.streaming)

    async def _checkpoint_loop(self) -> None:
        while True:
            await asyncio.sleep(self.checkpoint_interval)
            await self.checkpoint()

    async def shutdown(self) -> None:
        """Stop every reply in flight, save each as interrupted with all its text, then close the store."""
        self.closing = True
        if not self._started.is_set() and self._opening is not None and not self._opening.done():
            await asyncio.wait({self._opening}, timeout=READY_TIMEOUT)  # stopped while the database was opening
        if not self._started.is_set():  # it never opened: nothing to save or close
            return
        conversations = list(self.live.values())
        for conversation in conversations:
            conversation.stop(elsewhere=False)  # replies followed from other instances go on there
        waits = [asyncio.ensure_future(conversation.wait()) for conversation in conversations]
        if waits:
            _, stuck = await asyncio.wait(waits, timeout=SHUTDOWN_WAIT)
            for waiting in stuck:
                waiting.cancel()
            if stuck:
                log.warning('%d replies had not ended %.0f s after the shutdown cancelled them', len(stuck),
                            SHUTDOWN_WAIT)
        await self.settle()
        await self.checkpoint()
        if self._checkpoints is not None:
            self._checkpoints.cancel()
        if self.shared is not None:
            await self.shared.aclose()
        await self.store.close()

    async def conversations(self, owner_id: str, *, query: str | None = None, limit: int = 50,
                            before: tuple[Any, str] | None = None) -> list[ConversationSummary]:
        """A page of the person's conversations, newest activity first; `query` filters by title and text."""
        return await self.store.conversations(owner_id, query=query or None, limit=limit, before=before)

    async def rename(self, owner_id: str, conversation_id: str, title: str) -> bool:
        """Rename the person's conversation; False when it is not theirs."""
        title = ' '.join(title.split())[:200]
        if not title:
            raise ChatError('invalid_title', 'A title cannot be empty.', 422)
        async with self._writes:
            done = await self.store.rename_conversation(owner_id, conversation_id, title)
        if done and (live := self.live.get(conversation_id)) is not None:
            live.title = title
            live.views.notify(lambda view: view.on_details())
        self.lists_changed(owner_id)
        if done:
            self.announce('renamed', owner_id, conversation_id)
        return done

    async def delete(self, owner_id: str, conversation_id: str) -> bool:
        """Delete the person's conversation with its messages, stopping its reply; False when it is not theirs."""
        live = self.live.get(conversation_id)
        if live is not None and live.owner_id == owner_id:
            live.stop()
            await live.wait()
            await self.settle()
        owned = await self.store.conversation(owner_id, conversation_id) is not None
        images = [str(image['id']) for record in (await self.store.messages(conversation_id) if owned else [])
                  for image in record.attachments or ()]
        async with self._writes:
            done = await self.store.delete_conversation(owner_id, conversation_id)
        if done:
            await self.images(owner_id).delete(images)
        if done and live is not None and live.owner_id == owner_id:
            self.live.pop(conversation_id, None)
            live.views.notify(lambda view: view.on_deleted())
        self.lists_changed(owner_id)
        if done:
            self.announce('deleted', owner_id, conversation_id)
        return done

    async def delete_all(self, owner_id: str) -> int:
        """Delete every conversation of the person (stopping their replies); returns how many."""
        mine = [c for c in self.live.values() if c.owner_id == owner_id]
        for conversation in mine:
            conversation.stop()
        await asyncio.gather(*(conversation.wait() for conversation in mine))
        await self.settle()
        async with self._writes:
            count = await self.store.delete_all(owner_id)
        await self.images(owner_id).delete_all()
        for conversation in mine:
            self.live.pop(conversation.id, None)
            conversation.views.notify(lambda view: view.on_deleted())
        self.lists_changed(owner_id)
        self.announce('deleted_all', owner_id)
        return count

    async def import_conversation(self, owner_id: str, data: Any, models: Sequence[str]) -> str:
        """Store an exported conversation (JSON, decoded) as a new one of the person's; returns its id."""
        meta, messages = export.from_json(data, new_id=new_id)
        if sum(message.size for message in messages) > MAX_CONVERSATION_CHARS:
            raise ChatError('invalid_import', 'This conversation is too long to import.', 413)
        model = meta['model'] if meta['model'] in models else models[0]
        async with self._writes:
            record = await self.store.create_conversation(owner_id, title=meta['title'], model=model,
                                                          system_prompt=meta['system_prompt'],
                                                          settings=clean_settings(meta['settings']))
            await self.store.add_messages(record.id, [message.to_new() for message in messages])
            await self.store.save_messages([message.to_update() for message in messages if message.role != 'user'])
        self.lists_changed(owner_id)
        self.announce('created', owner_id, record.id)
        return record.id

    def watch_lists(self, owner_id: str, callback: Callable[[], object], *,
                    on_top: Callable[[ConversationSummary], object] | None = None) -> Callable[[], None]:
        """Call `callback` whenever the person's list of conversations changes, or `on_top` (when given) with the
        conversation a turn made here just put at the top of it; returns the function that stops it."""
        watchers = self._list_watchers.setdefault(owner_id, set())
        watchers.add(callback)
        if on_top is not None:
            self._top_watchers[callback] = on_top

        def unwatch() -> None:
            watchers.discard(callback)
            self._top_watchers.pop(callback, None)
            if not watchers:
                self._list_watchers.pop(owner_id, None)
        return unwatch

    def lists_changed(self, owner_id: str, top: ConversationSummary | None = None) -> None:
        """Tell every open sidebar of the person that their list changed (`top`: only that it is now first)."""
        for callback in list(self._list_watchers.get(owner_id, ())):
            try:
                if top is not None and (on_top := self._top_watchers.get(callback)) is not None:
                    on_top(top)
                else:
                    callback()
            except Exception:
                log.exception('a conversation list watcher failed')


class _Turn:
    """A turn waiting to be written; `done` marks it written, or failed with the error its sender gets."""

    def __init__(self, conversation: Conversation, messages: list[Message], title: str) -> None:
        self.conversation, self.messages, self.title = conversation, messages, title
        # Resolved once written (None) or failed (the error its sender gets).
        self.written: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()

    def to_new(self) -> NewTurn:
        conversation = self.conversation
        create = None
        if not conversation.stored:
            conversation.settings.pop('leaf', None)
            create = {'owner_id': conversation.owner_id, 'title': self.title, 'model': conversation.model,
                      'system_prompt': conversation.system_prompt, 'settings': conversation.settings}
        return NewTurn(conversation.id, [message.to_new() for message in self.messages], create)

    def done(self, error: Exception | None = None) -> None:
        if not self.written.done():
            self.written.set_result(error)
