"""The message queries: adding, checkpointing a streamed reply, loading in order, and start-up recovery."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, case, func, insert, select, update

from app.store.base import Database, now
from app.store.records import MessageRecord, MessageUpdate, NewMessage, check_new_id, check_role, check_status, is_id
from app.store.tables import conversations
from app.store.tables import messages as table

_MESSAGE = tuple(column for column in table.c if column.name != 'seq')
_UPDATED = ('content', 'reasoning', 'status', 'error', 'finish_reason', 'usage', 'timing')
# One statement for every message of a checkpoint batch (executemany), keyed by the public id.
_SAVE = update(table).where(table.c.id == bindparam('message_id'))


def new_records(conversation_id: str, messages: Sequence[NewMessage], stamp: datetime) -> list[MessageRecord]:
    """The rows of messages to add to a conversation, checked and stamped."""
    for message in messages:
        check_role(message.role)
        check_status(message.status)
        if message.parent_id is not None and not is_id(message.parent_id):
            raise ValueError(f'malformed parent id {message.parent_id!r}')
    return [MessageRecord(id=check_new_id(message.id), conversation_id=conversation_id, parent_id=message.parent_id,
                          role=message.role, content=message.content, reasoning=message.reasoning,
                          status=message.status, error=message.error, finish_reason=None, usage=None, timing=None,
                          model=message.model, created_at=stamp, attachments=message.attachments or None)
            for message in messages]


class MessageQueries(Database):
    """Messages of conversations; callers have checked ownership through the conversation first."""

    async def add_messages(self, conversation_id: str, messages: Sequence[NewMessage]) -> list[MessageRecord]:
        """Append messages in order, in one transaction, marking the conversation active; ValueError if it is gone."""
        stamp = now()
        records = new_records(conversation_id, messages, stamp)
        if not is_id(conversation_id):
            raise ValueError(f'no conversation {conversation_id!r}')
        async with self._write() as connection:
            touched = await connection.execute(update(conversations).where(conversations.c.id == conversation_id)
                                               .values(updated_at=stamp))
            if touched.rowcount == 0:
                raise ValueError(f'no conversation {conversation_id!r}')
            if records:
                await connection.execute(insert(table), [record.__dict__ for record in records])
        return records

    async def save_messages(self, updates: Sequence[MessageUpdate]) -> None:
        """Store the current state of these messages in one transaction; ids no longer stored are skipped."""
        if not updates:
            return
        for change in updates:
            check_status(change.status)
        rows = [{'message_id': change.id, **{name: getattr(change, name) for name in _UPDATED}} for change in updates]
        ids = sorted({change.id for change in updates})
        async with self._write() as connection:
            await connection.execute(_SAVE, rows)
            owners = select(table.c.conversation_id).where(table.c.id.in_(ids))
            await connection.execute(update(conversations).where(conversations.c.id.in_(owners))
                                     .values(updated_at=now()))

    async def messages(self, conversation_id: str, *, limit: int | None = None) -> list[MessageRecord]:
        """The conversation's messages in order; with `limit`, only the last `limit` of them."""
        if not is_id(conversation_id):
            return []
        statement = select(*_MESSAGE).where(table.c.conversation_id == conversation_id)
        if limit is None:
            rows = await self._read(statement.order_by(table.c.seq))
        else:
            rows = (await self._read(statement.order_by(table.c.seq.desc()).limit(max(limit, 0))))[::-1]
        return [MessageRecord(**row._mapping) for row in rows]

    async def interrupt_reply(self, message_id: str, content: str, reasoning: str) -> bool:
        """A reply whose instance died (another instance claimed it, app/live): 'interrupted', with `content` and
        `reasoning` where they are longer than what was checkpointed; only if it is still 'streaming'."""
        if not is_id(message_id):
            return False
        longer = {name: case((func.length(table.c[name]) < len(text), text), else_=table.c[name])
                  for name, text in (('content', content), ('reasoning', reasoning))}
        async with self._write() as connection:
            result = await connection.execute(update(table).where(table.c.id == message_id,
                                                                  table.c.status == 'streaming')
                                              .values(status='interrupted', **longer))
        return bool(result.rowcount)

    async def recover_interrupted(self) -> int:
        """At start-up: replies left 'streaming' by a stopped process become 'interrupted'; how many."""
        async with self._write() as connection:
            result = await connection.execute(update(table).where(table.c.status == 'streaming')
                                              .values(status='interrupted'))
        return result.rowcount
