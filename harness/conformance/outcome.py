"""What a client concluded (:class:`Outcome`) and how it is compared with ``expect``.

Plain data in OpenAI's vocabulary, shared by user adapters, the shipped adapters
(:mod:`harness.conformance.clients`) and the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.mock.scenario import Expect

__all__ = ["Outcome", "OutcomeError", "ToolCall", "compare"]


@dataclass(frozen=True)
class ToolCall:
    """A tool call the client assembled: its name and its parsed JSON arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutcomeError:
    """The error the client reported.

    Attributes:
        status: the HTTP status, for an HTTP error.
        code: the error's code (for a stream that broke: the provider's error type,
            or ``connection_closed`` for a connection that ended before the answer).
        type: the error's type, when the provider gives one apart from the code.
    """

    status: int | None = None
    code: str | None = None
    type: str | None = None


@dataclass
class Outcome:
    """What the client concluded from one call, in OpenAI vocabulary.

    ``finish_reason`` is one of ``stop``, ``length``, ``tool_calls``,
    ``content_filter`` (or ``None`` when the client saw none); ``usage`` has
    ``prompt_tokens``, ``completion_tokens`` and ``total_tokens``.
    """

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    error: OutcomeError | None = None


def compare(outcome: Outcome, expect: Expect) -> list[str]:
    """The differences between what a client concluded and what it should have.

    Fields that ``expect`` leaves out are not checked, except the error: without
    ``expect.error`` the client must report none. ``absent`` (``finish_reason``,
    ``usage``) demands that the client report none. ``expect.error.status`` is compared
    with the outcome's status; ``expect.error.code`` with its ``code`` or its ``type``
    (providers put the error's kind in one or the other). Returns ``[]`` when the
    outcome conforms, else one readable line per difference.
    """
    out: list[str] = []
    if expect.text is not None and outcome.text != expect.text:
        out.append(f"text: expected {expect.text!r}, got {outcome.text!r}")
    if expect.reasoning is not None and outcome.reasoning != expect.reasoning:
        out.append(f"reasoning: expected {expect.reasoning!r}, got {outcome.reasoning!r}")
    if expect.tool_calls is not None:
        want = [(call.name, call.arguments) for call in expect.tool_calls]
        got = [(call.name, call.arguments) for call in outcome.tool_calls]
        if want != got:
            out.append(f"tool_calls: expected {_calls(want)}, got {_calls(got)}")
    if expect.finish_reason == "absent":
        if outcome.finish_reason is not None:
            out.append(
                f"finish_reason: expected none (the provider sent none), "
                f"got {outcome.finish_reason!r}"
            )
    elif expect.finish_reason is not None and outcome.finish_reason != expect.finish_reason:
        out.append(
            f"finish_reason: expected {expect.finish_reason!r}, got {outcome.finish_reason!r}"
        )
    if expect.usage == "absent":
        if outcome.usage is not None:
            out.append(f"usage: expected none (the provider reported none), got {outcome.usage}")
    elif expect.usage is not None:
        wanted = expect.usage.model_dump(exclude_none=True)
        if outcome.usage is None:
            out.append(f"usage: expected {wanted}, got none")
        else:
            out.extend(
                f"usage.{key}: expected {value}, got {outcome.usage.get(key)}"
                for key, value in wanted.items()
                if outcome.usage.get(key) != value
            )
    out.extend(_compare_error(outcome.error, expect))
    return out


def _compare_error(error: OutcomeError | None, expect: Expect) -> list[str]:
    want = expect.error
    if want is None:
        return [] if error is None else [f"error: expected none, got {_error(error)}"]
    wanted = ", ".join(f"{k} {v!r}" for k, v in want.model_dump(exclude_none=True).items())
    if error is None:
        return [f"error: expected {wanted}, got none (the client reported no error)"]
    out = []
    if want.status is not None and error.status != want.status:
        out.append(f"error.status: expected {want.status}, got {error.status}")
    if want.code is not None and want.code not in (error.code, error.type):
        out.append(f"error.code: expected {want.code!r}, got {_error(error)}")
    return out


def _error(error: OutcomeError) -> str:
    parts = [f"{name} {value!r}" for name, value in vars(error).items() if value is not None]
    return f"an error ({', '.join(parts) or 'no details'})"


def _calls(calls: list[tuple[str, dict[str, Any]]]) -> str:
    return "[" + ", ".join(f"{name}({arguments})" for name, arguments in calls) + "]"
