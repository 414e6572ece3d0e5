"""One chat message on the page; an assistant message is markdown that renders in the browser as it streams."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from nicegui import ui

from .attachments import image_url
from .message_frame import NOTICE_ERROR, NOTICE_INTERRUPTED, NOTICE_STOPPED, MessageFrame
from .message_toolbar import Button, version
from .reply_stats import describe
from .streaming_markdown import StreamingMarkdown

if TYPE_CHECKING:
    from app.chat.message import Message


class Actions(Protocol):
    """What a message's buttons do; the chat page implements it."""

    def versions(self, message: Message) -> tuple[int, int]:
        """The message's position among its versions (1-based) and how many there are."""

    def regenerate(self, message: Message) -> Awaitable[None]:
        """Ask again for this answer (a new version); also the Retry of a failed reply."""

    def edit(self, message: Message, text: str) -> Awaitable[None]:
        """Send an edited prompt as a new version of this one."""

    def switch(self, message: Message, step: int) -> Awaitable[None]:
        """Show the previous (-1) or next (+1) version."""

    def continue_reply(self, message: Message) -> Awaitable[None]:
        """Ask the model to go on from this interrupted reply's text, in the same message."""


class MessageView:
    """Shows one message; `append` adds streamed text, `finish` shows how the reply ended.

    The frame (role line, bubble, notice, stats, buttons) is one element drawn in the browser (message_frame.py);
    the bubble holds a reply's markdown, a prompt's thumbnails and a reply's reasoning as children. Parts that only
    some messages need (the reasoning section, the thumbnails) are made when first needed: a turn's two new messages
    are built while other replies stream, and every element costs server time there (bench/turn_cost).
    """

    def __init__(self, message: Message, actions: Actions | None = None) -> None:
        self.message = message
        self.actions = actions
        mine = message.role == 'user'
        self.markdown: StreamingMarkdown | None = None
        self.reasoning: StreamingMarkdown | None = None
        self.reasoning_slot: ui.column | None = None
        waiting = not mine and message.streaming and not message.content
        with MessageFrame(message.role, message.content if mine else '', waiting=waiting,
                          on_press=self._press) as self.container:
            if mine:
                if message.attachments:
                    with ui.row().classes('gap-2').mark('thumbnails'):
                        for image in message.attachments:
                            with ui.link(target=image_url(image), new_tab=True):
                                ui.image(image_url(image)).classes('w-24 h-24 rounded border') \
                                    .props('fit=cover alt="Attached image"')
            else:
                if message.reasoning:
                    self._show_reasoning(message.reasoning)
                self.markdown = StreamingMarkdown(message.content, streaming=message.streaming)
                self.markdown.classes('max-w-full')
        if not message.streaming:
            self._show_end()

    def append(self, text: str) -> None:
        """Show `text`, just appended to the message (only the new text goes to the browser)."""
        if self.markdown is not None:
            self.container.stop_waiting()
            self.markdown.append(text)

    def sink(self) -> Callable[[str], None] | None:
        """What `append` comes to once it has shown the first text (the waiting dots gone): the markdown's append."""
        return self.markdown.append if self.markdown is not None else None

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
        if self.reasoning is not None:
            self.reasoning.finish()
        self._show_end()  # the dots go too

    def _show_reasoning(self, text: str) -> None:
        with self.container:  # first in the bubble, above the answer
            self.reasoning_slot = ui.column().classes('w-full')
        self.reasoning_slot.move(self.container, target_index=0)
        with self.reasoning_slot, ui.expansion('Reasoning', icon='psychology').props('dense') \
                .classes('w-full text-gray-600').mark('reasoning'):
            self.reasoning = StreamingMarkdown(text, streaming=self.message.streaming).classes('text-sm')

    def _show_end(self) -> None:
        """How the message ended, in one change of its frame: a notice if the reply failed, was stopped or
        interrupted, the reply's stats, and the buttons (versions, Copy, Continue, Regenerate / Retry or Edit)."""
        message, actions = self.message, self.actions
        notice, look = '', NOTICE_STOPPED
        if message.error:
            notice, look = f'⚠ {message.error}', NOTICE_ERROR
        elif message.stopped:
            notice = '■ Stopped'
        elif message.interrupted:
            notice, look = ('⚠ Interrupted: the server stopped while this reply was streaming; the text is what had '
                            'arrived.'), NOTICE_INTERRUPTED
        buttons: list[Button] = []
        if actions is not None:
            index, count = actions.versions(message)
            if count > 1:
                buttons += [Button('previous-version', 'chevron_left', 'Previous version', disabled=index <= 1),
                            version(f'{index} / {count}'),
                            Button('next-version', 'chevron_right', 'Next version', disabled=index >= count)]
            buttons.append(Button('copy', 'content_copy', 'Copy'))
            if message.interrupted:  # the server stopped mid-reply: one click asks for the rest
                buttons.append(Button('continue', 'play_arrow', 'Continue', 'Continue'))
            if message.role == 'assistant':
                if message.status == 'failed':  # a failed turn is resent as it was
                    buttons.append(Button('retry', 'refresh', 'Retry', 'Retry'))
                else:
                    buttons.append(Button('regenerate', 'refresh', 'Regenerate'))
            else:
                buttons.append(Button('edit', 'edit', 'Edit'))
        self.container.show(buttons, notice=notice, look=look,
                            stats=describe(message) if message.role == 'assistant' else '')

    def _press(self, name: str) -> Awaitable[None] | None:
        """What a toolbar button does (the toolbar passes only presses of buttons it shows, enabled)."""
        actions, message = self.actions, self.message
        assert actions is not None
        if name == 'copy':
            self._copy()
        elif name == 'edit':
            self._open_editor()
        elif name in ('previous-version', 'next-version'):
            return actions.switch(message, -1 if name == 'previous-version' else 1)
        elif name == 'continue':
            return actions.continue_reply(message)
        elif name in ('regenerate', 'retry'):
            return actions.regenerate(message)
        return None

    def _copy(self) -> None:
        ui.clipboard.write(self.message.content)
        ui.notify('Copied', position='bottom', timeout=1500)

    def _open_editor(self) -> None:
        """Edit the prompt in place: Save sends it as a new version, Cancel puts the old one back."""
        assert self.actions is not None
        actions, message = self.actions, self.message
        frame = self.container
        frame.set_editing(True)  # the bubble and the buttons make way for the editor
        with frame.add_slot('editor'):
            with ui.column().classes('w-full items-end gap-1') as editor:
                box = ui.textarea(value=message.content).props('autogrow outlined dense autofocus') \
                    .classes('w-full').mark('edit-box')
                with ui.row().classes('gap-1'):
                    ui.button('Cancel', on_click=lambda: close()).props('flat no-caps').mark('edit-cancel')
                    ui.button('Save and send', on_click=lambda: save()).props('no-caps').mark('edit-save')

        def close() -> None:
            editor.delete()
            frame.set_editing(False)

        async def save() -> None:
            text = (box.value or '').strip()
            if not text:
                return
            try:
                await actions.edit(message, text)
            except Exception as error:  # ChatError (too long, busy): the editor stays open with the text
                ui.notify(str(error), type='warning')
                return
            if not editor.is_deleted:
                close()
