"""One chat message on the page; an assistant message is markdown that renders in the browser as it streams."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Protocol

from nicegui import ui

from .attachments import image_url
from .message_toolbar import Button, MessageToolbar, version
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

    Parts that only some messages need (the reasoning section, the outcome notice, the stats, the buttons) are made
    when first needed, not hidden from the start: a turn's two new messages are built while other replies stream,
    and every element costs server time there (bench/page_load).
    """

    def __init__(self, message: Message, actions: Actions | None = None) -> None:
        self.message = message
        self.actions = actions
        mine = message.role == 'user'
        self.markdown: StreamingMarkdown | None = None
        self.reasoning: StreamingMarkdown | None = None
        self.reasoning_slot: ui.column | None = None
        self.waiting: ui.spinner | None = None
        self.status: ui.label | None = None
        self.stats: ui.label | None = None
        self.toolbar: MessageToolbar | None = None
        with ui.column().classes('nc-message w-full gap-1 ' + ('items-end' if mine else 'items-start')) \
                as self.container:
            ui.label('You' if mine else 'Assistant').classes('text-xs text-gray-500')
            with ui.card().classes('nc-bubble max-w-full ' + ('nc-user' if mine else 'nc-assistant')) \
                    .props('flat bordered') as self.card:
                if mine:
                    if message.attachments:
                        with ui.row().classes('gap-2').mark('thumbnails'):
                            for image in message.attachments:
                                with ui.link(target=image_url(image), new_tab=True):
                                    ui.image(image_url(image)).classes('w-24 h-24 rounded border') \
                                        .props('fit=cover alt="Attached image"')
                    self.text = ui.label(message.content).classes('whitespace-pre-wrap')  # wraps anywhere (theme)
                else:
                    if message.reasoning:
                        self._show_reasoning(message.reasoning)
                    if message.streaming and not message.content:
                        self.waiting = ui.spinner('dots', size='lg').props('aria-label="Waiting for the model"')
                    self.markdown = StreamingMarkdown(message.content, streaming=message.streaming) \
                        .classes('max-w-full')
        self.container.props(f'data-role={message.role}')
        if not message.streaming:
            self._show_outcome()
        self._show_actions()

    def append(self, text: str) -> None:
        """Show `text`, just appended to the message (only the new text goes to the browser)."""
        if self.markdown is not None:
            if self.waiting is not None:
                self.waiting.delete()
                self.waiting = None
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
        if self.waiting is not None:
            self.waiting.delete()
            self.waiting = None
        if self.reasoning is not None:
            self.reasoning.finish()
        self._show_outcome()
        self._show_actions()

    def _show_reasoning(self, text: str) -> None:
        with self.card:  # first in the card, above the answer
            self.reasoning_slot = ui.column().classes('w-full')
        self.reasoning_slot.move(self.card, target_index=0)
        with self.reasoning_slot, ui.expansion('Reasoning', icon='psychology').props('dense') \
                .classes('w-full text-gray-600').mark('reasoning'):
            self.reasoning = StreamingMarkdown(text, streaming=self.message.streaming).classes('text-sm')

    def _show_outcome(self) -> None:
        message = self.message
        if message.error:
            self._status(f'⚠ {message.error}').classes('text-red-700').props('role=alert')
        elif message.stopped:
            self._status('■ Stopped').classes('text-gray-500')
        elif message.interrupted:
            self._status('⚠ Interrupted: the server stopped while this reply was streaming; the text is what had '
                         'arrived.').classes('text-amber-800').props('role=status')
        if message.role == 'assistant' and (stats := describe(message)):
            if self.stats is None:
                with self.container:  # under the card, above the buttons (made after it: see _show_actions)
                    self.stats = ui.label().classes('text-xs text-gray-500').mark('stats')
            self.stats.text = stats

    def _status(self, text: str) -> ui.label:
        """The notice under the text (made on first use, last in the card)."""
        if self.status is None:
            with self.card:
                self.status = ui.label().classes('text-sm')
        self.status.text = text
        return self.status

    def _show_actions(self) -> None:
        """The buttons under a finished message: versions, Copy, and Regenerate / Retry or Edit (one element)."""
        actions, message = self.actions, self.message
        if actions is None or message.streaming:
            if self.toolbar is not None:
                self.toolbar.show([])
            return
        buttons: list[Button] = []
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
        if self.toolbar is None:
            with self.container:
                self.toolbar = MessageToolbar(self._press)
        self.toolbar.show(buttons)

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
        toolbar = self.toolbar
        self.card.set_visibility(False)
        if toolbar is not None:
            toolbar.set_visibility(False)
        with self.container:
            with ui.column().classes('w-full items-end gap-1') as editor:
                box = ui.textarea(value=message.content).props('autogrow outlined dense autofocus') \
                    .classes('w-full').mark('edit-box')
                with ui.row().classes('gap-1'):
                    ui.button('Cancel', on_click=lambda: close()).props('flat no-caps').mark('edit-cancel')
                    ui.button('Save and send', on_click=lambda: save()).props('no-caps').mark('edit-save')

        def close() -> None:
            editor.delete()
            self.card.set_visibility(True)
            if toolbar is not None:
                toolbar.set_visibility(True)

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
