"""Wiring: settings, the upstream client, the chat page, the API routes; then serve."""

import logging
import sys
import uuid

import uvicorn
from fastapi_offline import FastAPIOffline
from nicegui import app as nicegui_app
from nicegui import helpers, ui

from app.api import routes as api
from app.api.dispatcher import Dispatcher
from app.chat.conversation import Conversation, Conversations
from app.config import ConfigError, load_settings
from app.upstream import Upstream, demo
from components import chat, sign_in

try:
    settings = load_settings()
except ConfigError as error:
    sys.exit(f'Configuration error: {error}')

upstream = Upstream(settings)
conversations = Conversations(lambda: Conversation(upstream, settings.models[0]))
nicegui_app.on_shutdown(upstream.aclose)


async def root() -> None:
    """The chat page; its conversation lives on the server, keyed by browser tab, so a reload keeps it."""
    await ui.context.client.connected()
    if settings.app_password and nicegui_app.storage.user.get('signed_in') != settings.sign_in_tag:
        sign_in.create(settings.password_ok, on_success=lambda: (
            nicegui_app.storage.user.update(signed_in=settings.sign_in_tag), ui.navigate.reload()))
        return
    key = nicegui_app.storage.tab.setdefault('conversation', uuid.uuid4().hex)
    chat.create(conversations.get(key), models=settings.models, demo=settings.demo)


# The API lives on a parent app, outside NiceGUI's per-route middlewares (gzip would buffer the stream).
server = FastAPIOffline(title='NiceChat', summary='Chat with OpenAI-compatible models; raw NDJSON streaming API.')
api_router = api.create_router(settings, upstream)
server.include_router(api_router)
if settings.demo:
    server.include_router(demo.create_router(settings.demo_token_delay, settings.max_request_bytes))

if helpers.is_user_simulation():  # NiceGUI's `user` test fixture drives its own app in-process
    ui.run(root, title='NiceChat', storage_secret=settings.storage_secret)
else:
    ui.run_with(server, root=root, title='NiceChat', storage_secret=settings.storage_secret)
    if __name__ == '__main__':
        # Our own loggers (app.*) need a handler too; without one Python prints bare messages with no level.
        logging.basicConfig(level=logging.WARNING, format='%(levelname)s:     %(name)s: %(message)s')
        mode = 'demo mode' if settings.demo else f'model {settings.models[0]} at {settings.upstream_display}'
        print(f'NiceChat on http://{settings.host}:{settings.port} ({mode})', flush=True)
        if settings.exposed:
            print(f'Warning: the chat page is open to anyone who can reach {settings.host}:{settings.port} and spends '
                  'your upstream credits; set APP_PASSWORD to require a password.', file=sys.stderr, flush=True)
        # The dispatcher sends the API's requests straight to their handlers, skipping the app's layers per chunk.
        uvicorn.run(Dispatcher(server, api_router), host=settings.host, port=settings.port, ws='wsproto',
                    access_log=False, log_level='warning')
