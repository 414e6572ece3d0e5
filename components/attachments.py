"""Images attached to the next prompt: Attach button, paste, drag and drop; thumbnails with Remove until sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import events, ui

from .upload import Upload

# Largest upload the browser sends at all; the server checks MAX_IMAGE_BYTES itself, with a clear message.
UPLOAD_CAP_BYTES = 50_000_000
# Images one prompt may carry.
MAX_IMAGES = 8


def image_url(image: dict[str, Any]) -> str:
    """Where the page loads an attached image from (the server checks that it is the person's)."""
    return f'/images/{image["id"]}'


class Attachments:
    """The pending images of the prompt box; `take()` hands them to Send and empties the row."""

    def __init__(self, save: Callable[[bytes, str], Awaitable[dict[str, Any]]]) -> None:
        self._save = save
        self.images: list[dict[str, Any]] = []
        self.uploader = Upload(multiple=True, auto_upload=True, on_upload=self._received,
                               max_file_size=UPLOAD_CAP_BYTES).props('accept="image/png,image/jpeg,image/webp,'
                                                                     'image/gif"').classes('hidden')
        self.row = ui.row().classes('w-full gap-2 items-center').mark('attachments')
        self.row.set_visibility(False)

    def button(self) -> ui.button:
        """The Attach button (opens the file picker)."""
        uploader = self.uploader.id
        return ui.button(icon='attach_file').props('flat round dense aria-label="Attach image"').mark('attach') \
            .on('click', js_handler=f'() => getElement({uploader}).$refs.qRef.pickFiles()')

    def accept_drops(self, element: ui.element) -> None:
        """Images pasted into or dropped on `element` are attached like picked ones."""
        add = f'(files) => getElement({self.uploader.id}).$refs.qRef.addFiles(files)'
        element.on('paste', js_handler=f'(e) => {{ const f = [...(e.clipboardData?.files || [])]'
                                       f'.filter(x => x.type.startsWith("image/")); if (f.length) {{ '
                                       f'e.preventDefault(); ({add})(f); }} }}')
        element.on('dragover', js_handler='(e) => e.preventDefault()')
        element.on('drop', js_handler=f'(e) => {{ const f = [...(e.dataTransfer?.files || [])]; if (f.length) {{ '
                                      f'e.preventDefault(); ({add})(f); }} }}')

    def take(self) -> list[dict[str, Any]]:
        """The images to send with the prompt; the row empties."""
        images, self.images = self.images, []
        self._render()
        return images

    def restore(self, images: list[dict[str, Any]]) -> None:
        """Put images back after a send was refused, so nothing is lost."""
        self.images = images + self.images
        self._render()

    async def _received(self, event: events.UploadEventArguments) -> None:
        if len(self.images) >= MAX_IMAGES:
            ui.notify(f'At most {MAX_IMAGES} images per message.', type='warning')
            return
        try:
            image = await self._save(await event.file.read(), event.file.name or 'The image')
        except Exception as error:  # ChatError: too large or not an image; the message says which
            ui.notify(str(error), type='warning')
            return
        self.images.append(image)
        self._render()
        self.uploader.run_method('reset')

    def _render(self) -> None:
        self.row.clear()
        with self.row:
            for image in self.images:
                with ui.element('div').classes('relative'):
                    ui.image(image_url(image)).classes('w-16 h-16 rounded border').props('fit=cover')
                    ui.button(icon='close', on_click=lambda image=image: self._remove(image)) \
                        .props('flat round dense size=xs aria-label="Remove image"') \
                        .classes('absolute -top-2 -right-2 nc-surface')
        self.row.set_visibility(bool(self.images))

    def _remove(self, image: dict[str, Any]) -> None:
        self.images.remove(image)
        self._render()
