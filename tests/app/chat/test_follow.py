"""Following a reply from a character offset: the text so far, then live, then how it ended; no queue per follower."""

from __future__ import annotations

import asyncio

import pytest

from app.chat.chats import Chats
from app.chat.follow import PIECE_CHARS, Follower, reply_of
from app.chat.message import COMPLETE, STOPPED, STREAMING
from app.errors import ChatError
from app.store import NewMessage, Store
from tests.app.chat.conftest import Recorder
from tests.fake_upstream import FakeUpstream, Script

EVENT_TIMEOUT = 10


async def drain(follower: Follower) -> str:
    """The text the follower hands out until the reply ends; each piece's offset is where the text then stands."""
    text, position = '', follower.offset
    while not follower.done:
        for piece in await asyncio.wait_for(follower.next(), EVENT_TIMEOUT):
            if piece.kind == 'content':
                position += len(piece.text)
                assert piece.offset == position
                text += piece.text
    return text


async def test_followers_from_different_offsets_get_exactly_the_text_after_them(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=[f'w{i} ' for i in range(40)], delay=0.01))
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder(wanted=30)
    conversation.attach(view)
    reply = await conversation.send('count')
    await asyncio.wait_for(view.grew.wait(), EVENT_TIMEOUT)
    middle = len(reply.content)
    from_start, from_middle = Follower(conversation, reply, 0), Follower(conversation, reply, middle)
    texts = await asyncio.gather(drain(from_start), drain(from_middle))
    full = ''.join(f'w{i} ' for i in range(40))
    assert texts == [full, full[middle:]]
    assert reply.status == COMPLETE and from_start.done
    late = Follower(conversation, reply, 5)  # after the end: the rest at once, then done
    assert await drain(late) == full[5:]
    for follower in (from_start, from_middle, late):
        follower.close()


async def test_a_follower_that_does_not_read_holds_nothing_and_catches_up_in_large_pieces(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    # 3,000 deltas arrive while the follower reads nothing: with a queue it would hold 3,000 entries; here it holds
    # a position, and then gets the text in pieces of at most PIECE_CHARS.
    tokens = ['abcdefghij'] * 3000
    upstream.queue(Script(tokens=tokens))
    conversation = chats.draft(await store.user_id('browser:a'))
    view = Recorder()
    conversation.attach(view)
    reply = await conversation.send('lots')
    follower = Follower(conversation, reply)
    await asyncio.wait_for(view.finished.wait(), EVENT_TIMEOUT)
    assert set(vars(follower)) == {'conversation', 'message', 'offset', '_reasoned', '_changed', '_ended', '_closed'}
    pieces = await follower.next()
    assert [len(p.text) for p in pieces] == [PIECE_CHARS, 30_000 - PIECE_CHARS]
    assert ''.join(p.text for p in pieces) == ''.join(tokens) and follower.done
    follower.close()


async def test_a_stopped_reply_ends_its_followers_and_following_never_stops_a_reply(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['tick '] * 300, delay=0.02))
    conversation = chats.draft(await store.user_id('browser:a'))
    reply = await conversation.send('count')
    gone = Follower(conversation, reply)
    assert await asyncio.wait_for(gone.next(), EVENT_TIMEOUT)
    gone.close()  # a follower leaving: the reply goes on
    staying = Follower(conversation, reply)
    await asyncio.wait_for(staying.next(), EVENT_TIMEOUT)
    assert reply.streaming and conversation.busy
    conversation.stop()
    await drain(staying)
    assert reply.status == STOPPED and staying.done
    staying.close()
    await chats.settle()
    assert chats.live == {}  # nobody holds it any more


async def test_offsets_outside_the_text_are_refused_and_the_reply_to_follow_is_the_last_answer(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['one']), Script(tokens=['two']))
    conversation = chats.draft(await store.user_id('browser:a'))
    first = await conversation.send('a')
    await conversation.wait()
    second = await conversation.send('b')
    await conversation.wait()
    assert reply_of(conversation) is second and reply_of(conversation, first.id) is first
    assert reply_of(conversation, conversation.messages[0].id) is None  # a prompt is not a reply
    for offset in (-1, 4):
        with pytest.raises(ChatError) as refused:
            Follower(conversation, second, offset)
        assert refused.value.status == 416
    follower = Follower(conversation, second, 3)
    assert await follower.next() == [] and follower.done
    follower.close()


async def test_a_reply_stored_as_streaming_that_no_task_here_streams_is_refused_not_followed_forever(
        chats: Chats, store: Store) -> None:
    owner = await store.user_id('browser:a')
    record = await store.create_conversation(owner, title='t', model='fake-model')
    await store.add_messages(record.id, [NewMessage(role='user', content='q'),
                                         NewMessage(role='assistant', content='half', status=STREAMING)])
    conversation = await chats.open(owner, record.id)  # as another instance streaming it would leave the row
    assert conversation is not None
    reply = reply_of(conversation)
    assert reply is not None and reply.streaming and not conversation.busy
    with pytest.raises(ChatError) as refused:
        Follower(conversation, reply)
    assert (refused.value.code, refused.value.status) == ('streaming_elsewhere', 409)
