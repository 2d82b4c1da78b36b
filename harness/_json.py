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


def loads(text: str | bytes) -> Any:
    """``json.loads``, but nesting too deep to parse is a ``ValueError`` too.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), not UTF-8 (``UnicodeDecodeError``),
            an integer past Python's digit limit, or nested too deeply to parse.
    """
    try:
        return _decode(text) if isinstance(text, str) else json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse") from None


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
