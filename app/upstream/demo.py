"""The built-in demo model: an OpenAI-compatible `/demo/v1/chat/completions` served by this same process.

With no OPENAI_API_KEY the app's upstream client points here, so demo replies travel the very same SDK path
(HTTP, SSE, parsing) as a real model's.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from ..api.body import read_body
from ..config import DEMO_MODEL
from ..errors import ChatError

# Longest part of the prompt quoted back in a demo reply.
QUOTE_LIMIT = 200
_TOKEN = re.compile(r'\s*\S+|\s+')


def reply_text(messages: list[dict[str, Any]]) -> str:
    """The demo's markdown answer to a conversation: deterministic, with a heading, a list, a code block, a table."""
    prompts = [m for m in messages if m.get('role') == 'user']
    last = prompts[-1].get('content', '') if prompts else ''
    if not isinstance(last, str):
        last = ' '.join(part.get('text', '') for part in last if isinstance(part, dict))
    quote = ' '.join(last.split())[:QUOTE_LIMIT] or '(nothing)'
    return (
        '## Demo reply\n\n'
        f'You said: *{quote}*\n\n'
        'This answer comes from the **built-in demo model**, streamed token by token through the same '
        'OpenAI SDK path a real model uses. Some things it shows:\n\n'
        f'- this is turn {len(prompts)} of the conversation: the whole history goes upstream each time;\n'
        '- markdown: **bold**, *italic*, `inline code` and [a link](https://platform.openai.com/docs);\n'
        '- a fenced code block and a table, below.\n\n'
        '```python\n'
        'def greet(name: str) -> str:\n'
        '    return f"Hello, {name}!"\n'
        '```\n\n'
        '| Variable | What it does |\n'
        '| --- | --- |\n'
        '| `OPENAI_API_KEY` | connects a real model |\n'
        '| `OPENAI_BASE_URL` | any OpenAI-compatible server (Ollama, vLLM, LM Studio) |\n\n'
        'Put them in `.env` and restart to chat with a real model.'
    )


def tokens(text: str) -> list[str]:
    """Split text into word-sized deltas, whitespace kept with the following word."""
    return _TOKEN.findall(text)


def create_router(token_delay: float, max_body: int) -> APIRouter:
    """Routes of the demo model; `token_delay` is the pause between two streamed tokens, in seconds."""
    router = APIRouter(prefix='/demo/v1', include_in_schema=False)

    @router.get('/models')
    async def models() -> dict[str, Any]:
        return {'object': 'list', 'data': [{'id': DEMO_MODEL, 'object': 'model', 'owned_by': 'nicechat'}]}

    @router.post('/chat/completions')
    async def completions(request: Request) -> Response:
        try:
            body = orjson.loads(await read_body(request, max_body))
            messages = list(body['messages'])
        except ChatError as error:  # the body is too large
            return JSONResponse({'error': {'message': error.message, 'type': 'invalid_request_error'}},
                                status_code=error.status)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return JSONResponse({'error': {'message': 'body must be JSON with a messages list',
                                           'type': 'invalid_request_error'}}, status_code=400)
        text = reply_text(messages)
        model = str(body.get('model') or DEMO_MODEL)
        usage = {'prompt_tokens': sum(len(str(m.get('content', ''))) for m in messages) // 4,
                 'completion_tokens': len(tokens(text))}
        usage['total_tokens'] = usage['prompt_tokens'] + usage['completion_tokens']
        if not body.get('stream'):
            return JSONResponse(_completion(model, text, usage))
        include_usage = bool((body.get('stream_options') or {}).get('include_usage'))
        return StreamingResponse(_events(model, text, usage if include_usage else None, token_delay),
                                 media_type='text/event-stream')

    return router


async def _events(model: str, text: str, usage: dict[str, int] | None, delay: float) -> AsyncIterator[bytes]:
    base = {'id': f'chatcmpl-demo-{uuid.uuid4().hex[:12]}', 'object': 'chat.completion.chunk',
            'created': int(time.time()), 'model': model}

    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choices = [{'index': 0, 'delta': delta, 'finish_reason': finish}]
        return b'data: ' + orjson.dumps({**base, 'choices': choices, **extra}) + b'\n\n'

    yield event({'role': 'assistant', 'content': ''})
    for token in tokens(text):
        await asyncio.sleep(delay)
        yield event({'content': token})
    yield event({}, 'stop')
    if usage is not None:
        yield b'data: ' + orjson.dumps({**base, 'choices': [], 'usage': usage}) + b'\n\n'
    yield b'data: [DONE]\n\n'


def _completion(model: str, text: str, usage: dict[str, int]) -> dict[str, Any]:
    return {'id': f'chatcmpl-demo-{uuid.uuid4().hex[:12]}', 'object': 'chat.completion', 'created': int(time.time()),
            'model': model, 'usage': usage,
            'choices': [{'index': 0, 'finish_reason': 'stop', 'message': {'role': 'assistant', 'content': text}}]}
