"""A request's new turn in a stored conversation: whose conversation, which message is new, and starting its reply.

What "appended" means: the request's **last message is the new turn** and must be the user's; every message before
it is ignored, because the stored conversation is the history that goes upstream. So a client that sends the whole
history each time (as OpenAI clients do) and one that sends only the new message behave the same, and a history
that differs from the stored one (a client that trimmed or edited it) cannot fork or duplicate the conversation.

One exception makes retries safe: when the new turn repeats the prompt the conversation ends with and that prompt's
reply did not complete (failed, stopped, or interrupted by a restart), the request asks for that reply again, a new
version of it as the page's Retry makes, instead of adding the prompt a second time. An SDK that retries after a
failure therefore leaves one prompt, not two.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, TypeVar

from ...chat.chats import Chats
from ...chat.conversation import Conversation, title_of
from ...chat.follow import Follower
from ...chat.message import COMPLETE, Message
from ...errors import ChatError
from ..access import Access, Caller
from ..metering import Meter, Metering, counted

T = TypeVar('T')

# The title of a conversation started over the API without one, until its first turn names it.
UNTITLED = 'New chat'
NOT_FOUND = ChatError('conversation_not_found', 'There is no conversation with this id among yours.', 404)


def owner_of(caller: Caller) -> str:
    """The person a request acts for; 403 for an admin token or the open demo API, which belong to nobody."""
    if caller.owner_id is None:
        raise ChatError('personal_key_required', 'Conversations belong to a person: send a personal API key of '
                        'their own (chat page: More menu, API keys), not an admin token from API_TOKENS or no '
                        'token.', 403)
    return caller.owner_id


async def open_owned(chats: Chats, access: Access, request: Any, conversation_id: str) -> Conversation:
    """The caller's conversation, opened in the runtime; 403 without an owner, 404 when it is not theirs."""
    owner = owner_of(await access.caller(request))
    await chats.ready()
    conversation = await chats.open(owner, conversation_id)
    if conversation is None:  # missing and someone else's look the same: ids cannot be probed
        raise NOT_FOUND
    return conversation


def new_turn(messages: list[dict[str, Any]]) -> tuple[str, list[bytes]]:
    """The text and the images (decoded) of the request's last message, which must be the user's; 422 otherwise."""
    last = messages[-1] if messages else None
    if last is None or last.get('role') != 'user':
        raise ChatError('invalid_request', 'With a conversation id, the last message must be the user\'s new turn '
                        '(the stored conversation is the history).', 422)
    content = last.get('content')
    if isinstance(content, str):
        return content, []
    texts, images = [], []
    for part in content or ():
        if part.get('type') == 'text':
            texts.append(part['text'])
        elif part.get('type') == 'image_url':
            head, _, data = part['image_url']['url'].partition(',')
            if not head.startswith('data:image/'):
                raise ChatError('invalid_request', 'With a conversation id, images must be data: URLs (they are '
                                'stored with the conversation); https image URLs are not accepted.', 422)
            images.append(base64.b64decode(data))
    return '\n\n'.join(texts), images


async def start_turn(chats: Chats, conversation: Conversation, messages: list[dict[str, Any]], *,
                     model: str | None, params: dict[str, Any]) -> Message:
    """Append the request's new turn to `conversation` and start its reply (saved like a page's); the reply."""
    text, images = new_turn(messages)
    if not text.strip() and not images:
        raise ChatError('invalid_request', 'The new turn is empty.', 422)
    if '\x00' in text:  # PostgreSQL cannot store it; refused on SQLite too, so both behave the same
        raise ChatError('invalid_request', 'The new turn must not contain NUL characters.', 422)
    branch = conversation.messages
    if (len(branch) >= 2 and not images and branch[-1].role == 'assistant' and branch[-1].status != COMPLETE
            and branch[-2].role == 'user' and branch[-2].content == text and not branch[-2].attachments):
        return await conversation.regenerate(branch[-1], model=model, params=params)
    if conversation.busy:  # checked again by send(); first, so no image is stored for a turn that is refused
        raise ChatError('busy', 'A reply is still streaming in this conversation; follow it, or wait for it to '
                        'finish.', 409)
    files = chats.images(conversation.owner_id)
    attachments = [(await files.save(data, f'Image {number}')).to_dict()
                   for number, data in enumerate(images, start=1)]
    untitled = not conversation.tree.by_id and conversation.title == UNTITLED
    reply = await conversation.send(text, attachments, model=model, params=params)
    if untitled:  # started over the API without a title: named by its first prompt, as a page's first turn names it
        await chats.rename(conversation.owner_id, conversation.id, title_of(text))
    return reply


async def append(chats: Chats, caller: Caller, conversation_id: str, messages: list[dict[str, Any]], *,
                 model: str | None, params: dict[str, Any]) -> Follower:
    """Append the request's new turn to the caller's conversation and follow its reply from the start."""
    owner = owner_of(caller)
    await chats.ready()
    conversation = await chats.open(owner, conversation_id)
    if conversation is None:
        raise NOT_FOUND
    try:
        reply = await start_turn(chats, conversation, messages, model=model, params=params)
        return Follower(conversation, reply)
    finally:
        chats.release(conversation)  # the reply (and then the follower) holds it while it matters


async def metered_append(metering: Metering, chats: Chats, caller: Caller, conversation_id: str,
                         messages: list[dict[str, Any]], *, model: str | None,
                         params: dict[str, Any]) -> tuple[Meter, Follower]:
    """`append`, admitted by the limits first (a refusal comes before the turn is saved); if the turn is then
    refused (not found, busy, ...), the slots go back and nothing is counted. Give the meter to `counted_frames`."""
    meter = await metering.admit(caller)
    try:
        return meter, await append(chats, caller, conversation_id, messages, model=model, params=params)
    except BaseException:
        meter.release()
        raise


def counted_frames(frames: AsyncIterator[T], meter: Meter, follower: Follower) -> AsyncGenerator[T]:
    """The frames of a followed reply; when they end, the meter's slots go back and the reply's text is counted."""
    message = follower.message
    return counted(frames, meter, lambda: len(message.content) + len(message.reasoning))
