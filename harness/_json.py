"""JSON both ways: read from untrusted text (every failure a ``ValueError``), written compact.

``json.loads`` raises ``RecursionError`` (not ``ValueError``) on input nested a few
thousand levels deep, e.g. ``[[[[...``; fuzzing found that in the pipeline and in five
places outside it (request headers, recorded streams, tool arguments). :func:`loads`
makes it a ``ValueError`` like any other malformed input; the request body reader
uses it too. :func:`dumps` is the one compact writer (``{"a":1}``, no spaces) that
harness uses for everything it sends or compares.

Pure standard library, with one optional accelerator: when orjson is installed
(``pip install 'harness[fast]'``), :func:`loads` reads with it first, and gives the
same values and the same errors as the standard library. orjson refuses what it
reads differently (NaN, numbers out of float range, lone surrogates, nesting past
1,024 levels, text that is not UTF-8), and :func:`loads` reads all of that again with
the standard library. What orjson would read where the standard library does not goes
to the standard library directly: an integer past 64 bits (a float to orjson) needs a
run of 19 digits, and nesting the standard library refuses (its depth is bounded by
Python's recursion limit, below orjson's 1,024) needs many opening brackets; only
``str`` and ``bytes`` are given to orjson. Writing stays with the
standard library: orjson writes floats and NaN differently (``1e16`` for ``1e+16``,
``null`` for ``NaN``), and the renderers encode only each fragment, a C call already.
:func:`accelerated` says whether the accelerator is in use, and turns it off or on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["accelerated", "ascii_escaped", "depth", "dumps", "loads"]

_decode = json.JSONDecoder().decode  # json.loads(str) minus its per-call argument checks

#: Every digit made ``0`` and every ``{`` a ``[``: a run of digits long enough to be an
#: integer orjson would read as a float is then a substring, and the opening brackets
#: one count (C searches, where a regular expression took longer than the parse).
_FOLD = bytes.maketrans(b"0123456789{", b"0000000000[")
_LONG_RUN = b"0" * 19
#: Text with fewer opening brackets than this nests less deeply: the standard library
#: reads it too, unless its caller is within that many frames of Python's recursion
#: limit. Deeper text goes to the standard library, which refuses it where orjson
#: (up to 1,024 levels) would not.
_FEW_BRACKETS = 100


def _accelerator() -> tuple[Callable[[str | bytes], Any], type[Exception]] | None:
    try:
        import orjson
    except ImportError:
        return None
    return orjson.loads, orjson.JSONDecodeError


_FAST = _ACCELERATOR = _accelerator()


def accelerated(use: bool | None = None) -> str | None:
    """The accelerated reader in use (``"orjson"``), or ``None`` when there is none.

    ``use=False`` turns it off and ``use=True`` back on (when it is installed): the
    tests read the same input both ways, and the benchmarks time both.
    """
    global _FAST
    if use is not None:
        _FAST = _ACCELERATOR if use else None
    return "orjson" if _FAST is not None else None


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


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def ascii_escaped(text: str) -> str:
    """JSON text (or text around it, such as an SSE frame) with every non-ASCII
    character escaped: what ``dumps(..., ascii=True)`` writes for the same value, since
    outside string literals JSON has only ASCII. For a frame encoded from a template
    that turns out not to be UTF-8 (a lone surrogate anywhere in it)."""
    return _NON_ASCII.sub(lambda match: _ENCODERS[True, True](match.group())[1:-1], text)


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
    fast = _FAST
    if fast is not None and (type(text) is str or type(text) is bytes):
        try:
            raw = text.encode() if isinstance(text, str) else text
        except UnicodeEncodeError:  # a lone surrogate: not UTF-8, not for orjson
            pass
        else:
            folded = raw.translate(_FOLD)
            if _LONG_RUN not in folded and folded.count(b"[") < _FEW_BRACKETS:
                try:
                    return fast[0](raw)
                except fast[1]:
                    pass  # the standard library reads it, or says why not, as it would
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
