"""A small client for `POST /api/chat`, and a command that prints a reply as it streams.

    NICECHAT_TOKEN=... python -m app.client "Say hello in three words"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import orjson

DEFAULT_URL = 'http://127.0.0.1:8080'
# The server pings every 15 s while the model thinks, so a minute of silence means the connection is dead.
READ_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0


class APIError(Exception):
    """The server refused the request (HTTP error) or the reply failed mid-stream (final `error` line)."""

    def __init__(self, code: str, message: str, status: int | None = None, retry_after: str | None = None) -> None:
        super().__init__(f'{code}: {message}')
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


async def stream_chat(messages: Sequence[dict[str, str]], *, url: str | None = None, token: str | None = None,
                      client: httpx.AsyncClient | None = None, **params: Any) -> AsyncIterator[dict[str, Any]]:
    """Yield every object of the reply stream (start, ping, reasoning, chunk, done, and any newer types).

    `params` are passed in the body (model, temperature, max_tokens). Raises APIError on any failure.
    """
    url = (url or os.environ.get('NICECHAT_URL') or DEFAULT_URL).rstrip('/')
    token = token or os.environ.get('NICECHAT_TOKEN')
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    body = {'messages': list(messages), **{k: v for k, v in params.items() if v is not None}}
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT))
    try:
        async with http.stream('POST', url + '/api/chat', json=body, headers=headers) as response:
            if response.status_code != 200:
                raise _http_error(response.status_code, await response.aread(), response.headers.get('retry-after'))
            async for line in response.aiter_lines():
                if not line:
                    continue
                event = orjson.loads(line)
                if event.get('type') == 'error':
                    error = event.get('error') or {}
                    raise APIError(error.get('code', 'error'), error.get('message', 'The reply failed.'))
                yield event
    except httpx.TransportError as error:
        raise APIError('connection_failed', f'Could not talk to {url}: {type(error).__name__}') from None
    finally:
        if client is None:
            await http.aclose()


async def stream_text(prompt: str, **options: Any) -> AsyncIterator[str]:
    """Yield the pieces of the reply to one user prompt; options as for `stream_chat`."""
    async for event in stream_chat([{'role': 'user', 'content': prompt}], **options):
        if event['type'] == 'chunk':
            yield event['content']


def _http_error(status: int, body: bytes, retry_after: str | None) -> APIError:
    try:
        error = orjson.loads(body)['error']
        return APIError(error['code'], error['message'], status, retry_after)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return APIError('http_error', f'HTTP {status}', status, retry_after)


async def _print_reply(args: argparse.Namespace) -> None:
    messages = [{'role': 'system', 'content': args.system}] if args.system else []
    messages.append({'role': 'user', 'content': args.prompt})
    events = stream_chat(messages, url=args.url, token=args.token, model=args.model,
                         temperature=args.temperature, max_tokens=args.max_tokens)
    async for event in events:
        if event['type'] == 'chunk':
            print(event['content'], end='', flush=True)
        elif event['type'] == 'reasoning' and args.reasoning:
            print(event['content'], end='', flush=True, file=sys.stderr)
    print()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog='python -m app.client', description='Print a NiceChat reply as it streams.')
    parser.add_argument('prompt', help='what to ask')
    parser.add_argument('--url', help=f'server base URL (env NICECHAT_URL, default {DEFAULT_URL})')
    parser.add_argument('--token', help='API token (env NICECHAT_TOKEN)')
    parser.add_argument('--model', help="one of the server's ALLOWED_MODELS (default: the server's first)")
    parser.add_argument('--system', help='a system message to send first')
    parser.add_argument('--temperature', type=float)
    parser.add_argument('--max-tokens', type=int)
    parser.add_argument('--reasoning', action='store_true', help="also print the model's reasoning (to stderr)")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_print_reply(args))
    except APIError as error:
        print(f'\nerror: {error.message} ({error.code})', file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == '__main__':
    sys.exit(main())
