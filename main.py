"""Wiring: settings, the database, the upstream client, the pages and the API routes; then serve."""

from app.web import shared_storage  # noqa: F401  # first: NiceGUI reads NICEGUI_REDIS_URL when it is imported

# isort: split
import asyncio
import dataclasses
import logging
import os
import sys

import uvicorn
from fastapi_offline import FastAPIOffline
from nicegui import app as nicegui_app
from nicegui import background_tasks, helpers, ui

from app.api import interop, shutdown
from app.api import routes as api
from app.api.access import Access
from app.api.dispatcher import Dispatcher
from app.api.keys import PersonalKeys
from app.api.metering import Metering
from app.api.usage import Usage
from app.api.validation import check_settings
from app.chat.chats import Chats
from app.config import ConfigError, load_settings, stable_secret
from app.limits import Limits
from app.live.hub import Live
from app.ops import metrics, readiness
from app.ops import routes as ops
from app.ops.collector import Collector
from app.server.headers import SecureCookies
from app.server.protocol import guarded_protocol
from app.store import Store, StoreError, open_store
from app.upstream import Upstream, demo
from app.web import pages, signatures, socket_frames, socket_path, teardown
from components.loop_load import loop_load

try:
    settings = load_settings()
except ConfigError as error:
    sys.exit(f'Configuration error: {error}')
if not settings.storage_secret_set:  # a secret that changed on restart would give every browser a new identity
    settings = dataclasses.replace(settings, storage_secret=stable_secret(settings.data_dir))

socket_path.install()  # a shorter path per message to the tabs (app/web/socket_path.py)
signatures.install()  # NiceGUI's handler signature check, cached (app/web/signatures.py)
teardown.install()  # a removed element's cycles cut, so a closed tab goes by reference counting (app/web/teardown.py)
upstream = Upstream(settings)
limits = Limits(settings)  # rate limits, token quotas, concurrent streams (in Redis when REDIS_URL is set)
usage = Usage()  # where each finished API reply's completion tokens go
usage.subscribe(limits.count_tokens)  # API_TOKEN_QUOTA
chats = Chats(upstream, model=settings.models[0], models=settings.models, system_prompt=settings.default_system_prompt,
              check_settings=lambda **chosen: check_settings(chosen, settings), where=settings.upstream_display,
              spawn=background_tasks.create, images_root=f'{settings.data_dir}/images',
              max_image_bytes=settings.max_image_bytes, limits=limits,
              shared=Live(settings.redis_url) if settings.redis_url else None,  # REDIS_URL: replies across instances
              batch_gap=loop_load.max_age)  # one Redis flush per batch the page sends (app/chat/relay.py)


async def start_chats() -> None:
    """Open the database (migrating it) and start the chat runtime."""
    await chats.open_and_start(lambda: open_store(settings.database))


async def stop_chats() -> None:
    """Save every reply in flight as interrupted, then close the database and the upstream connections."""
    await chats.shutdown()
    await upstream.aclose()
    await limits.aclose()


async def opened_store() -> Store:
    """The store, once start-up has opened it (an API request can arrive first)."""
    await chats.ready()
    return chats.store


nicegui_app.on_startup(start_chats)
nicegui_app.on_shutdown(stop_chats)
pages.register(chats, settings)

# The API lives on a parent app, outside NiceGUI's per-route middlewares (gzip would buffer the stream).
server = FastAPIOffline(title='NiceChat', summary='Chat with OpenAI-compatible models; raw NDJSON streaming API.')
personal_keys = PersonalKeys(opened_store)
access = Access(settings, lookup=personal_keys.caller)  # who an API request is from: admin token or personal key
usage.subscribe(personal_keys.count)  # a personal key's counters
metering = Metering(limits, usage)  # admits each API reply, then records its tokens in `usage`
# With `chats`: the conversation routes, and conversation_id / X-Conversation-Id on the chat routes.
api_router = api.create_router(settings, upstream, access, chats=chats, metering=metering)
interop.add_routes(api_router, settings, upstream, access, chats=chats, metering=metering)  # /v1 and /api/ui-chat
# /healthz, /readyz and /metrics: served by the dispatcher too, so probes and scrapes skip NiceGUI's middlewares.
ready = readiness.Readiness(lambda: ping_database(), settings.redis_url)
ops.add_routes(api_router, settings, ready)
nicegui_app.on_startup(metrics.watch_event_loop)
nicegui_app.on_shutdown(ready.aclose)
server.include_router(api_router)
server.add_middleware(SecureCookies)  # over TLS (or from a trusted TLS proxy); CSP etc. come from the protocol
if settings.demo:
    server.include_router(demo.create_router(settings.demo_token_delay, settings.max_request_bytes))


async def ping_database() -> None:
    """Raise unless the chat runtime has started and its database answers (the readiness probe)."""
    await (await opened_store()).ping()


async def check_database() -> None:
    """Open (and migrate) the database once before serving, so a bad DATABASE_URL stops start-up with one line."""
    store = await open_store(settings.database)
    await store.close()


# NiceGUI keeps an (empty, here unused) tab storage for every tab ever opened until it is this old: 30 days by default,
# ~0.7 KB per tab opened (bench.soak). The app keeps nothing per tab, so an hour bounds it to the last hour's tabs.
nicegui_app.storage.max_tab_storage_age = 3600

if helpers.is_user_simulation():  # NiceGUI's `user` test fixture drives its own app in-process
    ui.run(title='NiceChat', storage_secret=settings.storage_secret, language='en-US')
else:
    ui.run_with(server, title='NiceChat', storage_secret=settings.storage_secret, language='en-US')
    if __name__ == '__main__':
        # Our own loggers (app.*) need a handler too; without one Python prints bare messages with no level.
        logging.basicConfig(level=logging.WARNING, format='%(levelname)s:     %(name)s: %(message)s')
        try:
            asyncio.run(check_database())
        except StoreError as error:
            sys.exit(f'Database error: {error}')
        mode = 'demo mode' if settings.demo else f'model {settings.models[0]} at {settings.upstream_display}'
        print(f'NiceChat on http://{settings.host}:{settings.port} ({mode})', flush=True)
        if settings.exposed:
            print(f'Warning: the chat page is open to anyone who can reach {settings.host}:{settings.port} and spends '
                  'your upstream credits; set APP_PASSWORD to require a password.', file=sys.stderr, flush=True)
        # What is built by now lives as long as the process: kept out of the collector's full passes, each of which
        # walked ~350,000 objects (~100 ms, a stall for every stream) every few seconds under streaming load; and
        # so are the survivors of each full pass from now on (the tabs' objects), with a reclaim every few minutes.
        collector = Collector(busy=lambda: limits.streams.used() > 0)  # reclaims wait for no reply streaming
        collector.install()
        nicegui_app.on_startup(collector.start)
        nicegui_app.on_shutdown(collector.stop)
        # The dispatcher sends the API's requests straight to their handlers, skipping the app's layers per chunk.
        # The guarded protocol adds header/body deadlines and a lingering close (a 413 reaches every client);
        # X-Forwarded-Proto/-For are believed only from TRUSTED_PROXIES, unless uvicorn's own FORWARDED_ALLOW_IPS is
        # set (deploy/compose.yaml sets it to * for instances only nginx can reach); None lets uvicorn read it.
        # On SIGTERM the server ends the API's open streams with a last error line first (app/api/shutdown.py).
        # The front notes each websocket's protocol, for the tabs' frames to go straight to it (socket_frames.py).
        config = uvicorn.Config(socket_frames.front(Dispatcher(server, api_router)), ws='wsproto',
                                host=settings.host, port=settings.port, access_log=False, log_level='warning',
                                http=guarded_protocol(settings.header_timeout, settings.body_timeout),
                                forwarded_allow_ips=None if 'FORWARDED_ALLOW_IPS' in os.environ
                                else list(settings.trusted_proxies),
                                timeout_graceful_shutdown=shutdown.GRACE)
        shutdown.Server(config).run()
