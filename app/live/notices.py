"""Change notices: one instance tells the others what it changed in a person's conversations (CHANGED_CHANNEL).

A notice is one short line, `<kind> <instance id> <owner id> <conversation id> [<reply id>]`; it carries no data,
only what changed: an instance that holds the conversation in memory takes the new state from the database (the
source of truth), and one that shows the person's list of conversations loads it again. So two notices can never
apply out of order: whatever arrives last, the database has the latest.

Kinds: `reply` (a turn, a new version or a Continue started streaming; with its reply id), `renamed`, `branch`
(another version of a message is shown), `settings` (model, system prompt, temperature, max tokens), `deleted`,
`deleted_all` (every conversation of the person; no conversation id: `-`) and `created` (a new conversation, listed).

An instance of the version before notices had kinds (`<instance id> <conversation id> <reply id>`) and this one
ignore each other's lines (each finds no conversation by the other's fields): during a rolling upgrade a change is
seen at the next open, which syncs, as after a missed notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

Kind = Literal['reply', 'renamed', 'branch', 'settings', 'deleted', 'deleted_all', 'created']
KINDS: frozenset[str] = frozenset(get_args(Kind))
# The conversation id of a notice about all of a person's conversations.
ALL = '-'


@dataclass(frozen=True)
class Notice:
    """What `instance_id` changed: `kind` of the owner's conversation (and which reply started, for `reply`)."""

    kind: Kind
    instance_id: str
    owner_id: str
    conversation_id: str = ALL
    reply_id: str = ''

    def encode(self) -> str:
        """The line published."""
        return ' '.join(part for part in (self.kind, self.instance_id, self.owner_id, self.conversation_id,
                                          self.reply_id) if part)

    @classmethod
    def decode(cls, text: str) -> Notice | None:
        """The notice a line holds; None for anything else (an older instance's line, or garbage)."""
        parts = text.split(' ')
        if len(parts) not in (4, 5) or parts[0] not in KINDS or not all(parts):
            return None
        kind: Kind = parts[0]  # type: ignore[assignment]  # checked against KINDS just above
        if (kind == 'reply') != (len(parts) == 5):
            return None
        return cls(kind, *parts[1:])
