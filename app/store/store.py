"""The queries the app needs, behind one small class; nothing outside app/store writes SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from app.store import search
from app.store.base import now
from app.store.keys import KeyQueries
from app.store.messages import MessageQueries, new_records
from app.store.records import ConversationRecord, ConversationSummary, NewTurn, check_new_id, is_id
from app.store.tables import KEY_LENGTH, conversations, users
from app.store.tables import messages as messages_table

_CONVERSATION = tuple(conversations.c)
_SUMMARY = (conversations.c.id, conversations.c.title, conversations.c.updated_at)
_NEWEST_FIRST = (conversations.c.updated_at.desc(), conversations.c.id.desc())


class Store(KeyQueries, MessageQueries):
    """Users, their conversations and the conversations' messages, and their API keys, in one database."""

    async def user_id(self, key: str) -> str:
        """The id of the user with this external key (a browser id or a trusted header value), made on first use."""
        if not key or len(key) > KEY_LENGTH:
            raise ValueError(f'a user key must have 1 to {KEY_LENGTH} characters')
        found = await self._read(select(users.c.id).where(users.c.key == key))
        if found:
            return str(found[0].id)
        user = check_new_id(None)
        try:
            async with self._write() as connection:
                await connection.execute(insert(users).values(id=user, key=key, created_at=now()))
        except IntegrityError:  # another request made this user in the meantime: theirs is the one
            return str((await self._read(select(users.c.id).where(users.c.key == key)))[0].id)
        return user

    async def create_conversation(self, owner_id: str, *, title: str, model: str, system_prompt: str | None = None,
                                  settings: dict[str, Any] | None = None, id: str | None = None) -> ConversationRecord:
        """A new, empty conversation of `owner_id`; ValueError for an unknown owner or a taken id."""
        stamp = now()
        record = ConversationRecord(id=check_new_id(id), owner_id=owner_id, title=title, model=model,
                                    system_prompt=system_prompt, settings=dict(settings or {}),
                                    created_at=stamp, updated_at=stamp)
        try:
            async with self._write() as connection:
                await connection.execute(insert(conversations).values(**asdict(record)))
        except IntegrityError:
            raise ValueError('cannot create the conversation: unknown owner, or its id is taken') from None
        return record

    async def add_turns(self, turns: Sequence[NewTurn]) -> None:
        """Several conversations' turns in one transaction: new conversations created, the others marked active.

        All or nothing; ValueError (nothing written) for an unknown owner, a taken id or a conversation that is gone.
        Many people sending at once then cost one commit, not two each (bench/page_load: prompts queued behind each
        other's commits for seconds).
        """
        stamp = now()
        created = [asdict(ConversationRecord(
            id=check_new_id(turn.conversation_id), owner_id=turn.new_conversation['owner_id'],
            title=turn.new_conversation['title'], model=turn.new_conversation['model'],
            system_prompt=turn.new_conversation.get('system_prompt'),
            settings=dict(turn.new_conversation.get('settings') or {}), created_at=stamp, updated_at=stamp))
            for turn in turns if turn.new_conversation is not None]
        existing = [turn.conversation_id for turn in turns if turn.new_conversation is None]
        if not all(is_id(conversation_id) for conversation_id in existing):
            raise ValueError('no such conversation')
        records = [record.__dict__ for turn in turns for record in new_records(turn.conversation_id, turn.messages,
                                                                                  stamp)]
        try:
            async with self._write() as connection:
                if created:
                    await connection.execute(insert(conversations), created)
                for conversation_id in existing:
                    touched = await connection.execute(update(conversations).values(updated_at=stamp)
                                                       .where(conversations.c.id == conversation_id))
                    if touched.rowcount == 0:
                        raise ValueError(f'no conversation {conversation_id!r}')
                if records:
                    await connection.execute(insert(messages_table), records)
        except IntegrityError:
            raise ValueError('cannot add the turns: unknown owner, or an id is taken') from None

    async def conversation(self, owner_id: str, conversation_id: str) -> ConversationRecord | None:
        """The conversation if it exists and belongs to `owner_id`, else None."""
        if not is_id(conversation_id):
            return None
        rows = await self._read(select(*_CONVERSATION).where(*self._owned(owner_id, conversation_id)))
        return ConversationRecord(**rows[0]._mapping) if rows else None

    async def conversations(self, owner_id: str, *, query: str | None = None, limit: int = 50,
                            before: tuple[datetime, str] | None = None) -> list[ConversationSummary]:
        """One page of the owner's conversations, newest activity first; `query` filters by title or message text."""
        if limit < 1:
            raise ValueError('limit must be at least 1')
        statement = select(*_SUMMARY).where(conversations.c.owner_id == owner_id)
        if before is not None:
            statement = statement.where(tuple_(conversations.c.updated_at, conversations.c.id) < tuple(before))
        if query:
            statement = statement.where(search.matching(self.dialect, self.search_index, query))
        rows = await self._read(statement.order_by(*_NEWEST_FIRST).limit(limit))
        return [ConversationSummary(**row._mapping) for row in rows]

    async def count_conversations(self, owner_id: str) -> int:
        """How many conversations `owner_id` has."""
        rows = await self._read(select(func.count()).select_from(conversations)
                                .where(conversations.c.owner_id == owner_id))
        return int(rows[0][0])

    async def rename_conversation(self, owner_id: str, conversation_id: str, title: str) -> bool:
        """Set the title (not activity: the conversation keeps its place in the list); False if not the owner's."""
        return await self._update(owner_id, conversation_id, {'title': title})

    async def update_conversation(self, owner_id: str, conversation_id: str, *, model: str | None = None,
                                  system_prompt: str | None = None, settings: dict[str, Any] | None = None) -> bool:
        """Change what is given (None leaves a field as it is); False if the conversation is not the owner's."""
        values = {name: value for name, value in
                  (('model', model), ('system_prompt', system_prompt), ('settings', settings)) if value is not None}
        if not values:
            return await self.conversation(owner_id, conversation_id) is not None
        return await self._update(owner_id, conversation_id, values)

    async def delete_conversation(self, owner_id: str, conversation_id: str) -> bool:
        """Delete the conversation with its messages; False if it is not the owner's."""
        if not is_id(conversation_id):
            return False
        async with self._write() as connection:
            result = await connection.execute(delete(conversations).where(*self._owned(owner_id, conversation_id)))
        return result.rowcount > 0

    async def delete_all(self, owner_id: str) -> int:
        """Delete every conversation of `owner_id` with their messages; how many went."""
        async with self._write() as connection:
            result = await connection.execute(delete(conversations).where(conversations.c.owner_id == owner_id))
        return result.rowcount

    async def _update(self, owner_id: str, conversation_id: str, values: dict[str, Any]) -> bool:
        if not is_id(conversation_id):
            return False
        async with self._write() as connection:
            result = await connection.execute(update(conversations)
                                              .where(*self._owned(owner_id, conversation_id)).values(**values))
        return result.rowcount > 0

    @staticmethod
    def _owned(owner_id: str, conversation_id: str) -> tuple[ColumnElement[bool], ...]:
        return conversations.c.id == conversation_id, conversations.c.owner_id == owner_id
