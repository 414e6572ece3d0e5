"""The messages of a conversation as a tree: each has a parent, so regenerate and edit keep every version."""

from __future__ import annotations

from collections.abc import Iterable

from .message import Message


class Tree:
    """All messages of a conversation, by id and by parent, in the order they were written."""

    def __init__(self, messages: Iterable[Message] = ()) -> None:
        self.by_id: dict[str, Message] = {}
        self.children: dict[str | None, list[Message]] = {}
        for message in messages:
            self.add(message)

    def __len__(self) -> int:
        return len(self.by_id)

    @property
    def size(self) -> int:
        """Characters held by every message of every version."""
        return sum(message.size for message in self.by_id.values())

    @property
    def newest(self) -> Message | None:
        """The message written last."""
        return next(reversed(self.by_id.values()), None)

    def add(self, message: Message) -> None:
        """Add a message under its parent (a parent that is missing makes it a root)."""
        self.by_id[message.id] = message
        parent = message.parent_id if message.parent_id in self.by_id else None
        self.children.setdefault(parent, []).append(message)

    def path(self, leaf_id: str | None) -> list[Message]:
        """The messages from the first one down to `leaf_id`: the branch a person sees."""
        path: list[Message] = []
        message = self.by_id.get(leaf_id) if leaf_id is not None else None
        while message is not None and len(path) < len(self.by_id):  # bounded: a corrupted chain cannot loop forever
            path.append(message)
            message = self.by_id.get(message.parent_id) if message.parent_id is not None else None
        return path[::-1]

    def versions(self, message: Message) -> list[Message]:
        """The message and its alternatives: the other answers to the same prompt, or the other edits of a prompt."""
        parent = message.parent_id if message.parent_id in self.by_id else None
        return [m for m in self.children.get(parent, []) if m.role == message.role]

    def latest_leaf(self, message: Message) -> Message:
        """The end of the newest branch below `message`."""
        for _ in range(len(self.by_id)):
            children = self.children.get(message.id)
            if not children:
                break
            message = children[-1]
        return message
