"""An instance that streams one reply into Redis and never ends it: the test SIGKILLs it mid-reply.

    python -m tests.app.live.writer_process <redis url> <reply id> <lease ttl ms>

Publishes `word0 word1 ...` one word a batch, 20 ms apart, and prints each flushed offset (a line per batch) so
the test knows what Redis had when it killed the process.
"""

from __future__ import annotations

import asyncio
import sys

from app.live.link import Link
from app.live.stream import ReplyWriter


async def main(url: str, reply_id: str, ttl_ms: int) -> None:
    link = Link(url, instance_id='doomed')
    writer = ReplyWriter(link, reply_id, lease_ttl_ms=ttl_ms)
    await writer.start()
    for number in range(100_000):
        writer.add('content', f'word{number} ')
        if await writer.flush():
            print(len(writer.text['c']), flush=True)
        await asyncio.sleep(0.02)


if __name__ == '__main__':
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
