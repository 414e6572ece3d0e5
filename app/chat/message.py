"""One message of a conversation as the chat runtime holds it, and its conversions to and from the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..store import MessageRecord, MessageUpdate, NewMessage

STREAMING = 'streaming'
COMPLETE = 'complete'
STOPPED = 'stopped'
FAILED = 'failed'
INTERRUPTED = 'interrupted'


@dataclass(eq=False)
class Message:
    """One turn: who said it, the text so far, and how its streaming ended."""

    id: str
    role: str
    content: str = ''
    reasoning: str = ''  # a thinking model's reasoning: shown apart, never sent back upstream
    status: str = COMPLETE
    error: str | None = None
    parent_id: str | None = None
    model: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    timing: dict[str, float | None] | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)  # images: {id, mime, size}

    @property
    def streaming(self) -> bool:
        """True while the reply is still arriving."""
        return self.status == STREAMING

    @property
    def stopped(self) -> bool:
        """True when a person stopped the reply."""
        return self.status == STOPPED

    @property
    def interrupted(self) -> bool:
        """True when the server went down while the reply was streaming."""
        return self.status == INTERRUPTED

    @property
    def size(self) -> int:
        """Characters held: what the memory bound counts."""
        return len(self.content) + len(self.reasoning)

    @classmethod
    def from_record(cls, record: MessageRecord) -> Message:
        """The runtime's copy of a stored message."""
        return cls(record.id, record.role, record.content, record.reasoning, record.status, record.error,
                   record.parent_id, record.model, record.finish_reason, record.usage, record.timing,
                   list(record.attachments or []))

    def to_new(self) -> NewMessage:
        """What the store needs to insert this message."""
        return NewMessage(role=self.role, content=self.content, parent_id=self.parent_id, status=self.status,
                          model=self.model, id=self.id, reasoning=self.reasoning, error=self.error,
                          attachments=self.attachments or None)

    def to_update(self) -> MessageUpdate:
        """What the store needs to save this message's current state."""
        return MessageUpdate(id=self.id, content=self.content, reasoning=self.reasoning, status=self.status,
                             error=self.error, finish_reason=self.finish_reason, usage=self.usage, timing=self.timing)

    def upstream(self) -> dict[str, Any]:
        """The message as the model server takes it."""
        return {'role': self.role, 'content': self.content}
