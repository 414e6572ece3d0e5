"""Tool-call deltas from the upstream's SSE: passed on only to a reply that asks for them, as raw JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from app.errors import ChatError
from app.upstream.reply import Reply

CALL = [{'index': 0, 'id': 'call_1', 'type': 'function', 'function': {'name': 'f', 'arguments': '{"a":'}}]


def body(*deltas: dict) -> bytes:
    events = [{'id': 'c1', 'model': 'm', 'choices': [{'index': 0, 'delta': delta, 'finish_reason': None}]}
              for delta in deltas]
    events.append({'id': 'c1', 'model': 'm', 'choices': [{'index': 0, 'delta': {}, 'finish_reason': 'tool_calls'}]})
    return b''.join(b'data: ' + json.dumps(event).encode() + b'\n\n' for event in events) + b'data: [DONE]\n\n'


async def reads(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_tool_calls_are_left_out_unless_asked_for() -> None:
    reply = Reply(reads(body({'content': 'Let me check.'}, {'tool_calls': CALL})))
    assert [delta async for delta in reply.deltas()] == [('content', 'Let me check.')]
    assert reply.finish_reason == 'tool_calls'


async def test_tool_calls_come_as_json_of_the_delta_list_in_order() -> None:
    reply = Reply(reads(body({'content': 'Let me check.'}, {'tool_calls': CALL},
                             {'tool_calls': [{'index': 0, 'function': {'arguments': '1}'}}]})))
    reply.with_tool_calls = True
    deltas = [delta async for delta in reply.deltas()]
    assert [kind for kind, _ in deltas] == ['content', 'tool_calls', 'tool_calls']
    assert json.loads(deltas[1][1]) == CALL
    assert json.loads(deltas[2][1]) == [{'index': 0, 'function': {'arguments': '1}'}}]


async def test_tool_calls_that_are_not_a_list_are_a_bad_response() -> None:
    reply = Reply(reads(body({'tool_calls': {'index': 0}})))
    reply.with_tool_calls = True
    with pytest.raises(ChatError) as caught:
        [delta async for delta in reply.deltas()]
    assert caught.value.code == 'bad_upstream_response'
