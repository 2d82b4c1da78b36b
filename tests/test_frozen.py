"""harness._frozen.fast_init: the hot-path events build faster and behave the same."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

from harness._frozen import fast_init
from harness.stream.events import Delta, Done, Metadata, StreamError, ToolCallDelta, Usage
from harness.stream.sse import Comment, ServerSentEvent

CLASSES = [Delta, Done, Metadata, StreamError, ToolCallDelta, Usage, Comment, ServerSentEvent]


def _reference(cls: type) -> type:
    """The same dataclass with dataclasses' own __init__."""
    fields = [
        (f.name, f.type, dataclasses.field(default=f.default, hash=f.hash))
        if f.default is not dataclasses.MISSING
        else (f.name, f.type)
        for f in dataclasses.fields(cls)
    ]
    return dataclasses.make_dataclass(cls.__name__, fields, frozen=True, slots=True)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_the_fast_init_takes_what_the_dataclass_init_takes(cls: type) -> None:
    reference = _reference(cls)
    ours = inspect.signature(cls.__init__)
    theirs = inspect.signature(reference.__init__)
    assert [(p.name, p.default) for p in ours.parameters.values()] == [
        (p.name, p.default) for p in theirs.parameters.values()
    ]


def test_built_values_are_equal_frozen_and_hashable() -> None:
    delta = Delta(content="x", tool_calls=(ToolCallDelta(0, arguments="{}"),))
    assert delta == Delta(0, None, "x", None, None, (ToolCallDelta(index=0, arguments="{}"),))
    assert hash(delta) == hash(dataclasses.replace(delta))
    assert repr(delta).startswith("Delta(index=0, role=None, content='x'")
    with pytest.raises(dataclasses.FrozenInstanceError):
        delta.content = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        Delta(nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ToolCallDelta()  # type: ignore[call-arg]
    assert ServerSentEvent() == ServerSentEvent("", "message", None, None)
    event = ServerSentEvent("d", "message", None, None)
    assert (event.data, event.event, event.id, event.retry) == ("d", "message", None, None)
    usage = Usage(1, 2, 3, prompt_tokens_details={"cached_tokens": 1})
    assert usage.completion_tokens_details is None


def test_what_fast_init_refuses() -> None:
    @dataclasses.dataclass(frozen=True, slots=True)
    class WithFactory:
        items: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True)
    class WithPostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    class Plain:
        pass

    for cls, message in [
        (WithFactory, "default factory"),
        (WithPostInit, "__post_init__"),
        (Plain, "not a slotted dataclass"),
    ]:
        with pytest.raises(TypeError, match=message):
            fast_init(cls)
