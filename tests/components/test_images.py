"""Images for vision models: attached on the page, checked on the server, sent upstream as image_url parts."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path
from typing import Any

from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload
from nicegui.testing import User

from tests.components.chat_helpers import STREAM_RETRIES, conversation_link, notified, open_chat, send
from tests.fake_upstream import FakeUpstream, Script


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    rows = b''.join(b'\x00' + b'\xff\x00\x00' * width for _ in range(height))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b''))


async def attach(user: User, data: bytes, name: str = 'photo.png') -> None:
    uploader = next(iter(user.find(ui.upload).elements))
    await uploader.handle_uploads([SmallFileUpload(name=name, content_type='image/png', _data=data)])


async def test_an_attached_image_goes_upstream_and_stays_with_the_message(
        configured: FakeUpstream, user: User, data_dir: Path) -> None:
    configured.queue(Script(tokens=['A', ' red', ' square']))
    image = png()
    await open_chat(user)
    await attach(user, image)
    await user.should_see(marker='attachments')
    await send(user, 'What is this?')
    await user.should_see('A red square', retries=STREAM_RETRIES)
    content = configured.records[0].messages[0]['content']
    assert content[0] == {'type': 'text', 'text': 'What is this?'}
    assert content[1] == {'type': 'image_url',
                          'image_url': {'url': 'data:image/png;base64,' + base64.b64encode(image).decode()}}
    await user.should_see(marker='thumbnails')
    src = thumbnail(user)
    assert (await user.http_client.get(src)).content == image  # the person's own image is served to them

    address = await conversation_link(user)
    await user.open(address)  # stored with the message: a reload shows it
    await user.should_see(marker='thumbnails')
    assert thumbnail(user) == src
    stored = list((data_dir / 'images').rglob('*'))
    assert [path.read_bytes() for path in stored if path.is_file()] == [image]
    user.find(marker='delete').trigger('delete')  # deleting the conversation deletes its image files
    user.find(marker='confirm-delete').click()
    await user.should_see('No conversations yet.', retries=STREAM_RETRIES)
    assert not [path for path in (data_dir / 'images').rglob('*') if path.is_file()]
    assert (await user.http_client.get(src)).status_code == 404


def thumbnail(user: User) -> str:
    """The address of the first thumbnail shown in a message."""
    link = next(iter(user.find(marker='thumbnails').elements))
    return str(next(e for e in link.descendants() if isinstance(e, ui.image)).source)


async def test_too_large_and_non_image_files_are_refused_with_a_reason(user_factory: Any) -> None:
    user = await user_factory(MAX_IMAGE_BYTES='1000')
    await open_chat(user)
    await attach(user, png(200, 200) + b'\x00' * 2000, 'big.png')
    await notified(user, 'the limit is 0.0 MB')
    await attach(user, b'%PDF-1.4 not an image', 'paper.pdf')
    await notified(user, 'is not a PNG, JPEG, WebP or GIF image')
    await user.should_not_see(marker='attachments')


async def test_someone_elses_image_is_not_served(configured: FakeUpstream, user: User, create_user: Any) -> None:
    await open_chat(user)
    await attach(user, png())
    await user.should_see(marker='attachments')
    await send(user, 'mine')
    await user.should_see('Hello, world!', retries=STREAM_RETRIES)
    await conversation_link(user)
    src = thumbnail(user)
    stranger = create_user()
    await open_chat(stranger)
    assert (await stranger.http_client.get(src)).status_code == 404
