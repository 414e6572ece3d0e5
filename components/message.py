"""One chat message on the page; the streaming assistant message renders its text as it grows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nicegui import ui

if TYPE_CHECKING:
    from app.conversation import Message


class MessageView:
    """Shows one message; `append` adds streamed text, `finish` shows how the reply ended."""

    def __init__(self, message: Message) -> None:
        self.message = message
        mine = message.role == 'user'
        with ui.column().classes('w-full gap-1 ' + ('items-end' if mine else 'items-start')) as self.container:
            ui.label('You' if mine else 'Assistant').classes('text-xs text-gray-500')
            with ui.card().classes('max-w-full ' + ('bg-blue-50' if mine else 'bg-white')).props('flat bordered'):
                if mine:
                    self.body = ui.label(message.content).classes('whitespace-pre-wrap break-words')
                else:
                    self.body = ui.markdown(message.content).classes('max-w-full')
                self.status = ui.label().classes('text-sm')
                self.status.set_visibility(False)
        self.container.props(f'data-role={message.role}')
        if not message.streaming:
            self.finish()

    def append(self, text: str) -> None:
        """Show text appended to the message."""
        self.body.set_content(self.message.content)  # type: ignore[attr-defined]

    def finish(self) -> None:
        """Show the final state: the full text, and a notice if the reply was stopped or failed."""
        if isinstance(self.body, ui.markdown):
            self.body.set_content(self.message.content)
        if self.message.error:
            self.status.text = f'⚠ {self.message.error}'
            self.status.classes('text-red-700').props('role=alert')
            self.status.set_visibility(True)
        elif self.message.stopped:
            self.status.text = '■ Stopped'
            self.status.classes('text-gray-500')
            self.status.set_visibility(True)
