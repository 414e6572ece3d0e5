"""Seeds the benchmark's database through app/store: one conversation of 1,000 messages, and a person with 10,000.

Every row goes in through the store's own calls (`user_id`, `create_conversation`, `add_messages`), as the app would
write them; only the clock is set back, so the 10,000 spread over a year and fall into the sidebar's day groups.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.store import NewMessage, Store, new_id, open_store
from app.store import messages as message_queries
from app.store import store as store_module

# The people (values of the trusted user header the browser sends; the app keys them as `header:<value>`).
LONG_PERSON = 'bench-long'
MANY_PERSON = 'bench-many'
NOISE_PEOPLE = ('bench-noise-1', 'bench-noise-2')
LONG_MESSAGES = 1_000
MANY_CONVERSATIONS = 10_000
NOISE_CONVERSATIONS = 2_000  # per noise person: other owners' rows the queries must skip
# The last message of the long conversation ends with this: the browser waits for it to be on screen.
LAST_MARKER = 'End of the long benchmark conversation.'
# Search terms: one in ~5% of titles, one only in the text of ~0.3% of conversations, one nowhere.
TITLE_TERM = 'kubernetes'
TEXT_TERM = 'zanzibar'
MISSING_TERM = 'qzxvw'
_TOOLS = ('PostgreSQL', 'SQLite', 'pandas', 'NumPy', 'FastAPI', 'asyncio', 'React', 'Rust', 'Go', 'Docker', 'nginx',
          'Redis', 'Terraform', 'Git', 'bash', 'TypeScript', 'Django', 'Flask', 'pytest', 'Celery')
_TASKS = ('paginate results', 'parse dates', 'stream a response', 'cache lookups', 'retry failed requests',
          'profile a slow loop', 'migrate a schema', 'write a unit test', 'read a CSV file', 'debounce input',
          'deploy a service', 'handle timeouts', 'sort by two keys', 'log structured events', 'limit the rate')


@dataclass(frozen=True)
class Seeded:
    """What the benchmark needs to know about the seeded data."""

    long_conversation: str
    long_chars: int
    many_conversations: int
    many_chars: int


def user_message(rng: random.Random, task: str, tool: str, size: int) -> str:
    """A question of about `size` characters; its first line becomes the conversation's title."""
    text = f'How do I {task} with {tool}?\n\n'
    while len(text) < size:
        text += (f'I tried the obvious approach with {rng.choice(_TOOLS)} but it takes {rng.randint(2, 900)} ms '
                 f'on {rng.randint(10, 99)},000 rows, and the docs only show a toy example. ')
    return text[:size]


def assistant_message(rng: random.Random, task: str, tool: str, size: int, extra: str = '') -> str:
    """An LLM-style markdown answer of about `size` characters: heading, list, a code block, a closing line."""
    n = rng.randint(1, 999)
    text = (f'### {task.capitalize()} with {tool}\n\nThere are a few ways to {task}; the simplest that scales is '
            f'to keep the work proportional to what changed.{extra}\n\n'
            f'1. Measure first: time the slow path with {n:,} items.\n'
            f'2. Keep an index on the columns you filter by (`owner_id`, `updated_at`).\n'
            f'3. Page with a cursor instead of `OFFSET {n * 10}`.\n\n'
            f'```python\nasync def fetch_page(db, owner: str, before=None, limit: int = {n % 90 + 10}):\n'
            f'    query = select(rows).where(rows.c.owner == owner)\n'
            f'    if before is not None:\n        query = query.where(rows.c.key < before)\n'
            f'    return await db.execute(query.order_by(rows.c.key.desc()).limit(limit))\n```\n\n'
            f'- **Why**: each page costs the same, page 1 or page {n}.\n'
            f'- **Watch out**: ties in the sort key need a second key (the id).\n\n')
    while len(text) < size:
        text += (f'In practice {tool} handles {n * 7:,} rows a second this way; '
                 f'the bottleneck moves to serialization, which *also* scales with the page, not the table. ')
    return text[:size].rstrip() + '\n'


def seeded_database(folder: Path, progress: Callable[[str], None] = print) -> tuple[Path, Seeded]:
    """The seeded SQLite file, copied into `folder`; seeded once (minutes) per version of this file and the store."""
    root = Path(__file__).resolve().parents[2]
    digest = hashlib.sha256()
    for path in [Path(__file__), *sorted((root / 'app' / 'store').rglob('*.py'))]:
        digest.update(path.read_bytes())
    cache = Path(tempfile.gettempdir()) / f'nicechat-bench-chat-{digest.hexdigest()[:12]}'
    if not (cache / 'seeded.json').is_file():
        progress(f'seeding the database once, in {cache} (a few minutes; kept for the next runs) ...')
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir()
        seeded = asyncio.run(seed(f'sqlite:///{cache}/nicechat.db', progress))
        (cache / 'seeded.json').write_text(json.dumps(dataclasses.asdict(seeded)))
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(cache / 'nicechat.db', folder / 'nicechat.db')  # closed cleanly: no -wal file to copy
    return folder / 'nicechat.db', Seeded(**json.loads((cache / 'seeded.json').read_text()))


class _Clock:
    """Stands in for the store's clock while seeding, so rows get the times the benchmark chooses."""

    def __init__(self) -> None:
        self.time = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.time


@contextmanager
def _clock() -> Iterator[_Clock]:
    clock = _Clock()
    saved = store_module.now, message_queries.now
    store_module.now = message_queries.now = clock
    try:
        yield clock
    finally:
        store_module.now, message_queries.now = saved


async def _conversation(store: Store, owner: str, messages: list[tuple[str, str]], title: str) -> tuple[str, int]:
    """A conversation with `messages` (role, text) chained by parent; its id and characters."""
    record = await store.create_conversation(owner, title=title, model='bench-model')
    parent, new = None, []
    for role, text in messages:
        message = NewMessage(role=role, content=text, parent_id=parent, id=new_id(),
                             model='bench-model' if role == 'assistant' else None)
        new.append(message)
        parent = message.id
    for start in range(0, len(new), 200):  # the app adds a turn at a time; batches only to seed faster
        await store.add_messages(record.id, new[start:start + 200])
    return record.id, sum(len(text) for _, text in messages)


async def seed(database_url: str, progress: Callable[[str], None] = print) -> Seeded:
    """Fill the (new) database at `database_url`; returns what was made."""
    rng = random.Random(7)  # the same data every run
    store = await open_store(database_url)
    try:
        with _clock() as clock:
            start = clock.time
            long_owner = await store.user_id(f'header:{LONG_PERSON}')
            turns: list[tuple[str, str]] = []
            for _ in range(LONG_MESSAGES // 2):
                task, tool = rng.choice(_TASKS), rng.choice(_TOOLS)
                turns += [('user', user_message(rng, task, tool, rng.randint(250, 550))),
                          ('assistant', assistant_message(rng, task, tool, rng.randint(1300, 1900)))]
            turns[-1] = ('assistant', turns[-1][1] + '\n' + LAST_MARKER + '\n')
            clock.time = start - dt.timedelta(hours=1)
            long_id, long_chars = await _conversation(store, long_owner, turns, 'A very long conversation')
            progress(f'seeded 1 conversation of {len(turns)} messages ({long_chars:,} characters)')
            many_chars = 0
            people = [(MANY_PERSON, MANY_CONVERSATIONS)] + [(name, NOISE_CONVERSATIONS) for name in NOISE_PEOPLE]
            for person, count in people:
                owner = await store.user_id(f'header:{person}')
                for i in range(count):  # oldest first, up to a year ago; the newest a few minutes ago
                    clock.time = start - dt.timedelta(days=365 * (count - i) / count, minutes=2)
                    chars = await _seed_one(store, rng, owner)
                    many_chars += chars if person == MANY_PERSON else 0
                progress(f'seeded {count:,} conversations of {person}')
    finally:
        await store.close()
    return Seeded(long_id, long_chars, MANY_CONVERSATIONS, many_chars)


async def _seed_one(store: Store, rng: random.Random, owner: str) -> int:
    """One two-turn conversation (4 messages, about 2.3 KB), with the search terms sprinkled in."""
    tool = TITLE_TERM.capitalize() if rng.random() < 0.05 else rng.choice(_TOOLS)
    extra = f' (We did this for the {TEXT_TERM.capitalize()} office.)' if rng.random() < 0.003 else ''
    task, second = rng.choice(_TASKS), rng.choice(_TASKS)
    messages = [('user', user_message(rng, task, tool, rng.randint(150, 350))),
                ('assistant', assistant_message(rng, task, tool, rng.randint(700, 1300), extra)),
                ('user', user_message(rng, second, tool, rng.randint(100, 250))),
                ('assistant', assistant_message(rng, second, tool, rng.randint(600, 1100)))]
    title = messages[0][1].splitlines()[0]
    _, chars = await _conversation(store, owner, messages, title)
    return chars
