"""deploy/compose.yaml read with PyYAML (no container engine in CI) and checked against the app's own settings,
deploy/nginx.conf and the Dockerfile."""

from __future__ import annotations

import re
import runpy
import tomllib
from importlib.metadata import distribution
from typing import Any
from urllib.parse import urlsplit

import yaml
from packaging.requirements import Requirement

from app.config import load_settings
from tests.conftest import ROOT

DEPLOY = ROOT / 'deploy'
# Variables the instances get that are not the app's own settings: uvicorn's trusted proxy addresses.
OTHER_VARIABLES = {'FORWARDED_ALLOW_IPS'}
_INTERPOLATION = re.compile(r'\$\{(\w+)(?::([?-])([^}]*))?\}')


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((DEPLOY / 'compose.yaml').read_text())
    assert isinstance(loaded, dict)
    return loaded


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}` and `${NAME:?error}` (which fails when NAME is unset or empty)."""
    def one(match: re.Match[str]) -> str:
        name, kind, text = match.groups()
        if variables.get(name):
            return variables[name]
        assert kind != '?', f'{name} is required: {text}'
        return text if kind == '-' else ''
    return _INTERPOLATION.sub(one, value)


def app_environment(service: dict[str, Any], variables: dict[str, str]) -> dict[str, str]:
    return {name: interpolate(str(value), variables) for name, value in service['environment'].items()}


def test_services_and_what_each_instance_needs() -> None:
    services = compose()['services']
    assert set(services) == {'postgres', 'redis', 'app1', 'app2', 'nginx'}
    apps = {name: services[name] for name in ('app1', 'app2')}
    assert apps['app1']['environment'] == apps['app2']['environment']  # one secret, one database, one Redis
    assert all(app['volumes'] == ['data:/data'] for app in apps.values())  # images attached on one, served by both
    assert all('ports' not in app for app in apps.values())  # reached only through nginx
    assert apps['app2']['depends_on']['app1'] == {'condition': 'service_healthy'}  # migrations run once, first
    for dependency in ('postgres', 'redis'):
        assert all(app['depends_on'][dependency] == {'condition': 'service_healthy'} for app in apps.values())
        assert 'healthcheck' in services[dependency]


def test_the_instances_environment_is_a_valid_scaled_out_configuration() -> None:
    services = compose()['services']
    variables = {'POSTGRES_PASSWORD': 'pg-secret', 'STORAGE_SECRET': 'shared-secret'}
    environment = app_environment(services['app1'], variables)
    config_source = (ROOT / 'app' / 'config.py').read_text()
    read_by_app = set(re.findall(r"get\('([A-Z_]+)'\)", config_source))
    assert set(environment) - read_by_app == OTHER_VARIABLES, 'a variable the app does not read'
    settings = load_settings(environment, env_file=None)  # raises ConfigError for anything the app refuses
    assert settings.demo and settings.storage_secret == 'shared-secret' and settings.storage_secret_set
    assert (settings.host, settings.port, settings.data_dir) == ('0.0.0.0', 8080, '/data')

    database = urlsplit(settings.database)
    postgres = services['postgres']['environment']
    assert (database.scheme, database.hostname, database.port) == ('postgresql', 'postgres', 5432)
    assert (database.username, database.path) == (postgres['POSTGRES_USER'], '/' + postgres['POSTGRES_DB'])
    assert database.password == interpolate(postgres['POSTGRES_PASSWORD'], variables) == 'pg-secret'
    redis = urlsplit(settings.redis_url)
    assert (redis.scheme, redis.hostname, redis.port) == ('redis', 'redis', 6379)


def test_a_missing_secret_stops_compose_with_a_message() -> None:
    app = compose()['services']['app1']
    try:
        app_environment(app, {'POSTGRES_PASSWORD': 'pg-secret'})
    except AssertionError as refused:
        assert 'STORAGE_SECRET is required' in str(refused)
    else:
        raise AssertionError('compose would start the instances without a STORAGE_SECRET')


def test_nginx_mounts_the_repo_config_and_routes_to_the_instances() -> None:
    services = compose()['services']
    nginx = services['nginx']
    assert nginx['volumes'] == ['./nginx.conf:/etc/nginx/conf.d/default.conf:ro']
    assert (DEPLOY / 'nginx.conf').is_file()
    assert nginx['ports'] == ['8080:80']
    site = (DEPLOY / 'nginx.conf').read_text()
    assert re.search(r'^\s*listen 80;', site, re.MULTILINE)
    port = app_environment(services['app1'], {'POSTGRES_PASSWORD': 'x', 'STORAGE_SECRET': 'y'})['PORT']
    for upstream in ('nicechat_pages', 'nicechat_api'):
        block = re.search(r'upstream ' + upstream + r' \{(.*?)\}', site, re.DOTALL)
        assert block is not None
        assert re.findall(r'server (\S+?):(\d+)', block.group(1)) == [('app1', port), ('app2', port)]


def test_the_env_example_names_every_variable_compose_asks_for() -> None:
    text = (DEPLOY / 'compose.yaml').read_text()
    asked = {name for name, _, _ in _INTERPOLATION.findall(text)}
    example = {line.split('=')[0] for line in (DEPLOY / '.env.example').read_text().splitlines()
               if line and not line.startswith('#')}
    assert asked == example


def test_dockerfile_basics() -> None:
    lines = [line.strip() for line in (ROOT / 'Dockerfile').read_text().splitlines()]
    instructions = [line for line in lines if line and not line.startswith('#') and line.split()[0].isupper()]
    stages = [line for line in instructions if line.startswith('FROM ')]
    assert stages[-1] == 'FROM python:3.11-slim' and len(stages) == 2  # built in one stage, shipped slim
    final = instructions[instructions.index(stages[-1]):]
    users = [line.split()[1] for line in final if line.startswith('USER ')]
    assert users and users[-1] not in {'root', '0'}, 'the app must not run as root'
    assert final.index(f'USER {users[-1]}') < final.index('CMD ["python", "main.py"]')
    assert 'EXPOSE 8080' in final
    healthcheck = ' '.join(lines[lines.index(next(line for line in lines if line.startswith('HEALTHCHECK'))):][:2])
    assert '/healthz' in healthcheck and "os.environ.get('PORT', '8080')" in healthcheck
    copied = {line.split()[1] for line in final if line.startswith('COPY ') and '--from' not in line}
    assert {'main.py', 'app', 'components'} <= copied
    imported = set(re.findall(r'^(?:from|import) (\w+)', (ROOT / 'main.py').read_text(), re.MULTILINE))
    assert {name for name in imported if (ROOT / name).is_dir()} <= copied  # every local package main.py imports
    ignored = (ROOT / '.dockerignore').read_text()
    assert all(f'!{path}' in ignored for path in ('main.py', 'app/', 'components/', 'requirements.lock'))


def test_runtime_requirements_are_complete_and_leave_the_tools_out() -> None:
    script = runpy.run_path(str(DEPLOY / 'runtime_requirements.py'))  # a script the Dockerfile runs, not a module
    normalized, runtime_blocks = script['normalized'], script['runtime_blocks']
    pyproject = (ROOT / 'pyproject.toml').read_text()
    selected = runtime_blocks(pyproject, (ROOT / 'requirements.lock').read_text())
    assert {'nicegui', 'openai', 'asyncpg', 'redis', 'prometheus-client', 'uvicorn', 'sqlalchemy'} <= set(selected)
    assert not {'pytest', 'selenium', 'mypy', 'ruff', 'uv', 'hypothesis', 'schemathesis'} & set(selected)
    # Closed under "needs", as the installed packages' own metadata says (extras the project asks for included).
    wanted = [Requirement(spec) for spec in tomllib.loads(pyproject)['project']['dependencies']]
    seen: set[tuple[str, frozenset[str]]] = set()
    while wanted:
        requirement = wanted.pop()
        name = normalized(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        assert name in selected, f'{name} is needed at run time but left out'
        version = distribution(name).version
        assert re.search(rf'(?im)^{re.escape(requirement.name)}=={re.escape(version)}\b', selected[name]) or \
            re.search(rf'(?im)^{re.escape(name)}=={re.escape(version)}\b', selected[name]), \
            f'{name}=={version} (installed here) is not among the pins kept for it'
        for spec in distribution(name).requires or []:
            needed = Requirement(spec)
            environments = [{'extra': extra} for extra in requirement.extras] or [{'extra': ''}]
            if needed.marker is None or any(needed.marker.evaluate(env) for env in environments):
                wanted.append(needed)
