"""Who an API request comes from: an admin token (API_TOKENS), a person's API key, or anyone, in demo mode."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request

from ..config import Settings
from ..errors import ChatError


@dataclass(frozen=True)
class Caller:
    """The authenticated sender of an API request."""

    # Stable and not secret: what limits, quotas and logs key on ('demo', 'admin:<12 hex>', 'key:<key id>').
    id: str
    # The person a personal API key belongs to (their users.id); None for admin tokens and the open demo API.
    owner_id: str | None = None
    # The personal API key's id, for its usage and last-used time; None otherwise.
    key_id: str | None = None


DEMO = Caller('demo')
# A presented bearer secret -> the caller of the personal API key it is, or None when it is none.
KeyLookup = Callable[[str], Awaitable[Caller | None]]


class Access:
    """Authenticates API requests against API_TOKENS (admin keys) and, with `lookup`, the people's own API keys."""

    def __init__(self, settings: Settings, lookup: KeyLookup | None = None) -> None:
        self.settings = settings
        self.lookup = lookup

    async def caller(self, request: Request) -> Caller:
        """The caller of `request`, or ChatError 401 (`unauthorized`) / 403 (`api_disabled`).

        A presented admin token or live personal key is always recognised (so in demo mode a key's owner is known).
        Without one: demo mode with no API_TOKENS is open to anyone (the demo model costs nothing); otherwise 401,
        or 403 when nothing could ever authenticate (a real model, no API_TOKENS and no personal keys).
        """
        scheme, _, token = (request.headers.get('authorization') or '').partition(' ')
        token = token.strip()
        if scheme.lower() == 'bearer' and token:
            caller = self._admin(token) or (await self.lookup(token) if self.lookup else None)
            if caller is not None:
                return caller
        if self.settings.demo and not self.settings.api_tokens:
            return DEMO
        if self.lookup is None and not self.settings.api_tokens:
            raise ChatError('api_disabled', 'The API is disabled because a real model is configured and no '
                            'API_TOKENS are set. Set API_TOKENS=token1,token2 on the server and send '
                            '"Authorization: Bearer <token>".', 403)
        # Never echoes what was sent: a mistyped key is still most of a key.
        raise ChatError('unauthorized', 'Missing, unknown or revoked API key: send "Authorization: Bearer <key>" '
                        'with a personal API key (chat page: More menu, API keys) or a token from the server\'s '
                        'API_TOKENS.', 401)

    def _admin(self, token: str) -> Caller | None:
        # Compare against every token in constant time, so timing does not reveal how much of a token matched.
        matched = [known for known in self.settings.api_tokens if hmac.compare_digest(token.encode(), known.encode())]
        if not matched:
            return None
        return Caller('admin:' + hashlib.sha256(token.encode()).hexdigest()[:12])
