"""JSON both ways: read from untrusted text (every failure a ``ValueError``), written compact.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) on input nested a few
thousand levels deep, e.g. ``[[[[...``; fuzzing found that in the pipeline and in five
places outside it (request headers, recorded streams, tool arguments). :func:`loads`
makes it a ``ValueError`` like any other malformed input; the request body reader
uses it too. :func:`dumps` is the one compact writer (``{"a":1}``, no spaces) that
harness uses for everything it sends or compares. Pure standard library.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["depth", "dumps", "loads"]

_decode = json.JSONDecoder().decode  # json.loads(str) minus its per-call argument checks

#: Compact encoders by ``(ascii, allow_nan)``, built once: ``json.dumps`` with options
#: builds a new encoder on every call, and this is on the streaming hot path.
_ENCODERS = {
    (ascii, allow_nan): json.JSONEncoder(
        ensure_ascii=ascii, allow_nan=allow_nan, separators=(",", ":")
    ).encode
    for ascii in (False, True)
    for allow_nan in (False, True)
}


def dumps(value: Any, *, ascii: bool = False, allow_nan: bool = True) -> str:
    """``value`` as compact JSON text: ``,`` and ``:`` separators, no spaces.

    The same text as ``json.dumps(value, separators=(",", ":"), ...)``.

    Args:
        value: what to write (keys in their order).
        ascii: escape every non-ASCII character (``"\\u00e9"``); by default it is
            written as it is, as the providers do.
        allow_nan: write a NaN or infinite float as ``NaN`` / ``Infinity``, which
            Python reads but JSON does not have; ``False`` refuses them.

    Raises:
        ValueError: ``allow_nan`` is false and ``value`` holds a NaN or infinity.
        TypeError: ``value`` holds something JSON cannot (a set, bytes...).
    """
    return _ENCODERS[ascii, allow_nan](value)


def loads(text: str | bytes, *, strict: bool = False) -> Any:
    """``json.loads``, but nesting too deep to parse is a ``ValueError`` too.

    ``strict`` refuses ``NaN``, ``Infinity`` and ``-Infinity``, which Python's json
    reads but JSON (RFC 8259) does not have.

    ``bytes`` may be UTF-8, UTF-16 or UTF-32 text, as ``json.loads`` detects.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``), bytes that are not text
            (``UnicodeDecodeError``), an integer past Python's digit limit, nested too
            deeply to parse, or (strict) a non-finite constant.
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
