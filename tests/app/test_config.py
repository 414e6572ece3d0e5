"""Settings from the environment and .env, and start-up refusing bad values with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings
from tests.conftest import ROOT


def test_defaults_are_demo_mode() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.demo
    assert (settings.host, settings.port) == ('127.0.0.1', 8080)
    assert settings.upstream_url == 'http://127.0.0.1:8080/demo/v1'
    assert settings.models == ('demo',)


def test_env_file_is_read_and_real_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / '.env'
    env_file.write_text('OPENAI_API_KEY=sk-from-file\nOPENAI_MODEL=file-model\nPORT=9000\n')
    settings = load_settings({'OPENAI_MODEL': 'env-model'}, env_file=env_file)
    assert settings.api_key == 'sk-from-file'
    assert settings.model == 'env-model'
    assert settings.port == 9000
    assert not settings.demo


def test_base_url_alone_is_a_real_upstream() -> None:
    settings = load_settings({'OPENAI_BASE_URL': 'http://localhost:11434/v1/'}, env_file=None)
    assert not settings.demo
    assert settings.upstream_url == 'http://localhost:11434/v1'


def test_lists_are_comma_separated() -> None:
    settings = load_settings({'API_TOKENS': 'a, b,,c', 'ALLOWED_MODELS': 'm1,m2', 'OPENAI_MODEL': 'm1'}, env_file=None)
    assert settings.api_tokens == frozenset({'a', 'b', 'c'})
    assert settings.models == ('m1', 'm2')


def test_secrets_are_not_in_repr() -> None:
    settings = load_settings({'OPENAI_API_KEY': 'sk-very-secret', 'API_TOKENS': 'tok-secret',
                              'STORAGE_SECRET': 'store-secret'}, env_file=None)
    for secret in ('sk-very-secret', 'tok-secret', 'store-secret'):
        assert secret not in repr(settings)
        assert secret in settings.secrets


@pytest.mark.parametrize(('name', 'value', 'message'), [
    ('PORT', 'abc', "PORT must be a whole number, got 'abc'"),
    ('PORT', '70000', 'PORT must be between 1 and 65535, got 70000'),
    ('OPENAI_BASE_URL', 'localhost:11434', 'OPENAI_BASE_URL must be an http(s) URL'),
    ('OPENAI_BASE_URL', 'http://host:port/v1', 'OPENAI_BASE_URL has an invalid port'),
    ('UPSTREAM_TIMEOUT', 'soon', 'UPSTREAM_TIMEOUT must be a number of seconds'),
])
def test_bad_values_are_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace('(', r'\(').replace(')', r'\)')):
        load_settings({name: value}, env_file=None)


def test_bad_value_stops_startup_with_one_line() -> None:
    env = {**os.environ, 'PORT': 'abc'}
    env.pop('PYTEST_CURRENT_TEST', None)
    result = subprocess.run([sys.executable, 'main.py'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "Configuration error: PORT must be a whole number, got 'abc'"
    assert 'Traceback' not in result.stdout + result.stderr


@pytest.mark.parametrize(('value', 'shown'), [
    ('https://host.example:abc/v1?api-key=SECRET123', "invalid port: 'https://host.example:abc/v1' (query not shown)"),
    ('ftp://user:hunter2@host/v1', "URL such as http://localhost:11434/v1, got 'ftp://host/v1' (user info not shown)"),
    ('https://user:hunter2@host.example:abc/v1?api-key=SECRET123#SECRET123',
     "invalid port: 'https://host.example:abc/v1' (user info and query not shown)"),
    ('localhost:11434/v1?api-key=SECRET123', "got 'localhost:11434/v1' (query not shown)"),
    ('user:hunter2@localhost:11434/v1', "got 'localhost:11434/v1' (user info not shown)"),
])
def test_a_bad_url_is_named_without_its_user_info_or_query(value: str, shown: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({'OPENAI_BASE_URL': value}, env_file=None)
    message = str(caught.value)
    assert message.startswith('OPENAI_BASE_URL ')
    assert message.endswith(shown)
    assert 'hunter2' not in message
    assert 'SECRET123' not in message


def test_a_bad_url_stops_startup_without_showing_its_query() -> None:
    env = {**os.environ, 'OPENAI_BASE_URL': 'https://host.example:abc/v1?api-key=SECRET123'}
    env.pop('PYTEST_CURRENT_TEST', None)
    result = subprocess.run([sys.executable, 'main.py'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == ("Configuration error: OPENAI_BASE_URL has an invalid port: "
                                     "'https://host.example:abc/v1' (query not shown)")
    assert 'SECRET123' not in result.stdout + result.stderr


def test_exposed_means_real_model_beyond_localhost_without_password() -> None:
    real = {'OPENAI_API_KEY': 'sk-x'}
    assert not load_settings(real, env_file=None).exposed
    assert load_settings(real | {'HOST': '0.0.0.0'}, env_file=None).exposed
    assert not load_settings(real | {'HOST': '0.0.0.0', 'APP_PASSWORD': 'pw'}, env_file=None).exposed
    assert not load_settings({'HOST': '0.0.0.0'}, env_file=None).exposed  # demo mode spends nothing


def test_password_check_and_sign_in_tag() -> None:
    settings = load_settings({'APP_PASSWORD': 'pw', 'STORAGE_SECRET': 's'}, env_file=None)
    assert settings.password_ok('pw')
    assert not settings.password_ok('pw ')
    assert not load_settings({}, env_file=None).password_ok('')
    other = load_settings({'APP_PASSWORD': 'pw2', 'STORAGE_SECRET': 's'}, env_file=None)
    assert settings.sign_in_tag != other.sign_in_tag


def test_openai_model_goes_first_among_allowed_models() -> None:
    assert load_settings({'ALLOWED_MODELS': 'a,b,c', 'OPENAI_MODEL': 'b'}, env_file=None).models == ('b', 'a', 'c')
    assert load_settings({'ALLOWED_MODELS': 'a,b', 'OPENAI_MODEL': 'z'}, env_file=None).models == ('a', 'b')


def test_a_base_url_query_is_kept_apart_and_secret() -> None:
    settings = load_settings({'OPENAI_BASE_URL': 'https://res.example/openai/v1/?api-version=2024-06-01&api-key='
                                                 'SECRET123&tag=a&tag=b&v=1', 'OPENAI_API_KEY': ''}, env_file=None)
    assert settings.upstream_url == 'https://res.example/openai/v1'
    assert settings.upstream_query == {'api-version': '2024-06-01', 'api-key': 'SECRET123', 'tag': ['a', 'b'],
                                       'v': '1'}
    assert settings.upstream_display == 'https://res.example/openai/v1'
    assert {'SECRET123', '2024-06-01'} <= set(settings.secrets)
    assert not {'a', 'b', '1'} & set(settings.secrets)  # too short to be a credential; would garble every message
    assert 'SECRET123' not in repr(settings)
    assert load_settings({'OPENAI_BASE_URL': 'http://localhost:11434/v1'}, env_file=None).upstream_query == {}


def test_upstream_url_is_shown_without_credentials() -> None:
    settings = load_settings({'OPENAI_BASE_URL': 'https://user:hunter2@llm.example:8443/v1?api-key=sk-inurl'},
                             env_file=None)
    assert settings.upstream_display == 'https://llm.example:8443/v1'
    assert settings.base_url in settings.secrets  # so it is redacted from upstream error messages
    assert {'hunter2', 'sk-inurl'} <= set(settings.secrets)  # and its parts, wherever they show up alone
    assert settings.upstream_url == 'https://user:hunter2@llm.example:8443/v1'
    plain = load_settings({'OPENAI_BASE_URL': 'http://localhost:11434/v1'}, env_file=None)
    assert plain.upstream_display == 'http://localhost:11434/v1'
    assert plain.base_url not in plain.secrets
