"""Taking a conversation away and back: Markdown and JSON export, JSON import round trip, delete all."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User

from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, notified, open_chat, press, send
from tests.fake_upstream import FakeUpstream, Script

COMPARED = ('role', 'content', 'reasoning', 'status', 'error', 'finish_reason', 'usage', 'model')


def tree_shape(export: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The export without its ids: each message's fields and the position of its parent."""
    ids = [message['id'] for message in export['messages']]
    return [(*(m[name] for name in COMPARED), ids.index(m['parent_id']) if m['parent_id'] else None)
            for m in export['messages']]


async def test_export_import_round_trip_and_markdown(configured: FakeUpstream, user: User) -> None:
    configured.queue(Script(tokens=['One']), Script(tokens=['Two']))
    await open_chat(user)
    await send(user, 'Round trip')
    await user.should_see('One', retries=STREAM_RETRIES)
    await user.should_not_see(marker='stop', retries=STREAM_RETRIES)
    press(user, 'regenerate')  # two versions: the JSON keeps the whole tree
    await user.should_see('Two', retries=STREAM_RETRIES)
    await user.should_not_see(marker='stop', retries=STREAM_RETRIES)
    original = await conversation_link(user)

    user.find(marker='export-markdown').click()
    markdown = (await user.download.next()).text
    assert markdown.startswith('# Round trip') and '## You\n\nRound trip' in markdown and 'Two' in markdown
    assert 'One' not in markdown.split('## You', 1)[1]  # only the branch shown

    user.find(marker='export-json').click()
    exported = orjson.loads((await user.download.next()).content)
    assert exported['format'] == 'nicechat.conversation' and len(exported['messages']) == 3

    user.find(marker='import').click()
    upload = user.find(marker='import-file').elements.pop()
    assert isinstance(upload, ui.upload)
    await upload.handle_uploads([SmallFileUpload(name='c.json', content_type='application/json',
                                                 _data=orjson.dumps(exported))])
    for _ in range(STREAM_RETRIES):  # the imported copy opens in its own page
        if (copy := await conversation_link(user)) != original:
            break
        await asyncio.sleep(0.1)
    assert copy != original
    await user.should_see('Two', retries=STREAM_RETRIES)
    user.find(marker='export-json').click()
    again = orjson.loads((await user.download.next()).content)
    assert tree_shape(again) == tree_shape(exported)  # the same tree, with new ids
    assert {m['id'] for m in again['messages']}.isdisjoint(m['id'] for m in exported['messages'])
    await user.should_see(marker='version', content='2 / 2')


async def test_a_file_that_is_not_an_export_is_refused_with_a_reason(configured: FakeUpstream, user: User) -> None:
    await open_chat(user)
    user.find(marker='import').click()
    upload = user.find(marker='import-file').elements.pop()
    assert isinstance(upload, ui.upload)
    for data, reason in ((b'{not json', 'not JSON'), (b'{"format": "other"}', 'not a NiceChat conversation export'),
                         (orjson.dumps({'format': 'nicechat.conversation', 'version': 1, 'messages': [
                             {'id': 'a', 'role': 'user', 'content': 'x', 'parent_id': 'zz'}]}), 'earlier message')):
        await upload.handle_uploads([SmallFileUpload(name='c.json', content_type='application/json', _data=data)])
        await notified(user, reason)


async def test_delete_all_my_conversations(configured: FakeUpstream, user: User, create_user: Any) -> None:
    await open_chat(user)
    await send(user, 'first')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    mine = await conversation_link(user)
    other = create_user()
    await open_chat(other)
    await send(other, 'not yours')
    await other.should_see('Hello, world!', retries=STREAM_RETRIES)
    theirs = await conversation_link(other)
    user.find(marker='delete-all').click()
    user.find(marker='confirm-delete-all').click()
    await notified(user, 'Deleted 1 conversation.')
    assert (await user.http_client.get(mine)).status_code == 404
    assert (await other.http_client.get(theirs)).status_code == 200
