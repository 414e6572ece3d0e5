"""Continuing an interrupted reply: what may be continued, and what goes upstream to ask the model to go on.

The request is the conversation up to the reply's prompt, then the partial reply as the assistant's message, then a
short user instruction to continue it (CONTINUE_INSTRUCTION). That is plain chat completions, so it works with every
OpenAI-compatible server. The alternative, "assistant prefill" (the partial reply as the last message and nothing
after it, the model completing it), is not portable: OpenAI's API answers it as a new turn, and servers that do
support it need their own switch (vLLM's `continue_final_message`, llama.cpp's raw completions), which this app
cannot know it talks to. The continuation is appended to the same message, as it comes, so the text reads as one
reply; the instruction itself is never stored or shown.
"""

from __future__ import annotations

from typing import Any

from ..errors import ChatError
from .message import Message

# The user message that follows the partial reply upstream. It asks for the rest only: no repeat of what was said,
# no preamble, joined mid-word or mid-sentence if that is where the text stopped.
CONTINUE_INSTRUCTION = (
    'Your previous reply was cut off. Continue it exactly from where it stopped: do not repeat any of it, do not '
    'add an introduction or comment, and if it stopped mid-word or mid-sentence, go on from the very next character.'
)


def check_continuable(reply: Message, leaf: str | None) -> None:
    """Raise ChatError unless `reply` is an interrupted answer at the end of the branch shown (`leaf`)."""
    if reply.role != 'assistant' or not reply.interrupted:
        raise ChatError('invalid_request', 'Only a reply interrupted by the server can be continued.', 422)
    if reply.id != leaf:
        raise ChatError('invalid_request', 'Only the last reply of the conversation can be continued.', 422)


def continuation_tail(reply: Message) -> list[dict[str, Any]]:
    """The messages that follow the conversation's history upstream when `reply` is continued (none when it had no
    text yet: then the prompt is simply asked again, into the same message)."""
    if not reply.content:
        return []
    return [{'role': 'assistant', 'content': reply.content}, {'role': 'user', 'content': CONTINUE_INSTRUCTION}]
