"""Messages: in order, the last N, checkpoints batched into one write, cascade delete, start-up recovery."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import func, select

from app.store import STATUSES, MessageUpdate, NewMessage, Store, new_id
from app.store.tables import messages


async def chat(store: Store, owner_key: str = 'alice') -> tuple[str, str]:
    """A user and an empty conversation of theirs: (owner id, conversation id)."""
    owner = await store.user_id(owner_key)
    return owner, (await store.create_conversation(owner, title='t', model='m')).id


async def test_messages_come_back_in_order_and_the_last_n(store: Store) -> None:
    _, conversation = await chat(store)
    added = []
    for turn in range(6):  # separate transactions, so order cannot come from one batch alone
        added += await store.add_messages(conversation, [NewMessage('user', f'q{turn}'),
                                                         NewMessage('assistant', f'a{turn}', model='m1')])
    loaded = await store.messages(conversation)
    assert loaded == added
    assert [m.content for m in loaded][:4] == ['q0', 'a0', 'q1', 'a1']
    assert await store.messages(conversation, limit=3) == added[-3:]
    assert await store.messages(conversation, limit=100) == added
    assert await store.messages(conversation, limit=0) == []
    assert all(m.created_at.tzinfo is UTC for m in loaded)


async def test_every_field_round_trips(store: Store) -> None:
    _, conversation = await chat(store)
    question, answer = await store.add_messages(conversation, [
        NewMessage('user', 'Why is the sky blue? 🌌 100% _sure_'),
        NewMessage('assistant', status='streaming', model='m1', id=new_id(), reasoning='hmm'),
    ])
    assert answer.parent_id is None and answer.status == 'streaming' and answer.reasoning == 'hmm'
    (child,) = await store.add_messages(conversation, [NewMessage('user', 'and at night?', parent_id=answer.id)])
    usage = {'prompt_tokens': 12, 'completion_tokens': 40, 'total_tokens': 52}
    timing = {'ttft_s': 0.25, 'total_s': 1.5, 'tokens_per_s': None}
    await store.save_messages([MessageUpdate(answer.id, 'Rayleigh scattering.', reasoning='physics', status='complete',
                                             finish_reason='stop', usage=usage, timing=timing)])
    loaded = await store.messages(conversation)
    assert loaded[0] == question and loaded[2] == child and child.parent_id == answer.id
    saved = loaded[1]
    assert (saved.content, saved.reasoning, saved.status, saved.finish_reason, saved.usage, saved.timing,
            saved.model, saved.error) == ('Rayleigh scattering.', 'physics', 'complete', 'stop', usage, timing,
                                          'm1', None)
    await store.save_messages([MessageUpdate(answer.id, 'Rayl', status='failed', error='upstream timed out')])
    failed = (await store.messages(conversation))[1]
    assert (failed.status, failed.error, failed.usage) == ('failed', 'upstream timed out', None)


async def test_a_batch_of_checkpoints_is_one_write_and_marks_their_conversations_active(store: Store) -> None:
    owner, first = await chat(store)
    second = (await store.create_conversation(owner, title='t2', model='m')).id
    third = (await store.create_conversation(owner, title='t3', model='m')).id
    (a,) = await store.add_messages(first, [NewMessage('assistant', status='streaming')])
    (b,) = await store.add_messages(second, [NewMessage('assistant', status='streaming')])
    assert [c.id for c in await store.conversations(owner)] == [second, first, third]
    writes = store.writes
    await store.save_messages([MessageUpdate(a.id, 'Once upon'), MessageUpdate(b.id, 'Dear'),
                               MessageUpdate(new_id(), 'a reply whose conversation was deleted meanwhile')])
    assert store.writes == writes + 1
    assert [m.content for m in await store.messages(first)] == ['Once upon']
    assert [m.content for m in await store.messages(second)] == ['Dear']
    assert {c.id for c in (await store.conversations(owner))[:2]} == {first, second}
    await store.save_messages([])
    assert store.writes == writes + 1  # nothing to save, no transaction


async def test_adding_to_a_missing_conversation_fails_and_stores_nothing(store: Store) -> None:
    _, conversation = await chat(store)
    with pytest.raises(ValueError, match='no conversation'):
        await store.add_messages(new_id(), [NewMessage('user', 'lost')])
    with pytest.raises(ValueError, match='no conversation'):
        await store.add_messages('not-an-id', [NewMessage('user', 'lost')])
    assert await store.messages(conversation) == []


@pytest.mark.parametrize('bad', [NewMessage('robot', 'x'), NewMessage('user', 'x', status='done'),
                                 NewMessage('user', 'x', id='short'), NewMessage('user', 'x', parent_id='up')])
async def test_bad_new_messages_are_refused_before_anything_is_written(store: Store, bad: NewMessage) -> None:
    _, conversation = await chat(store)
    writes = store.writes
    with pytest.raises(ValueError):
        await store.add_messages(conversation, [NewMessage('user', 'fine'), bad])
    assert store.writes == writes and await store.messages(conversation) == []


async def test_bad_status_in_a_checkpoint_is_refused(store: Store) -> None:
    _, conversation = await chat(store)
    (message,) = await store.add_messages(conversation, [NewMessage('assistant', status='streaming')])
    with pytest.raises(ValueError, match='unknown message status'):
        await store.save_messages([MessageUpdate(message.id, 'x', status='finished')])
    assert (await store.messages(conversation))[0].content == ''
    assert STATUSES == ('complete', 'streaming', 'stopped', 'failed', 'interrupted')


async def test_deleting_a_conversation_deletes_its_messages(store: Store) -> None:
    owner, doomed = await chat(store)
    _, kept = await chat(store, 'bob')
    await store.add_messages(doomed, [NewMessage('user', f'm{i}') for i in range(5)])
    await store.add_messages(kept, [NewMessage('user', 'stays')])
    assert await store.delete_conversation(owner, doomed)
    counted = await store._read(select(messages.c.conversation_id, func.count()).group_by(messages.c.conversation_id))
    assert [tuple(row) for row in counted] == [(kept, 1)]  # not just hidden: gone from the table


async def test_recover_interrupted_marks_only_streaming_replies(store: Store) -> None:
    _, conversation = await chat(store)
    added = await store.add_messages(conversation, [
        NewMessage('user', 'q'),
        NewMessage('assistant', 'half a rep', status='streaming'),
        NewMessage('assistant', 'done', status='complete'),
        NewMessage('assistant', 'cut', status='stopped'),
        NewMessage('assistant', 'also half', status='streaming'),
    ])
    assert await store.recover_interrupted() == 2
    assert [m.status for m in await store.messages(conversation)] == [
        'complete', 'interrupted', 'complete', 'stopped', 'interrupted']
    assert [m.content for m in await store.messages(conversation)] == [m.content for m in added]  # text kept
    assert await store.recover_interrupted() == 0


async def test_a_reply_claimed_from_a_dead_instance_is_interrupted_once_with_the_longer_text(store: Store) -> None:
    _, conversation = await chat(store)
    half, done = await store.add_messages(conversation, [
        NewMessage('assistant', 'checkpointed', status='streaming', reasoning='thought'),
        NewMessage('assistant', 'finished', status='complete')])
    # Redis had more than the last checkpoint: that is what had been shown
    assert await store.interrupt_reply(half.id, 'checkpointed, and shown 🦊', '') is True
    assert await store.interrupt_reply(half.id, 'again', '') is False  # no longer streaming
    assert await store.interrupt_reply(done.id, 'x', '') is False  # a reply that ended is left alone
    assert await store.interrupt_reply('not-an-id', 'x', '') is False
    first, second = await store.messages(conversation)
    assert (first.status, first.content, first.reasoning) == ('interrupted', 'checkpointed, and shown 🦊', 'thought')
    assert (second.status, second.content) == ('complete', 'finished')
    _, other = await chat(store, 'bob')
    (short,) = await store.add_messages(other, [NewMessage('assistant', 'a longer checkpoint', status='streaming')])
    assert await store.interrupt_reply(short.id, 'a long', '') is True  # Redis lost some (a restart): DB text kept
    assert (await store.messages(other))[0].content == 'a longer checkpoint'
