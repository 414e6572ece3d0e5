"""An instance that streams one turn of a stored conversation and shares it through Redis; the test SIGKILLs it.

    python -m tests.app.conversations.holder_process <redis url> <database url> <upstream url> <owner> <conversation>

The chat runtime as main.py runs it (Chats with a Live), without the web server: it prints the reply's id and
streams on until killed. Its lease is short (LEASE_MS), so the other instances notice its death within a second.
"""

from __future__ import annotations

import asyncio
import sys

from app.chat.chats import Chats
from app.config import load_settings
from app.live.hub import Live
from app.store import open_store
from app.upstream import Upstream

LEASE_MS = 600


async def main(redis_url: str, database: str, upstream_url: str, owner: str, conversation_id: str) -> None:
    # Not tests.conftest's app_env: importing it imports NiceGUI, a second of start-up this process does not need.
    settings = load_settings({'OPENAI_API_KEY': 'sk-holder', 'OPENAI_BASE_URL': upstream_url,
                              'OPENAI_MODEL': 'fake-model', 'UPSTREAM_RETRIES': '0'}, env_file=None)
    chats = Chats(Upstream(settings), model='fake-model',
                  shared=Live(redis_url, instance_id='holder', lease_ttl_ms=LEASE_MS))
    await chats.start(await open_store(database))
    conversation = await chats.open(owner, conversation_id)
    assert conversation is not None
    reply = await conversation.send('count')
    print(reply.id, flush=True)
    await asyncio.Event().wait()  # until killed


if __name__ == '__main__':
    asyncio.run(main(*sys.argv[1:6]))
