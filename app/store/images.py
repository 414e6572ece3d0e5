"""Images attached to prompts, kept as files under the data folder (the database holds only their references)."""

from __future__ import annotations

import asyncio
import base64
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import ChatError
from .records import is_id, new_id

# The formats vision models take, recognised by their first bytes (what the browser claims is not trusted).
_SIGNATURES = ((b'\x89PNG\r\n\x1a\n', 'image/png'), (b'\xff\xd8\xff', 'image/jpeg'), (b'GIF87a', 'image/gif'),
               (b'GIF89a', 'image/gif'))
FORMATS = 'PNG, JPEG, WebP or GIF'


@dataclass(frozen=True)
class Image:
    """A stored image: its id (also its file name), type and size."""

    id: str
    mime: str
    size: int

    def to_dict(self) -> dict[str, object]:
        """The reference a message keeps."""
        return {'id': self.id, 'mime': self.mime, 'size': self.size}


def sniff(data: bytes) -> str | None:
    """The image type of `data` by its signature, or None."""
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'image/webp'
    return next((mime for signature, mime in _SIGNATURES if data.startswith(signature)), None)


class ImageFiles:
    """A folder of image files named by random ids; reads and writes run off the event loop."""

    def __init__(self, folder: str | Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes

    def check(self, data: bytes, name: str = 'The image') -> str:
        """The image's type; ChatError (413 or 415) with a clear message when it is too big or not an image."""
        if len(data) > self.max_bytes:
            raise ChatError('image_too_large', f'{name} is {len(data) / 1e6:.1f} MB; the limit is '
                            f'{self.max_bytes / 1e6:.1f} MB.', 413)
        mime = sniff(data)
        if mime is None:
            raise ChatError('unsupported_image', f'{name} is not a {FORMATS} image.', 415)
        return mime

    async def save(self, data: bytes, name: str = 'The image') -> Image:
        """Check and store an image."""
        image = Image(new_id(), self.check(data, name), len(data))
        await asyncio.to_thread(self._write, image.id, data)
        return image

    async def read(self, image_id: str) -> bytes | None:
        """The image's bytes, or None if there is no such image."""
        if not is_id(image_id):
            return None
        try:
            return await asyncio.to_thread((self.folder / image_id).read_bytes)
        except FileNotFoundError:
            return None

    async def data_url(self, image: dict[str, object]) -> str | None:
        """The image as a `data:` URL, the form OpenAI's `image_url` content part takes."""
        data = await self.read(str(image.get('id')))
        return None if data is None else f'data:{image.get("mime")};base64,{base64.b64encode(data).decode()}'

    async def delete(self, image_ids: list[str]) -> None:
        """Remove these images' files (missing ones are skipped)."""
        await asyncio.to_thread(self._unlink, [i for i in image_ids if is_id(i)])

    async def delete_all(self) -> None:
        """Remove every image of this folder (a person deleting all their conversations)."""
        await asyncio.to_thread(shutil.rmtree, self.folder, True)

    def _write(self, image_id: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / image_id).write_bytes(data)

    def _unlink(self, image_ids: list[str]) -> None:
        for image_id in image_ids:
            (self.folder / image_id).unlink(missing_ok=True)
