"""A loopback address whose network behaviour a test sets: refuse connections, leave them hanging, or serve.

The app is pointed at it once (OPENAI_BASE_URL), then a test makes it fail the way a real network does (a server
that is down refuses the connection; a host behind a firewall that drops packets never completes it) and makes it
serve the fake upstream again, to show the app recovers on the same address without a restart.
"""

from __future__ import annotations

import asyncio
import socket

from tests.fake_upstream import FakeUpstream


class FakeAddress:
    """A reserved loopback port: `refuse()`, `hang()` or `serve()` the fake upstream on it."""

    def __init__(self, upstream: FakeUpstream) -> None:
        self.upstream = upstream
        self._sock = _bound(0)
        self.port = int(self._sock.getsockname()[1])
        self._held: list[socket.socket] = []  # connections filling the accept queue while hanging
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """Base URL for the SDK (ends in /v1)."""
        return f'http://127.0.0.1:{self.port}/v1'

    def refuse(self) -> FakeAddress:
        """A bound socket that does not listen: connections are refused at once (RST), as by a server that is down."""
        self._reset()
        return self

    def hang(self) -> FakeAddress:
        """Listen with a full accept queue: the kernel drops new SYNs, so a connect neither succeeds nor fails."""
        self._reset()
        self._sock.listen(0)  # room for one connection waiting to be accepted, which this one takes
        self._held.append(socket.create_connection(('127.0.0.1', self.port), timeout=5))
        probe = socket.socket()
        probe.setblocking(False)
        probe.connect_ex(('127.0.0.1', self.port))  # stays in SYN_SENT: proof the queue is full
        self._held.append(probe)
        return self

    def serve(self) -> FakeAddress:
        """Answer like the fake upstream's own port (same scripts and records)."""
        self._reset()
        self._server = self.upstream.serve(self._sock)
        return self

    def close(self) -> None:
        """Release the port."""
        self._drop()
        self._sock.close()

    def _reset(self) -> None:
        self._drop()
        self._sock.close()
        self._sock = _bound(self.port)

    def _drop(self) -> None:
        if self._server is not None:
            self.upstream.unserve(self._server)  # closes the listening socket
            self._server = None
        for held in self._held:
            held.close()
        self._held.clear()


def _bound(port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', port))
    return sock
