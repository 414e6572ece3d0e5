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
/* Own colour classes, not Quasar's bg-* (!important inside a cascade layer: nothing unlayered overrides them). */
.nc-assistant, .nc-surface, .nc-footer { background: #fff; }
.nc-user { background: #eff6ff; }
.nc-drawer { background: #f9fafb; }
.nc-current { background: #dbeafe; }
.nc-banner { background: #fffbeb; }
.body--dark .nc-assistant, .body--dark .nc-surface { background: #1e1e1e; }
.body--dark .nc-user { background: #1e293b; }
.body--dark .nc-footer { background: #121212; }
.body--dark .nc-drawer { background: #1a1a1a; }
.body--dark .nc-current { background: #1e3a8a; }
.body--dark .nc-banner { background: #3b2f0b; }
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
.body--dark .hljs-params, .body--dark .hljs-subst { color: #c9d1d9; }
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
