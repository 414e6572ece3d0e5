"""Rate limits, token quotas and caps on concurrent streams, for the API's callers and the page's people.

Counted with the `limits` library in memory, or in Redis when REDIS_URL is set (so instances share them); the caps
on concurrent streams are per process (`Slots`). No NiceGUI and no HTTP here: the routes and the chat runtime ask.
"""

from .gate import Limits
from .slots import Lease

__all__ = ['Lease', 'Limits']
