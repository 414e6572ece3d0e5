"""The OpenAPI description of the OpenAI-compatible routes (request.py does the actual checks)."""

from __future__ import annotations

from typing import Any

from ...config import Settings
from ..protocol import sse_event_schema

COMPLETIONS_DESCRIPTION = """OpenAI's chat completions endpoint, for OpenAI clients: set their base URL to
`<this server>/v1` and their API key to a personal API key (nck_...) or a token from API_TOKENS.

With `"stream": true` the answer is SSE: `data: {chat.completion.chunk}` events (content, `reasoning_content`,
`tool_calls` deltas), the finish reason, a usage chunk if `stream_options.include_usage`, then `data: [DONE]`.
Without it, one `chat.completion` object. Comment lines (`: ping`) may come while the model has not started.

Errors are OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`: before the stream starts with the
HTTP status an OpenAI SDK maps to its exception type; after, as a last `data: {"error": ...}` event.
Parameters other than the ones listed get a 400, as OpenAI answers unknown ones. See docs/api.md."""

MODELS_DESCRIPTION = ("The models a client may ask for: the server's ALLOWED_MODELS, the default first; with "
                      "ALLOWED_MODELS=*, the model server's own list.")

ERROR_SCHEMA = {'type': 'object', 'required': ['error'], 'properties': {'error': {
    'type': 'object', 'required': ['message', 'type', 'param', 'code'], 'properties': {
        'message': {'type': 'string'}, 'type': {'type': 'string'},
        'param': {'type': ['string', 'null']}, 'code': {'type': ['string', 'null']}}}}}
ERRORS = {
    400: 'Invalid JSON or an invalid or unknown parameter (`param` names it); also a request the model server '
         'rejected.',
    401: 'Missing, unknown or revoked API key (`invalid_api_key`).',
    403: 'The API is disabled (`api_disabled`): a server that takes neither personal API keys nor API_TOKENS.',
    404: 'The model is not one of ALLOWED_MODELS (`model_not_found`).',
    413: 'The body exceeds MAX_REQUEST_BYTES (`request_too_large`).',
    429: 'A limit of this server, with `Retry-After`: API_RATE_LIMIT (`rate_limit_exceeded`), API_TOKEN_QUOTA '
         '(`insufficient_quota`), API_MAX_STREAMS (`too_many_streams`); or the model server is rate limiting '
         '(`rate_limit_exceeded`; its `Retry-After` is passed on).',
    502: 'The model server failed, refused the server\'s credentials or could not be reached.',
    503: 'The server streams MAX_STREAMS replies already (`server_busy`) or cannot check its limits '
         '(`limits_unavailable`), with `Retry-After`; or it is shutting down (`server_shutdown`).',
    504: 'The model server did not answer in time (`upstream_timeout`), or nothing accepted the connection '
         '(`upstream_unreachable`).',
}
_TEXT_PART = {'type': 'object', 'required': ['type', 'text'],
              'properties': {'type': {'const': 'text'}, 'text': {'type': 'string'}}}
_IMAGE_PART = {'type': 'object', 'required': ['type', 'image_url'], 'properties': {
    'type': {'const': 'image_url'}, 'image_url': {'type': 'object', 'required': ['url'], 'properties': {
        'url': {'type': 'string', 'description': 'https or data:image/...;base64, URL'},
        'detail': {'enum': ['auto', 'low', 'high']}}}}}
_MESSAGE = {'type': 'object', 'required': ['role'], 'properties': {
    'role': {'enum': ['system', 'developer', 'user', 'assistant', 'tool']},
    'content': {'anyOf': [{'type': 'string'}, {'type': 'array', 'items': {'anyOf': [_TEXT_PART, _IMAGE_PART]}},
                          {'type': 'null'}], 'description': 'Image parts in user messages only.'},
    'name': {'type': 'string'}, 'tool_calls': {'type': 'array', 'description': 'Assistant messages.'},
    'tool_call_id': {'type': 'string', 'description': 'Tool messages.'}}}
_TOOL = {'type': 'object', 'required': ['type', 'function'], 'properties': {
    'type': {'const': 'function'}, 'function': {'type': 'object', 'required': ['name'], 'properties': {
        'name': {'type': 'string', 'pattern': '^[A-Za-z0-9_-]{1,64}$'}, 'description': {'type': 'string'},
        'parameters': {'type': 'object'}, 'strict': {'type': 'boolean'}}}}}


def request_schema(settings: Settings) -> dict[str, Any]:
    """The request body's JSON schema under `settings` (every accepted field; no others are)."""
    tokens = {'type': 'integer', 'minimum': 1, 'maximum': settings.max_tokens_limit}
    return {'type': 'object', 'required': ['messages'], 'additionalProperties': False, 'properties': {
        'model': ({'type': 'string', 'minLength': 1, 'maxLength': 200} if settings.any_model
                  else {'enum': list(settings.models)}) | {'default': settings.models[0]},
        'messages': {'type': 'array', 'minItems': 1, 'items': _MESSAGE},
        'stream': {'type': 'boolean', 'default': False},
        'stream_options': {'type': 'object', 'properties': {'include_usage': {'type': 'boolean'}}},
        'temperature': {'type': 'number', 'minimum': 0, 'maximum': 2},
        'top_p': {'type': 'number', 'minimum': 0, 'maximum': 1},
        'presence_penalty': {'type': 'number', 'minimum': -2, 'maximum': 2},
        'frequency_penalty': {'type': 'number', 'minimum': -2, 'maximum': 2},
        'max_tokens': tokens, 'max_completion_tokens': tokens,
        'stop': {'anyOf': [{'type': 'string'}, {'type': 'array', 'items': {'type': 'string'}, 'maxItems': 4}]},
        'seed': {'type': 'integer'},
        'response_format': {'type': 'object', 'properties': {'type': {'enum': ['text', 'json_object',
                                                                               'json_schema']},
                                                             'json_schema': {'type': 'object'}}},
        'tools': {'type': 'array', 'maxItems': 128, 'items': _TOOL},
        'tool_choice': {'anyOf': [{'enum': ['none', 'auto', 'required']}, {'type': 'object'}]},
        'parallel_tool_calls': {'type': 'boolean'},
        'user': {'type': 'string'},
        'logit_bias': {'type': 'object', 'additionalProperties': {'type': 'number'}},
        'reasoning_effort': {'type': 'string'},
        'n': {'const': 1},
        'logprobs': {'const': False},
        'top_logprobs': {'type': 'null'},
    }, 'example': {'model': settings.models[0], 'stream': True,
                   'messages': [{'role': 'user', 'content': 'Say hello in three words.'}]}}


def responses(*, streamed: bool) -> dict[int | str, dict[str, Any]]:
    """The documented answers of a route: 200, then each error status with OpenAI's error shape."""
    ok: dict[str, Any] = {'application/json': {'schema': {'type': 'object'}}}
    if streamed:
        ok['text/event-stream'] = {'schema': sse_event_schema('A chat.completion.chunk as JSON, then [DONE].')}
    documented: dict[int | str, dict[str, Any]] = {200: {'description': 'The answer', 'content': ok}}
    for status, text in ERRORS.items() if streamed else ((401, ERRORS[401]), (403, ERRORS[403])):
        documented[status] = {'description': text, 'content': {'application/json': {'schema': ERROR_SCHEMA}}}
    return documented
