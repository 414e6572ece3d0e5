"""Server CPU per streamed chunk and per small request, for uvicorn's stock httptools protocol, its stock h11 one,
the guarded one (app/server/protocol.py, on httptools: deadlines, lingering close, security headers) and the
guarded one without the headers.

`python3 dev.py bench protocol [chunks-per-stream]` (default 200; 2000 isolates the per-chunk cost). Three bare
uvicorn servers on loopback, a trivial ASGI app (drains the body, streams N small chunks), the same load on each in
interleaved rounds; CPU from /proc (10 ms ticks, so each figure spans at least ~20 ticks). About a minute.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
KINDS = ('stock', 'h11', 'guarded', 'bare')
ROUNDS = 7
SERVER = r'''
import sys, uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
import app.server.protocol as guarded
CHUNKS = int(sys.argv[3])
async def app(scope, receive, send):
    if scope['type'] != 'http':
        return
    while (await receive()).get('more_body'):
        pass
    await send({'type': 'http.response.start', 'status': 200, 'headers': [(b'content-type', b'application/x-ndjson')]})
    for _ in range(CHUNKS if scope['path'] == '/stream' else 1):
        await send({'type': 'http.response.body', 'body': b'{"type":"chunk","content":"tok"}\n', 'more_body': True})
    await send({'type': 'http.response.body', 'body': b''})
if sys.argv[2] == 'bare':
    guarded.headers_for = lambda path: ()
http = {'stock': HttpToolsProtocol, 'h11': H11Protocol}.get(sys.argv[2]) or guarded.guarded_protocol(10, 60)
uvicorn.run(app, host='127.0.0.1', port=int(sys.argv[1]), http=http, log_level='warning', access_log=False)
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f'/proc/{pid}/stat').read_text().split(')')[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


async def request(port: int, path: str) -> None:
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    body = b'{"messages": []}'
    writer.write(b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s'
                 % (path.encode(), len(body), body))
    await writer.drain()
    while await reader.read(65536):
        pass
    writer.close()


async def load(port: int, path: str, count: int, concurrency: int) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await request(port, path)

    await asyncio.gather(*(one() for _ in range(count)))


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(('127.0.0.1', port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)  # polling a starting subprocess
    raise RuntimeError('a bench server did not start')


def main() -> None:
    chunks = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    streams, requests = max(40_000 // chunks, 100), 3000
    servers = {}
    for kind in KINDS:
        port = free_port()
        servers[kind] = (subprocess.Popen([sys.executable, '-c', SERVER, str(port), kind, str(chunks)], cwd=ROOT), port)
    try:
        for _, port in servers.values():
            wait_until_up(port)
        per_chunk: dict[str, list[float]] = {kind: [] for kind in KINDS}
        per_request: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for round_number in range(ROUNDS):
            for kind in KINDS if round_number % 2 == 0 else KINDS[::-1]:
                process, port = servers[kind]
                before = cpu_seconds(process.pid)
                asyncio.run(load(port, '/stream', streams, 20))
                per_chunk[kind].append((cpu_seconds(process.pid) - before) / (streams * chunks) * 1e6)
                before = cpu_seconds(process.pid)
                asyncio.run(load(port, '/post', requests, 50))
                per_request[kind].append((cpu_seconds(process.pid) - before) / requests * 1e6)
    finally:
        for process, _ in servers.values():
            process.terminate()
    stock_chunk, stock_request = statistics.median(per_chunk['stock']), statistics.median(per_request['stock'])
    print(f'{chunks} chunks per stream, {ROUNDS} interleaved rounds, medians:')
    for kind in KINDS:
        chunk, one = statistics.median(per_chunk[kind]), statistics.median(per_request[kind])
        print(f'  {kind:8} {chunk:6.2f} µs per chunk ({chunk / stock_chunk:.2f}x)   '
              f'{one:6.1f} µs per request ({one / stock_request:.2f}x)')


if __name__ == '__main__':
    main()
