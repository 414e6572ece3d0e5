"""Checks on a chat request body, done before anything goes upstream."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..config import Settings
from ..errors import ChatError

ROLES = frozenset({'system', 'user', 'assistant'})


@dataclass(frozen=True)
class ChatRequest:
    """A validated request: what goes upstream."""

    messages: list[dict[str, str]]
    model: str
    params: dict[str, Any] = field(default_factory=dict)


def invalid(message: str) -> ChatError:
    """A 422 for a body that is JSON but not a valid chat request."""
    return ChatError('invalid_request', message, 422)


def parse_request(body: Any, settings: Settings) -> ChatRequest:
    """Validate a decoded JSON body; raise ChatError (422) naming the first problem found."""
    if not isinstance(body, dict):
        raise invalid('The body must be a JSON object with a "messages" list.')
    messages = body.get('messages')
    if not isinstance(messages, list):
        raise invalid('"messages" must be a list of {"role", "content"} objects.')
    if not messages:
        raise invalid('"messages" must not be empty.')
    clean: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f'messages[{index}] must be an object with "role" and "content".')
        role, content = message.get('role'), message.get('content')
        if not isinstance(role, str) or role not in ROLES:  # a list or dict role is unhashable
            raise invalid(f'messages[{index}].role must be one of system, user, assistant; got {_show(role)}.')
        if not isinstance(content, str):
            raise invalid(f'messages[{index}].content must be a string (only text content is supported).')
        clean.append({'role': role, 'content': content})
    model = body.get('model', None)
    if model is None:
        model = settings.models[0]
    elif not isinstance(model, str) or model not in settings.models:
        raise invalid(f'"model" {_show(model)} is not allowed here; allowed: {", ".join(settings.models)}.')
    params: dict[str, Any] = {}
    temperature = body.get('temperature')
    if temperature is not None:
        if not _number(temperature) or not 0 <= temperature <= 2:
            raise invalid(f'"temperature" must be a number from 0 to 2; got {_show(temperature)}.')
        params['temperature'] = temperature
    max_tokens = body.get('max_tokens')
    if max_tokens is not None:
        limit = settings.max_tokens_limit
        if not _whole(max_tokens) or not 1 <= max_tokens <= limit:
            raise invalid(f'"max_tokens" must be a whole number from 1 to {limit}; got {_show(max_tokens)}.')
        params['max_tokens'] = max_tokens
    return ChatRequest(clean, model, params)


def request_schema(settings: Settings) -> dict[str, Any]:
    """JSON schema of a valid body under `settings`, for the OpenAPI document (parse_request is the real check)."""
    message = {'type': 'object', 'required': ['role', 'content'], 'properties': {
        'role': {'enum': sorted(ROLES)}, 'content': {'type': 'string', 'description': 'Text only.'}}}
    return {'type': 'object', 'required': ['messages'], 'properties': {
        'messages': {'type': 'array', 'minItems': 1, 'items': message},
        'model': {'enum': list(settings.models), 'default': settings.models[0]},
        'temperature': {'type': 'number', 'minimum': 0, 'maximum': 2},
        'max_tokens': {'type': 'integer', 'minimum': 1, 'maximum': settings.max_tokens_limit},
    }, 'description': 'Other keys are ignored.',
        'example': {'messages': [{'role': 'user', 'content': 'Say hello in three words.'}]}}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _show(value: Any) -> str:
    """A short, safe rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'
