"""The model server: the SDK client, the SSE reply parser, and the built-in demo model."""

from .client import Upstream
from .reply import Reply

__all__ = ['Reply', 'Upstream']
