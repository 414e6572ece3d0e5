"""A small client for `POST /api/chat`, and a command that prints a reply as it streams.

    NICECHAT_TOKEN=... python -m app.api.client "Say hello in three words"
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
# Seconds the server may stay silent before the client gives up. After the first token the server sends no pings,
# and it fails a silent upstream itself after UPSTREAM_TIMEOUT (default 60 s) with an `upstream_timeout` line:
# waiting clearly longer lets that line, which says what went wrong, arrive before this timeout fires.
READ_TIMEOUT = 90.0
CONNECT_TIMEOUT = 10.0
# Longest line accepted from the server. The longest real one is `done`, which carries the whole reply text (well
# under 1 MB at the server's default MAX_TOKENS_LIMIT); a server or proxy that never ends a line cannot fill memory.
MAX_LINE_BYTES = 16 * 1024 * 1024
# How much of an undecodable line goes into the error message: enough to recognise a proxy's HTML page.
BAD_LINE_EXCERPT = 60


class APIError(Exception):
    """The request or the reply failed: HTTP error, final `error` line, unreadable line or cut stream."""

    def __init__(self, code: str, message: str, status: int | None = None, retry_after: str | None = None) -> None:
        super().__init__(f'{code}: {message}')
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after


async def stream_chat(messages: Sequence[dict[str, str]], *, url: str | None = None, token: str | None = None,
                      read_timeout: float | None = None, client: httpx.AsyncClient | None = None,
                      max_line_bytes: int = MAX_LINE_BYTES, **params: Any) -> AsyncIterator[dict[str, Any]]:
    """Yield every object of the reply stream (start, ping, reasoning, chunk, done, and any newer types).

    `read_timeout` is how many seconds the server may stay silent (default READ_TIMEOUT, or `client`'s own when given);
    `max_line_bytes` caps one line of the stream (default MAX_LINE_BYTES). `params` are passed in the body (model,
    temperature, max_tokens). Raises APIError on any failure, including a line that is not a JSON object or is too
    long (`bad_response`) and a stream that ends without `done` (`incomplete`).
    """
    url = (url or os.environ.get('NICECHAT_URL') or DEFAULT_URL).rstrip('/')
    token = token or os.environ.get('NICECHAT_TOKEN')
    headers = {'Authorization': f'Bearer {token}'} if token else {}
    body = {'messages': list(messages), **{k: v for k, v in params.items() if v is not None}}
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(READ_TIMEOUT, connect=CONNECT_TIMEOUT))
    extra: dict[str, Any] = {}
    if read_timeout is not None:
        extra['timeout'] = httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT)
    try:
        async with http.stream('POST', url + '/api/chat', json=body, headers=headers, **extra) as response:
            if response.status_code != 200:
                raise _http_error(response.status_code, await response.aread(), response.headers.get('retry-after'))
            finished = False
            async for line in _lines(response, max_line_bytes):
                if not line.strip():
                    continue
                event = _decode(line)
                if event['type'] == 'error':
                    raise _stream_error(event.get('error'))
                finished = finished or event['type'] == 'done'
                yield event
            if not finished:
                # The docs' rule: a stream without `done` or `error` was cut, so its text is incomplete.
                raise APIError('incomplete', 'The stream ended without a done or error line: the reply is cut short.')
    except httpx.TransportError as error:
        raise APIError('connection_failed', f'Could not talk to {url}: {type(error).__name__}') from None
    except httpx.DecodingError:
        raise APIError('bad_response', f'{url} sent a body that could not be decoded.') from None
    finally:
        if client is None:
            await http.aclose()


async def stream_text(prompt: str, **options: Any) -> AsyncIterator[str]:
    """Yield the pieces of the reply to one user prompt; options as for `stream_chat`."""
    async for event in stream_chat([{'role': 'user', 'content': prompt}], **options):
        if event['type'] == 'chunk':
            yield event['content']


async def _lines(response: httpx.Response, max_line_bytes: int = MAX_LINE_BYTES) -> AsyncIterator[bytes]:
    """Yield the body's newline-terminated lines; a last line without its newline was cut and is dropped.

    Each read is scanned once, so a long line arriving in small reads costs linear time; a line that grows past
    `max_line_bytes` raises APIError `bad_response` instead of filling memory.
    """
    partial: list[bytes] = []  # the pieces of a line not ended yet, joined once when its end arrives
    size = 0
    async for data in response.aiter_bytes():
        *lines, rest = data.split(b'\n')
        if lines and partial:
            partial.append(lines[0])
            lines[0] = b''.join(partial)
            partial.clear()
            size = 0
            if len(lines[0]) > max_line_bytes:
                raise _too_long(max_line_bytes)
        for line in lines:
            yield line
        if rest:
            partial.append(rest)
            size += len(rest)
            if size > max_line_bytes:
                raise _too_long(max_line_bytes)


def _too_long(max_line_bytes: int) -> APIError:
    return APIError('bad_response', f'The server sent a line longer than {max_line_bytes:,} bytes, which is not a '
                    'reply object.')


def _decode(line: bytes) -> dict[str, Any]:
    """Parse one line of the stream: a JSON object with a string `type`, text in `chunk` and `reasoning`."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        event = None
    if (not isinstance(event, dict) or not isinstance(event.get('type'), str)
            or (event['type'] in ('chunk', 'reasoning') and not isinstance(event.get('content'), str))):
        # Typically a proxy's HTML page served with status 200: show its start so it can be recognised.
        excerpt = line[:BAD_LINE_EXCERPT].decode(errors='replace')
        raise APIError('bad_response', f'The server sent a line that is not a reply object: {excerpt!r}')
    return event


def _stream_error(error: Any) -> APIError:
    if not isinstance(error, dict):
        return APIError('error', 'The reply failed.')
    return APIError(str(error.get('code', 'error')), str(error.get('message', 'The reply failed.')))


def _http_error(status: int, body: bytes, retry_after: str | None) -> APIError:
    try:
        error = orjson.loads(body)['error']
        return APIError(error['code'], error['message'], status, retry_after)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return APIError('http_error', f'HTTP {status}', status, retry_after)


async def _print_reply(args: argparse.Namespace) -> None:
    messages = [{'role': 'system', 'content': args.system}] if args.system else []
    messages.append({'role': 'user', 'content': args.prompt})
    events = stream_chat(messages, url=args.url, token=args.token, read_timeout=args.timeout, model=args.model,
                         temperature=args.temperature, max_tokens=args.max_tokens)
    async for event in events:
        if event['type'] == 'chunk':
            print(event['content'], end='', flush=True)
        elif event['type'] == 'reasoning' and args.reasoning:
            print(event['content'], end='', flush=True, file=sys.stderr)
    print()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = argparse.ArgumentParser(prog='python -m app.api.client',
                                     description='Print a NiceChat reply as it streams.')
    parser.add_argument('prompt', help='what to ask')
    parser.add_argument('--url', help=f'server base URL (env NICECHAT_URL, default {DEFAULT_URL})')
    parser.add_argument('--token', help='API token (env NICECHAT_TOKEN)')
    parser.add_argument('--model', help="one of the server's ALLOWED_MODELS (default: the server's first)")
    parser.add_argument('--system', help='a system message to send first')
    parser.add_argument('--temperature', type=float)
    parser.add_argument('--max-tokens', type=int)
    parser.add_argument('--timeout', type=float, default=READ_TIMEOUT,
                        help=f'seconds the server may stay silent before giving up (default {READ_TIMEOUT:g})')
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
