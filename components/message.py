"""One chat message on the page; an assistant message is markdown that renders in the browser as it streams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nicegui import ui

from .streaming_markdown import StreamingMarkdown

if TYPE_CHECKING:
    from app.chat.message import Message


class MessageView:
    """Shows one message; `append` adds streamed text, `finish` shows how the reply ended."""

    def __init__(self, message: Message) -> None:
        self.message = message
        mine = message.role == 'user'
        with ui.column().classes('w-full gap-1 ' + ('items-end' if mine else 'items-start')) as self.container:
            ui.label('You' if mine else 'Assistant').classes('text-xs text-gray-500')
            with ui.card().classes('max-w-full ' + ('bg-blue-50' if mine else 'bg-white')).props('flat bordered'):
                self.markdown: StreamingMarkdown | None = None
                self.reasoning: StreamingMarkdown | None = None
                if mine:
                    ui.label(message.content).classes('whitespace-pre-wrap break-words')
                else:
                    self.reasoning_slot = ui.column().classes('w-full')
                    self.reasoning_slot.set_visibility(False)  # an empty slot would still take a gap in the card
                    if message.reasoning:
                        self._show_reasoning(message.reasoning)
                    self.waiting = ui.spinner('dots', size='lg').props('aria-label="Waiting for the model"')
                    self.waiting.set_visibility(message.streaming and not message.content)
                    self.markdown = StreamingMarkdown(message.content, streaming=message.streaming) \
                        .classes('max-w-full')
                self.status = ui.label().classes('text-sm')
                self.status.set_visibility(False)
        self.container.props(f'data-role={message.role}')
        if not message.streaming:
            self._show_outcome()

    def append(self, text: str) -> None:
        """Show `text`, just appended to the message (only the new text goes to the browser)."""
        if self.markdown is not None:
            self.waiting.set_visibility(False)
            self.markdown.append(text)

    def append_reasoning(self, text: str) -> None:
        """Show `text`, just appended to the model's reasoning (in a collapsed section of its own)."""
        if self.reasoning is None:
            self._show_reasoning('')
        assert self.reasoning is not None
        self.reasoning.append(text)

    def finish(self) -> None:
        """Show the final state: the full text, and a notice if the reply was stopped or failed."""
        if self.markdown is not None:
            self.markdown.finish()
            self.waiting.set_visibility(False)
        if self.reasoning is not None:
            self.reasoning.finish()
        self._show_outcome()

    def _show_reasoning(self, text: str) -> None:
        self.reasoning_slot.set_visibility(True)
        with self.reasoning_slot, ui.expansion('Reasoning', icon='psychology').props('dense') \
                .classes('w-full text-gray-600').mark('reasoning'):
            self.reasoning = StreamingMarkdown(text, streaming=self.message.streaming).classes('text-sm')

    def _show_outcome(self) -> None:
        if self.message.error:
            self.status.text = f'⚠ {self.message.error}'
            self.status.classes('text-red-700').props('role=alert')
            self.status.set_visibility(True)
        elif self.message.stopped:
            self.status.text = '■ Stopped'
            self.status.classes('text-gray-500')
            self.status.set_visibility(True)
        elif self.message.interrupted:
            self.status.text = '⚠ Interrupted: the server stopped while this reply was streaming; the text is what ' \
                'had arrived.'
            self.status.classes('text-amber-800').props('role=status')
            self.status.set_visibility(True)
