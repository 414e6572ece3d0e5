"""The chat page: header, the conversation, prompt box, Send and Stop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nicegui import ui

from .message import MessageView

if TYPE_CHECKING:
    from app.chat.conversation import Conversation
    from app.chat.message import Message

# Enter sends, Shift+Enter inserts a newline, and Enter while an input method is composing (CJK) does neither.
ENTER_SENDS = '(e) => { if (!e.shiftKey && !e.isComposing) { e.preventDefault(); emit(); } }'
# Messages rendered when a conversation opens; earlier ones come with "Show earlier messages", so a long
# conversation paints at once instead of shipping all its markdown through the websocket. With messages of ~1 KB,
# 20 paint within 300 ms on a shared 2-core machine and 50 do not (docs/conversations.md); a screen shows 3-10.
FIRST_SCREEN = 20
# Messages each "Show earlier messages" adds above the ones shown (50 render in ~150 ms after the click).
EARLIER_STEP = 50


def create(conversation: Conversation, *, models: Sequence[str], demo: bool,
           on_menu: Callable[[], object] | None = None) -> ChatPage:
    """Build the chat page for `conversation` in the current client; `models` are the ones a person may pick."""
    return ChatPage(conversation, models=models, demo=demo, on_menu=on_menu)


class ChatPage:
    """The page's widgets; follows the conversation as one of its views."""

    def __init__(self, conversation: Conversation, *, models: Sequence[str], demo: bool,
                 on_menu: Callable[[], object] | None) -> None:
        self.conversation = conversation
        self.views: dict[str, MessageView] = {}
        with ui.header().classes('items-center bg-slate-800 py-2 gap-1'):
            if on_menu is not None:
                ui.button(icon='menu', on_click=on_menu).props('flat round dense color=white aria-label=Menu')
            ui.label('NiceChat').classes('text-lg font-semibold')
            if len(models) > 1:
                ui.select(list(models), value=conversation.model).bind_value(conversation, 'model') \
                    .props('dense dark standout options-dense').classes('ml-2 min-w-40').mark('model')
            else:
                ui.badge(conversation.model).props('outline color=white').classes('ml-2').mark('model')
            ui.space()
            ui.button('New chat', icon='add', on_click=lambda: ui.navigate.to('/')) \
                .props('flat color=white dense no-caps').mark('new-chat')
        with ui.column().classes('w-full max-w-3xl mx-auto gap-4 pb-4'):
            if demo:
                _demo_banner()
            self.earlier = ui.button('Show earlier messages', on_click=self.show_earlier) \
                .props('flat dense no-caps').classes('self-center')
            self.log = ui.column().classes('w-full gap-4')
        with ui.footer().classes('bg-white border-t py-2'):
            with ui.row().classes('w-full max-w-3xl mx-auto items-end no-wrap gap-2'):
                self.prompt = ui.textarea(placeholder='Message (Enter sends, Shift+Enter for a new line)') \
                    .props('autofocus autogrow outlined dense rows=1').classes('grow')
                self.prompt.on('keydown.enter', self.send, js_handler=ENTER_SENDS)
                self.send_button = ui.button(icon='send', on_click=self.send).props('aria-label=Send').mark('send')
                self.stop_button = ui.button('Stop', icon='stop', on_click=self.stop, color='red') \
                    .props('aria-label=Stop').mark('stop')
        self.first_shown = max(0, len(conversation.messages) - FIRST_SCREEN)
        for message in conversation.messages[self.first_shown:]:
            self.on_message(message)
        self.earlier.set_visibility(self.first_shown > 0)
        if conversation.messages:  # opening a conversation: start at its end, where it continues
            ui.run_javascript('window.scrollTo(0, document.scrollingElement.scrollHeight)')
        self._set_busy(conversation.busy)
        conversation.attach(self)
        ui.context.client.on_delete(lambda: conversation.detach(self))

    async def send(self) -> None:
        """Send the prompt box's text, if any; on a refusal the text stays in the box."""
        text = (self.prompt.value or '').strip()
        if not text or self.conversation.busy:
            return
        new = not self.conversation.stored
        self._set_busy(True)
        try:
            await self.conversation.send(text)
        except Exception as error:  # ChatError: too long, busy, or the database is down; nothing typed is lost
            ui.notify(str(error), type='warning')
            self._set_busy(self.conversation.busy)
            return
        if self.prompt.value.strip() == text:
            self.prompt.value = ''
        if new:  # the conversation exists now: give the tab its address, for reload, bookmarks and back
            ui.navigate.history.replace(f'/c/{self.conversation.id}')

    def stop(self) -> None:
        """Cancel the streaming reply."""
        self.conversation.stop()

    def show_earlier(self) -> None:
        """Render the previous screenful of messages above the ones shown."""
        start = max(0, self.first_shown - EARLIER_STEP)
        for index, message in enumerate(self.conversation.messages[start:self.first_shown]):
            self.on_message(message)
            self.views[message.id].container.move(self.log, target_index=index)
        self.first_shown = start
        self.earlier.set_visibility(start > 0)

    def on_message(self, message: Message) -> None:
        with self.log:
            self.views[message.id] = MessageView(message)
        if message.streaming:
            self._set_busy(True)

    def on_delta(self, message: Message, text: str) -> None:
        if view := self.views.get(message.id):
            view.append(text)

    def on_reasoning(self, message: Message, text: str) -> None:
        if view := self.views.get(message.id):
            view.append_reasoning(text)

    def on_finish(self, message: Message) -> None:
        if view := self.views.get(message.id):
            view.finish()
        self._set_busy(False)
        self.prompt.run_method('focus')

    def on_deleted(self) -> None:
        ui.navigate.to('/')

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
