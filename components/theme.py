"""Look and feel shared by the pages: dark mode (auto / light / dark), narrow screens, focus rings, code in the dark."""

from __future__ import annotations

from collections.abc import Callable

from nicegui import ui

MODES = ('auto', 'light', 'dark')
_ICONS = {'auto': 'brightness_auto', 'light': 'light_mode', 'dark': 'dark_mode'}
_DARK = {'auto': None, 'light': False, 'dark': True}

CSS = """
html, body { overflow-x: hidden; }
:focus-visible { outline: 2px solid #2563eb !important; outline-offset: 2px; }
.nc-message, .nc-bubble { min-width: 0; max-width: 100%; }
.nc-bubble { overflow-wrap: anywhere; }
.nc-bubble pre, .nc-bubble table { max-width: 100%; }
.nc-actions { opacity: 0; transition: opacity .15s; }
.nc-message:hover .nc-actions, .nc-message:focus-within .nc-actions { opacity: 1; }
@media (pointer: coarse) { .nc-actions { opacity: 1; } }  /* touch screens have no hover: always shown */
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.body--dark .nc-bubble.bg-white { background: #1e1e1e !important; }
.body--dark .nc-bubble.bg-blue-50 { background: #1e293b !important; }
.body--dark .q-footer.bg-white { background: #121212 !important; }
.body--dark .q-drawer .bg-gray-50, .body--dark .q-drawer.bg-gray-50 { background: #1a1a1a !important; }
.body--dark .bg-blue-100 { background: #1e3a8a !important; }
.body--dark .text-gray-500, .body--dark .text-gray-600 { color: #9ca3af !important; }
.body--dark .nicechat-markdown pre { background: #0d1117; }
.body--dark .nicechat-markdown :not(pre) > code { background: #6e768166; }
.body--dark .hljs { color: #c9d1d9; }
.body--dark .hljs-keyword, .body--dark .hljs-meta .hljs-keyword, .body--dark .hljs-type { color: #ff7b72; }
.body--dark .hljs-string, .body--dark .hljs-regexp { color: #a5d6ff; }
.body--dark .hljs-title, .body--dark .hljs-title.function_, .body--dark .hljs-title.class_ { color: #d2a8ff; }
.body--dark .hljs-number, .body--dark .hljs-literal, .body--dark .hljs-attr, .body--dark .hljs-variable,
.body--dark .hljs-attribute, .body--dark .hljs-built_in, .body--dark .hljs-symbol { color: #79c0ff; }
.body--dark .hljs-comment, .body--dark .hljs-quote { color: #8b949e; }
.body--dark .hljs-params { color: #c9d1d9; }
"""


def setup(mode: str) -> ui.dark_mode:
    """Add the shared styles and set the colour scheme: `auto` follows the system."""
    ui.add_css(CSS)
    return ui.dark_mode(_DARK.get(mode))


def toggle(dark: ui.dark_mode, mode: str, save: Callable[[str], object]) -> None:
    """A header button that cycles auto → light → dark, remembered by `save`."""
    state = {'mode': mode if mode in MODES else 'auto'}

    def cycle() -> None:
        state['mode'] = MODES[(MODES.index(state['mode']) + 1) % len(MODES)]
        dark.value = _DARK[state['mode']]
        button.props(f'icon={_ICONS[state["mode"]]} aria-label="Colour theme: {state["mode"]}"')
        save(state['mode'])

    button = ui.button(icon=_ICONS[state['mode']], on_click=cycle) \
        .props(f'flat round dense color=white aria-label="Colour theme: {state["mode"]}"').mark('theme')
