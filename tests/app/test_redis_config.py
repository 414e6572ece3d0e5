"""REDIS_URL: checked like the other settings, handed to NiceGUI's storage, refused without an explicit secret."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from app.config import ConfigError, load_settings
from app.web.shared_storage import export_redis_url
from tests.conftest import ROOT, free_port

SECRET = {'STORAGE_SECRET': 'shared-by-every-instance'}


def test_redis_url_is_kept_with_its_password_secret() -> None:
    settings = load_settings({'REDIS_URL': 'redis://:redis-PASSWORD-9@cache:6379/2', 'METRICS_TOKEN': 'metrics-TOK',
                              **SECRET}, env_file=None)
    assert settings.redis_url == 'redis://:redis-PASSWORD-9@cache:6379/2'
    assert {'redis-PASSWORD-9', 'metrics-TOK'} <= set(settings.secrets)
    assert 'redis-PASSWORD-9' not in repr(settings) and 'metrics-TOK' not in repr(settings)
    assert load_settings({}, env_file=None).redis_url == ''


def test_redis_without_an_explicit_storage_secret_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({'REDIS_URL': 'redis://127.0.0.1:6379/0'}, env_file=None)
    assert str(caught.value) == 'REDIS_URL needs STORAGE_SECRET: set the same explicit secret on every instance'


@pytest.mark.parametrize('value', ['http://user:hunter2@cache:6379', 'cache:6379', 'redis://:hunter2@cache:port/0'])
def test_a_bad_redis_url_is_named_without_its_password(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({'REDIS_URL': value, **SECRET}, env_file=None)
    assert str(caught.value).startswith('REDIS_URL ') and 'hunter2' not in str(caught.value)


def test_nicegui_is_given_the_redis_url_only_for_a_valid_setup() -> None:
    environ = {'REDIS_URL': 'redis://127.0.0.1:6379/3', **SECRET}
    export_redis_url(environ)
    assert environ['NICEGUI_REDIS_URL'] == 'redis://127.0.0.1:6379/3'
    refused = {'REDIS_URL': 'redis://127.0.0.1:6379/3'}  # no secret: main stops with its message instead
    export_redis_url(refused)
    assert 'NICEGUI_REDIS_URL' not in refused
    plain: dict[str, str] = {}
    export_redis_url(plain)
    assert plain == {}


def test_start_up_refuses_redis_without_a_storage_secret_in_one_line(tmp_path: str) -> None:
    env = {**os.environ, 'REDIS_URL': 'redis://:redis-PASSWORD-9@127.0.0.1:6379/0', 'STORAGE_SECRET': '',
           'DATA_DIR': str(tmp_path), 'PORT': str(free_port())}
    env.pop('PYTEST_CURRENT_TEST', None)
    result = subprocess.run([sys.executable, 'main.py'], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == ('Configuration error: REDIS_URL needs STORAGE_SECRET: set the same explicit '
                                     'secret on every instance')
    assert 'redis-PASSWORD-9' not in result.stdout + result.stderr
