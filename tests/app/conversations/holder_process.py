"""An instance that streams one turn of a stored conversation and shares it through Redis; the test SIGKILLs it.

    python -m tests.app.conversations.holder_process <redis url> <database url> <upstream url> <owner> <conversation>

The chat runtime as main.py runs it (Chats with a Live), without the web server: it prints the reply's id, then its
length each time a batch has reached Redis and the reply (the relay publishes first), so the test knows what the
instance had shared when it killed it. Its lease is short (LEASE_MS), so the others notice the death quickly.
"""

from __future__ import annotations

import asyncio
import sys

from app.chat.chats import Chats
from app.chat.message import Message
from app.config import load_settings
from app.live.hub import Live
from app.store import open_store
from app.upstream import Upstream
from tests.conftest import app_env

LEASE_MS = 600


class Printer:
    """A view that prints the reply's length after each batch."""

    def on_delta(self, message: Message, text: str) -> None:
        print(len(message.content), flush=True)

    def on_message(self, message: Message) -> None:
        pass

    def on_reasoning(self, message: Message, text: str) -> None:
        pass

    def on_finish(self, message: Message) -> None:
        pass

    def on_branch(self) -> None:
        pass

    def on_details(self) -> None:
        pass

    def on_deleted(self) -> None:
        pass


async def main(redis_url: str, database: str, upstream_url: str, owner: str, conversation_id: str) -> None:
    settings = load_settings({**app_env(None), 'OPENAI_API_KEY': 'sk-holder', 'OPENAI_BASE_URL': upstream_url},
                             env_file=None)
    chats = Chats(Upstream(settings), model='fake-model',
                  shared=Live(redis_url, instance_id='holder', lease_ttl_ms=LEASE_MS))
    await chats.start(await open_store(database))
    conversation = await chats.open(owner, conversation_id)
    assert conversation is not None
    conversation.attach(Printer())
    reply = await conversation.send('count')
    print(reply.id, flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == '__main__':
    asyncio.run(main(*sys.argv[1:6]))
