"""A conversation taken away: the branch shown as Markdown, and the whole tree as JSON that imports back."""

from __future__ import annotations

from typing import Any

from ..errors import ChatError
from ..store import ROLES, STATUSES
from .message import Message

FORMAT = 'nicechat.conversation'
VERSION = 1
# Most messages an imported conversation may hold; the characters are bounded by the conversation cap as well.
MAX_IMPORT_MESSAGES = 10_000
_FIELDS = ('id', 'parent_id', 'role', 'content', 'reasoning', 'status', 'error', 'finish_reason', 'usage', 'timing',
           'model')


def to_markdown(title: str, messages: list[Message]) -> str:
    """The branch shown, readable anywhere: a heading per turn."""
    lines = [f'# {title or "Conversation"}', '']
    for message in messages:
        lines += [f'## {"You" if message.role == "user" else message.role.capitalize()}', '', message.content, '']
        if message.error:
            lines += [f'> ⚠ {message.error}', '']
    return '\n'.join(lines)


def to_json(*, title: str, model: str, system_prompt: str | None, settings: dict[str, Any],
            messages: list[Message]) -> dict[str, Any]:
    """Every message of every version, with parents, so an import rebuilds the same tree."""
    return {'format': FORMAT, 'version': VERSION, 'title': title, 'model': model, 'system_prompt': system_prompt,
            'settings': {k: v for k, v in settings.items() if k != 'leaf'},
            'messages': [{name: getattr(message, name) for name in _FIELDS} for message in messages]}


def from_json(data: Any, *, new_id: Any) -> tuple[dict[str, Any], list[Message]]:
    """Check an exported conversation and give it fresh ids; raise ChatError (422) naming the first problem."""
    if not isinstance(data, dict) or data.get('format') != FORMAT or data.get('version') != VERSION:
        raise _invalid(f'This is not a NiceChat conversation export (format {FORMAT!r}, version {VERSION}).')
    items = data.get('messages')
    if not isinstance(items, list) or not items or len(items) > MAX_IMPORT_MESSAGES:
        raise _invalid(f'"messages" must be a list of 1 to {MAX_IMPORT_MESSAGES:,} messages.')
    ids: dict[str, str] = {}
    messages = []
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get('id'), str) or item['id'] in ids:
            raise _invalid(f'messages[{index}] needs an "id" of its own.')
        if item.get('role') not in ROLES or not isinstance(item.get('content'), str):
            raise _invalid(f'messages[{index}] needs a "role" ({", ".join(sorted(ROLES))}) and a text "content".')
        parent = item.get('parent_id')
        if parent is not None and parent not in ids:
            raise _invalid(f'messages[{index}].parent_id must name an earlier message.')
        status = str(item['status']) if item.get('status') in STATUSES else 'complete'
        ids[item['id']] = new_id()
        messages.append(Message(ids[item['id']], item['role'], item['content'], _text(item.get('reasoning')),
                                'interrupted' if status == 'streaming' else status, _text(item.get('error')) or None,
                                ids[parent] if parent else None, _text(item.get('model')) or None,
                                _text(item.get('finish_reason')) or None, _dict(item.get('usage')),
                                _dict(item.get('timing'))))
    meta = {'title': _text(data.get('title'))[:200] or 'Imported conversation', 'model': _text(data.get('model')),
            'system_prompt': _text(data.get('system_prompt')) or None, 'settings': _dict(data.get('settings')) or {}}
    return meta, messages


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ''


def _dict(value: Any) -> Any:
    return value if isinstance(value, dict) else None


def _invalid(message: str) -> ChatError:
    return ChatError('invalid_import', message, 422)
