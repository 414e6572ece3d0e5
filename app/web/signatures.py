"""NiceGUI's `helpers.expects_arguments` answered once per function definition instead of by `inspect.signature`
on every call.

NiceGUI asks it for every change handler it registers: each element's props, classes and style are observables
with one, so every element made costs three `inspect.signature` calls (~40 µs of a button's ~250), and a turn of
the chat makes ~17 elements while other replies stream (bench/page_load, docs/page_load.md). For a plain function
or a method bound to one, the answer depends only on its code (which parameters it has, of which kinds), how many
positional defaults it has, which keyword-only ones have defaults, and whether it is bound: that is the cache's key.
Anything else (a partial, a callable object, a builtin, a function that names another signature through
`__wrapped__`, `__signature__` or `__partialmethod__`) is asked of NiceGUI's own function every time.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from nicegui import helpers

_uncached = helpers.expects_arguments
_answers: dict[tuple[Any, ...], bool] = {}  # bounded by the program's function definitions, not by calls
# Function attributes through which `inspect.signature` reports another signature than the code's own.
_OVERRIDES = ('__wrapped__', '__signature__', '__partialmethod__')


def expects_arguments(func: Callable[..., Any]) -> bool:
    """Whether `func` expects non-variable arguments without a default value (NiceGUI's helper, cached)."""
    bound = type(func) is types.MethodType
    function = func.__func__ if bound else func  # type: ignore[attr-defined]
    if type(function) is not types.FunctionType or any(name in function.__dict__ for name in _OVERRIDES):
        return _uncached(func)
    key = (function.__code__, bound, len(function.__defaults__ or ()), frozenset(function.__kwdefaults__ or ()))
    answer = _answers.get(key)
    if answer is None:
        answer = _answers[key] = _uncached(func)
    return answer


def install() -> None:
    """Use the cached helper wherever NiceGUI calls `helpers.expects_arguments` (it looks it up on each call)."""
    helpers.expects_arguments = expects_arguments
