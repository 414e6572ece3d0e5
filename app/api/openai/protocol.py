"""OpenAI's wire format: chat.completion.chunk SSE events, the chat.completion object, errors. Pure, no IO."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.responses import JSONResponse

from ...errors import ChatError

DONE = b'data: [DONE]\n\n'
# An SSE comment: every SSE reader skips it; it keeps proxies from cutting a connection idle before the first token.
PING = b': ping\n\n'
_CHUNK_TAIL = b'},"logprobs":null,"finish_reason":null}]}\n\n'
_DELTA_FIELDS = {'content': b'"content":', 'reasoning': b'"reasoning_content":', 'tool_calls': b'"tool_calls":'}

# The OpenAI error `type` for each HTTP status this API answers with (SDKs pick their exception class by status).
_TYPES = {400: 'invalid_request_error', 401: 'invalid_request_error', 403: 'permission_error',
          404: 'invalid_request_error', 413: 'invalid_request_error', 429: 'rate_limit_error'}
# This app's error codes under the names OpenAI uses for the same failure, where it has one.
_CODES = {'unauthorized': 'invalid_api_key', 'rate_limited': 'rate_limit_exceeded',
          'body_too_large': 'request_too_large', 'quota_exceeded': 'insufficient_quota'}
# Failures a retry cannot fix (this server's key, or what answers at OPENAI_BASE_URL): they go out with
# `x-should-retry: false`, which OpenAI's SDKs obey, instead of being retried twice by default as any 5xx.
_NO_RETRY = {'upstream_auth', 'bad_upstream_response'}


class OpenAIError(Exception):
    """An error as OpenAI reports it: `{"error": {"message", "type", "param", "code"}}` with an HTTP status."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 retry_after: str | None = None, retry: bool = True) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type = _TYPES.get(status, 'server_error' if status >= 500 else 'invalid_request_error')
        self.retry_after = retry_after
        self.retry = retry

    def to_dict(self) -> dict[str, Any]:
        """The `error` object, for a JSON body or a mid-stream SSE event."""
        return {'message': self.message, 'type': self.type, 'param': self.param, 'code': self.code}

    def to_response(self) -> JSONResponse:
        """The HTTP answer for this error."""
        headers = {'Retry-After': self.retry_after} if self.retry_after else {}
        if self.status == 401:
            headers['WWW-Authenticate'] = 'Bearer'
        if not self.retry:
            headers['x-should-retry'] = 'false'
        return JSONResponse({'error': self.to_dict()}, status_code=self.status, headers=headers)

    def event(self) -> bytes:
        """The SSE event that ends a stream that failed after it began (OpenAI sends the same, then closes)."""
        return b'data: ' + orjson.dumps({'error': self.to_dict()}) + b'\n\n'


def from_chat_error(error: ChatError) -> OpenAIError:
    """The OpenAI form of one of this app's errors (its message is already safe to show)."""
    status = error.status
    if error.code == 'upstream_rejected':
        # The model server refused what the client sent (a parameter it does not support, a bad schema): from the
        # client's side that is a bad request, as it would be talking to that server directly.
        status = 400
    elif error.code == 'invalid_request':
        status = 400  # OpenAI reports every invalid parameter as 400, not 422
    return OpenAIError(status, error.message, code=_CODES.get(error.code, error.code), retry_after=error.retry_after,
                       retry=error.code not in _NO_RETRY)


def completion_id() -> str:
    """A fresh id for one completion, in OpenAI's format."""
    return f'chatcmpl-{uuid.uuid4().hex}'


class ChunkEncoder:
    """Encodes one streamed completion's chunks as SSE events; the fields shared by every chunk are encoded once."""

    def __init__(self, model: str, reply_id: str | None = None, created: int | None = None) -> None:
        self.id = reply_id or completion_id()
        self.created = int(time.time()) if created is None else created
        self._base = (b'{"id":' + orjson.dumps(self.id) + b',"object":"chat.completion.chunk","created":'
                      + str(self.created).encode() + b',"model":' + orjson.dumps(model) + b',"system_fingerprint":null')
        self._head = b'data: ' + self._base + b',"choices":[{"index":0,"delta":{'
        self._heads = {kind: self._head + field for kind, field in _DELTA_FIELDS.items()}

    def role(self) -> bytes:
        """The first chunk: the assistant's role, as OpenAI starts every stream."""
        return self._head + b'"role":"assistant","content":""' + _CHUNK_TAIL

    def batch(self, deltas: Iterable[tuple[str, str]]) -> bytes:
        """One chunk per delta, joined for one write; a 'tool_calls' delta's text is already JSON and goes verbatim."""
        heads, dumps = self._heads, orjson.dumps
        return b''.join(heads[kind] + (text.encode() if kind == 'tool_calls' else dumps(text)) + _CHUNK_TAIL
                        for kind, text in deltas)

    def finish(self, reason: str | None, usage: dict[str, int] | None, include_usage: bool) -> bytes:
        """The last events: the finish reason, the usage chunk when asked for (`stream_options`), then `[DONE]`."""
        out = (b'data: ' + self._base + b',"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":'
               + orjson.dumps(reason) + b'}]}\n\n')
        if include_usage:
            out += b'data: ' + self._base + b',"choices":[],"usage":' + orjson.dumps(usage) + b'}\n\n'
        return out + DONE


class ToolCalls:
    """Merges streamed tool-call deltas (by `index`) into whole calls, for a non-streamed completion."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, Any]] = {}

    def add(self, deltas: list[dict[str, Any]]) -> None:
        """Merge one `delta.tool_calls` list: the first piece of a call names it, later ones extend its arguments."""
        for delta in deltas:
            if not isinstance(delta, dict) or not isinstance(index := delta.get('index', 0), int):
                continue  # not a tool call: nothing a client could use
            call = self.calls.setdefault(index, {'id': '', 'type': 'function',
                                                 'function': {'name': '', 'arguments': ''}})
            call['id'] = _text(delta.get('id')) or call['id']
            call['type'] = _text(delta.get('type')) or call['type']
            function = delta.get('function')
            if isinstance(function, dict):
                call['function']['name'] += _text(function.get('name'))
                call['function']['arguments'] += _text(function.get('arguments'))

    def result(self) -> list[dict[str, Any]] | None:
        """The calls in index order, or None when there were none."""
        return [self.calls[index] for index in sorted(self.calls)] or None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ''


def completion(model: str, content: str, reasoning: str, tool_calls: list[dict[str, Any]] | None,
               finish_reason: str | None, usage: dict[str, int] | None) -> dict[str, Any]:
    """A whole `chat.completion` object (the answer without `stream`)."""
    message: dict[str, Any] = {'role': 'assistant', 'content': content if content or not tool_calls else None,
                               'refusal': None}
    if reasoning:
        message['reasoning_content'] = reasoning
    if tool_calls:
        message['tool_calls'] = tool_calls
    return {'id': completion_id(), 'object': 'chat.completion', 'created': int(time.time()), 'model': model,
            'system_fingerprint': None, 'usage': usage,
            'choices': [{'index': 0, 'message': message, 'logprobs': None, 'finish_reason': finish_reason}]}


def model_list(models: Iterable[str]) -> dict[str, Any]:
    """The `GET /v1/models` answer: the models a client may ask for."""
    return {'object': 'list', 'data': [{'id': model, 'object': 'model', 'created': 0, 'owned_by': 'nicechat'}
                                       for model in models]}
