"""Values of options that ``harness``, the pytest plugin and the mock server share.

One validator per kind of value, so that a port or a speed means the same on the
command line, in a pytest option or marker, and in a request header. Each raises a
plain ``ValueError`` (what argparse expects of a type function) with a message that
says what the value must be; callers word it for where the value came from, or turn
it into their own error.

Below everything (standard library only), beside :mod:`harness.errors` rather than
on top of it (pyproject's layer contract), so that the plugin, which every pytest
run loads, can use it without importing a web stack.
"""

from __future__ import annotations

import math
import re

__all__ = ["port", "speed"]

_DIGITS = re.compile(r"[0-9]{1,5}")


def port(text: str) -> int:
    """A TCP port from an option's text: an integer 0..65535, 0 meaning a free one.

    Plain digits only (no sign, ``_`` or ``8.0``), surrounding spaces allowed.

    Raises:
        ValueError: anything else, with a message that says what a port is.
    """
    value = int(text) if _DIGITS.fullmatch(text.strip()) else -1
    if not 0 <= value <= 65535:
        raise ValueError(f"a port is an integer from 0 to 65535 (0: a free one), got {text!r}")
    return value


def speed(value: object) -> float:
    """A replay speed factor: a finite number >= 0 (1 recorded timing, 0 no pauses).

    Whatever ``float()`` reads counts: text such as ``"0.5"``, ``" 1 "`` or ``"1e-3"``,
    an int or a float (from a pytest marker or fixture).

    Raises:
        ValueError: anything else (negative, NaN, infinite, not a number), with a
            message that says what a speed is. When ``value`` is not a number at all,
            the ``float()`` error is its ``__cause__``, for callers whose message
            tells the two cases apart.
    """
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise ValueError(_speed_problem(value)) from exc
    if not (number >= 0 and math.isfinite(number)):
        raise ValueError(_speed_problem(value))
    return number


def _speed_problem(value: object) -> str:
    return f"a harness speed is a finite number >= 0, got {value!r}"
