"""The one error type the app shows to people and programs, and secret redaction."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import JSONResponse


class ChatError(Exception):
    """A failure with a stable code, an HTTP status and a message safe to show anyone."""

    def __init__(self, code: str, message: str, status: int = 502, *, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, str]:
        """The `{"code", "message"}` object used in JSON error bodies and error lines."""
        return {'code': self.code, 'message': self.message}

    def to_response(self) -> JSONResponse:
        """The HTTP answer for this error: `{"error": {"code", "message"}}` with its status and headers."""
        headers = {'Retry-After': self.retry_after} if self.retry_after else {}
        if self.status == 401:
            headers['WWW-Authenticate'] = 'Bearer'
        return JSONResponse({'error': self.to_dict()}, status_code=self.status, headers=headers)


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret in text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, '[redacted]')
    return text
