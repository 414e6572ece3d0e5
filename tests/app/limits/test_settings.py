"""The limit settings: read from the environment, unset means no limit (MAX_STREAMS has a default), a bad value is
refused with a message naming it (main.py prints it as its one line, as tests/app/test_config.py checks), each is
documented, and a Redis password is a secret like the others."""

from __future__ import annotations

import pytest

from app.config import ConfigError, load_settings
from tests.conftest import ROOT


def test_limits_are_read_and_unset_means_none() -> None:
    unset = load_settings({}, env_file=None)
    assert (unset.api_rate_limit, unset.api_token_quota, unset.api_max_streams, unset.chat_rate_limit,
            unset.redis_url) == (None, None, None, None, '')
    assert unset.max_streams == 1000
    settings = load_settings({'API_RATE_LIMIT': '60/minute', 'API_TOKEN_QUOTA': '100000', 'API_MAX_STREAMS': '4',
                              'CHAT_RATE_LIMIT': '20 per minute', 'MAX_STREAMS': '0',
                              'REDIS_URL': 'redis://localhost:6379/2', 'STORAGE_SECRET': 's'}, env_file=None)
    assert (settings.api_rate_limit, settings.api_token_quota, settings.api_max_streams, settings.chat_rate_limit,
            settings.max_streams) == ('60/minute', '100000/day', 4, '20 per minute', None)
    assert load_settings({'API_TOKEN_QUOTA': '5000/hour'}, env_file=None).api_token_quota == '5000/hour'


@pytest.mark.parametrize(('name', 'value', 'message'), [
    ('API_RATE_LIMIT', 'abc', "API_RATE_LIMIT must be a number of requests per period, such as 60/minute, got 'abc'"),
    ('API_RATE_LIMIT', '10/second;100/minute', 'API_RATE_LIMIT must be a number of requests per period'),
    ('CHAT_RATE_LIMIT', '20/fortnight', 'CHAT_RATE_LIMIT must be a number of messages per period'),
    ('CHAT_RATE_LIMIT', '0/minute', "CHAT_RATE_LIMIT must allow at least 1 (leave it unset for no limit), got"),
    ('API_TOKEN_QUOTA', '-5', 'API_TOKEN_QUOTA must be a number of tokens per period, such as 100000 (a day)'),
    ('API_TOKEN_QUOTA', 'lots', 'API_TOKEN_QUOTA must be a number of tokens per period'),
    ('API_MAX_STREAMS', '0', 'API_MAX_STREAMS must be between 1 and'),
    ('API_MAX_STREAMS', 'two', "API_MAX_STREAMS must be a whole number, got 'two'"),
    ('MAX_STREAMS', '-1', 'MAX_STREAMS must be between 0 and'),
    ('REDIS_URL', 'http://:pw-Secret1@cache:6379', "REDIS_URL must be a redis:// (or rediss://, unix://) URL, got "
                                                   "'http://cache:6379' (user info not shown)"),
])
def test_a_bad_limit_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({name: value}, env_file=None)
    assert str(error.value).startswith(message)
    assert 'pw-Secret1' not in str(error.value)


def test_the_redis_password_is_a_secret_and_not_in_repr() -> None:
    settings = load_settings({'REDIS_URL': 'redis://:pw-Secret1@cache:6379/0', 'STORAGE_SECRET': 's'}, env_file=None)
    assert 'pw-Secret1' in settings.secrets
    assert 'pw-Secret1' not in repr(settings)


@pytest.mark.parametrize('name', ['API_RATE_LIMIT', 'API_TOKEN_QUOTA', 'API_MAX_STREAMS', 'CHAT_RATE_LIMIT',
                                  'MAX_STREAMS', 'REDIS_URL'])
def test_each_limit_is_documented(name: str) -> None:
    assert f'| `{name}` |' in (ROOT / 'README.md').read_text()
    assert f'# {name}=' in (ROOT / '.env.example').read_text()
