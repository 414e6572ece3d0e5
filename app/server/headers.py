"""Security headers for every response (the guarded protocol adds them) and cookie flags.

The chat page runs NiceGUI 3.18, which needs two loosenings of a strict policy (read from its source):
- `script-src 'unsafe-inline'`: its page template carries inline scripts (the import map, the Vue app with the
  page's elements) and has no nonce or hash hook.
- `script-src 'unsafe-eval'`: Vue compiles NiceGUI's component templates in the browser (`new Function`), and
  `run_javascript` and `js_handler` run through `eval`; the chat uses both (streaming text, Enter to send).
- `style-src 'unsafe-inline'`: inline `<style>` blocks and `style` attributes (Quasar, `addStyle`).
Everything else is closed: no plugins, no framing (clickjacking), no `<base>` from elsewhere, forms and connections
(socket.io included) only to this origin, images only from here (uploads) or data:/blob: (previews), so text a
model writes cannot load a remote image to leak a conversation.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CLOSED = "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
PAGE_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' data: blob:; "
            f"worker-src 'self' blob:; {_CLOSED}")
# Swagger UI (/docs) and ReDoc (/redoc), served from the app: an inline start-up script, no eval.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data:; worker-src 'self' blob:; {_CLOSED}")
# The API answers JSON and streams: nothing in it should ever run or load anything.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
_COMMON = ((b'x-content-type-options', b'nosniff'), (b'referrer-policy', b'same-origin'))
PAGE_HEADERS = ((b'content-security-policy', PAGE_CSP.encode()), *_COMMON)
DOCS_HEADERS = ((b'content-security-policy', DOCS_CSP.encode()), *_COMMON)
API_HEADERS = ((b'content-security-policy', API_CSP.encode()), *_COMMON)
_DOCS_PATHS = ('/docs', '/redoc')
_API_PREFIXES = ('/api/', '/v1/', '/demo/', '/openapi.json', '/healthz', '/readyz', '/metrics')


def headers_for(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The security headers of a response to `path`: the API's, the docs', or the pages'."""
    if path == '/api' or path.startswith(_API_PREFIXES):
        return API_HEADERS
    if path.startswith(_DOCS_PATHS):
        return DOCS_HEADERS
    return PAGE_HEADERS


class SecureCookies:
    """Pure-ASGI middleware: adds `Secure` to the cookies of responses to requests made over TLS.

    Over TLS means the request's scheme is https: served with TLS, or `X-Forwarded-Proto: https` from a peer in
    TRUSTED_PROXIES (uvicorn rewrites the scheme only for those). NiceGUI's session cookie is already `HttpOnly;
    SameSite=Lax` (Starlette's defaults); `Secure` cannot be fixed in advance when one server answers both.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http' or scope.get('scheme') != 'https':
            await self.app(scope, receive, send)
            return

        async def send_secure(message: Message) -> None:
            if message['type'] == 'http.response.start':
                message = {**message, 'headers': [
                    (name, secure_cookie(value) if name.lower() == b'set-cookie' else value)
                    for name, value in message.get('headers', ())]}
            await send(message)

        await self.app(scope, receive, send_secure)


def secure_cookie(value: bytes) -> bytes:
    """A Set-Cookie value with the `Secure` attribute (unchanged when it has it)."""
    attributes = {part.strip().lower() for part in value.split(b';')[1:]}
    return value if b'secure' in attributes else value + b'; secure'
