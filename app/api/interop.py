"""The routes for other ecosystems' clients: OpenAI's API (`/v1/...`) and the AI SDK's UI message stream."""

from __future__ import annotations

from fastapi import APIRouter

from ..chat.chats import Chats
from ..config import Settings
from ..upstream import Upstream
from .access import Access
from .metering import Metering
from .openai import routes as openai_compat
from .ui import routes as ui_chat


def add_routes(router: APIRouter, settings: Settings, upstream: Upstream, access: Access, *,
               chats: Chats | None = None, metering: Metering | None = None) -> None:
    """Add `POST /v1/chat/completions`, `GET /v1/models` and `POST /api/ui-chat` to `router`.

    Added to the API's own router (not included as a sub-router) so the dispatcher in front of the app serves them
    directly like `/api/chat`, skipping the app's layers for every streamed chunk.
    """
    # With chats: X-Conversation-Id on both.
    openai_compat.add_routes(router, settings, upstream, access, chats=chats, metering=metering)
    ui_chat.add_routes(router, settings, upstream, access, metering, chats=chats)
    # The router's catch-all for unknown /api paths (a JSON 404/405) matches /api/ui-chat too: routes are tried in
    # order, so fixed paths go before any path with parameters (a stable sort keeps the rest in order).
    router.routes.sort(key=lambda route: '{' in getattr(route, 'path', ''))
