"""JavaScript clients against the live app, under Node: the `openai` npm package and the `ai` package's chat logic.

Each test queues the fake model's answers, runs `node tests/node/<script>.mjs <url> <token>` and checks the JSON it
prints. The packages are installed with `npm ci` from tests/node/package-lock.json when they are missing or stale.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from typing import Any

import pytest

from tests.app.test_openai_compat import WEATHER_CALL
from tests.app.test_ui_stream import PNG
from tests.conftest import API_TOKEN, ROOT, LiveApp
from tests.fake_upstream import FakeUpstream, Script

NODE_DIR = ROOT / 'tests' / 'node'
# Written into node_modules after `npm ci`: the lock file's hash, so a changed lock installs again.
STAMP = NODE_DIR / 'node_modules' / '.nicechat-lock-sha256'
NPM_TIMEOUT = 600
SCRIPT_TIMEOUT = 60


@pytest.fixture(scope='session')
def node() -> str:
    """The `node` executable, with the test packages installed."""
    node, npm = shutil.which('node'), shutil.which('npm')
    if node is None or npm is None:
        pytest.fail('The JavaScript client tests need Node.js 20+ and npm on PATH (Debian: apt-get install nodejs '
                    'npm); neither `node` nor `npm` may be missing.', pytrace=False)
    lock_hash = hashlib.sha256((NODE_DIR / 'package-lock.json').read_bytes()).hexdigest()
    if not STAMP.is_file() or STAMP.read_text() != lock_hash:
        done = subprocess.run([npm, 'ci', '--no-audit', '--no-fund'], cwd=NODE_DIR, capture_output=True, text=True,
                              timeout=NPM_TIMEOUT)
        if done.returncode != 0:
            pytest.fail(f'npm ci in tests/node failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}', pytrace=False)
        STAMP.write_text(lock_hash)
    return node


def run(node: str, script: str, app: LiveApp) -> dict[str, Any]:
    """Run one client script against `app`; what it printed, as JSON."""
    done = subprocess.run([node, script, app.url, API_TOKEN], cwd=NODE_DIR, capture_output=True, text=True,
                          timeout=SCRIPT_TIMEOUT)
    assert done.returncode == 0, f'{script} failed:\n{done.stderr[-3000:]}'
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_openai_npm_package(node: str, live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Hel', 'lo']), Script(tokens=['Who', 'le']),
                   Script(tokens=[], tool_calls=WEATHER_CALL, finish_reason='tool_calls'), Script(tokens=['Sunny.']),
                   Script(tokens=['one', ' two'], error_after=1, error_message='boom'))
    out = run(node, 'openai_client.mjs', live_app)
    assert out['streamed'] == {'content': ['Hel', 'lo'], 'finish': 'stop',
                               'usage': {'prompt_tokens': 5, 'completion_tokens': 4, 'total_tokens': 9}}
    assert out['whole'] == {'content': 'Whole', 'object': 'chat.completion',
                            'usage': {'prompt_tokens': 5, 'completion_tokens': 4, 'total_tokens': 9}}
    assert out['toolCall'] == {'finish': 'tool_calls', 'id': 'call_1', 'name': 'get_weather',
                               'arguments': {'city': 'Paris'}}
    assert out['afterTool'] == 'Sunny.'
    assert out['unknownModel'] == {'notFound': True, 'status': 404, 'code': 'model_not_found'}
    assert out['midStream']['content'] == ['one'] and out['midStream']['apiError'] is True
    assert 'boom' in out['midStream']['message']
    streamed, _, call, result, _ = upstream.records
    assert streamed.body['temperature'] == 0.3
    assert call.body['tools'][0]['function']['name'] == 'get_weather'
    assert [m['role'] for m in result.messages] == ['user', 'assistant', 'tool']
    assert result.messages[1]['tool_calls'][0]['id'] == 'call_1'


def test_ai_sdk_chat_and_ui_message_stream_reader(node: str, live_app: LiveApp, upstream: FakeUpstream) -> None:
    upstream.queue(Script(tokens=['Hel', 'lo!'], reasoning=['Greet.']), Script(tokens=['A pixel.']),
                   Script(tokens=['one', ' two'], error_after=1, error_message='boom'),
                   Script(tokens=['1', '2', '3']))
    out = run(node, 'ui_chat.mjs', live_app)
    assert out['firstTurn'] == {'status': 'ready', 'messages': [
        {'role': 'user', 'parts': [{'type': 'text', 'text': 'Hi'}]},
        {'role': 'assistant', 'parts': [{'type': 'step-start'},
                                        {'type': 'reasoning', 'text': 'Greet.', 'state': 'done'},
                                        {'type': 'text', 'text': 'Hello!', 'state': 'done'}]}]}
    assert out['secondTurn'] == {'status': 'ready', 'count': 4, 'last': {'role': 'assistant', 'parts': [
        {'type': 'step-start'}, {'type': 'text', 'text': 'A pixel.', 'state': 'done'}]}}
    assert out['errors'] == []
    assert out['failed']['status'] == 'error' and 'boom' in out['failed']['error']
    assert out['failed']['last']['parts'][-1]['text'] == 'one'
    snapshots = out['reader']['snapshots']
    assert snapshots[-1] == '123'
    assert {'1', '12'} <= set(snapshots)  # the message grew chunk by chunk
    first, second, _, _ = upstream.records
    assert first.body['model'] == 'fake-model'
    assert first.messages == [{'role': 'user', 'content': 'Hi'}]
    assert second.messages == [
        {'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello!'},
        {'role': 'user', 'content': [{'type': 'image_url', 'image_url': {'url': PNG}},  # useChat puts files first
                                     {'type': 'text', 'text': 'What is this?'}]}]
