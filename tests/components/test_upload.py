"""The page's uploads go through one shared route that answers only the tab's own browser; a closed tab lets go."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

from nicegui import app, ui
from nicegui.testing import User

from tests.components.chat_helpers import open_chat
from tests.components.test_images import png
from tests.fake_upstream import FakeUpstream


def uploader(user: User) -> ui.upload:
    return next(iter(user.find(ui.upload).elements))


def image_form() -> dict[str, tuple[str, bytes, str]]:
    return {'photo.png': ('photo.png', png(), 'image/png')}


async def test_the_tabs_browser_uploads_through_the_shared_route(configured: FakeUpstream, user: User) -> None:
    await open_chat(user)
    url = uploader(user).props['url']
    assert url.startswith('/_nicechat/upload/')
    response = await user.http_client.post(url, files=image_form())
    assert response.status_code == 200, response.text
    await user.should_see(marker='attachments')


async def test_a_stranger_cannot_upload_into_another_tab(configured: FakeUpstream, user: User,
                                                        create_user: Any) -> None:
    await open_chat(user)
    url = uploader(user).props['url']
    stranger = create_user()
    await open_chat(stranger)  # a browser with a tab of its own, and the other tab's upload address
    assert (await stranger.http_client.post(url, files=image_form())).status_code == 404
    assert user.client is not None and stranger.client is not None
    strangers_tab = url.replace(user.client.id, stranger.client.id)  # the same element, in the stranger's tab
    assert strangers_tab != url and stranger.client.elements.get(int(url.rsplit('/', 1)[1])) is not None
    assert (await user.http_client.post(strangers_tab, files=image_form())).status_code == 404
    unknown = url.rsplit('/', 1)[0] + '/999999'
    assert (await user.http_client.post(unknown, files=image_form())).status_code == 404
    await user.should_not_see(marker='attachments')
    await stranger.should_not_see(marker='attachments')


async def test_a_closed_tab_leaves_no_route_and_no_upload_element(configured: FakeUpstream, user: User) -> None:
    """ui.upload's route per element kept every closed tab's element alive in FastAPI's caches (the soak's RSS)."""
    routes = len(app.routes)
    await open_chat(user)
    element = uploader(user)
    url = element.props['url']
    gone = weakref.ref(element)
    del element
    assert user.client is not None
    assert len(app.routes) == routes  # no route of its own
    tab, user.client = user.client, None
    outbox = next(t for t in asyncio.all_tasks() if t.get_name() == f'outbox loop {tab.id}')
    tab.delete()  # what NiceGUI does once a closed tab's reconnect time has passed
    await asyncio.wait_for(outbox, 5)  # its outbox loop ends on its next turn, and lets go of the tab
    del tab, outbox
    gc.collect()
    assert gone() is None
    assert (await user.http_client.post(url, files=image_form())).status_code == 404
