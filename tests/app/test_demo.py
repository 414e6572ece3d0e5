"""Demo mode: no key, no base URL; the built-in demo model answers through the same SDK path over HTTP."""

from __future__ import annotations

import json

import httpx

from app.upstream.demo import reply_text, tokens
from tests.conftest import LiveApp


def test_demo_reply_streams_markdown_through_the_api(demo_app: LiveApp) -> None:
    body = {'messages': [{'role': 'user', 'content': 'show me what you can do'}]}
    response = httpx.post(demo_app.url + '/api/chat', json=body, timeout=30)  # open: demo mode needs no token
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    chunks = [line['content'] for line in lines if line['type'] == 'chunk']
    assert len(chunks) > 50  # word by word, not one blob
    done = lines[-1]
    assert done['type'] == 'done'
    assert done['full_content'] == ''.join(chunks) == reply_text(body['messages'])
    assert '## Demo reply' in done['full_content']
    assert '```python' in done['full_content']
    assert 'show me what you can do' in done['full_content']
    assert done['usage']['completion_tokens'] == len(chunks)


def test_demo_counts_turns_and_keeps_whitespace() -> None:
    history = [{'role': 'user', 'content': 'a'}, {'role': 'assistant', 'content': 'b'},
               {'role': 'user', 'content': 'c'}]
    text = reply_text(history)
    assert 'turn 2 of the conversation' in text
    assert ''.join(tokens(text)) == text


def test_demo_endpoint_refuses_oversized_bodies(demo_app: LiveApp) -> None:
    big = {'messages': [{'role': 'user', 'content': 'x' * 1_100_000}]}
    response = httpx.post(demo_app.url + '/demo/v1/chat/completions', json=big, timeout=30)
    assert response.status_code == 413
    assert 'exceeds' in response.json()['error']['message']
