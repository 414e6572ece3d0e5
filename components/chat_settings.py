"""The per-conversation settings panel: model, system prompt, temperature, max tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from nicegui import background_tasks, ui


def open_dialog(*, models: Sequence[str], model: str, system_prompt: str, temperature: float | None,
                max_tokens: int | None, max_tokens_limit: int, save: Callable[..., Awaitable[Any]],
                load_models: Callable[[], Awaitable[list[str]]] | None = None) -> None:
    """Show the panel; `save(model=, system_prompt=, temperature=, max_tokens=)` stores what was set.

    With `load_models` (ALLOWED_MODELS=*), the list comes from the model server; a name can also be typed.
    """
    with ui.dialog() as dialog, ui.card().classes('w-[28rem] max-w-full gap-3').props('aria-label="Chat settings"'):
        ui.label('Chat settings').classes('text-lg font-semibold')
        picked = ui.select(list(dict.fromkeys([model, *models])), value=model, label='Model',
                           new_value_mode='add-unique' if load_models else None) \
            .classes('w-full').mark('settings-model')
        problem = ui.label().classes('text-sm text-amber-800').mark('models-problem')
        problem.set_visibility(False)
        prompt = ui.textarea('System prompt', value=system_prompt).props('outlined autogrow') \
            .classes('w-full').mark('system-prompt')
        with ui.row().classes('w-full items-center no-wrap'):
            ui.label('Temperature').classes('w-28')
            heat = ui.slider(min=0, max=2, step=0.1, value=1.0 if temperature is None else temperature) \
                .props('label aria-label=Temperature').classes('grow').mark('temperature')
            default_heat = ui.checkbox('default', value=temperature is None).mark('temperature-default')
        limit = ui.number('Max tokens', value=max_tokens, min=1, max=max_tokens_limit, step=1, format='%d',
                          placeholder='the model\'s default').props('outlined dense clearable').classes('w-full') \
            .mark('max-tokens')

        async def apply() -> None:
            tokens = None if limit.value in (None, '') else int(limit.value)
            if tokens is not None and not 1 <= tokens <= max_tokens_limit:
                ui.notify(f'Max tokens must be a whole number from 1 to {max_tokens_limit}.', type='warning')
                return
            try:
                await save(model=picked.value, system_prompt=prompt.value or '',
                           temperature=None if default_heat.value else float(heat.value), max_tokens=tokens)
            except Exception as error:  # ChatError from the same checks the API applies
                ui.notify(str(error), type='warning')
                return
            dialog.close()

        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
            ui.button('Save', on_click=apply).props('no-caps').mark('settings-save')
    dialog.open()
    if load_models is not None:
        async def fill() -> None:
            try:
                listed = await load_models()
            except Exception as error:  # ChatError: the model server has no model list
                problem.text = str(error)
                problem.set_visibility(True)
                return
            picked.set_options(list(dict.fromkeys([picked.value, *listed])), value=picked.value)

        background_tasks.create(fill(), name='list models')
