"""Checks on the messages of an OpenAI chat completion request: text, image parts, tool calls and their results."""

from __future__ import annotations

from typing import Any

from ..image_urls import image_url_problem
from .protocol import OpenAIError

ROLES = ('system', 'developer', 'user', 'assistant', 'tool')


def bad(message: str, param: str | None) -> OpenAIError:
    """A 400 for an invalid request, naming the parameter."""
    return OpenAIError(400, message, param=param, code='invalid_request')


def parse_messages(value: Any, max_image_bytes: int) -> list[dict[str, Any]]:
    """Checked copies of the messages; OpenAIError (400) naming the first problem."""
    if not isinstance(value, list) or not value:
        raise bad('"messages" must be a non-empty list of message objects.', 'messages')
    return [_message(message, f'messages[{index}]', max_image_bytes) for index, message in enumerate(value)]


def _message(message: Any, where: str, max_image_bytes: int) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise bad(f'{where} must be an object with "role" and "content".', where)
    role = message.get('role')
    if not isinstance(role, str) or role not in ROLES:
        raise bad(f'{where}.role must be one of {", ".join(ROLES)}; got {show(role)}.', f'{where}.role')
    out: dict[str, Any] = {'role': role}
    content = message.get('content')
    if role == 'assistant' and (calls := message.get('tool_calls')) is not None:
        out['tool_calls'] = _assistant_calls(calls, f'{where}.tool_calls')
    if role == 'assistant' and content is None and ('tool_calls' in out or message.get('refusal')):
        out['content'] = None
    else:
        out['content'] = _content(content, f'{where}.content', role, max_image_bytes)
    if role == 'tool':
        out['tool_call_id'] = string_at(message.get('tool_call_id'), f'{where}.tool_call_id')
    for name in ('name', 'refusal'):
        if message.get(name) is not None:
            out[name] = string_at(message[name], f'{where}.{name}')
    return out


def _content(content: Any, where: str, role: str, max_image_bytes: int) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list) or not content:
        raise bad(f'{where} must be a string or a non-empty list of content parts.', where)
    parts: list[dict[str, Any]] = []
    for index, part in enumerate(content):
        at = f'{where}[{index}]'
        kind = part.get('type') if isinstance(part, dict) else None
        if kind == 'text':
            parts.append({'type': 'text', 'text': string_at(part.get('text'), f'{at}.text')})
        elif kind == 'image_url' and role == 'user':
            parts.append({'type': 'image_url', 'image_url': _image(part.get('image_url'), f'{at}.image_url',
                                                                   max_image_bytes)})
        elif kind == 'refusal' and role == 'assistant':
            parts.append({'type': 'refusal', 'refusal': string_at(part.get('refusal'), f'{at}.refusal')})
        else:
            allowed = 'text and image_url' if role == 'user' else 'text'
            raise bad(f'{at} must be a content part of type {allowed} in a {role} message; got type {show(kind)}.',
                      f'{at}.type')
    return parts


def _image(value: Any, where: str, max_image_bytes: int) -> dict[str, Any]:
    url = value.get('url') if isinstance(value, dict) else None
    if not isinstance(url, str):
        raise bad(f'{where}.url must be a string.', f'{where}.url')
    if problem := image_url_problem(url, max_image_bytes):
        raise bad(f'{where}.url {problem}.', f'{where}.url')
    image = {'url': url}
    if (detail := value.get('detail')) is not None:
        image['detail'] = _choice(detail, f'{where}.detail', ('auto', 'low', 'high'))
    return image


def _assistant_calls(calls: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(calls, list):
        raise bad(f'{where} must be a list of tool calls.', where)
    out = []
    for index, call in enumerate(calls):
        at = f'{where}[{index}]'
        function = call.get('function') if isinstance(call, dict) else None
        if not isinstance(function, dict) or call.get('type', 'function') != 'function':
            raise bad(f'{at} must be {{"id", "type": "function", "function": {{"name", "arguments"}}}}.', at)
        out.append({'id': string_at(call.get('id'), f'{at}.id'), 'type': 'function',
                    'function': {'name': string_at(function.get('name'), f'{at}.function.name'),
                                 'arguments': string_at(function.get('arguments'), f'{at}.function.arguments')}})
    return out


def string_at(value: Any, where: str) -> str:
    """`value` if it is a string; else a 400 naming `where`."""
    if not isinstance(value, str):
        raise bad(f'{where} must be a string.', where)
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise bad(f'{where} must be one of {", ".join(choices)}.', where)
    return str(value)


def show(value: Any) -> str:
    """A short rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'
