"""JSON from untrusted text, where every failure is a ``ValueError``.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) on input nested a few
thousand levels deep, e.g. ``[[[[...``; fuzzing found that in five places that took
request headers, recorded streams or tool arguments. Pure standard library.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["depth", "loads"]

_decode = json.JSONDecoder().decode  # json.loads(str) minus its per-call argument checks


def loads(text: str | bytes, *, strict: bool = False) -> Any:
    """``json.loads``, but nesting too deep to parse is a ``ValueError`` too.

    ``strict`` refuses ``NaN``, ``Infinity`` and ``-Infinity``, which Python's json
    reads but JSON (RFC 8259) does not have.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), not UTF-8 (``UnicodeDecodeError``),
            an integer past Python's digit limit, nested too deeply to parse, or (strict)
            a non-finite constant.
    """
    try:
        if strict:
            return json.loads(text, parse_constant=_no_constant)
        return _decode(text) if isinstance(text, str) else json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def depth(value: Any) -> int:
    """How deeply ``value`` nests lists and dicts (a scalar is 0, ``[]`` is 1)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            level += 1
            deepest = max(deepest, level)
            stack.extend((child, level) for child in item)
    return deepest
