"""Replies relayed from the upstream's network callback (Reply.relay over raw_body's tap): every delta, in order,
delivered outside any task; a refused batch comes back; failures surface as next_batch raises them; the pooled
connection's protocol gets its own methods back."""

from __future__ import annotations

import asyncio

import pytest

from app.config import load_settings
from app.errors import ChatError
from app.upstream.client import Upstream
from app.upstream.reply import Batch, Reply
from tests.fake_upstream import FakeUpstream, Script

QUIET = 0.5  # UPSTREAM_TIMEOUT here
MESSAGES = [{'role': 'user', 'content': 'hi'}]
TOKENS = [f'token {n}, ' for n in range(20)]


def _upstream(upstream: FakeUpstream) -> Upstream:
    return Upstream(load_settings({'OPENAI_API_KEY': 'sk-test', 'OPENAI_BASE_URL': upstream.url, 'OPENAI_MODEL': 'm',
                                   'UPSTREAM_RETRIES': '0', 'UPSTREAM_TIMEOUT': str(QUIET)}, env_file=None))


class Sink:
    """A `deliver` that keeps the text and notes whether each call ran inside a task; refuses the calls listed."""

    def __init__(self, refuse: set[int] | None = None) -> None:
        self.texts: list[str] = []
        self.in_task: list[bool] = []
        self.refuse = refuse or set()

    def __call__(self, batch: Batch) -> bool:
        self.in_task.append(asyncio.current_task() is not None)
        if len(self.in_task) in self.refuse:
            return False
        self.texts += [text for _, text in batch]
        return True


async def relay_all(reply: Reply, sink: Sink) -> list[str]:
    """The reply's text: the first batch read, then relayed, with refused batches taken the slow way."""
    texts = [text for _, text in await reply.next_batch() or []]
    while (refused := await reply.relay(sink)) is not None:
        texts += sink.texts + [text for _, text in refused]
        sink.texts = []
    return texts + sink.texts


async def test_every_delta_is_delivered_in_the_network_callback(upstream: FakeUpstream) -> None:
    client = _upstream(upstream)
    upstream.queue(Script(tokens=TOKENS, delay=0.005), Script(tokens=['once', 'more'], delay=0.02))
    sink = Sink()
    try:
        async with client.stream(MESSAGES) as reply:
            assert reply.tap is not None  # the aiohttp transport: the tap applies
            assert await relay_all(reply, sink) == TOKENS
            assert reply.complete and reply.finish_reason == 'stop'
            protocol = reply.tap._protocol  # type: ignore[attr-defined]
        # Only what was already waiting when the tap engaged is delivered from the task; the rest came in callbacks
        # (as many as the reads: tokens can share one on a busy machine).
        assert sink.in_task.count(True) <= 1 and sink.in_task.count(False) >= 1, sink.in_task
        assert not {'data_received', 'resume_reading'} & set(vars(protocol))  # the connection's protocol restored
        async with client.stream(MESSAGES) as reply:  # the client serves the next reply as before
            assert [text async for _, text in reply.deltas()] == ['once', 'more']
    finally:
        await client.aclose()


async def test_a_refused_batch_comes_back_and_the_relay_goes_on(upstream: FakeUpstream) -> None:
    client = _upstream(upstream)
    upstream.queue(Script(tokens=TOKENS, delay=0.005))
    sink = Sink(refuse={3, 7})
    try:
        async with client.stream(MESSAGES) as reply:
            assert await relay_all(reply, sink) == TOKENS  # nothing lost or repeated around the refusals
    finally:
        await client.aclose()


@pytest.mark.parametrize(('script', 'code'), [
    (Script(tokens=TOKENS[:6], delay=0.005, error_after=3), 'upstream_error'),
    (Script(tokens=TOKENS[:6], delay=0.005, drop_after=3), 'upstream_disconnected'),
    (Script(tokens=TOKENS[:6], delay=0.005, end_after=3), 'upstream_disconnected'),
    (Script(tokens=TOKENS[:6], delay=0.005, silent_after=3), 'upstream_timeout'),
    (Script(tokens=TOKENS[:6], delay=0.005, inject={3: b'data: {not json\n\n'}), 'bad_upstream_response'),
], ids=['error event', 'dropped', 'ended early', 'silent', 'bad json'])
async def test_failures_mid_reply_are_raised_after_the_text_before_them(upstream: FakeUpstream, script: Script,
                                                                        code: str) -> None:
    client = _upstream(upstream)
    upstream.queue(script)
    sink = Sink()
    try:
        with pytest.raises(ChatError) as failed:
            async with client.stream(MESSAGES) as reply:
                first = [text for _, text in await reply.next_batch() or []]
                await reply.relay(sink)
                await reply.relay(sink)  # a failure after a batch is raised by the next call
        assert failed.value.code == code
        assert first + sink.texts == TOKENS[:3]
    finally:
        await client.aclose()
