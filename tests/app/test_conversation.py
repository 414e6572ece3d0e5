"""Conversations kept per browser tab: the least recently used idle ones are forgotten, watched ones are not."""

from __future__ import annotations

from typing import Any, cast

from app.chat.conversation import Conversation, Conversations


def test_least_recently_used_idle_conversations_are_forgotten_but_watched_ones_kept() -> None:
    conversations = Conversations(lambda: Conversation(cast(Any, None), 'm'), limit=2)
    watched = conversations.get('watched')
    watched.attach(cast(Any, object()))
    first_idle = conversations.get('idle-1')
    conversations.get('idle-2')
    conversations.get('idle-3')
    assert conversations.get('watched') is watched  # kept although it is the oldest
    assert conversations.get('idle-1') is not first_idle  # forgotten: a new one was made
