"""A tab follows what another instance changed in its conversation (issue 9): renamed (its drawer), new settings
(the model badge), deleted (closed with a note, nothing else breaks).

The other instance is played by the store, written directly, and the notice it would publish, handed to this
instance's runtime as its Redis listener does (`Chats._noticed`; the notices themselves cross a real Redis in
tests/app/chat/test_shared.py). So the runtime catches up from a task of its own, outside any page's context, as it
does in production.
"""

from __future__ import annotations

from nicegui.testing import User

from app.live.notices import Notice
from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, send
from tests.components.test_api_turns import runtime
from tests.components.test_conversations import listed
from tests.fake_upstream import FakeUpstream


async def test_a_rename_settings_and_delete_on_another_instance_reach_the_open_tab(configured: FakeUpstream,
                                                                                   user: User) -> None:
    await user.open('/')
    await send(user, 'Plan the garden')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    await user.should_see(marker='send', retries=STREAM_RETRIES)
    chats = runtime()
    conversation = chats.live[(await conversation_link(user)).removeprefix('/c/')]
    owner = conversation.owner_id
    assert await chats.store.rename_conversation(owner, conversation.id, 'Renamed elsewhere')
    chats._noticed(Notice('renamed', 'other-instance', owner, conversation.id))
    await listed(user, ['Renamed elsewhere'])
    await chats.store.update_conversation(owner, conversation.id, model='other-model', system_prompt='Be brief.',
                                          settings={'temperature': 0.3})
    chats._noticed(Notice('settings', 'other-instance', owner, conversation.id))
    await user.should_see('other-model', marker='model', retries=STREAM_RETRIES)
    assert (conversation.system_prompt, conversation.params) == ('Be brief.', {'temperature': 0.3})
    assert await chats.store.delete_conversation(owner, conversation.id)
    chats._noticed(Notice('deleted', 'other-instance', owner, conversation.id))
    await user.should_see('This conversation was deleted.', retries=STREAM_RETRIES)
    await user.should_not_see(marker='prompt')
    await user.should_see('No conversations yet.', retries=STREAM_RETRIES)  # the drawer reloaded
    assert conversation.id not in chats.live
