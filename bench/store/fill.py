"""Test data for the store benchmark: one heavy owner, other owners' noise, bulk-loaded fast."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store import new_id
from app.store.tables import conversations, messages, users

# Made-up words without q, x or y, so no text contains a search marker by chance.
_WORDS = random.Random(7)
VOCABULARY = [''.join(_WORDS.choice('bcdfghjklmnprstvwz' + 'aeiou' * 3) for _ in range(2 + i % 8))
              for i in range(2_000)]
# Words the searches look for: in 1% of titles, in one message of 1% of conversations, and nowhere.
TITLE_MARKER = 'Quixotic'
MESSAGE_MARKER = 'zygomorphic'
MISSING = 'xylograph'
MARKER_SHARE = 100  # one conversation in this many carries a marker
TURNS = 3  # question/answer pairs per conversation
QUESTION_BYTES, ANSWER_BYTES = 200, 1_000
ROWS_PER_TRANSACTION = 5_000


@dataclass(frozen=True)
class Shape:
    """How much data to load."""

    conversations: int = 10_000
    noise_owners: int = 20
    noise_conversations: int = 500  # each


def text(rng: random.Random, size: int) -> str:
    """Words up to about `size` characters."""
    words: list[str] = []
    length = 0
    while length < size:
        words.append(rng.choice(VOCABULARY))
        length += len(words[-1]) + 1
    return ' '.join(words).capitalize() + '.'


# Distinct texts to draw messages from (making each one afresh would take most of the benchmark's time).
POOL = 2_000


@functools.cache
def questions() -> list[str]:
    """Texts of about QUESTION_BYTES."""
    rng = random.Random(1)
    return [text(rng, QUESTION_BYTES) for _ in range(POOL)]


@functools.cache
def answers() -> list[str]:
    """Texts of about ANSWER_BYTES."""
    rng = random.Random(2)
    return [text(rng, ANSWER_BYTES) for _ in range(POOL)]


def conversation_rows(owner: str, count: int, rng: random.Random, start: datetime,
                      markers: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """`count` conversations of `owner` spread over a year after `start`, with their messages."""
    heads, bodies = [], []
    for index in range(count):
        updated = start + timedelta(seconds=rng.uniform(0, 365 * 86_400))
        title = text(rng, 30)
        if markers and index % MARKER_SHARE == 0:
            title = f'{title} {TITLE_MARKER}'
        id = new_id()
        heads.append({'id': id, 'owner_id': owner, 'title': title, 'model': 'gpt-4o-mini', 'system_prompt': None,
                      'settings': {}, 'created_at': updated - timedelta(minutes=5), 'updated_at': updated})
        for turn in range(TURNS):
            answer = rng.choice(answers())
            if markers and index % MARKER_SHARE == 50 and turn == 1:
                answer = f'{answer} {MESSAGE_MARKER}.'
            for role, content in (('user', rng.choice(questions())), ('assistant', answer)):
                bodies.append({'id': new_id(), 'conversation_id': id, 'parent_id': None, 'role': role,
                               'content': content, 'reasoning': '', 'status': 'complete', 'error': None,
                               'finish_reason': 'stop' if role == 'assistant' else None, 'usage': None,
                               'timing': None, 'model': None, 'created_at': updated})
    return heads, bodies


async def load(engine: AsyncEngine, shape: Shape) -> str:
    """Fill the migrated, empty database behind `engine`; the heavy owner's id."""
    rng = random.Random(42)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    people = [{'id': new_id(), 'key': key, 'created_at': start}
              for key in ('bench-owner', *(f'noise-{index}' for index in range(shape.noise_owners)))]
    heads, bodies = conversation_rows(people[0]['id'], shape.conversations, rng, start, markers=True)
    for person in people[1:]:  # others' conversations carry the markers too: search must skip them
        more_heads, more_bodies = conversation_rows(person['id'], shape.noise_conversations, rng, start, markers=True)
        heads += more_heads
        bodies += more_bodies
    # Bulk loading goes around the Store (one row at a time would take minutes), through its own tables.
    for table, rows in ((users, people), (conversations, heads), (messages, bodies)):
        for offset in range(0, len(rows), ROWS_PER_TRANSACTION):
            async with engine.begin() as connection:
                await connection.execute(insert(table), rows[offset:offset + ROWS_PER_TRANSACTION])
    if engine.dialect.name == 'postgresql':  # what autovacuum does shortly after a bulk load
        async with engine.begin() as connection:
            await connection.execute(sql('ANALYZE'))
    return str(people[0]['id'])
