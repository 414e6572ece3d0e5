"""NiceGUI's own storage in Redis when REDIS_URL is set: imported by main.py before NiceGUI itself.

NiceGUI reads `NICEGUI_REDIS_URL` once, when it is imported (`nicegui/storage.py`, the `Storage.redis_url` class
attribute; `nicegui/nicegui.py` builds the general storage right then), so setting it any later would leave the
storage in local files, one set per instance. With it, each browser's `app.storage.user` (sign-in, theme, chat
defaults) and each tab's storage live in Redis, shared by every instance behind the proxy.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

from ..config import ConfigError, load_settings


def export_redis_url(environ: MutableMapping[str, str]) -> None:
    """Set NICEGUI_REDIS_URL from REDIS_URL (environment or .env); a bad configuration is left for main to report."""
    try:
        settings = load_settings(environ)
    except ConfigError:
        return  # main.py loads the settings again and stops with the one-line message
    if settings.redis_url:
        environ['NICEGUI_REDIS_URL'] = settings.redis_url


export_redis_url(os.environ)
