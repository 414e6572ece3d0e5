"""DATABASE_URL handling: which async driver serves it, where a SQLite file lives, and a printable form."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from app.store.records import StoreError

# Each accepted scheme (backend, or backend+driver) and the async driver that serves it.
_ASYNC_DRIVERS = {
    'sqlite': 'sqlite+aiosqlite',
    'sqlite+aiosqlite': 'sqlite+aiosqlite',
    'postgresql': 'postgresql+asyncpg',
    'postgres': 'postgresql+asyncpg',  # the spelling some hosting providers hand out
    'postgresql+asyncpg': 'postgresql+asyncpg',
}
# user:password@ in a URL that did not even parse, so the fallback redaction still hides the password.
_CREDENTIALS = re.compile(r'(://[^:/@]*):[^@]*@')


def database_display(url: str) -> str:
    """The URL with its password replaced by ***, safe for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _CREDENTIALS.sub(r'\1:***@', url)


def async_url(url: str) -> URL:
    """The SQLAlchemy URL for `url` with its async driver; StoreError for a scheme the store cannot serve."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f'Cannot open database {database_display(url)}: not a database URL '
                         '(expected sqlite:///path/to/file.db or postgresql://user:password@host:port/name)') from None
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise StoreError(f'Cannot open database {database_display(url)}: unsupported scheme {parsed.drivername!r} '
                         '(use sqlite:/// or postgresql://)')
    if driver == 'sqlite+aiosqlite' and parsed.database in (None, '', ':memory:'):
        raise StoreError(f'Cannot open database {database_display(url)}: an in-memory SQLite database is not '
                         'supported (each connection would see its own); use a file, sqlite:///path/to/file.db')
    return parsed.set(drivername=driver)


def sqlite_file(url: URL) -> Path | None:
    """The file of a SQLite URL (relative to the working directory), None for PostgreSQL."""
    if url.get_backend_name() != 'sqlite' or not url.database:
        return None
    return Path(url.database)
