"""The upstream reply parser on raw SSE bytes, split at awkward places, as servers and proxies deliver them."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

import app.upstream.reply as reply_module
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


@pytest.mark.parametrize('stream', [
    pytest.param(b'data: "' + b'x' * 100_000, id='a line that never ends'),
    pytest.param((b'data: "' + b'x' * 40 + b'",\n') * 2000, id='data lines with no blank line'),
    pytest.param(b'data:\n' * 20_000, id='empty data lines with no blank line'),
])
async def test_an_event_that_never_ends_is_refused_early(stream: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    # raising=False: the old parser had no such limit, and must fail this test by reading the whole body
    monkeypatch.setattr(reply_module, 'MAX_EVENT_BYTES', 1000, raising=False)
    read = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal read
        async for piece in pieces(stream, 100):
            read += len(piece)
            yield piece

    with pytest.raises(ChatError) as caught:
        [delta async for delta in Reply(counted()).deltas()]
    assert caught.value.code == 'bad_upstream_response'
    assert 'too large' in caught.value.message
    # Refused as soon as what the parser holds passed the limit, long before the end of the body: it holds every
    # byte of a line not ended yet, and at least one of every 6 bytes of data lines (`data:` + LF holds one LF).
    assert read <= 6 * 1000 + 2 * 100 < len(stream)


def reply_event(content: str, finish_reason: str | None = None) -> bytes:
    choice = {'index': 0, 'delta': {'content': content}, 'finish_reason': finish_reason}
    return b'data: ' + json.dumps({'choices': [choice]}).encode()


@pytest.mark.parametrize('size', [1, 2, 3, 5, 7, 4096])
@pytest.mark.parametrize('end', [b'\r', b'\n', b'\r\n'], ids=['CR', 'LF', 'CRLF'])
async def test_every_line_ending_at_any_split(end: bytes, size: int) -> None:
    multi_line = b'data: {"choices": [{"index": 0,' + end + b'data: "delta": {"content": "two lines"}}]}'
    data = end.join([b': comment', b'event: message', reply_event('Hel'), b'', multi_line, b'', b'data: {"choices"',
                     b'data: : [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}]}', b'',
                     b'data: [DONE]', b'', b''])
    deltas, reply = await parse(data, size)
    assert deltas == [('content', 'Hel'), ('content', 'two lines'), ('content', '!')]
    assert reply.complete


async def test_mixed_line_endings_and_a_crlf_split_between_reads() -> None:
    # The CR of a CRLF at the end of one read and its LF at the start of the next are one line end, not two
    # (two would be a blank line: the multi-line event would be dispatched half-read). CR then CRLF are two.
    reads = [b'data: {"choices": [{"index": 0,\r', b'\ndata: "delta": {"content": "a"}}]}\r', b'\r\n',
             reply_event('b') + b'\n\r', b'\n' + reply_event('c', 'stop') + b'\r', b'\r']

    async def from_reads() -> AsyncIterator[bytes]:
        for data in reads:
            yield data

    reply = Reply(from_reads())
    assert [delta async for delta in reply.deltas()] == [('content', 'a'), ('content', 'b'), ('content', 'c')]
    assert reply.finish_reason == 'stop'


async def test_a_long_line_in_small_reads_takes_linear_time() -> None:
    text = 'x' * 3_500_000  # one event under MAX_EVENT_BYTES, arriving 256 bytes at a time (a slow link)
    data = reply_event(text, 'stop') + b'\n\ndata: [DONE]\n\n'
    reads = [data[start:start + 256] for start in range(0, len(data), 256)]

    async def from_reads() -> AsyncIterator[bytes]:
        for piece in reads:
            yield piece

    started = time.process_time()
    deltas = [delta async for delta in Reply(from_reads()).deltas()]
    cpu = time.process_time() - started
    assert deltas == [('content', text)]
    # CPU time, not wall time, so a loaded machine does not fail it: a linear parse takes a few milliseconds, the
    # old one (the whole buffer copied and split again on every read) about 4 seconds.
    assert cpu < 1.0


@pytest.mark.parametrize('payload', [
    b'data: {"choices": [["not", "an", "object"]]}\n\n',
    b'data: {"choices": [{"index": 0, "delta": {"content": 42}}]}\n\n',
    b'data: {"choices": [], "usage": [1, 2]}\n\n',
])
async def test_events_of_the_wrong_shape_are_a_clear_error(payload: bytes) -> None:
    with pytest.raises(ChatError) as caught:
        await parse(payload)
    assert caught.value.code == 'bad_upstream_response'


def whole(text: Any = None, compact: bool = True, finish_reason: str | None = None, **fields: Any) -> bytes:
    """One whole event as one read, as a paced upstream sends a token (compact JSON as OpenAI's, or json.dumps')."""
    delta = {'content': text, **fields} if text is not None else fields
    chunk = {'id': 'c1', 'model': 'm', 'choices': [{'index': 0, 'delta': delta, 'finish_reason': finish_reason}]}
    return b'data: ' + (orjson.dumps(chunk) if compact else json.dumps(chunk).encode()) + b'\n\n'


DONE = b'data: [DONE]\n\n'
TOKENS = [whole(f't{n} ') for n in range(4)]
# Reads of whole events take Reply.feed's shortcuts (the learned template, one `data:` line); each case mixes them
# with reads that must not take them. Each must parse as the same bytes read one at a time (never a shortcut).
WHOLE_READS = {
    'paced tokens': [whole('', role='assistant'), *TOKENS, whole(finish_reason='stop'), DONE],
    'json.dumps spacing': [whole(f't{n}', compact=False) for n in range(4)] + [whole('end', False, 'stop'), DONE],
    'escapes and unicode after learning': [*TOKENS, whole('a "quoted"\\ line\nnext'), whole('é ✓ 😀'), DONE],
    'another finish reason, usage': [
        *TOKENS, whole('last', finish_reason='length'),
        b'data: {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 5}}\n\n', DONE],
    'not a string where the text was': [*TOKENS, TOKENS[0].replace(b'"t0 "', b'42')],
    'a string with space around it': [*TOKENS, TOKENS[0].replace(b'"t0 "', b' "t0 " '), DONE],
    'a list where the text was': [*TOKENS, TOKENS[0].replace(b'"t0 "', b'["t0 "]')],
    'an empty text after learning': [*TOKENS, whole(''), *TOKENS, DONE],
    'a CR in the bytes around the text': [*TOKENS, TOKENS[1].replace(b'data: ', b'data:\r'), DONE],
    'a line split by CR at the text': [*TOKENS, TOKENS[1].replace(b'"t1 "', b'"t1"\r,"x":"y"'), DONE],
    'a line end after the text': [*TOKENS, TOKENS[1].replace(b'"t1 "', b'"t1 "\n'), DONE],
    'a CR before the text': [*TOKENS, TOKENS[1].replace(b'"t1 "', b'\r"t1 "'), DONE],
    'a read that ends in CR, then LF': [*TOKENS, TOKENS[2][:-1].replace(b'\n', b'\r'), b'\n' + TOKENS[3], DONE],
    'an event split between reads': [*TOKENS, TOKENS[1][:20], TOKENS[1][20:] + TOKENS[2], TOKENS[3], DONE],
    'two events in one read': [*TOKENS, TOKENS[1] + TOKENS[2], DONE],
    'a multi-line event after learning': [*TOKENS, b'data: {"choices": [{"index": 0,\n',
                                          b'data: "delta": {"content": "joined"}}]}\n\n', TOKENS[3], DONE],
    'data: with no space, comments': [*TOKENS, TOKENS[1].replace(b'data: ', b'data:'), b': ping\n\n', DONE],
    'the text also elsewhere': [whole('m'), whole('c1'), *TOKENS, DONE],
    # The text occurs once, as another field's value, and the delta's own text is escaped otherwise: not a template.
    'the text elsewhere, escaped in the delta': [
        b'data: {"x":"%c","choices":[{"index":0,"delta":{"content":"\\u0045"}}]}\n\n' % c for c in b'EFG'] + [DONE],
    'reasoning and text together': [whole('a', reasoning_content='r') for _ in range(3)] + [DONE],
    'reasoning alone': [whole(reasoning_content=f'r{n}') for n in range(3)] + [*TOKENS, DONE],
    # Learned at `reasoning_content`; an empty one there gives way to the `reasoning` field (fixed bytes, here).
    'both reasoning fields': [whole(reasoning_content=f'r{n}', reasoning='other') for n in range(3)]
    + [whole(reasoning_content='', reasoning='other'), whole(reasoning_content='r9', reasoning='other'), DONE],
    'a counter in every event': [whole(f't{n}', n=n) for n in range(12)] + [DONE],
    'an error event after learning': [*TOKENS, b'data: {"error": {"message": "overloaded"}}\n\n'],
    'bad JSON after learning': [*TOKENS, TOKENS[1][:-8] + b'\n\n'],
    'an empty data line': [*TOKENS, b'data: \n\n'],
    'no [DONE]': [*TOKENS],
}


async def outcome(reads: list[bytes]) -> tuple[Any, ...]:
    """What a reply makes of these reads: its deltas, its error code (or None) and its metadata."""

    async def from_reads() -> AsyncIterator[bytes]:
        for data in reads:
            yield data

    reply, deltas, code = Reply(from_reads()), [], None
    try:
        async for delta in reply.deltas():
            deltas.append(delta)
    except ChatError as error:
        code = error.code
    return deltas, code, reply.complete, reply.finish_reason, reply.usage, reply.id, reply.model, reply.delta_count


@pytest.mark.parametrize('reads', WHOLE_READS.values(), ids=WHOLE_READS.keys())
async def test_whole_event_reads_parse_as_the_same_bytes_read_one_at_a_time(reads: list[bytes]) -> None:
    body = b''.join(reads)
    assert await outcome(reads) == await outcome([body[at:at + 1] for at in range(len(body))])


async def test_the_events_template_is_learned_from_compact_and_spaced_json() -> None:
    # Not a result of its own (the test above proves the results equal): that the shortcut it covers is taken.
    for reads in WHOLE_READS['paced tokens'], WHOLE_READS['json.dumps spacing']:
        reply = Reply(None, read=None)
        for data in reads:
            reply.feed(data)
        assert reply._head.startswith(b'data: {') and reply._tail.endswith(b'}\n\n')
    reply = Reply(None)
    for data in WHOLE_READS['reasoning and text together']:
        reply.feed(data)
    assert not reply._head  # a template would drop the reasoning
    reply = Reply(None)
    for data in WHOLE_READS['reasoning alone'][:3]:
        reply.feed(data)
    assert reply._kind == 'reasoning' and b'reasoning_content' in reply._head
    for data in WHOLE_READS['reasoning alone'][3:]:  # then the text: learned again
        reply.feed(data)
    assert reply._kind == 'content' and b'reasoning_content' not in reply._head


async def test_a_reply_stops_learning_after_a_few_tries() -> None:
    # Events that differ in more than their text (a counter): each try learns a template the next event misses;
    # after LESSONS tries the parse stops paying for the probe.
    reply = Reply(None)
    for data in WHOLE_READS['a counter in every event']:
        reply.feed(data)
    assert reply._lessons == 0 and reply.delta_count == 12
