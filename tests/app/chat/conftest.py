"""The chat runtime in plain asyncio: a real SQLite store in a temp folder, the real SDK against the fake upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.chat.chats import Chats
from app.chat.message import Message
from app.config import load_settings
from app.store import Store, open_store
from app.upstream import Upstream
from tests.conftest import app_env
from tests.fake_upstream import FakeUpstream


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(f'sqlite:///{tmp_path}/chat.db')
    yield opened
    await opened.close()  # closing twice is harmless: the runtime closes it too


@pytest.fixture
async def chats(store: Store, upstream: FakeUpstream) -> AsyncIterator[Chats]:
    """A chat runtime that checkpoints only when a test calls `checkpoint()` (an hour between automatic ones)."""
    runtime_upstream = Upstream(load_settings(app_env(upstream), env_file=None))
    runtime = Chats(runtime_upstream, model='fake-model', checkpoint_interval=3600)
    await runtime.start(store)
    yield runtime
    await runtime.shutdown()
    await runtime_upstream.aclose()


@dataclass
class Recorder:
    """A view that records what it was told, with events a test can await."""

    text: str = ''
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    grew: asyncio.Event = field(default_factory=asyncio.Event)
    deleted: bool = False
    details: int = 0  # times told the title, model, system prompt or settings changed
    wanted: int = 1  # `grew` is set once this many characters have arrived

    def on_message(self, message: Message) -> None:
        pass

    def on_delta(self, message: Message, text: str) -> None:
        self.text += text
        if len(self.text) >= self.wanted:
            self.grew.set()

    def on_reasoning(self, message: Message, text: str) -> None:
        pass

    def on_finish(self, message: Message) -> None:
        self.finished.set()

    def on_branch(self) -> None:
        pass

    def on_details(self) -> None:
        self.details += 1

    def on_deleted(self) -> None:
        self.deleted = True
