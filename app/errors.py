"""The one error type the app shows to people and programs, and secret redaction."""

from __future__ import annotations

from collections.abc import Iterable


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


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret in text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, '[redacted]')
    return text
