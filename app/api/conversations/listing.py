"""The JSON of the conversation routes: pages of conversations (keyset cursors) and of a conversation's messages."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from ...chat.conversation import Conversation
from ...chat.message import Message
from ...errors import ChatError
from ...store import ConversationSummary

# Page sizes: the default, and the most a client may ask for in one request.
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def limit_of(value: str | None) -> int:
    """The `limit` query parameter: 1 to MAX_LIMIT, DEFAULT_LIMIT when absent; 422 otherwise."""
    if value is None:
        return DEFAULT_LIMIT
    number = whole_number(value)
    if number is None or not 1 <= number <= MAX_LIMIT:
        raise ChatError('invalid_request', f'"limit" must be a whole number from 1 to {MAX_LIMIT}.', 422)
    return number


def whole_number(value: str) -> int | None:
    """`value` as a whole number of ASCII digits (no sign, no spaces), else None."""
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


def text_param(value: str | None, name: str) -> str | None:
    """A text parameter, refused (422) when it holds a NUL character, which PostgreSQL cannot store or compare."""
    if value is not None and '\x00' in value:
        raise ChatError('invalid_request', f'"{name}" must not contain NUL characters.', 422)
    return value


def cursor(summary: ConversationSummary) -> str:
    """The cursor after `summary`: its place in the newest-first order (last activity, id), opaque to clients."""
    raw = f'{summary.updated_at.isoformat()}|{summary.id}'
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip('=')


def parse_cursor(value: str) -> tuple[datetime, str]:
    """The place a `cursor` names; 422 for one this server did not hand out."""
    try:
        raw = base64.urlsafe_b64decode(value + '=' * (-len(value) % 4)).decode()
        stamp, _, conversation_id = raw.partition('|')
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None or not conversation_id:
            raise ValueError
    except ValueError:
        raise ChatError('invalid_request', '"cursor" is not one this server handed out; use `next_cursor` of '
                        'the page before.', 422) from None
    return when, conversation_id


def conversations_page(summaries: list[ConversationSummary], limit: int) -> dict[str, Any]:
    """One page of the list (`summaries` holds one more than `limit` when more follow)."""
    page = summaries[:limit]
    more = len(summaries) > limit
    return {'data': [{'id': s.id, 'title': s.title, 'updated_at': s.updated_at.isoformat()} for s in page],
            'next_cursor': cursor(page[-1]) if more and page else None}


def messages_page(conversation: Conversation, limit: int, before: str | None) -> dict[str, Any]:
    """The conversation's header and `limit` messages of the branch shown, oldest first, ending before `before`
    (a message id) or at the end; `next_before` asks for the page before this one."""
    branch = conversation.messages
    end = len(branch)
    if before is not None:
        end = next((index for index, message in enumerate(branch) if message.id == before), -1)
        if end < 0:
            raise ChatError('invalid_request', '"before" is not the id of a message of this conversation; use '
                            '`next_before` of the page after.', 422)
    start = max(0, end - limit)
    return {'id': conversation.id, 'title': conversation.title, 'model': conversation.model,
            'system_prompt': conversation.system_prompt, 'streaming': conversation.busy,
            'messages': [message_json(message) for message in branch[start:end]],
            'next_before': branch[start].id if start > 0 else None}


def message_json(message: Message) -> dict[str, Any]:
    """One message as the API shows it (images by id; their bytes stay on the page's image route)."""
    return {'id': message.id, 'parent_id': message.parent_id, 'role': message.role, 'content': message.content,
            'reasoning': message.reasoning, 'status': message.status, 'error': message.error, 'model': message.model,
            'finish_reason': message.finish_reason, 'usage': message.usage, 'timing': message.timing,
            'attachments': message.attachments}
