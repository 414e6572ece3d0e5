"""Settings: one immutable object built from the environment and an optional `.env` file."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import limits
from dotenv import dotenv_values

DEFAULT_MODEL = 'gpt-4o-mini'
DEMO_MODEL = 'demo'
# Default cap on a request body: big enough for long multi-turn histories, small enough to refuse abuse.
DEFAULT_MAX_REQUEST_BYTES = 1_000_000
# Default cap on max_tokens a client may ask for.
DEFAULT_MAX_TOKENS_LIMIT = 32_768
# Seconds the upstream may stay silent (before its answer, or between two chunks) before the request fails.
DEFAULT_UPSTREAM_TIMEOUT = 60.0
# While no token has arrived, an API stream sends a ping line this often, so proxies do not cut an idle
# connection (nginx's default proxy_read_timeout is 60 s; 15 s leaves room for stricter ones).
DEFAULT_PING_INTERVAL = 15.0
# Largest image a person may attach to a prompt (PNG, JPEG, WebP, GIF).
DEFAULT_MAX_IMAGE_BYTES = 5_000_000
# Folder for the SQLite database and the generated storage secret (git-ignored).
DEFAULT_DATA_DIR = 'data'
# Addresses a TRUSTED_USER_HEADER is honoured from: a proxy on this machine.
DEFAULT_TRUSTED_PROXIES = ('127.0.0.1/32', '::1/128')
# Seconds a client may take to send a request's headers, and its body (from the headers to the body's end):
# generous for a person on a slow link, short enough that a client trickling bytes cannot hold a connection.
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 60.0
# Pause between two demo-model tokens: about the pace of a hosted model.
DEFAULT_DEMO_TOKEN_DELAY = 0.02
# Shortest query value or password of OPENAI_BASE_URL treated as a secret: shorter ones (`v=1`, `beta=on`) are flags,
# not credentials, and redacting them everywhere would garble every message (a `1` hides every digit).
MIN_URL_SECRET_CHARS = 4
# Concurrent upstream streams of one process (page and API together) when MAX_STREAMS is not set: twice the 500 API
# streams the load bench holds on one process, so it refuses only far past what a process was measured to serve.
DEFAULT_MAX_STREAMS = 1000


class ConfigError(ValueError):
    """A setting has a value the app cannot start with; the message is one line, fit for a terminal."""


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = field(default=None, repr=False)  # its query or user info can carry a credential
    model: str = DEFAULT_MODEL
    host: str = '127.0.0.1'
    port: int = 8080
    storage_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    api_tokens: frozenset[str] = field(default=frozenset(), repr=False)
    app_password: str | None = field(default=None, repr=False)
    allowed_models: tuple[str, ...] = ()
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_tokens_limit: int = DEFAULT_MAX_TOKENS_LIMIT
    upstream_timeout: float = DEFAULT_UPSTREAM_TIMEOUT
    upstream_retries: int = 2
    demo_token_delay: float = DEFAULT_DEMO_TOKEN_DELAY
    ping_interval: float = DEFAULT_PING_INTERVAL
    data_dir: str = DEFAULT_DATA_DIR
    default_system_prompt: str | None = None
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    database_url: str = ''  # empty: the SQLite file in data_dir
    storage_secret_set: bool = False  # STORAGE_SECRET was given; otherwise main keeps one in data_dir
    trusted_user_header: str | None = None
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    # Limits and quotas (app/limits): rates as the `limits` library writes them ('60/minute'); None is no limit.
    api_rate_limit: str | None = None  # requests per API caller
    api_token_quota: str | None = None  # completion tokens per API caller ('100000/day')
    api_max_streams: int | None = None  # concurrent replies per API caller
    chat_rate_limit: str | None = None  # messages per person on the page
    max_streams: int | None = DEFAULT_MAX_STREAMS  # concurrent upstream streams of the process
    redis_url: str = field(default='', repr=False)  # empty: no Redis; its password must not show
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def database(self) -> str:
        """The database URL: DATABASE_URL, or a SQLite file in the data folder."""
        return self.database_url or f'sqlite:///{self.data_dir}/nicechat.db'

    @property
    def demo(self) -> bool:
        """True when no real model is configured: replies come from the built-in demo model."""
        return self.api_key is None and self.base_url is None

    @property
    def any_model(self) -> bool:
        """ALLOWED_MODELS=*: any model the upstream serves (the page lists them from its GET /models)."""
        return self.allowed_models == ('*',)

    @property
    def models(self) -> tuple[str, ...]:
        """Models a client may pick; the first is the default (OPENAI_MODEL when it is among them)."""
        return self.allowed_models if self.allowed_models and not self.any_model else (self.model,)

    @property
    def exposed(self) -> bool:
        """True when the app listens beyond this machine with a real model and no page password."""
        return self.host not in {'127.0.0.1', 'localhost', '::1'} and not self.demo and not self.app_password

    def password_ok(self, attempt: str) -> bool:
        """Whether `attempt` is the page password (compared in constant time)."""
        return self.app_password is not None and hmac.compare_digest(attempt.encode(), self.app_password.encode())

    @property
    def sign_in_tag(self) -> str:
        """What a signed-in browser stores; changes with the password, so changing it signs everyone out."""
        return hashlib.sha256(f'{self.storage_secret}\0{self.app_password}'.encode()).hexdigest()[:32]

    @property
    def upstream_url(self) -> str:
        """Base URL the SDK talks to, without its query (see upstream_query): the configured server, or the demo."""
        if self.base_url:
            return urlunsplit(urlsplit(self.base_url)._replace(query='', fragment='')).rstrip('/')
        host = '127.0.0.1' if self.host in {'', '0.0.0.0', '::'} else self.host
        if ':' in host:
            host = f'[{host}]'
        return f'http://{host}:{self.port}/demo/v1'

    @property
    def upstream_query(self) -> dict[str, str | list[str]]:
        """The base URL's query (such as Azure's `?api-version=…`), sent with every upstream request."""
        query = parse_qs(urlsplit(self.base_url or '').query, keep_blank_values=True)
        return {name: values[0] if len(values) == 1 else values for name, values in query.items()}

    @property
    def upstream_display(self) -> str:
        """The upstream URL fit for a log line: no user, password or query (they can carry credentials)."""
        parts = urlsplit(self.upstream_url)
        host = parts.hostname or ''
        if ':' in host:
            host = f'[{host}]'
        return f'{parts.scheme}://{host}' + (f':{parts.port}' if parts.port else '') + parts.path

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never appear in any output."""
        in_url: list[str] = []
        if self.base_url and self.upstream_display != self.base_url:
            parts = urlsplit(self.base_url)
            in_url = [self.base_url, parts.password or '']  # and every query value, in case one shows up alone
            in_url += (value for values in parse_qs(parts.query).values() for value in values)
            in_url = [value for value in in_url if len(value) >= MIN_URL_SECRET_CHARS]
        if self.database_url and (password := urlsplit(self.database_url).password):
            in_url.append(password)
        if self.redis_url and (password := urlsplit(self.redis_url).password):
            in_url.append(password)
        return tuple(s for s in (self.api_key, self.storage_secret, self.app_password, *in_url, *self.api_tokens,
                                 self.metrics_token) if s)


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = '.env') -> Settings:
    """Build settings from `environ` (default: os.environ) over the values in `env_file`; real environment wins."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    def get(name: str) -> str | None:
        value = values.get(name, '').strip()
        return value or None

    model = get('OPENAI_MODEL') or (DEMO_MODEL if get('OPENAI_API_KEY') is None and get('OPENAI_BASE_URL') is None
                                    else DEFAULT_MODEL)
    allowed = _split(get('ALLOWED_MODELS'))
    if model in allowed:  # OPENAI_MODEL, when allowed, is the default everywhere: it goes first
        allowed.insert(0, allowed.pop(allowed.index(model)))
    kwargs: dict[str, object] = {
        'api_key': get('OPENAI_API_KEY'),
        'base_url': _url('OPENAI_BASE_URL', get('OPENAI_BASE_URL')),
        'model': model,
        'host': get('HOST') or '127.0.0.1',
        'port': _int('PORT', get('PORT'), 8080, 1, 65535),
        'api_tokens': frozenset(_split(get('API_TOKENS'))),
        'app_password': get('APP_PASSWORD'),
        'allowed_models': tuple(allowed) if allowed else (),
        'max_request_bytes': _int('MAX_REQUEST_BYTES', get('MAX_REQUEST_BYTES'), DEFAULT_MAX_REQUEST_BYTES, 1, 2**31),
        'max_tokens_limit': _int('MAX_TOKENS_LIMIT', get('MAX_TOKENS_LIMIT'), DEFAULT_MAX_TOKENS_LIMIT, 1, 2**31),
        'upstream_timeout': _float('UPSTREAM_TIMEOUT', get('UPSTREAM_TIMEOUT'), DEFAULT_UPSTREAM_TIMEOUT),
        'upstream_retries': _int('UPSTREAM_RETRIES', get('UPSTREAM_RETRIES'), 2, 0, 10),
        'demo_token_delay': _float('DEMO_TOKEN_DELAY', get('DEMO_TOKEN_DELAY'), DEFAULT_DEMO_TOKEN_DELAY, low=0.0),
        'ping_interval': _float('PING_INTERVAL', get('PING_INTERVAL'), DEFAULT_PING_INTERVAL, low=0.05),
    }
    if secret := get('STORAGE_SECRET'):
        kwargs['storage_secret'], kwargs['storage_secret_set'] = secret, True
    kwargs['data_dir'] = get('DATA_DIR') or DEFAULT_DATA_DIR
    kwargs['default_system_prompt'] = get('DEFAULT_SYSTEM_PROMPT')
    kwargs['max_image_bytes'] = _int('MAX_IMAGE_BYTES', get('MAX_IMAGE_BYTES'), DEFAULT_MAX_IMAGE_BYTES, 1, 2**31)
    kwargs['database_url'] = _database_url(get('DATABASE_URL'))
    kwargs['trusted_user_header'] = get('TRUSTED_USER_HEADER')
    kwargs['trusted_proxies'] = _networks('TRUSTED_PROXIES', get('TRUSTED_PROXIES'))
    kwargs['header_timeout'] = _float('HEADER_TIMEOUT', get('HEADER_TIMEOUT'), DEFAULT_HEADER_TIMEOUT, low=0.1)
    kwargs['body_timeout'] = _float('BODY_TIMEOUT', get('BODY_TIMEOUT'), DEFAULT_BODY_TIMEOUT, low=0.1)
    kwargs.update(_limit_settings(get))
    kwargs['redis_url'] = _redis_url(get('REDIS_URL'))
    if kwargs['redis_url'] and not kwargs.get('storage_secret_set'):
        # Each instance would keep its own generated secret, and a browser's cookie from one would not open another.
        raise ConfigError('REDIS_URL needs STORAGE_SECRET: set the same explicit secret on every instance')
    kwargs['metrics_token'] = get('METRICS_TOKEN')
    return Settings(**kwargs)  # type: ignore[arg-type]


def _limit_settings(get: Callable[[str], str | None]) -> dict[str, object]:
    """The limits and quotas (see the README's "Limits and quotas"); unset is no limit, MAX_STREAMS=0 too."""
    quota = get('API_TOKEN_QUOTA')
    if quota is not None and quota.isdigit():
        quota += '/day'  # a bare number is tokens per day
    api_streams = get('API_MAX_STREAMS')
    max_streams = _int('MAX_STREAMS', get('MAX_STREAMS'), DEFAULT_MAX_STREAMS, 0, 2**31)
    return {
        'api_rate_limit': _rate('API_RATE_LIMIT', get('API_RATE_LIMIT'), 'requests', '60/minute'),
        'api_token_quota': _rate('API_TOKEN_QUOTA', quota, 'tokens', '100000 (a day) or 5000/hour'),
        'api_max_streams': None if api_streams is None else _int('API_MAX_STREAMS', api_streams, 1, 1, 2**31),
        'chat_rate_limit': _rate('CHAT_RATE_LIMIT', get('CHAT_RATE_LIMIT'), 'messages', '20/minute'),
        'max_streams': max_streams or None,
    }


def _rate(name: str, value: str | None, what: str, example: str) -> str | None:
    """A rate such as '60/minute' or '10 per 2 seconds', checked by the `limits` library that will enforce it."""
    if value is None:
        return None
    try:
        rates = limits.parse_many(value)
    except ValueError:
        rates = []
    if len(rates) != 1:
        raise ConfigError(f'{name} must be a number of {what} per period, such as {example}, got {value!r}')
    if rates[0].amount < 1:
        raise ConfigError(f'{name} must allow at least 1 (leave it unset for no limit), got {value!r}')
    return value


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or '').split(',') if part.strip()]


def _int(name: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(f'{name} must be a whole number, got {value!r}') from None
    if not low <= number <= high:
        raise ConfigError(f'{name} must be between {low} and {high}, got {number}')
    return number


def _float(name: str, value: str | None, default: float, *, low: float = 0.001) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f'{name} must be a number of seconds, got {value!r}') from None
    if not low <= number <= 3600:
        raise ConfigError(f'{name} must be between {low} and 3600 seconds, got {number}')
    return number


def _url(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {'http', 'https'} or not parts.hostname:
        raise ConfigError(f'{name} must be an http(s) URL such as http://localhost:11434/v1, got {_shown(value)}')
    try:
        parts.port  # noqa: B018  # raises on a malformed port
    except ValueError:
        raise ConfigError(f'{name} has an invalid port: {_shown(value)}') from None
    return value.rstrip('/')


def _database_url(value: str | None) -> str:
    if value is None:
        return ''
    scheme = value.split(':', 1)[0].split('+', 1)[0]
    if scheme not in {'sqlite', 'postgresql', 'postgres'}:
        raise ConfigError(f'DATABASE_URL must start with sqlite:/// or postgresql://, got a {scheme or "bare"} URL')
    return value


def _redis_url(value: str | None) -> str:
    if value is None:
        return ''
    parts = urlsplit(value)
    if parts.scheme not in {'redis', 'rediss', 'unix'} or not (parts.hostname or parts.path):
        raise ConfigError(f'REDIS_URL must be a redis:// (or rediss://, unix://) URL, got {_shown(value)}')
    try:
        parts.port  # noqa: B018  # raises on a malformed port
    except ValueError:
        raise ConfigError(f'REDIS_URL has an invalid port: {_shown(value)}') from None
    return value


def _networks(name: str, value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_TRUSTED_PROXIES
    networks = []
    for part in _split(value):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise ConfigError(f'{name} must be comma-separated IP addresses or networks, got {part!r}') from None
    return tuple(networks)


def stable_secret(data_dir: str | Path) -> str:
    """The storage secret kept in the data folder, made on first start, so browser identities survive restarts."""
    path = Path(data_dir) / 'storage-secret'
    if path.is_file() and (secret := path.read_text().strip()):
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret


def _shown(url: str) -> str:
    """A URL fit for an error message: without its user info, query and fragment, which can carry credentials."""
    head, query_mark, _ = url.partition('?')
    head, fragment_mark, _ = head.partition('#')
    scheme, separator, rest = head.partition('://')
    if not separator:
        scheme, rest = '', head
    user_info, at, rest = rest.rpartition('@')  # all up to the last `@`: a password may hold one
    hidden = []
    if user_info or at:
        hidden.append('user info')
    if query_mark or fragment_mark:
        hidden.append('query')
    return repr(scheme + separator + rest) + (f' ({" and ".join(hidden)} not shown)' if hidden else '')
