"""ui.upload without a route of its own: one app route (`add_route`) takes every tab's uploads.

NiceGUI's ui.upload registers a FastAPI route per element (`/_nicegui/client/<tab>/upload/<element>`) and removes
it with the tab. FastAPI classifies each route's function once, in bounded caches (4,096 entries each, in
fastapi/dependencies/models.py) that outlive the route: every tab opened kept its upload element, and all the
element holds, until ~4,096 page loads (~12 KB per tab in the soak, docs/api_load.md). `Upload` is the same
QUploader with the same handlers (and still a `ui.upload`, for tests), but its URL names the tab and the element,
and one route, added once at start-up, finds them.

The route answers only the browser that opened the tab: the tab's id (a random UUID only that tab's page was
given) must name a live tab, the element must be one of its uploads, and the request must carry the same signed
browser cookie as the page request that built the tab. Anything else is a 404, so ids cannot be probed.
"""

from __future__ import annotations

from typing import cast

from fastapi import HTTPException
from nicegui import app, ui
from nicegui.client import Client
from nicegui.elements.mixins.label_element import LabelElement
from nicegui.elements.upload_files import create_file_upload
from nicegui.events import Handler, MultiUploadEventArguments, UiEventArguments, UploadEventArguments, handle_event
from starlette.datastructures import UploadFile
from starlette.requests import Request

ROUTE = '/_nicechat/upload/{client_id}/{element_id}'


class Upload(ui.upload):
    """A QUploader whose files go to the shared route; the arguments are ui.upload's (those this app uses)."""

    def __init__(self, *, multiple: bool = False, max_file_size: int | None = None,
                 on_upload: Handler[UploadEventArguments] | None = None, auto_upload: bool = False) -> None:
        # ui.upload's __init__ would add the per-element route: run the one of its base (the label element) and set
        # what ui.upload sets for the arguments above (nicegui/elements/upload.py, NiceGUI 3.18).
        LabelElement.__init__(self, label='')
        self._props.set_bool('multiple', multiple)
        self._props.set_bool('auto-upload', auto_upload)
        self._props['url'] = ROUTE.format(client_id=self.client.id, element_id=self.id)
        self._props.set_optional('max-file-size', max_file_size)
        self._begin_upload_handlers: list[Handler[UiEventArguments]] = []
        self._upload_handlers = [on_upload] if on_upload else []
        self._multi_upload_handlers: list[Handler[MultiUploadEventArguments]] = []

    async def receive(self, request: Request) -> None:
        """Take the files of one upload request, as ui.upload's own route does."""
        if self.is_ignoring_events:
            raise HTTPException(status_code=403, detail='Upload is disabled or hidden')
        for handler in self._begin_upload_handlers:
            handle_event(handler, UiEventArguments(sender=self, client=self.client))
        async with request.form() as form:
            files = [await create_file_upload(cast(UploadFile, data)) for data in form.values()]
        await self.handle_uploads(files)

    def _handle_delete(self) -> None:
        # Not ui.upload's: it removes the element's route (a scan of every route of the app), and there is none.
        # The handlers go: they are their owner's methods (the attachments' `_received`), and the owner holds this
        # element, a cycle that would wait for the garbage collector (app/web/teardown.py).
        self._begin_upload_handlers.clear()
        self._upload_handlers.clear()
        self._multi_upload_handlers.clear()
        super(ui.upload, self)._handle_delete()


def add_route() -> None:
    """Add the one route every `Upload` posts to (once per app: pages.register calls it)."""

    @app.post(ROUTE, include_in_schema=False)
    async def upload(request: Request, client_id: str, element_id: int) -> dict[str, str]:
        await _element(request, client_id, element_id).receive(request)
        return {'upload': 'success'}


def _element(request: Request, client_id: str, element_id: int) -> Upload:
    """The tab's upload element, if the request comes from the browser that opened the tab; else 404."""
    client = Client.instances.get(client_id)
    element = client.elements.get(element_id) if client is not None else None
    if client is None or not isinstance(element, Upload) or not _same_browser(request, client):
        raise HTTPException(status_code=404)
    return element


def _same_browser(request: Request, client: Client) -> bool:
    """Whether `request` carries the signed browser id of the page request that built `client`'s tab."""
    try:
        page_request = client.request
    except RuntimeError:  # a tab built without a request (none of this app's pages)
        return False
    if 'session' not in request.scope or 'session' not in page_request.scope:
        return False  # no storage secret, no browser identity: nothing to tie the upload to
    browser = page_request.session.get('id')
    return browser is not None and request.session.get('id') == browser
