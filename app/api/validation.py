"""The rules of a chat request, as one pydantic model: it checks a body before anything goes upstream, and its JSON
schema is the one the OpenAPI document shows, so the two cannot drift apart.

Usable outside HTTP: `parse_request(data, settings)` takes decoded JSON and raises ChatError (422) with a message
that names the first problem found.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal, Required

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from typing_extensions import TypedDict

from ..config import Settings
from ..errors import ChatError
from ..store.images import FORMATS, sniff

Role = Literal['system', 'user', 'assistant']
# Strict: JSON types as they are ("1" is not a number, true is not 1); keys the API does not know are ignored.
_STRICT = ConfigDict(strict=True, extra='ignore')
EXAMPLE: dict[str, Any] = {'messages': [{'role': 'user', 'content': 'Say hello in three words.'}]}


class TextPart(TypedDict):
    """A piece of text in a message made of parts."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]
    type: Literal['text']
    text: str


class ImageURL(TypedDict, total=False):
    """Where the image is: a `data:image/...;base64,` URL (checked here) or an https URL (the model server fetches)."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]
    url: Required[str]
    detail: Literal['auto', 'low', 'high']


class ImagePart(TypedDict):
    """An image for a vision model, as OpenAI's Chat Completions take it."""

    __pydantic_config__ = _STRICT  # type: ignore[misc]
    type: Literal['image_url']
    image_url: ImageURL


Part = Annotated[TextPart | ImagePart, Field(discriminator='type')]


class Message(TypedDict):
    """One message of the conversation."""

    # A TypedDict, not a model: validation yields the plain dicts that go upstream, with no copy to make.
    __pydantic_config__ = _STRICT  # type: ignore[misc]
    role: Role
    content: Annotated[str | list[Part], Field(description='Text, or a list of text and image_url parts (images '
                                                           'only in user messages).')]


@dataclass(frozen=True)
class ChatRequest:
    """A validated request: what goes upstream."""

    messages: list[dict[str, Any]]
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    conversation_id: str | None = None  # append the last message to this stored conversation of the key's owner
    # False when `model` is the default (a stored conversation then answers with its own); not part of what goes
    # upstream, so not compared.
    model_given: bool = field(default=True, compare=False)


class ChatRequestBody(BaseModel):
    """A request body; `request_model` narrows `model` and `max_tokens` to what the settings allow."""

    model_config = ConfigDict(**_STRICT, title='ChatRequest', json_schema_extra={
        'description': 'Other keys are ignored.', 'example': EXAMPLE})
    messages: list[Message] = Field(min_length=1)
    model: str | None = None
    temperature: float | None = Field(None, ge=0, le=2, allow_inf_nan=False)
    max_tokens: int | None = Field(None, ge=1)
    conversation_id: str | None = Field(None, max_length=64, description=(
        'Append the last message (the user\'s new turn) to this stored conversation of the key\'s owner and save '
        'the reply to it (personal API keys only); earlier messages are ignored: the stored conversation is the '
        'history. Without it nothing is stored.'))


@cache
def request_model(models: tuple[str, ...], max_tokens_limit: int, any_model: bool = False) -> type[ChatRequestBody]:
    """The request body's model for these settings (allowed models, max_tokens limit); one class per pair."""
    allowed: Any = Annotated[str, Field(min_length=1, max_length=200)] if any_model else Literal[models]
    return create_model(
        'ChatRequestBody', __base__=ChatRequestBody,
        model=(allowed | None, Field(None, description=f'Default: {models[0]}.')),
        max_tokens=(int | None, Field(None, ge=1, le=max_tokens_limit)),
    )


def parse_request(data: Any, settings: Settings) -> ChatRequest:
    """Validate a decoded JSON body; raise ChatError (422) naming the first problem found."""
    try:
        body = request_model(settings.models, settings.max_tokens_limit, settings.any_model).model_validate(data)
    except ValidationError as error:
        errors = error.errors(include_url=False)
        first = errors[0]
        if first['loc'] and first['loc'][-1] == 'str':  # neither text nor parts: say what is wrong with the parts
            first = next((e for e in errors[1:] if e['loc'][:3] == first['loc'][:3]), first)
        raise ChatError('invalid_request', _message(first, settings), 422) from None
    for index, message in enumerate(body.messages):
        if not isinstance(message['content'], str):
            _check_parts(index, message, settings.max_image_bytes)
    params = {name: value for name in ('temperature', 'max_tokens') if (value := getattr(body, name)) is not None}
    return ChatRequest(body.messages, body.model or settings.models[0], params,  # type: ignore[arg-type]
                       conversation_id=body.conversation_id, model_given=body.model is not None)


def check_settings(chosen: dict[str, Any], settings: Settings) -> None:
    """A chat's model, temperature and max_tokens checked by the same rules as a request; ChatError 422."""
    probe = {'messages': [{'role': 'user', 'content': ''}], **{k: v for k, v in chosen.items() if v is not None}}
    parse_request(probe, settings)


def _check_parts(index: int, message: Any, max_image_bytes: int) -> None:
    """Images: only from the user; a data URL must hold a PNG, JPEG, WebP or GIF of at most MAX_IMAGE_BYTES."""
    for number, part in enumerate(message['content']):
        if part['type'] != 'image_url':
            continue
        where = f'messages[{index}].content[{number}]'
        if message['role'] != 'user':
            raise ChatError('invalid_request', f'{where}: images are accepted only in user messages.', 422)
        url = part['image_url']['url']
        if url.startswith('https://'):
            continue
        head, _, data = url.partition(',')
        if not head.startswith('data:image/') or not head.endswith(';base64'):
            raise ChatError('invalid_request', f'{where}.image_url.url must be a data:image/...;base64, URL or an '
                            'https URL.', 422)
        if len(data) * 3 // 4 > max_image_bytes + 3:
            raise ChatError('invalid_request', f'{where}: the image is larger than the limit of '
                            f'{max_image_bytes:,} bytes (MAX_IMAGE_BYTES).', 422)
        try:
            decoded = base64.b64decode(data, validate=True)
        except ValueError:
            raise ChatError('invalid_request', f'{where}.image_url.url is not valid base64.', 422) from None
        if len(decoded) > max_image_bytes or sniff(decoded) is None:
            raise ChatError('invalid_request', f'{where}: not a {FORMATS} image of at most {max_image_bytes:,} '
                            'bytes.', 422)


def request_schema(settings: Settings) -> dict[str, Any]:
    """JSON schema of a valid body under `settings`, for the OpenAPI document (self-contained: no `$ref`)."""
    schema = request_model(settings.models, settings.max_tokens_limit, settings.any_model).model_json_schema()
    inlined: dict[str, Any] = _inline(schema, schema.pop('$defs', {}))
    return inlined


def _message(error: Any, settings: Settings) -> str:
    """The first validation error in words a client can act on."""
    loc, value = error['loc'], error['input']
    if not loc:
        return 'The body must be a JSON object with a "messages" list.'
    name = loc[0]
    if name == 'messages':
        if len(loc) == 1:
            if error['type'] == 'too_short':
                return '"messages" must not be empty.'
            return '"messages" must be a list of {"role", "content"} objects.'
        where = f'messages[{loc[1]}]'
        if len(loc) == 2:
            return f'{where} must be an object with "role" and "content".'
        if loc[2] == 'role':
            role = None if error['type'] == 'missing' else value
            return f'{where}.role must be one of system, user, assistant; got {_show(role)}.'
        if len(loc) > 4 and isinstance(loc[4], int):
            part = f'{where}.content[{loc[4]}]'
            return (f'{part} must be {{"type": "text", "text": "..."}} or {{"type": "image_url", "image_url": '
                    f'{{"url": "..."}}}}; got {_show(value)}.')
        return f'{where}.content must be a string or a list of text and image_url parts.'
    if name == 'model':
        return f'"model" {_show(value)} is not allowed here; allowed: {", ".join(settings.models)}.'
    if name == 'conversation_id':
        return f'"conversation_id" must be a conversation\'s id (text); got {_show(value)}.'
    if name == 'temperature':
        return f'"temperature" must be a number from 0 to 2; got {_show(value)}.'
    limit = settings.max_tokens_limit
    return f'"max_tokens" must be a whole number from 1 to {limit}; got {_show(value)}.'


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """`node` with every `{"$ref": "#/$defs/X"}` replaced by the definition itself."""
    if isinstance(node, dict):
        ref = node.get('$ref', '')
        if ref.startswith('#/$defs/'):
            return _inline(defs[ref.removeprefix('#/$defs/')], defs)
        return {key: _inline(value, defs) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _show(value: Any) -> str:
    """A short, safe rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'
