"""The upstream reply parser on raw SSE bytes, split at awkward places, as servers and proxies deliver them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from app.errors import ChatError
from app.upstream.reply import Reply


def event(**delta: str) -> bytes:
    chunk = {'id': 'c1', 'model': 'm', 'choices': [{'index': 0, 'delta': delta, 'finish_reason': None}]}
    return b'data: ' + json.dumps(chunk).encode()


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


async def parse(data: bytes, size: int = 7) -> tuple[list[tuple[str, str]], Reply]:
    reply = Reply(pieces(data, size), ('sk-secret',))
    return [delta async for delta in reply.deltas()], reply


async def parse_until_error(data: bytes) -> tuple[list[tuple[str, str]], ChatError]:
    """The deltas yielded before the parser raised, and what it raised (the test fails if it does not raise)."""
    seen = []
    with pytest.raises(ChatError) as caught:
        async for delta in Reply(pieces(data, 4096), ('sk-secret',)).deltas():
            seen.append(delta)
    return seen, caught.value


@pytest.mark.parametrize('size', [1, 3, 7, 4096])
async def test_crlf_comments_fields_and_any_split(size: int) -> None:
    data = (b': keep-alive comment\r\n\r\n' + b'event: message\r\nid: 1\r\n' + event(content='Hel') + b'\r\n\r\n'
            + event(reasoning_content='hmm') + b'\r\n\r\n' + event(content='lo') + b'\r\n\r\n'
            + b'data: {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}\r\n\r\n'
            + b'data: [DONE]\r\n\r\n')
    deltas, reply = await parse(data, size)
    assert deltas == [('content', 'Hel'), ('reasoning', 'hmm'), ('content', 'lo')]
    assert reply.complete
    assert reply.usage == {'prompt_tokens': 3, 'completion_tokens': 2, 'total_tokens': 5}
    assert (reply.id, reply.model) == ('c1', 'm')


async def test_multi_line_data_joins_and_last_event_needs_no_blank_line() -> None:
    data = (b'data: {"choices": [{"index": 0,\ndata:  "delta": {"content": "joined"}}]}\n\n'
            + b'data: {"choices": [{"index": 0, "delta": {"content": "end"}, "finish_reason": "stop"}]}')
    deltas, reply = await parse(data)
    assert deltas == [('content', 'joined'), ('content', 'end')]
    assert reply.finish_reason == 'stop'
    assert not reply.complete  # no [DONE]; a finish reason is enough for servers that never send one


async def test_a_body_that_ends_mid_reply_is_an_error() -> None:
    seen, error = await parse_until_error(event(content='The answer is') + b'\n\n')
    assert seen == [('content', 'The answer is')]
    assert error.code == 'upstream_disconnected'


async def test_other_choices_and_empty_deltas_are_skipped() -> None:
    data = (b'data: {"choices": [{"index": 1, "delta": {"content": "other"}}]}\n\n'
            + event(content='') + b'\n\n' + event(content='mine') + b'\n\ndata: [DONE]\n\n')
    deltas, _ = await parse(data)
    assert deltas == [('content', 'mine')]


async def test_error_event_keeps_what_came_before_and_redacts() -> None:
    data = event(content='partial') + b'\n\ndata: {"error": {"message": "overloaded, key sk-secret"}}\n\n'
    seen, error = await parse_until_error(data)
    assert seen == [('content', 'partial')]
    assert error.code == 'upstream_error'
    assert 'overloaded' in error.message
    assert 'sk-secret' not in error.message


@pytest.mark.parametrize('payload', [b'data: not json\n\n', b'data: [1, 2]\n\n'])
async def test_garbage_is_a_clear_error(payload: bytes) -> None:
    with pytest.raises(ChatError) as caught:
        await parse(payload)
    assert caught.value.code == 'bad_upstream_response'


async def test_a_line_that_never_ends_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr('app.upstream.reply.MAX_LINE_BYTES', 1000)
    with pytest.raises(ChatError) as caught:
        await parse(b'data: "' + b'x' * 5000, size=100)
    assert caught.value.code == 'bad_upstream_response'


@pytest.mark.parametrize('payload', [
    b'data: {"choices": [["not", "an", "object"]]}\n\n',
    b'data: {"choices": [{"index": 0, "delta": {"content": 42}}]}\n\n',
    b'data: {"choices": [], "usage": [1, 2]}\n\n',
])
async def test_events_of_the_wrong_shape_are_a_clear_error(payload: bytes) -> None:
    with pytest.raises(ChatError) as caught:
        await parse(payload)
    assert caught.value.code == 'bad_upstream_response'
