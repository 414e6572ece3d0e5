"""Two chat runtimes (two instances) on one database and one real redis-server: a reply streamed by A is followed
live by B, Stop on B closes A's upstream request, a reply whose instance is gone ends interrupted once, and a turn
or Continue made on A reaches a copy of the conversation B holds in memory (live, and on the next open)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.chat.chats import Chats
from app.chat.conversation import Conversation
from app.chat.message import COMPLETE, INTERRUPTED, STOPPED, STREAMING, Message
from app.config import load_settings
from app.live import keys
from app.live.hub import Live
from app.store import ConversationRecord, NewMessage, new_id, open_store
from app.upstream import Upstream
from tests.app.chat.conftest import Recorder
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream, Script
from tests.services.redis import RedisServer

EVENT_TIMEOUT = 10
SHARED_DB = 4  # the Redis database of these tests
LEASE_MS = 600  # short, so a dead instance's reply is claimed quickly


async def wait(event: asyncio.Event) -> None:
    await asyncio.wait_for(event.wait(), EVENT_TIMEOUT)


class Screen:
    """A view that keeps what a page shows (components/chat.py): the branch's messages, drawn again on on_branch,
    a message drawn (again) on on_message, text appended on on_delta; `live` is all text that came as deltas."""

    def __init__(self, conversation: Conversation, wanted: int = 1) -> None:
        self.conversation, self.wanted = conversation, wanted
        self.shown: dict[str, list[str]] = {}
        self.live = ''
        self.grew, self.finished = asyncio.Event(), asyncio.Event()
        self.changed, self.deleted, self.redrawn = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.on_branch()
        self.redrawn.clear()  # set each time the branch is drawn again after this
        conversation.attach(self)

    @property
    def text(self) -> list[tuple[str, str]]:
        return [(role, text) for role, text in self.shown.values()]

    def on_branch(self) -> None:
        self.shown = {m.id: [m.role, m.content] for m in self.conversation.messages}
        self.redrawn.set()

    def on_message(self, message: Message) -> None:
        self.shown[message.id] = [message.role, message.content]

    def on_delta(self, message: Message, text: str) -> None:
        self.shown[message.id][1] += text
        self.live += text
        if len(self.live) >= self.wanted:
            self.grew.set()

    def on_reasoning(self, message: Message, text: str) -> None:
        pass

    def on_finish(self, message: Message) -> None:
        self.finished.set()

    def on_details(self) -> None:
        self.changed.set()

    def on_deleted(self) -> None:
        self.deleted.set()


def texts(conversation: Conversation) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in conversation.messages]


async def streaming_on_a(a: Chats, upstream: FakeUpstream, script: Script,
                         wanted: int) -> tuple[str, Conversation, Recorder]:
    """A person's prompt on A whose reply (`script`) streams there; returns once A's view has `wanted` deltas."""
    upstream.queue(script)
    owner = await a.store.user_id('browser:a')
    on_a = a.draft(owner)
    seen_a = Recorder(wanted=wanted)
    on_a.attach(seen_a)
    await on_a.send('count')
    await wait(seen_a.grew)
    return owner, on_a, seen_a


@pytest.fixture
async def instances(tmp_path: Path, upstream: FakeUpstream,
                    redis_server: RedisServer) -> AsyncIterator[tuple[Chats, Chats]]:
    """Instances A and B: each its own store connection to one SQLite file, its own upstream client and Redis link."""
    started: list[tuple[Chats, Upstream]] = []
    for name in ('a', 'b'):
        live = Live(redis_server.url(SHARED_DB), instance_id=name, lease_ttl_ms=LEASE_MS)
        if name == 'a':
            await live.link.redis.flushdb()
        client = Upstream(load_settings(app_env(upstream), env_file=None))
        runtime = Chats(client, model='fake-model', checkpoint_interval=3600, shared=live)
        await runtime.start(await open_store(f'sqlite:///{tmp_path}/shared.db'))
        await asyncio.wait_for(live.stops.subscribed(), EVENT_TIMEOUT)
        started.append((runtime, client))
    yield started[0][0], started[1][0]
    for runtime, client in started:
        await runtime.shutdown()
        await client.aclose()


async def test_a_reply_streamed_on_a_is_followed_live_on_b_to_the_same_end(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    script = Script(tokens=[f'w{n} ' for n in range(60)], delay=0.01, reasoning=['Hmm. '])
    owner, on_a, seen_a = await streaming_on_a(a, upstream, script, 30)
    # mid-reply, B opens the conversation (a reload through another instance)
    on_b = await b.open(owner, on_a.id)
    assert on_b is not None and on_b is not on_a and on_b.busy
    reply_b = on_b.messages[-1]
    before = reply_b.content  # what Redis had when B opened it (the database's checkpoint is behind)
    seen_b = Recorder()
    on_b.attach(seen_b)
    await wait(seen_b.finished)
    await wait(seen_a.finished)
    reply_a = on_a.messages[-1]
    assert reply_b.content == before + seen_b.text == reply_a.content == ''.join(f'w{n} ' for n in range(60))
    assert reply_b.reasoning == reply_a.reasoning == 'Hmm. '
    assert reply_b.status == COMPLETE and not on_b.busy
    assert (reply_b.finish_reason, reply_b.usage, reply_b.timing) == (reply_a.finish_reason, reply_a.usage,
                                                                      reply_a.timing)
    assert len(upstream.records) == 1  # B never asked the model itself


async def test_stop_on_b_closes_the_upstream_request_on_a(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    owner, on_a, _ = await streaming_on_a(a, upstream, Script(tokens=['tick '] * 1000, delay=0.01), 20)
    on_b = await b.open(owner, on_a.id)
    assert on_b is not None
    seen_b = Recorder()
    on_b.attach(seen_b)
    pressed = time.monotonic()
    on_b.stop()  # Stop pressed in a tab on B
    assert await asyncio.to_thread(upstream.records[0].disconnected.wait, EVENT_TIMEOUT), 'A kept generating'
    disconnected_at = upstream.records[0].disconnected_at
    assert disconnected_at is not None
    print(f'\nStop on B -> upstream closed by A: {(disconnected_at - pressed) * 1000:.1f} ms')
    await wait(seen_b.finished)
    await a.settle()
    assert on_b.messages[-1].status == on_a.messages[-1].status == STOPPED
    assert on_b.messages[-1].content == on_a.messages[-1].content
    assert (await a.store.messages(on_a.id))[-1].status == STOPPED


async def test_a_reply_whose_instance_died_is_interrupted_once_with_what_redis_had(
        instances: tuple[Chats, Chats], redis_server: RedisServer) -> None:
    a, b = instances
    owner, record, reply = await stored_turn(a, 'che', STREAMING)
    # An instance that died mid-reply: it had published more than its last checkpoint, and its lease is expiring.
    dead = Live(redis_server.url(SHARED_DB), instance_id='dead', lease_ttl_ms=LEASE_MS)
    writer = dead.writer(reply)
    await writer.start()
    writer._beats.cancel()  # type: ignore[union-attr]  # killed: no more heartbeats
    writer.add('content', 'checkpointed and then shown')
    await writer.flush()
    on_b = await b.open(owner, record.id)  # opened while the lease still holds: followed
    assert on_b is not None and on_b.busy
    # Opened with what Redis had, not the checkpoint ('che'): a tab moved here never shows less than it did.
    assert on_b.messages[-1].content == 'checkpointed and then shown'
    seen = Recorder()
    on_b.attach(seen)
    await wait(seen.finished)  # the lease expired: claimed (by B's reader, or A's or B's sweep), ended interrupted
    assert on_b.messages[-1].status == INTERRUPTED
    assert on_b.messages[-1].content == 'checkpointed and then shown'
    await a.settle()
    for _ in range(50):  # the claimer's save is its own background work, on whichever instance won
        saved = (await a.store.messages(record.id))[-1]
        if saved.status == INTERRUPTED:
            break
        await asyncio.sleep(0.05)
    assert (saved.status, saved.content) == (INTERRUPTED, 'checkpointed and then shown')
    assert not await dead.link.redis.zscore(keys.INFLIGHT, reply)
    await dead.aclose()


async def test_a_reply_that_just_ended_elsewhere_is_opened_with_its_end_not_interrupted(
        instances: tuple[Chats, Chats], redis_server: RedisServer) -> None:
    """Its holder ended it (end entry, lease gone) but its final save is not in the database yet."""
    a, b = instances
    owner, record, reply = await stored_turn(a, 'the wh', STREAMING)
    other = Live(redis_server.url(SHARED_DB), instance_id='other', lease_ttl_ms=LEASE_MS)
    writer = other.writer(reply)
    await writer.start()
    writer.add('content', 'the whole reply')
    await writer.end(COMPLETE, meta={'finish_reason': 'stop'})
    on_b = await b.open(owner, record.id)
    assert on_b is not None
    if on_b.busy:
        seen = Recorder()
        on_b.attach(seen)
        await wait(seen.finished)
    assert (on_b.messages[-1].status, on_b.messages[-1].content) == (COMPLETE, 'the whole reply')
    assert on_b.messages[-1].finish_reason == 'stop'
    await other.aclose()


async def test_a_streaming_reply_nobody_holds_is_interrupted_at_open(
        instances: tuple[Chats, Chats]) -> None:
    a, b = instances
    owner, record, _ = await stored_turn(a, 'half', STREAMING)
    opened = await b.open(owner, record.id)  # every instance restarted (Redis knows nothing of it)
    assert opened is not None and not opened.busy and opened.messages[-1].status == INTERRUPTED
    assert (await b.store.messages(record.id))[-1].status == INTERRUPTED


async def test_a_reply_continued_on_a_is_followed_on_b_from_its_partial_text(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    owner, record, _ = await stored_turn(a, 'Once upon a ti', INTERRUPTED)
    upstream.queue(Script(tokens=['me'] + [' and on'] * 40, delay=0.01))
    on_a = await a.open(owner, record.id)
    assert on_a is not None
    seen_a = Recorder(wanted=10)
    on_a.attach(seen_a)
    await on_a.continue_reply(on_a.messages[-1])
    await wait(seen_a.grew)
    on_b = await b.open(owner, record.id)  # the database says streaming: B follows it
    assert on_b is not None and on_b.busy
    seen_b = Recorder()
    on_b.attach(seen_b)
    await wait(seen_b.finished)
    await wait(seen_a.finished)
    expected = 'Once upon a time' + ' and on' * 40
    assert on_b.messages[-1].content == on_a.messages[-1].content == expected
    assert on_b.messages[-1].status == COMPLETE


async def test_a_turn_sent_on_a_reaches_b_that_holds_the_conversation_live_and_on_reopen(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    on_a, on_b = await held_on_both(a, b, upstream)  # a tab on B shows the conversation: B holds it in memory
    owner = on_a.owner_id
    screen = Screen(on_b, wanted=len('t0 t1 t2 '))
    assert screen.text == [('user', 'first'), ('assistant', 'one')]
    second = Script(tokens=[f't{n} ' for n in range(30)], hold_at=3)
    upstream.queue(second)
    seen_a = Recorder()
    on_a.attach(seen_a)
    await on_a.send('second')  # the same person, in a tab on A
    await wait(screen.grew)  # B shows A's new prompt and the reply's first tokens while A still streams it
    assert on_a.messages[-1].streaming and on_b.busy
    assert screen.text == [('user', 'first'), ('assistant', 'one'), ('user', 'second'), ('assistant', 't0 t1 t2 ')]
    second.release.set()
    await wait(screen.finished)
    await wait(seen_a.finished)
    expected = ''.join(f't{n} ' for n in range(30))
    assert screen.text == texts(on_b) == texts(on_a) == [('user', 'first'), ('assistant', 'one'),
                                                         ('user', 'second'), ('assistant', expected)]
    assert screen.live == expected  # every character of the reply came live, none twice
    assert on_b.messages[-1].status == COMPLETE and not on_b.busy
    assert (await b.open(owner, on_a.id)) is on_b and texts(on_b) == texts(on_a)  # a reload on B shows it too
    assert len(upstream.records) == 2  # B never asked the model itself


async def test_a_turn_whose_notice_b_missed_is_shown_when_b_opens_the_conversation_again(
        instances: tuple[Chats, Chats]) -> None:
    a, b = instances
    owner, record, on_b = await stored_and_shown_on_b(a, b)  # the old tab, still attached while the reload opens
    later = new_id()  # a turn another instance made while B's listener was away (Redis restarting)
    await a.store.add_messages(record.id, [NewMessage('user', 'q2', parent_id=on_b.messages[-1].id, id=later),
                                           NewMessage('assistant', 'a2', parent_id=later)])
    reopened = await b.open(owner, record.id)
    assert reopened is on_b and texts(on_b) == [('user', 'q'), ('assistant', 'a'), ('user', 'q2'), ('assistant', 'a2')]


async def test_a_continue_on_a_reaches_b_that_holds_the_conversation_live(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    owner, record, _ = await stored_turn(a, 'Once upon a ti', INTERRUPTED)
    on_b = await b.open(owner, record.id)
    assert on_b is not None and on_b.messages[-1].interrupted
    screen = Screen(on_b)
    on_a = await a.open(owner, record.id)
    assert on_a is not None
    seen_a = Recorder()
    on_a.attach(seen_a)
    upstream.queue(Script(tokens=['me'] + [' and on'] * 20, delay=0.005))
    await on_a.continue_reply(on_a.messages[-1])
    await wait(screen.finished)
    await wait(seen_a.finished)
    expected = 'Once upon a time' + ' and on' * 20
    assert screen.text == texts(on_b) == texts(on_a) == [('user', 'q'), ('assistant', expected)]
    assert screen.live == expected.removeprefix('Once upon a ti')
    assert on_b.messages[-1].status == COMPLETE


async def stored_turn(a: Chats, reply: str, status: str = COMPLETE) -> tuple[str, ConversationRecord, str]:
    """A person's conversation written straight to the database: prompt 'q' and a reply (`reply`, `status`).
    Returns the owner, the conversation and the reply's id."""
    owner = await a.store.user_id('browser:a')
    record = await a.store.create_conversation(owner, title='t', model='fake-model')
    prompt, reply_id = new_id(), new_id()
    await a.store.add_messages(record.id, [NewMessage('user', 'q', id=prompt),
                                           NewMessage('assistant', reply, parent_id=prompt, id=reply_id,
                                                      status=status)])
    return owner, record, reply_id


async def stored_and_shown_on_b(a: Chats, b: Chats) -> tuple[str, ConversationRecord, Conversation]:
    """A conversation with one turn written straight to the database, opened and shown on B (so B holds it)."""
    owner, record, _ = await stored_turn(a, 'a')
    on_b = await b.open(owner, record.id)
    assert on_b is not None
    Screen(on_b)
    return owner, record, on_b


async def held_on_both(a: Chats, b: Chats, upstream: FakeUpstream) -> tuple[Conversation, Conversation]:
    """A conversation with one finished turn, made on A and held (shown) on B too."""
    owner = await a.store.user_id('browser:a')
    on_a = a.draft(owner)
    seen = Recorder()
    on_a.attach(seen)
    upstream.queue(Script(tokens=['one']))
    await on_a.send('first')
    await wait(seen.finished)
    await a.settle()
    on_b = await b.open(owner, on_a.id)
    assert on_b is not None and not on_b.busy
    return on_a, on_b


async def test_a_rename_on_a_reaches_the_copy_and_the_lists_b_shows(instances: tuple[Chats, Chats]) -> None:
    a, b = instances
    owner = await a.store.user_id('browser:a')
    record = await a.store.create_conversation(owner, title='t', model='fake-model')  # no notice of its own
    on_b = await b.open(owner, record.id)
    assert on_b is not None
    screen = Screen(on_b)
    listed = asyncio.Event()
    b.watch_lists(owner, listed.set)  # a sidebar of the person's open on B
    assert await a.rename(owner, record.id, 'Garden  plans')
    await wait(screen.changed)
    await wait(listed)
    assert on_b.title == 'Garden plans'
    assert [c.title for c in await b.conversations(owner)] == ['Garden plans']  # what the sidebar reloads


async def test_a_delete_on_a_stops_the_reply_b_streams_and_closes_b_s_pages(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    on_a, on_b = await held_on_both(a, b, upstream)
    screen = Screen(on_b, wanted=3)
    listed = asyncio.Event()
    b.watch_lists(on_b.owner_id, listed.set)
    upstream.queue(Script(tokens=['tick '] * 1000, delay=0.01))
    await on_b.send('count')  # streaming on B; A's copy follows it (and A's drawer deletes it)
    await wait(screen.grew)
    assert await a.delete(on_a.owner_id, on_a.id)
    await wait(screen.deleted)
    await wait(listed)
    assert await asyncio.to_thread(upstream.records[-1].disconnected.wait, EVENT_TIMEOUT), 'B kept generating'
    assert on_a.id not in b.live and on_a.id not in a.live
    assert await b.open(on_a.owner_id, on_a.id) is None and await a.store.messages(on_a.id) == []


async def test_a_version_switch_and_new_settings_on_a_reach_b_and_b_s_next_turn_uses_them(
        instances: tuple[Chats, Chats], upstream: FakeUpstream) -> None:
    a, b = instances
    on_a, on_b = await held_on_both(a, b, upstream)
    seen_a = Recorder()
    on_a.attach(seen_a)
    upstream.queue(Script(tokens=['two']))
    await on_a.regenerate(on_a.messages[-1])  # a second version of the answer, shown on both
    await wait(seen_a.finished)
    await a.settle()
    screen = Screen(on_b)
    for _ in range(100):  # B learns of the new version from its notice (sync), then follows it to its end
        if texts(on_b) == [('user', 'first'), ('assistant', 'two')] and not on_b.busy:
            break
        await asyncio.sleep(0.02)
    assert texts(on_b) == [('user', 'first'), ('assistant', 'two')] and not on_b.busy
    screen.redrawn.clear()
    await on_a.switch(on_a.messages[-1], -1)  # back to the first version on A
    await wait(screen.redrawn)
    assert on_b.leaf == on_a.leaf and texts(on_b) == screen.text == [('user', 'first'), ('assistant', 'one')]
    assert not screen.changed.is_set()  # the title, model and settings are as they were
    await on_a.configure(model='other-model', system_prompt='Be brief.', temperature=0.5, max_tokens=64)
    await wait(screen.changed)
    assert (on_b.model, on_b.system_prompt, on_b.params) == ('other-model', 'Be brief.',
                                                             {'temperature': 0.5, 'max_tokens': 64})
    seen_b = Recorder()
    on_b.attach(seen_b)
    upstream.queue(Script(tokens=['three']))
    await on_b.send('second')  # a turn from a tab on B: on the version and with the settings chosen on A
    await wait(seen_b.finished)
    sent = upstream.records[-1].body
    assert (sent['model'], sent['temperature'], sent['max_tokens']) == ('other-model', 0.5, 64)
    assert [(m['role'], m['content']) for m in sent['messages']] == [
        ('system', 'Be brief.'), ('user', 'first'), ('assistant', 'one'), ('user', 'second')]


async def test_opening_a_conversation_while_a_catch_up_is_under_way_waits_for_it(
        instances: tuple[Chats, Chats]) -> None:
    """What an API request on B does (`/stream?reply_id=`) just as B catches up with a notice: it must find the new
    turn, not the copy from before it (a 404 for the reply, or the previous reply followed instead)."""
    a, b = instances
    owner, record, on_b = await stored_and_shown_on_b(a, b)  # shown on B, so B holds it
    later = new_id()  # a turn made on another instance
    await a.store.add_messages(record.id, [NewMessage('user', 'q2', parent_id=on_b.messages[-1].id, id=later),
                                           NewMessage('assistant', 'a2', parent_id=later)])
    catching_up = asyncio.create_task(on_b.sync())  # as its notice does
    await asyncio.sleep(0)  # the catch-up holds its lock and reads the database
    opened = await b.open(owner, record.id)
    assert opened is on_b and texts(on_b) == [('user', 'q'), ('assistant', 'a'), ('user', 'q2'), ('assistant', 'a2')]
    await catching_up


async def test_stop_on_b_is_asked_again_when_the_holder_s_listener_missed_it(
        instances: tuple[Chats, Chats], upstream: FakeUpstream, redis_server: RedisServer) -> None:
    a, b = instances
    owner, on_a, seen_a = await streaming_on_a(a, upstream, Script(tokens=['tick '] * 2000, delay=0.01), 20)
    on_b = await b.open(owner, on_a.id)
    assert on_b is not None and on_b.busy
    assert a.shared is not None
    await a.shared.stops.aclose()  # A's Stop listener is away (reconnecting to Redis): the first request is lost
    on_b.stop()
    a.shared.stops.start(a._stop_reply)  # back
    with redis_server.client(SHARED_DB) as client:
        for _ in range(500):
            if client.pubsub_numsub(keys.STOP_CHANNEL)[0][1] == 2:
                break
            await asyncio.sleep(0.01)  # a subscription in Redis: no event to await
    assert await asyncio.to_thread(upstream.records[0].disconnected.wait, EVENT_TIMEOUT), 'A kept generating'
    await wait(seen_a.finished)
    assert on_a.messages[-1].status == STOPPED


async def test_a_reply_whose_holder_died_before_its_first_batch_is_claimed_at_open_and_ends_interrupted(
        instances: tuple[Chats, Chats], redis_server: RedisServer) -> None:
    """In flight with no stream yet (the model had not answered): the open that claims it must end it too, not keep
    it streaming with nobody to end it (the API answered its followers 409 streaming_elsewhere)."""
    a, b = instances
    owner, record, reply = await stored_turn(a, '', STREAMING)
    dead = Live(redis_server.url(SHARED_DB), instance_id='dead', lease_ttl_ms=60_000)
    writer = dead.writer(reply)
    await writer.start()  # the lease taken and the reply listed in flight, then killed before any text
    writer._beats.cancel()  # type: ignore[union-attr]
    await dead.link.redis.delete(keys.lease(reply))  # its lease expired
    on_b = await b.open(owner, record.id)  # before the next sweep (every 0.3 s here), B's open claims it
    assert on_b is not None
    if on_b.busy:  # following it to its end entry
        seen = Recorder()
        on_b.attach(seen)
        await wait(seen.finished)
    assert on_b.messages[-1].status == INTERRUPTED and not on_b.busy
    await a.settle()
    assert (await b.store.messages(record.id))[-1].status == INTERRUPTED
    await dead.aclose()
