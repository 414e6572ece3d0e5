"""A stored conversation from JavaScript under Node: the `openai` npm package with X-Conversation-Id, a fetch()
client that drops mid-reply and resumes from the `offset` the server sent, and the `ai` package's useChat transport
with X-Conversation-Id on /api/ui-chat (tests/node/conversation.mjs)."""

from __future__ import annotations

import json
import subprocess

from tests.app.conversations.conftest import ALICE, KeyedApp, create, read
from tests.app.test_node_clients import NODE_DIR, SCRIPT_TIMEOUT, node  # noqa: F401 (the fixture)
from tests.fake_upstream import FakeUpstream, Script

# Characters outside the BMP count 1 in the server's offsets and 2 in a JavaScript string's `length`: a client that
# counted with `length` would resume at the wrong place.
TOKENS = [f'{i:02d}🙂 ' for i in range(40)]


def test_javascript_clients_continue_and_resume_a_conversation(
        node: str, conv_app: KeyedApp, upstream: FakeUpstream) -> None:  # noqa: F811
    upstream.queue(Script(tokens=['From', ' npm']), Script(tokens=TOKENS, delay=0.03), Script(tokens=['From', ' ai']))
    conversation = create(conv_app)
    done = subprocess.run([node, 'conversation.mjs', conv_app.url, conv_app.keys[ALICE], conversation],
                          cwd=NODE_DIR, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    full = ''.join(TOKENS)
    assert out['sdk'] == 'From npm'
    assert 20 < out['before']['offset'] < len(full) and out['before']['text'] == full[:out['before']['offset']]
    assert out['before']['text'] + out['after'] == full and out['last']['full_content'] == full
    messages = read(conv_app, conversation).json()['messages']
    assert [m['content'] for m in messages] == ['first, from npm', 'From npm', 'second', full,
                                                'third, from useChat', 'From ai']
    assert out['ui'] == {'id': messages[-1]['id'], 'text': 'From ai'}
