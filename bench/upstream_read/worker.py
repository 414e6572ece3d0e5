"""One checkout's per-read cost: `python worker.py APP_DIR READS ROUNDS` prints JSON (ns per read, medians).

Run from bench/upstream_read/__main__.py with APP_DIR on sys.path, so that checkout's app.upstream is measured.
A real aiohttp ResponseHandler with its C parser gets a chunked `text/event-stream` response (no socket: its
`data_received` is called as uvloop calls it, one paced token per call, framed as bench.api.upstream frames it);
the reply is relayed through that checkout's tap to a `deliver` that counts. What is timed is one call from
`data_received` to `deliver` returning: aiohttp's framing, the tap, the SSE parse and orjson; not the kernel read.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from typing import Any


def frame(event: bytes) -> bytes:
    return f'{len(event):x}\r\n'.encode() + event + b'\r\n'


def delta(text: str) -> bytes:
    return frame(b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench-model",'
                 b'"choices":[{"index":0,"delta":{"content":' + json.dumps(text).encode()
                 + b'},"finish_reason":null}]}\n\n')


HEAD = (b'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n'
        b'Cache-Control: no-cache\r\n\r\n')
STOP = frame(b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":0,"model":"bench-model",'
             b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n')
END = frame(b'data: [DONE]\n\n') + b'0\r\n\r\n'


class Transport(asyncio.Transport):
    """Just enough of a socket transport for aiohttp's protocol (nothing is sent)."""

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


async def one_reply(reads: int) -> float:
    """ns per read for one reply of `reads` paced tokens."""
    import aiohttp
    from aiohttp.client_proto import ResponseHandler

    from app.upstream.raw_body import _Tap
    from app.upstream.reply import Batch, Reply

    loop = asyncio.get_running_loop()
    protocol = ResponseHandler(loop)
    protocol.connection_made(Transport())
    protocol.set_response_params(read_bufsize=2 ** 16)
    protocol.data_received(HEAD)
    content = protocol._payload
    assert isinstance(content, aiohttp.StreamReader)
    reply = Reply(None, (), read=content.readany, timeout_errors=(aiohttp.ServerTimeoutError,),
                  transport_errors=(aiohttp.ClientError,))
    reply.tap = _Tap(reply, content, protocol)
    texts: list[str] = []

    def deliver(batch: Batch) -> bool:
        texts.extend([text for _, text in batch])
        return True

    frames = [delta(f't{n} ') for n in range(reads + 1)]
    protocol.data_received(frames[0])
    first = await reply.next_batch()
    relay = asyncio.ensure_future(reply.relay(deliver))
    for _ in range(3):
        await asyncio.sleep(0)  # the relay engages its tap
    data_received = protocol.data_received
    started = time.perf_counter_ns()
    for data in frames[1:]:
        data_received(data)
    elapsed = time.perf_counter_ns() - started
    data_received(STOP + END)
    assert await relay is None and reply.complete
    assert [text for _, text in first or []] + texts == [f't{n} ' for n in range(reads + 1)], 'text lost'
    return elapsed / reads


async def run(reads: int, rounds: int) -> dict[str, float]:
    for _ in range(3):
        await one_reply(reads)  # warm up
    cpu = time.process_time()
    figures = [await one_reply(reads) for _ in range(rounds)]
    cpu = time.process_time() - cpu
    return {'ns_per_read': statistics.median(figures), 'ns_per_read_min': min(figures),
            'cpu_s': round(cpu, 3)}


if __name__ == '__main__':
    sys.path.insert(0, sys.argv[1])
    import uvloop
    print(json.dumps(uvloop.run(run(int(sys.argv[2]), int(sys.argv[3])))))
