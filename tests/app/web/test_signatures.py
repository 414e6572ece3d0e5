"""The cached `expects_arguments` (app/web/signatures.py) answers as NiceGUI's own does, for every kind of callable."""

from __future__ import annotations

import functools
from typing import Any

from app.web import signatures


def plain(event: Any) -> None: ...
def no_args() -> None: ...
def defaulted(event: Any = None) -> None: ...
def variadic(*args: Any, **kwargs: Any) -> None: ...
def keyword_only(*, event: Any) -> None: ...
def keyword_defaulted(*, event: Any = None) -> None: ...


class Page:
    def on_click(self) -> None: ...
    def on_change(self, event: Any) -> None: ...
    @classmethod
    def build(cls, event: Any) -> None: ...
    @staticmethod
    def static(event: Any) -> None: ...
    def __call__(self, event: Any) -> None: ...


def made(count: int) -> list[Any]:
    """Closures of one definition, with and without their default: one code object, different answers."""
    out = []
    for index in range(count):
        out.append(lambda event, index=index: None)  # defaulted `index`: still expects `event`
        out.append(lambda index=index: None)  # expects nothing
    return out


def wrapped(event: Any) -> None: ...
@functools.wraps(no_args)
def wrapper(*args: Any) -> None: ...
def shrunk(event: Any) -> None: ...
shrunk.__defaults__ = (None,)  # the same code, a default added later: no longer expects an argument


def test_answers_as_nicegui_does_for_every_kind_of_callable() -> None:
    page = Page()
    callables = [plain, no_args, defaulted, variadic, keyword_only, keyword_defaulted, page.on_click, page.on_change,
                 Page.on_change, Page.build, Page.static, page, Page, print, functools.partial(plain, 1),
                 functools.partial(defaulted), wrapper, shrunk, *made(3), lambda: None, lambda e: None]
    for _ in range(2):  # the second time from the cache
        for function in callables:
            assert signatures.expects_arguments(function) is signatures._uncached(function), function


def test_the_same_code_with_other_defaults_is_not_confused() -> None:
    def factory(with_default: bool) -> Any:
        def handler(event: Any) -> None: ...
        if with_default:
            handler.__defaults__ = (None,)
        return handler
    assert signatures.expects_arguments(factory(False)) is True
    assert signatures.expects_arguments(factory(True)) is False
    assert signatures.expects_arguments(factory(False)) is True
