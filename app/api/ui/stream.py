"""The Vercel AI SDK's UI message stream protocol (v1), and the UIMessages that `useChat` posts. Pure, no IO.

The chunk types and fields follow the `ai` package's own schema (`uiMessageChunkSchema` in
src/ui-message-stream/ui-message-chunks.ts, ai 6.x): SSE `data: {json}` events ending in `data: [DONE]`, with the
header `x-vercel-ai-ui-message-stream: v1`. Its DefaultChatTransport (what useChat uses) validates every chunk
against that schema, so a field of the wrong type fails there.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import orjson

from ...config import Settings
from ...errors import ChatError
from ..image_urls import image_url_problem
from ..openai.request import MAX_MODEL_NAME

HEADERS = {'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no', 'x-vercel-ai-ui-message-stream': 'v1'}
DONE = b'data: [DONE]\n\n'
# An SSE comment (the AI SDK's own keep-alive is one too): skipped by readers, keeps proxies from cutting the wait.
PING = b': ping\n\n'
ROLES = ('system', 'user', 'assistant')
# OpenAI's finish reasons in the AI SDK's spelling; any other is 'other'.
FINISH_REASONS = {'stop': 'stop', 'length': 'length', 'content_filter': 'content-filter', 'tool_calls': 'tool-calls',
                  'function_call': 'tool-calls'}
_PART_TYPES = {'content': 'text', 'reasoning': 'reasoning'}


def event(chunk: dict[str, Any]) -> bytes:
    """One UI message chunk as an SSE event."""
    return b'data: ' + orjson.dumps(chunk) + b'\n\n'


def error_frame(error: ChatError) -> bytes:
    """The end of a stream that failed after it began: an `error` chunk (useChat's `error`), then `[DONE]`."""
    return event({'type': 'error', 'errorText': error.message}) + DONE


class PartWriter:
    """Writes one reply as UI message chunks: a text or reasoning part opens when its kind of delta starts and ends
    when the other kind begins or the reply ends."""

    def __init__(self, message_id: str | None = None) -> None:
        self.message_id = message_id or f'msg-{uuid.uuid4().hex}'  # a stored reply's own id, else a new one
        self._kind: str | None = None  # the delta kind of the open part
        self._delta_head = b''  # the encoded start of that part's delta chunks
        self._tail = b''  # its end chunk
        self._parts = 0

    def start(self) -> bytes:
        """The first chunks: the message (its id) and its one step."""
        return event({'type': 'start', 'messageId': self.message_id}) + event({'type': 'start-step'})

    def batch(self, deltas: Iterable[tuple[str, str]]) -> bytes:
        """The chunks for deltas that arrived together, for one write."""
        out = []
        dumps = orjson.dumps
        for kind, text in deltas:
            if kind != self._kind:
                if kind not in _PART_TYPES:
                    continue  # a kind this protocol's text parts do not carry
                out.append(self._open(kind))
            out.append(self._delta_head + dumps(text) + b'}\n\n')
        return b''.join(out)

    def finish(self, reason: str | None) -> bytes:
        """The last chunks: the open part's end, the step's and the message's, then `[DONE]`."""
        finish_reason = FINISH_REASONS.get(reason or 'stop', 'other')
        return self._close() + event({'type': 'finish-step'}) + event({'type': 'finish',
                                                                        'finishReason': finish_reason}) + DONE

    def _open(self, kind: str) -> bytes:
        closed = self._close()
        part = _PART_TYPES[kind]
        self._parts += 1
        part_id = orjson.dumps(f'{part}-{self._parts}')
        self._kind = kind
        self._delta_head = b'data: {"type":"' + part.encode() + b'-delta","id":' + part_id + b',"delta":'
        self._tail = b'data: {"type":"' + part.encode() + b'-end","id":' + part_id + b'}\n\n'
        return closed + b'data: {"type":"' + part.encode() + b'-start","id":' + part_id + b'}\n\n'

    def _close(self) -> bytes:
        tail, self._tail, self._kind = self._tail, b'', None
        return tail


def parse_ui_request(body: Any, settings: Settings) -> tuple[list[dict[str, Any]], str]:
    """The upstream messages and the model of a useChat request body; ChatError (422) at the first problem.

    The body is what useChat's DefaultChatTransport posts: `{"id", "messages": [UIMessage], "trigger", ...}` plus
    whatever the app's `body` option adds, such as `"model"`. Other keys are ignored.
    """
    if not isinstance(body, dict):
        raise _invalid('The body must be a JSON object with a "messages" list, as useChat sends it.')
    models = settings.models
    model = body.get('model')
    if model is None:
        model = models[0]
    elif settings.any_model:  # ALLOWED_MODELS=*: any name, the model server says whether it serves it
        if not isinstance(model, str) or not 1 <= len(model) <= MAX_MODEL_NAME:
            raise _invalid(f'"model" must be a model name of 1 to {MAX_MODEL_NAME} characters.')
    elif not isinstance(model, str) or model not in models:
        raise _invalid(f'"model" {_show(model)} is not allowed here; allowed: {", ".join(models)}.')
    messages = body.get('messages')
    if not isinstance(messages, list) or not messages:
        raise _invalid('"messages" must be a non-empty list of UI messages (objects with "role" and "parts").')
    upstream = [m for index, message in enumerate(messages)
                if (m := _message(message, f'messages[{index}]', settings.max_image_bytes))]
    if not upstream:
        raise _invalid('"messages" hold no text or image to send to the model.')
    return upstream, model


def _message(message: Any, where: str, max_image_bytes: int) -> dict[str, Any] | None:
    """One UIMessage as an upstream message; None if it has nothing the model reads (only tool or data parts)."""
    if not isinstance(message, dict):
        raise _invalid(f'{where} must be an object with "role" and "parts".')
    role, parts = message.get('role'), message.get('parts')
    if not isinstance(role, str) or role not in ROLES:
        raise _invalid(f'{where}.role must be one of {", ".join(ROLES)}; got {_show(role)}.')
    if not isinstance(parts, list):
        raise _invalid(f'{where}.parts must be a list.')
    content: list[dict[str, Any]] = []
    for index, part in enumerate(parts):
        kind = part.get('type') if isinstance(part, dict) else None
        if kind == 'text':
            if not isinstance(text := part.get('text'), str):
                raise _invalid(f'{where}.parts[{index}].text must be a string.')
            content.append({'type': 'text', 'text': text})
        elif kind == 'file':
            media, url = part.get('mediaType'), part.get('url')
            if role != 'user' or not isinstance(media, str) or not media.startswith('image/') \
                    or not isinstance(url, str):
                raise _invalid(f'{where}.parts[{index}]: only image files (with "mediaType" and "url"), in user '
                               'messages, can be sent to the model.')
            if problem := image_url_problem(url, max_image_bytes):
                raise _invalid(f'{where}.parts[{index}].url {problem}.')
            content.append({'type': 'image_url', 'image_url': {'url': url}})
        elif not isinstance(kind, str):
            raise _invalid(f'{where}.parts[{index}] must be an object with a "type".')
        # Other parts (reasoning, step-start, tool calls, sources, data-*) are what the page shows, not prompt text.
    if not content:
        return None
    if all(part['type'] == 'text' for part in content):
        return {'role': role, 'content': ''.join(part['text'] for part in content)}
    return {'role': role, 'content': content}


def _invalid(message: str) -> ChatError:
    return ChatError('invalid_request', message, 422)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'
