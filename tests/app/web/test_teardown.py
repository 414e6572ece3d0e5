"""app/web/teardown.py: the NiceGUI internals it relies on are the ones it was written against.

The behaviour (a closed tab, and elements removed while a page lives, freed by reference counting alone) is proven
on the chat page: tests/components/test_closed_tab.py.
"""

from __future__ import annotations

import nicegui
from nicegui import Client
from nicegui.classes import Classes
from nicegui.element import Element
from nicegui.elements.mixins.value_element import ValueElement
from nicegui.observables import ObservableCollection
from nicegui.props import Props
from nicegui.style import Style

from app.web import teardown
from tests.pins import Pinned, changed

# What teardown.py relies on, by the SHA-256 (first 16 hex digits) of its source in the pinned NiceGUI
# (requirements.lock): every removal of elements (a client's delete, an element's clear, remove and delete) goes
# through `Client.remove_elements`, which marks them deleted and drops them from the client; the props, classes and
# style of an element are observables whose change handlers are a list of (handler, expects arguments) in
# `_change_handlers`, their own `_update` its one entry; an input's value-change handlers are the list
# `_change_handlers` on the element; NiceGUI's `_handle_delete` (which clears slots and event listeners) leaves
# those lists alone. An upgrade that changes any of them fails here: read teardown.py against it (a removed
# element's handlers must still have nothing left to do, and the cycles may be gone or elsewhere), then update.
PINNED: Pinned = {
    'Client.remove_elements': (teardown._remove_elements, 'd056219068c946e1'),
    'Client.remove_all_elements': (Client.remove_all_elements, 'fc1cce7f3d68c2e4'),
    'Client.delete': (Client.delete, 'aa5e09ec2f35ea6c'),
    'Element.__init__': (Element.__init__, '195119f5d43e0bcb'),
    'Element.clear': (Element.clear, '6489c620124dbb4d'),
    'Element.remove': (Element.remove, '0322c13ae25da114'),
    'Element.delete': (Element.delete, 'aeaafbe77c17ab25'),
    'Element._handle_delete': (Element._handle_delete, '1f2379fb4810ab29'),
    'ObservableCollection.__init__': (ObservableCollection.__init__, 'ffc60c559135ead5'),
    'Classes.__init__': (Classes.__init__, '0a214e98612545bd'),
    'Style.__init__': (Style.__init__, '0a214e98612545bd'),
    'Props.__init__': (Props.__init__, '1fbb1d102be87265'),
    'ValueElement.__init__': (ValueElement.__init__, '2d79aeb9e7dd56e5'),
    'ValueElement.on_value_change': (ValueElement.on_value_change, '38ac2868244895f2'),
}


def test_the_nicegui_internals_teardown_relies_on_are_unchanged() -> None:
    now = changed(PINNED)
    assert not now, f'NiceGUI {nicegui.__version__}: changed since teardown.py was written against it: {now}'
