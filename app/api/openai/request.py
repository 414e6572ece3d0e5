"""Checks on an OpenAI chat completion request, before anything goes upstream: a 400 naming the field, as OpenAI's.

Only the fields below are accepted (and forwarded, as checked copies); any other gets OpenAI's own answer to an
unknown field, so a client cannot slip the model server an option this app does not limit (another `n`, another
token cap).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from ...config import Settings
from .messages import bad, parse_messages, show
from .protocol import OpenAIError

# OpenAI's own limits: four stop sequences, 128 tools, function names of 1-64 letters, digits, `_` and `-`.
MAX_STOP = 4
MAX_TOOLS = 128
FUNCTION_NAME = re.compile(r'[A-Za-z0-9_-]{1,64}')
# Longest model name taken with ALLOWED_MODELS=* (as /api/chat takes it): longer is not a model name.
MAX_MODEL_NAME = 200


@dataclass(frozen=True)
class CompletionRequest:
    """A checked request: what goes upstream, and how the client wants the answer."""

    messages: list[dict[str, Any]]
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False


def parse_completion_request(body: Any, settings: Settings) -> CompletionRequest:
    """Check a decoded JSON body; raise OpenAIError (400, or 404 for a model not served here) at the first problem."""
    if not isinstance(body, dict):
        raise bad('The body must be a JSON object.', None)
    if unknown := sorted(set(body) - ACCEPTED):
        raise bad(f'Unrecognized request argument supplied: {show(unknown[0])}.', unknown[0])
    model = body.get('model')
    if model is None:
        model = settings.models[0]
    elif not isinstance(model, str) or (settings.any_model and not 1 <= len(model) <= MAX_MODEL_NAME):
        raise bad(f'"model" must be a model name of 1 to {MAX_MODEL_NAME} characters.', 'model')
    elif model not in settings.models and not settings.any_model:
        raise OpenAIError(404, f'The model {show(model)} does not exist or you do not have access to it; available: '
                          f'{", ".join(settings.models)}.', param='model', code='model_not_found')
    messages = parse_messages(body.get('messages'), settings.max_image_bytes)
    params = {name: check(value, name, settings) for name, check in _PARAMS.items()
              if (value := body.get(name)) is not None}
    if body.get('n') not in (None, 1):
        raise bad('Only one choice per request is supported here ("n" must be 1).', 'n')
    if body.get('logprobs') not in (None, False) or body.get('top_logprobs') is not None:
        raise bad('Log probabilities are not supported here.', 'logprobs')
    stream = body.get('stream')
    if stream is not None and not isinstance(stream, bool):
        raise bad('"stream" must be true or false.', 'stream')
    options = body.get('stream_options')
    if options is not None and not (isinstance(options, dict) and isinstance(options.get('include_usage', False),
                                                                            bool)):
        raise bad('"stream_options" must be an object like {"include_usage": true}.', 'stream_options')
    return CompletionRequest(messages, model, params, bool(stream), bool((options or {}).get('include_usage')))


def _tools(value: Any, name: str, settings: Settings) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        raise bad(f'"{name}" must be a list of at most {MAX_TOOLS} tools.', name)
    tools = []
    for index, tool in enumerate(value):
        at = f'{name}[{index}]'
        function = tool.get('function') if isinstance(tool, dict) else None
        if not isinstance(function, dict) or tool.get('type') != 'function':
            raise bad(f'{at} must be {{"type": "function", "function": {{"name", ...}}}}.', at)
        if not isinstance(function.get('name'), str) or not FUNCTION_NAME.fullmatch(function['name']):
            raise bad(f'{at}.function.name must be 1 to 64 letters, digits, _ or -.', f'{at}.function.name')
        checked: dict[str, Any] = {'name': function['name']}
        for key, kind in (('description', str), ('parameters', dict), ('strict', bool)):
            if function.get(key) is not None:
                if not isinstance(function[key], kind):
                    raise bad(f'{at}.function.{key} must be a {_KIND_NAMES[kind]}.', f'{at}.function.{key}')
                checked[key] = function[key]
        tools.append({'type': 'function', 'function': checked})
    return tools


def _tool_choice(value: Any, name: str, settings: Settings) -> str | dict[str, Any]:
    if value in ('none', 'auto', 'required'):
        return str(value)
    function = value.get('function') if isinstance(value, dict) else None
    if not isinstance(function, dict) or value.get('type') != 'function' or not isinstance(function.get('name'), str):
        raise bad(f'"{name}" must be "none", "auto", "required" or {{"type": "function", "function": {{"name"}}}}.',
                  name)
    return {'type': 'function', 'function': {'name': function['name']}}


def _response_format(value: Any, name: str, settings: Settings) -> dict[str, Any]:
    kind = value.get('type') if isinstance(value, dict) else None
    if kind in ('text', 'json_object'):
        return {'type': kind}
    schema = value.get('json_schema') if kind == 'json_schema' else None
    if not isinstance(schema, dict) or not isinstance(schema.get('name'), str):
        raise bad(f'"{name}" must be {{"type": "text"}}, {{"type": "json_object"}} or {{"type": "json_schema", '
                  '"json_schema": {"name", "schema", ...}}.', name)
    return {'type': 'json_schema', 'json_schema': schema}


def _stop(value: Any, name: str, settings: Settings) -> str | list[str]:
    if isinstance(value, str):
        return value
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_STOP or not all(isinstance(s, str) for s in value):
        raise bad(f'"{name}" must be a string or a list of 1 to {MAX_STOP} strings.', name)
    return value


def _number(low: float, high: float) -> Callable[[Any, str, Settings], float]:
    def check(value: Any, name: str, settings: Settings) -> float:
        if not _is_number(value) or not low <= value <= high:
            raise bad(f'"{name}" must be a number from {low:g} to {high:g}; got {show(value)}.', name)
        return cast(float, value)  # as sent: 1 stays 1, not 1.0
    return check


def _tokens(value: Any, name: str, settings: Settings) -> int:
    if not _is_whole(value) or not 1 <= value <= settings.max_tokens_limit:
        raise bad(f'"{name}" must be a whole number from 1 to {settings.max_tokens_limit}; got {show(value)}.', name)
    return cast(int, value)


def _seed(value: Any, name: str, settings: Settings) -> int:
    if not _is_whole(value):
        raise bad(f'"{name}" must be a whole number.', name)
    return cast(int, value)


def _logit_bias(value: Any, name: str, settings: Settings) -> dict[str, float]:
    if not isinstance(value, dict) or not all(_is_number(v) and -100 <= v <= 100 for v in value.values()):
        raise bad(f'"{name}" must map token ids to numbers from -100 to 100.', name)
    return value


def _typed(kind: type) -> Callable[[Any, str, Settings], Any]:
    def check(value: Any, name: str, settings: Settings) -> Any:
        if not isinstance(value, kind):
            raise bad(f'"{name}" must be a {_KIND_NAMES[kind]}.', name)
        return value
    return check


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_KIND_NAMES = {str: 'string', dict: 'JSON object', bool: 'boolean'}
# The optional parameters passed on to the model server, each with its check (which returns what goes upstream).
_PARAMS: dict[str, Callable[[Any, str, Settings], Any]] = {
    'temperature': _number(0, 2), 'top_p': _number(0, 1),
    'presence_penalty': _number(-2, 2), 'frequency_penalty': _number(-2, 2),
    'max_tokens': _tokens, 'max_completion_tokens': _tokens, 'stop': _stop, 'seed': _seed,
    'response_format': _response_format, 'tools': _tools, 'tool_choice': _tool_choice,
    'parallel_tool_calls': _typed(bool), 'user': _typed(str), 'logit_bias': _logit_bias,
    'reasoning_effort': _typed(str),
}
# Every field a request may hold: the parameters above, plus those this module reads itself.
ACCEPTED = frozenset({'model', 'messages', 'stream', 'stream_options', 'n', 'logprobs', 'top_logprobs', *_PARAMS})
