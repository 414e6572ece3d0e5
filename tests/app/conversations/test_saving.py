"""An API turn is saved as a page's is: checkpointed while it streams, and interrupted with all its text on shutdown."""

from __future__ import annotations

import asyncio

from app.api.access import Caller
from app.api.conversations.lines import reply_lines
from app.api.conversations.turns import append
from app.chat.chats import Chats
from app.chat.message import INTERRUPTED, STREAMING
from app.store import Store
from tests.app.chat.conftest import chats, store  # noqa: F401 (fixtures)
from tests.fake_upstream import FakeUpstream, Script


async def test_an_api_reply_is_checkpointed_and_saved_as_interrupted_on_shutdown(
        chats: Chats, store: Store, upstream: FakeUpstream) -> None:  # noqa: F811
    upstream.queue(Script(tokens=['tick '] * 500, delay=0.01))
    owner = await store.user_id('header:someone')
    conversation = await chats.create(owner, title='From a script')
    follower = await append(chats, Caller('key:k', owner_id=owner), conversation.id,
                            [{'role': 'user', 'content': 'count'}], model=None, params={})
    lines = reply_lines(follower, ping_interval=5)
    received: list[dict] = []
    while sum(len(line.get('content', '')) for line in received if line['type'] == 'chunk') < 50:
        received += await asyncio.wait_for(anext(lines), 10)
    await chats.checkpoint()
    saved = (await store.messages(conversation.id))[-1]
    assert saved.status == STREAMING and len(saved.content) >= 50
    await chats.shutdown()
    async for group in lines:
        received += group
    assert received[-1] == {'type': 'error', 'error': {'code': 'interrupted', 'message': received[-1]['error'][
        'message']}}
    text = ''.join(line['content'] for line in received if line['type'] == 'chunk')
    final = (await store.messages(conversation.id))[-1]
    assert final.status == INTERRUPTED and final.content == text
    # The fake upstream notices the closed connection at its next write: waited for, not assumed done by now.
    assert await asyncio.to_thread(upstream.records[0].disconnected.wait, 10)
