"""The chat page: header, the conversation, prompt box, Send and Stop; message actions, settings, export/import."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from nicegui import ui

from app.errors import ChatError

from . import chat_settings, person_menu, theme
from .announcer import Announcer
from .attachments import Attachments
from .message import MessageView
from .person_menu import Person

if TYPE_CHECKING:
    from app.chat.conversation import Conversation
    from app.chat.message import Message

# Enter sends, Shift+Enter inserts a newline, and Enter while an input method is composing (CJK) does neither.
ENTER_SENDS = '(e) => { if (!e.shiftKey && !e.isComposing) { e.preventDefault(); emit(); } }'
# Messages rendered when a conversation opens (about a screenful); earlier ones come EARLIER_STEP at a time with
# "Show earlier messages". Measured on a 1,000-message conversation (bench.chat): the last 10 paint in ~200 ms, the
# last 50 in ~280 ms (first contentful paint ~410 ms), all 1,000 at once in ~2.5 s.
FIRST_SCREEN = 10
EARLIER_STEP = 50
# How much of a finished reply the screen-reader announcement reads out (the rest is on the page).
ANNOUNCED_CHARS = 200
# HTTP statuses of a refusal by the server's limits (too fast: 429; busy: 503): said next to the prompt box, which
# keeps the prompt, until the wait they name is over or the next message goes through.
LIMIT_STATUSES = (429, 503)


def create(conversation: Conversation, *, models: Sequence[str], demo: bool, person: Person,
           on_menu: Callable[[], object] | None = None) -> ChatPage:
    """Build the chat page for `conversation` in the current client; `models` are the ones a person may pick."""
    return ChatPage(conversation, models=models, demo=demo, person=person, on_menu=on_menu)


class ChatPage:
    """The page's widgets; follows the conversation as one of its views, and does what its messages' buttons ask."""

    def __init__(self, conversation: Conversation, *, models: Sequence[str], demo: bool, person: Person,
                 on_menu: Callable[[], object] | None) -> None:
        self.conversation, self.models, self.person = conversation, models, person
        self.views: dict[str, MessageView] = {}
        dark = theme.setup(person.theme)
        with ui.header().classes('items-center bg-slate-800 py-2 gap-1'):
            if on_menu is not None:
                ui.button(icon='menu', on_click=on_menu).props('flat round dense color=white aria-label=Menu')
            ui.label('NiceChat').classes('text-lg font-semibold')
            self.model_badge = ui.badge(conversation.model).props('outline color=white').classes('ml-2').mark('model')
            ui.space()
            theme.toggle(dark, person.theme, person.save_theme)
            ui.button(icon='tune', on_click=self.open_settings) \
                .props('flat round dense color=white aria-label=Settings').mark('settings')
            person_menu.create(conversation, person)
            with ui.button(icon='add', on_click=lambda: ui.navigate.to('/')) \
                    .props('flat color=white dense no-caps aria-label="New chat"').mark('new-chat'):
                ui.label('New chat').classes('gt-xs ml-1')  # icon only on a phone: the header stays one line
        with ui.column().classes('w-full max-w-3xl mx-auto gap-4 pb-4'):
            if demo:
                _demo_banner()
            self.earlier = ui.button('Show earlier messages', on_click=self.show_earlier) \
                .props('flat dense no-caps').classes('self-center')
            self.log = ui.column().classes('w-full gap-4')
            # A finished reply is announced once to screen readers; the streaming text itself is not live.
            self.announcer = Announcer().mark('announcer')
        with ui.footer().classes('nc-footer border-t py-2') as self.footer:
            with ui.column().classes('w-full max-w-3xl mx-auto gap-1') as self.above_prompt:
                self.notice = ui.label().props('role=alert').classes('text-sm text-orange-9').mark('notice')
                self.notice.set_visibility(False)
                self.notices = 0  # refusals shown so far: a notice's timer hides only its own
                self.attachments = Attachments(person.save_image)
            with ui.row().classes('w-full max-w-3xl mx-auto items-end no-wrap gap-2'):
                self.attachments.button()
                self.prompt = ui.textarea(placeholder='Message (Enter sends, Shift+Enter for a new line)') \
                    .props('autofocus autogrow outlined dense rows=1').classes('grow').mark('prompt')
                self.prompt.on('keydown.enter', self.send, js_handler=ENTER_SENDS)
                self.prompt.on('keydown.escape', self.stop)
                self.attachments.accept_drops(self.prompt)
                self.send_button = ui.button(icon='send', on_click=self.send).props('aria-label=Send').mark('send')
                self.stop_button = ui.button('Stop', icon='stop', on_click=self.stop, color='red') \
                    .props('aria-label=Stop').mark('stop')
        self.first_shown = 0
        self.on_branch()
        if conversation.messages:  # opening a conversation: start at its end, where it continues
            ui.run_javascript('window.scrollTo(0, document.scrollingElement.scrollHeight)')
        self._set_busy(conversation.busy)
        conversation.attach(self)
        ui.context.client.on_delete(self._closed)

    async def send(self) -> None:
        """Send the prompt box's text, if any; on a refusal the text stays in the box."""
        text = (self.prompt.value or '').strip()
        if not (text or self.attachments.images) or self.conversation.busy:
            return
        new = not self.conversation.stored
        images = self.attachments.take()
        if not await self._run(self.conversation.send(text, images)):
            self.attachments.restore(images)  # refused: the images stay attached, as the text stays in the box
            return
        self.prompt.run_method('focus')  # after a click on Send, typing goes on in the box
        if self.prompt.value.strip() == text:
            self.prompt.value = ''
        if new:  # the conversation exists now: give the tab its address, for reload, bookmarks and back
            ui.navigate.history.replace(f'/c/{self.conversation.id}')

    def stop(self) -> None:
        """Cancel the streaming reply (the Stop button, or Escape in the prompt box)."""
        self.conversation.stop()

    # Actions of the messages' buttons
    def versions(self, message: Message) -> tuple[int, int]:
        versions = self.conversation.tree.versions(message)
        return versions.index(message) + 1, len(versions)

    async def regenerate(self, message: Message) -> None:
        await self._run(self.conversation.regenerate(message))

    async def edit(self, message: Message, text: str) -> None:
        await self._run(self.conversation.edit(message, text), raise_errors=True)

    async def switch(self, message: Message, step: int) -> None:
        await self._run(self.conversation.switch(message, step))

    async def continue_reply(self, message: Message) -> None:
        await self._run(self.conversation.continue_reply(message))

    def open_settings(self) -> None:
        """The settings panel of this conversation."""
        conversation = self.conversation

        async def save(**values: Any) -> None:
            await conversation.configure(**values)  # every page showing it updates its model badge (on_details)
            self.person.save_choices(values)

        chat_settings.open_dialog(models=self.models, model=conversation.model,
                                  system_prompt=conversation.system_prompt or '',
                                  temperature=conversation.settings.get('temperature'),
                                  max_tokens=conversation.settings.get('max_tokens'),
                                  max_tokens_limit=self.person.max_tokens_limit, save=save,
                                  load_models=self.person.load_models)

    def show_earlier(self) -> None:
        """Render the previous screenful of messages above the ones shown."""
        messages = self.conversation.messages
        start = max(0, self.first_shown - EARLIER_STEP)
        for index, message in enumerate(messages[start:self.first_shown]):
            self.on_message(message)
            self.views[message.id].container.move(self.log, target_index=index)
        self.first_shown = start
        self.earlier.set_visibility(start > 0)

    # View protocol: the conversation tells the page of every change
    def on_branch(self) -> None:
        self.log.clear()
        self.views.clear()
        messages = self.conversation.messages
        self.first_shown = max(0, len(messages) - FIRST_SCREEN)
        for message in messages[self.first_shown:]:
            self.on_message(message)
        self.earlier.set_visibility(self.first_shown > 0)

    def on_message(self, message: Message) -> None:
        if (ended := self.views.pop(message.id, None)) is not None:  # continued (it is the last message shown): its
            ended.container.delete()  # ended view makes way for a streaming one, which starts from the text so far
        with self.log:
            self.views[message.id] = MessageView(message, self)
        if message.streaming:
            self._set_busy(True)

    def on_delta(self, message: Message, text: str) -> None:
        if view := self.views.get(message.id):
            view.append(text)

    def sink(self, message: Message) -> Callable[[str], None] | None:
        """Where `message`'s next deltas may go straight (app/chat/view.py's Views.delta), once `on_delta` has shown
        the first: its markdown's buffer. The conversation asks again after any other change to the page."""
        view = self.views.get(message.id)
        return view.sink() if view is not None else None

    def on_reasoning(self, message: Message, text: str) -> None:
        if view := self.views.get(message.id):
            view.append_reasoning(text)

    def on_finish(self, message: Message) -> None:
        if view := self.views.get(message.id):
            view.finish()
            self.announcer.say(message.id, _announcement(message))
        self._set_busy(False)
        self.prompt.run_method('focus')  # after the markdown's finish: the turn's last message

    def on_details(self) -> None:
        self.model_badge.text = self.conversation.model

    def on_deleted(self) -> None:
        """Close the conversation with a note (deleted in a drawer, in another tab or on another instance). Called
        from whichever task deleted it: everything here goes through this page's own elements, not that task's
        context (ui.navigate would send the deleting tab away, or fail with no page at all)."""
        self.conversation.detach(self)
        self.views.clear()
        self.log.clear()
        self.earlier.set_visibility(False)
        self.footer.set_visibility(False)
        with self.log, ui.card().classes('w-full items-center').props('flat bordered').mark('deleted'):
            ui.label('This conversation was deleted.').props('role=alert').classes('font-semibold')
            ui.link('Start a new chat', '/')

    def _closed(self) -> None:
        """The tab is gone: stop following the conversation, and let the message views go (each refers back to this
        page, which would leave the two in a cycle for the garbage collector: app/web/teardown.py)."""
        self.conversation.detach(self)
        self.views.clear()

    async def _run(self, action: Awaitable[Any], *, raise_errors: bool = False) -> bool:
        """Run a conversation action with the busy state shown; a refusal is a notification, nothing is lost."""
        self._set_busy(True)
        try:
            await action
        except Exception as error:  # ChatError: too long, busy, too fast, or the database is down
            self._set_busy(self.conversation.busy)
            if raise_errors:
                raise
            if isinstance(error, ChatError) and error.status in LIMIT_STATUSES:
                self._show_notice(error)
            else:
                ui.notify(str(error), type='warning')
            return False
        self._set_busy(self.conversation.busy)
        self.notice.set_visibility(False)
        return True

    def _show_notice(self, error: ChatError) -> None:
        """Say why the server refused, next to the prompt box, until the wait it names is over."""
        self.notice.text = error.message
        self.notice.set_visibility(True)
        self.notices += 1
        shown = self.notices
        wait = float(error.retry_after) if error.retry_after and error.retry_after.isdigit() else 0.0

        def expire() -> None:
            if self.notices == shown:  # not replaced by a newer refusal meanwhile
                self.notice.set_visibility(False)
        if wait:
            with self.above_prompt:  # not where the click came from: a message's buttons can be redrawn meanwhile
                ui.timer(wait, expire, once=True)

    def _set_busy(self, busy: bool) -> None:
        self.send_button.set_visibility(not busy)
        self.stop_button.set_visibility(busy)

def _announcement(message: Message) -> str:
    """What a screen reader says once a reply ends: the outcome, then the text (trimmed)."""
    outcome = {'complete': 'Reply', 'stopped': 'Reply stopped', 'failed': 'Reply failed',
               'interrupted': 'Reply interrupted'}.get(message.status, 'Reply')
    text = message.error if message.status == 'failed' and message.error else message.content
    return f'{outcome}: {text[:ANNOUNCED_CHARS]}'


def _demo_banner() -> None:
    with ui.card().classes('w-full nc-banner').props('flat bordered').mark('demo-banner'):
        ui.markdown(
            '**Demo mode**: replies come from a built-in demo model, not a real LLM. '
            'To chat with a real model, set `OPENAI_API_KEY` (and optionally `OPENAI_BASE_URL` for Ollama, vLLM or '
            'LM Studio, and `OPENAI_MODEL`) in `.env` and restart.'
        )
