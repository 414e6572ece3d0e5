"""The page routes: `/` starts a new chat, `/c/<id>` opens one of the person's conversations."""

from __future__ import annotations

from functools import partial

from fastapi import HTTPException
from fastapi.responses import HTMLResponse, Response
from nicegui import app, background_tasks, ui
from starlette.requests import Request

from components import api_keys, chat, person_menu, sidebar, sign_in, upload

from ..chat.chats import Chats
from ..chat.conversation import Conversation
from ..config import Settings
from ..store.images import sniff
from . import page_timeout
from .identity import Refused, person_key


def register(chats: Chats, settings: Settings) -> None:
    """Add the pages to NiceGUI; unknown paths get NiceGUI's 404 page, and so does a conversation not the person's."""

    async def owner_of(request: Request) -> str | HTMLResponse | None:
        """The person's user id; an HTML refusal; or None when the password page was shown instead."""
        try:
            key = person_key(request, str(app.storage.browser['id']), settings)
        except Refused as refusal:
            return HTMLResponse(f'<!doctype html><title>NiceChat</title><p>{refusal}</p>', status_code=403)
        if settings.app_password and app.storage.user.get('signed_in') != settings.sign_in_tag:
            sign_in.create(settings.password_ok, on_success=lambda: _signed_in(settings))
            return None
        await chats.ready()
        return await chats.store.user_id(key)

    @app.get('/images/{image_id}', include_in_schema=False)
    async def image(request: Request, image_id: str) -> Response:
        """An attached image, only ever the requesting person's own."""
        try:
            key = person_key(request, str(app.storage.browser['id']), settings)
        except Refused as refusal:
            return Response(str(refusal), status_code=403)
        await chats.ready()
        data = await chats.images(await chats.store.user_id(key)).read(image_id)
        if data is None:
            return Response('Not Found', status_code=404)
        return Response(data, media_type=sniff(data), headers={'Cache-Control': 'private, max-age=31536000',
                                                                'X-Content-Type-Options': 'nosniff'})

    upload.add_route()  # the attachments' and Import's uploads, every tab's through one route

    page_timeout.release_connection_waits()  # a page past its response_timeout leaves no task behind

    @ui.page('/', title='NiceChat', response_timeout=page_timeout.RESPONSE_TIMEOUT)
    async def new_chat(request: Request) -> HTMLResponse | None:
        owner = await owner_of(request)
        if isinstance(owner, str):
            await _build(chats, settings, chats.draft(owner, app.storage.user.get('chat_defaults')))
        return owner if isinstance(owner, HTMLResponse) else None

    @ui.page('/c/{conversation_id}', title='NiceChat', response_timeout=page_timeout.RESPONSE_TIMEOUT)
    async def open_chat(request: Request, conversation_id: str) -> HTMLResponse | None:
        owner = await owner_of(request)
        if isinstance(owner, str):
            conversation = await chats.open(owner, conversation_id)
            if conversation is None:  # missing and someone else's look the same: ids cannot be probed
                raise HTTPException(status_code=404)
            await _build(chats, settings, conversation)
        return owner if isinstance(owner, HTMLResponse) else None


async def _saved(chats: Chats, owner: str, data: bytes, name: str) -> dict[str, object]:
    return (await chats.images(owner).save(data, f'“{name}”')).to_dict()


async def _delete(chats: Chats, owner: str, shown: str, conversation_id: str) -> None:
    """Delete a conversation from the drawer; deleting the one this tab shows goes on to a new chat (other tabs
    showing it, here or on another instance, get a note: ChatPage.on_deleted)."""
    await chats.delete(owner, conversation_id)
    if conversation_id == shown:
        ui.navigate.to('/')


def _signed_in(settings: Settings) -> None:
    app.storage.user.update(signed_in=settings.sign_in_tag)
    ui.navigate.reload()


def _keys(chats: Chats, owner: str) -> api_keys.Keys:
    """The person's own API keys, for their menu."""
    store = chats.store
    return api_keys.Keys(load=lambda: store.api_keys(owner), create=lambda name: store.create_api_key(owner, name),
                         rename=lambda key_id, name: store.rename_api_key(owner, key_id, name),
                         revoke=lambda key_id: store.revoke_api_key(owner, key_id))


async def _build(chats: Chats, settings: Settings, conversation: Conversation) -> None:
    """The chat page with the person's conversations in a drawer."""
    owner = conversation.owner_id
    # value=False plus Quasar's show-if-above: open on wide screens, behind the menu button on narrow ones, without
    # NiceGUI's value=None round trip that asks the browser and logs an error when a page is left within a second.
    drawer = ui.left_drawer(value=False, bordered=True).props('show-if-above width=280').classes('nc-drawer p-2')
    with drawer:
        bar = sidebar.Sidebar(
            load=lambda query, before: chats.conversations(owner, query=query, limit=sidebar.PAGE_SIZE, before=before),
            rename=lambda cid, title: chats.rename(owner, cid, title),
            delete=partial(_delete, chats, owner, conversation.id),
            current_id=conversation.id)
    await bar.refresh()
    # A turn here that put a conversation at the top: moved (or added) in place, without reading the list again.
    unwatch = chats.watch_lists(owner, lambda: background_tasks.create(bar.refresh(), name='refresh sidebar'),
                                on_top=bar.moved_to_top)
    ui.context.client.on_delete(unwatch)
    person = person_menu.Person(import_json=lambda data: chats.import_conversation(owner, data, settings.models),
                         delete_all=lambda: chats.delete_all(owner), max_tokens_limit=settings.max_tokens_limit,
                         save_image=lambda data, name: _saved(chats, owner, data, name),
                         theme=app.storage.user.get('theme', 'auto'),
                         save_theme=lambda mode: app.storage.user.update(theme=mode),
                         save_choices=lambda choices: app.storage.user.update(chat_defaults=choices),
                         load_models=chats.available_models if settings.any_model else None,
                         keys=_keys(chats, owner))
    chat.create(conversation, models=settings.models, demo=settings.demo, person=person, on_menu=drawer.toggle)
