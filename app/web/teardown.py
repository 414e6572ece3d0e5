"""A removed element's reference cycles, cut as NiceGUI removes it, so reference counting frees it at once.

Every NiceGUI element has three observables, its props, classes and style, and each holds its own `_update` method
as its change handler: three small cycles per element (an observable, its `__dict__`, the handler list, a tuple, the
bound method) that only a full pass of the garbage collector can free. NiceGUI breaks the element's other cycles
itself when it removes it (its client and parent slot are weak references; `_handle_delete` clears its slots'
children and its event listeners), but not these, nor the value-change handlers of an input (`on_value_change`),
which close over what made them as event listeners do (the sidebar's search box: its handler is the sidebar's
`refresh`, and the sidebar holds the box).

With app/ops/collector.py freezing what survives each full pass, a closed tab's ~58 elements left ~870 objects in
such cycles, and through them the rest of its page (bench.tab_cycles: 1,559 objects per closed tab in all, with the
page's own cycles, components/chat.py and the rest), freed only by the next reclaim, a stop-the-world pass over
everything: bench.soak's RSS stood ~55 MB above what it was before the collector. Cutting the cycles where NiceGUI
removes elements (a closed tab's `Client.delete`, and `clear`, `remove` and `delete` while the page lives) lets
them go by reference counting, like the rest of the element (58 objects per closed tab left, none of the page's:
docs/page_load.md, the fourteenth round).

A removed element never reaches the browser again (NiceGUI drops its updates), so its observables' handlers have
nothing left to do. Two things do change for code that keeps using a removed element (nothing here does): a change
of its props, classes or style no longer reaches NiceGUI's one-time warning that a deleted element is still used,
and a value set on it no longer runs its value-change handlers.
The NiceGUI internals this relies on are pinned in tests/app/web/test_teardown.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from nicegui import Client
from nicegui.element import Element
from nicegui.elements.mixins.value_element import ValueElement

_remove_elements: Callable[[Client, Iterable[Element]], None] = Client.remove_elements


def remove_elements(client: Client, elements: Iterable[Element]) -> None:
    """NiceGUI's `Client.remove_elements`, then the removed elements' own cycles cut."""
    removed = list(elements)  # NiceGUI's own call passes `self.elements.values()`, which its removal empties
    _remove_elements(client, removed)
    for element in removed:
        cut_cycles(element)


def cut_cycles(element: Element) -> None:
    """Drop the change handlers through which a removed element's observables (and its value) refer to themselves."""
    element._props._change_handlers.clear()
    element._classes._change_handlers.clear()
    element._style._change_handlers.clear()
    if isinstance(element, ValueElement):
        element._change_handlers.clear()


def install() -> None:
    """Cut the cycles of every element NiceGUI removes from now on (once per process)."""
    if Client.remove_elements is not remove_elements:
        Client.remove_elements = remove_elements  # type: ignore[method-assign,assignment]
