"""Who a page request belongs to: the browser (NiceGUI's signed browser id), or a trusted proxy's user header."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request

from ..config import Settings
from ..server.protocol import PEER


class Refused(Exception):
    """The request may not be served: the message says why, fit for the page."""


def person_key(request: Request, browser_id: str, settings: Settings) -> str:
    """The stable key of the person making `request`: `header:<value>` or `browser:<id>`.

    With TRUSTED_USER_HEADER set, the person is that header's value, honoured only from TRUSTED_PROXIES; a request
    from anywhere else, or from the proxy without the header, is refused rather than given a browser identity.
    """
    header = settings.trusted_user_header
    if header is None:
        return f'browser:{browser_id}'
    value = (request.headers.get(header) or '').strip()
    if not from_trusted_proxy(request, settings):
        raise Refused('This app accepts requests only through its sign-in proxy.')
    if not value:
        raise Refused('The sign-in proxy did not say who you are; sign in through it again.')
    return f'header:{value.lower()}'


def from_trusted_proxy(request: Request, settings: Settings) -> bool:
    """Whether the request's peer address (the connection's, not X-Forwarded-For's) is in TRUSTED_PROXIES."""
    peer = request.scope.get(PEER) or request.client  # PEER is set by the server's protocol (absent in tests' apps)
    host = peer[0] if peer else ''
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in settings.trusted_proxies)
