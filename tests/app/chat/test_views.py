"""Views: a streaming message's deltas go to each view's sink once it names one, and back through on_delta after
any other change; a view that fails is detached, the others keep every delta."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from app.chat.message import STREAMING, Message
from app.chat.view import Views


class Page:
    """A view that records how each delta reached it; `sinks` says whether it names a sink."""

    def __init__(self, sinks: bool = True) -> None:
        self.sinks = sinks
        self.calls: list[tuple[str, str]] = []  # (how, text)
        self.fail = False

    def on_message(self, message: Message) -> None:
        pass

    def on_delta(self, message: Message, text: str) -> None:
        self._take('on_delta', text)

    def on_reasoning(self, message: Message, text: str) -> None:
        pass

    def on_finish(self, message: Message) -> None:
        pass

    def on_branch(self) -> None:
        pass

    def on_details(self) -> None:
        pass

    def on_deleted(self) -> None:
        pass

    def _take(self, how: str, text: str) -> None:
        if self.fail:
            raise RuntimeError('a failing view')
        self.calls.append((how, text))

    def sink(self, message: Message) -> Callable[[str], None] | None:
        return (lambda text: self._take('sink', text)) if self.sinks else None


def reply() -> Message:
    return Message('r1', 'assistant', status=STREAMING)


def test_the_first_delta_goes_through_on_delta_and_the_rest_to_the_sink() -> None:
    views, page, plain = Views(), Page(), Page(sinks=False)
    views.add(page)
    views.add(plain)
    message = reply()
    for text in 'abc':
        views.delta(message, text)
    assert page.calls == [('on_delta', 'a'), ('sink', 'b'), ('sink', 'c')]
    assert plain.calls == [('on_delta', 'a'), ('on_delta', 'b'), ('on_delta', 'c')]


@pytest.mark.parametrize('change', ['notify', 'add', 'remove', 'other message'])
def test_any_other_change_goes_back_to_on_delta_once(change: str) -> None:
    views, page, other = Views(), Page(), Page()
    views.add(page)
    views.add(other)
    message = reply()
    views.delta(message, 'a')
    views.delta(message, 'b')
    if change == 'notify':
        views.notify(lambda view: view.on_branch())
    elif change == 'add':
        views.add(Page())
    elif change == 'remove':
        views.remove(other)
    else:
        views.delta(Message('r2', 'assistant', status=STREAMING), 'x')
    views.delta(message, 'c')
    views.delta(message, 'd')
    assert [how for how, text in page.calls if text in 'abcd'] == ['on_delta', 'sink', 'on_delta', 'sink']


def test_a_failing_sink_detaches_its_view_and_the_others_keep_every_delta(caplog: pytest.LogCaptureFixture) -> None:
    views, failing, page = Views(), Page(), Page()
    views.add(failing)
    views.add(page)
    message = reply()
    views.delta(message, 'a')
    failing.fail = True
    views.delta(message, 'b')
    views.delta(message, 'c')
    assert len(views) == 1 and 'detaching it' in caplog.text
    assert ''.join(text for _, text in page.calls) == 'abc'
