"""The interface the chat runtime and pages are built on, exactly as agreed (names, parameters, defaults)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import app.store
from app.store import (
    ApiKeyRecord,
    ConversationRecord,
    ConversationSummary,
    CreatedKey,
    MessageRecord,
    MessageUpdate,
    NewMessage,
    Store,
)

STORE_METHODS = {
    'close': '(self) -> None',
    'user_id': '(self, key: str) -> str',
    'create_conversation': '(self, owner_id: str, *, title: str, model: str, system_prompt: str | None = None, '
                           'settings: dict[str, Any] | None = None, id: str | None = None) -> ConversationRecord',
    'conversation': '(self, owner_id: str, conversation_id: str) -> ConversationRecord | None',
    'conversations': '(self, owner_id: str, *, query: str | None = None, limit: int = 50, '
                     'before: tuple[datetime, str] | None = None) -> list[ConversationSummary]',
    'count_conversations': '(self, owner_id: str) -> int',
    'rename_conversation': '(self, owner_id: str, conversation_id: str, title: str) -> bool',
    'update_conversation': '(self, owner_id: str, conversation_id: str, *, model: str | None = None, '
                           'system_prompt: str | None = None, settings: dict[str, Any] | None = None) -> bool',
    'delete_conversation': '(self, owner_id: str, conversation_id: str) -> bool',
    'delete_all': '(self, owner_id: str) -> int',
    'add_messages': '(self, conversation_id: str, messages: Sequence[NewMessage]) -> list[MessageRecord]',
    'save_messages': '(self, updates: Sequence[MessageUpdate]) -> None',
    'messages': '(self, conversation_id: str, *, limit: int | None = None) -> list[MessageRecord]',
    'recover_interrupted': '(self) -> int',
    'interrupt_reply': '(self, message_id: str, content: str, reasoning: str) -> bool',
    'create_api_key': '(self, owner_id: str, name: str) -> CreatedKey',
    'api_keys': '(self, owner_id: str) -> list[ApiKeyRecord]',
    'rename_api_key': '(self, owner_id: str, key_id: str, name: str) -> bool',
    'revoke_api_key': '(self, owner_id: str, key_id: str) -> bool',
    'api_key_by_secret': '(self, secret: str) -> ApiKeyRecord | None',
    'touch_api_key': '(self, key_id: str) -> bool',
    'add_api_key_usage': '(self, key_id: str, completion_tokens: int, requests: int = 1) -> None',
}
RECORDS = {
    ConversationRecord: 'id owner_id title model system_prompt settings created_at updated_at',
    ConversationSummary: 'id title updated_at',
    MessageRecord: 'id conversation_id parent_id role content reasoning status error finish_reason usage timing '
                   'model created_at attachments=None',
    MessageUpdate: 'id content reasoning=* status=streaming error=None finish_reason=None usage=None timing=None',
    NewMessage: 'role content=* parent_id=None status=complete model=None id=None reasoning=* error=None '
                'attachments=None',
    ApiKeyRecord: 'id owner_id name prefix created_at last_used_at revoked_at requests completion_tokens',
    CreatedKey: 'record secret',
}


@pytest.mark.parametrize(('name', 'signature'), STORE_METHODS.items())
def test_store_methods(name: str, signature: str) -> None:
    method = getattr(Store, name)
    assert inspect.iscoroutinefunction(method)
    assert str(inspect.signature(method)).replace("'", '') == signature


@pytest.mark.parametrize(('record', 'fields'), RECORDS.items())
def test_records_are_frozen_with_these_fields(record: type, fields: str) -> None:
    def shown(field: dataclasses.Field[object]) -> str:
        if field.default is dataclasses.MISSING:
            return field.name
        return f'{field.name}={field.default or "*" if field.default == "" else field.default}'

    assert record.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert ' '.join(shown(field) for field in dataclasses.fields(record)) == fields


def test_the_package_exports_the_interface() -> None:
    assert {'STATUSES', 'StoreError', 'ConversationRecord', 'ConversationSummary', 'MessageRecord', 'MessageUpdate',
            'NewMessage', 'Store', 'new_id', 'database_display', 'open_store', 'ApiKeyRecord',
            'CreatedKey'} <= set(app.store.__all__)
    assert app.store.STATUSES == ('complete', 'streaming', 'stopped', 'failed', 'interrupted')
    assert inspect.iscoroutinefunction(app.store.open_store)
