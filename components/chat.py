"""The chat page: conversation, prompt box, Send and Stop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nicegui import ui

from .message import MessageView

if TYPE_CHECKING:
    from app.chat.conversation import Conversation, Message

# Enter sends, Shift+Enter inserts a newline, and Enter while an input method is composing (CJK) does neither.
ENTER_SENDS = '(e) => { if (!e.shiftKey && !e.isComposing) { e.preventDefault(); emit(); } }'


def create(conversation: Conversation, *, models: Sequence[str], demo: bool) -> ChatPage:
    """Build the chat page for `conversation` in the current client; `models` are the ones a person may pick."""
    return ChatPage(conversation, models=models, demo=demo)


class ChatPage:
    """The page's widgets; follows the conversation as one of its views."""

    def __init__(self, conversation: Conversation, *, models: Sequence[str], demo: bool) -> None:
        self.conversation = conversation
        self.views: dict[int, MessageView] = {}
        with ui.header().classes('items-center bg-slate-800 py-2'):
            ui.label('NiceChat').classes('text-lg font-semibold')
            if len(models) > 1:
                ui.select(list(models), value=conversation.model).bind_value(conversation, 'model') \
                    .props('dense dark standout options-dense').classes('ml-2 min-w-40').mark('model')
            else:
                ui.badge(conversation.model).props('outline color=white').classes('ml-2').mark('model')
            ui.space()
            ui.button('New chat', icon='add', on_click=self.clear).props('flat color=white dense')
        with ui.column().classes('w-full max-w-3xl mx-auto gap-4 pb-4'):
            if demo:
                _demo_banner()
            self.log = ui.column().classes('w-full gap-4')
        with ui.footer().classes('bg-white border-t py-2'):
            with ui.row().classes('w-full max-w-3xl mx-auto items-end no-wrap gap-2'):
                self.prompt = ui.textarea(placeholder='Message (Enter sends, Shift+Enter for a new line)') \
                    .props('autofocus autogrow outlined dense rows=1').classes('grow')
                self.prompt.on('keydown.enter', self.send, js_handler=ENTER_SENDS)
                self.send_button = ui.button(icon='send', on_click=self.send).props('aria-label=Send').mark('send')
                self.stop_button = ui.button('Stop', icon='stop', on_click=self.stop, color='red') \
                    .props('aria-label=Stop').mark('stop')
        for message in conversation.messages:
            self.on_message(message)
        if conversation.messages:  # a reload: open at the end of the conversation, where it continues
            ui.run_javascript('window.scrollTo(0, document.scrollingElement.scrollHeight)')
        self._set_busy(conversation.busy)
        conversation.attach(self)
        ui.context.client.on_delete(lambda: conversation.detach(self))

    def send(self) -> None:
        """Send the prompt box's text, if any."""
        text = (self.prompt.value or '').strip()
        if not text or self.conversation.busy:
            return
        try:
            self.conversation.send(text)
        except Exception as error:  # ChatError: too long or busy; keep the text so nothing is lost
            ui.notify(str(error), type='warning')
            return
        self.prompt.value = ''

    def stop(self) -> None:
        """Cancel the streaming reply."""
        self.conversation.stop()

    def clear(self) -> None:
        """Start a new conversation."""
        self.conversation.clear()

    def on_clear(self) -> None:
        self.log.clear()
        self.views.clear()

    def on_message(self, message: Message) -> None:
        with self.log:
            self.views[id(message)] = MessageView(message)
        if message.streaming:
            self._set_busy(True)

    def on_delta(self, message: Message, text: str) -> None:
        if view := self.views.get(id(message)):
            view.append(text)

    def on_reasoning(self, message: Message, text: str) -> None:
        if view := self.views.get(id(message)):
            view.append_reasoning(text)

    def on_finish(self, message: Message) -> None:
        if view := self.views.get(id(message)):
            view.finish()
        self._set_busy(False)
        self.prompt.run_method('focus')

    def _set_busy(self, busy: bool) -> None:
        self.send_button.set_visibility(not busy)
        self.stop_button.set_visibility(busy)


def _demo_banner() -> None:
    with ui.card().classes('w-full bg-amber-50').props('flat bordered').mark('demo-banner'):
        ui.markdown(
            '**Demo mode**: replies come from a built-in demo model, not a real LLM. '
            'To chat with a real model, set `OPENAI_API_KEY` (and optionally `OPENAI_BASE_URL` for Ollama, vLLM or '
            'LM Studio, and `OPENAI_MODEL`) in `.env` and restart.'
        )
