"""harness._json reads with orjson when it is installed: the same values and the same
errors as the standard library, whatever the input (orjson is in the locked test
environment, through the `fast` extra)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import _json

pytest.importorskip("orjson")


@pytest.fixture(autouse=True)
def _accelerator_back_on() -> Iterator[None]:
    yield
    _json.accelerated(True)


def outcome(text: str | bytes, *, fast: bool, strict: bool = False) -> tuple[Any, ...]:
    """What reading ``text`` gives: ``("ok", type, repr)`` or ``("error", type, message)``."""
    _json.accelerated(fast)
    try:
        value = _json.loads(text, strict=strict)
    except Exception as exc:  # any error: the comparison is the point
        return ("error", type(exc), str(exc))
    return ("ok", type(value), repr(value))


def same_both_ways(text: str | bytes) -> None:
    for strict in (False, True):
        fast = outcome(text, fast=True, strict=strict)
        assert fast == outcome(text, fast=False, strict=strict), (text, strict)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.sampled_from(["\ud800", "\udfff x", "é 漢字 🙂", "\x00\x1f\x7f", "\u2028\u2029"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(VALUES, st.booleans(), st.sampled_from([None, (",", ":"), (", ", ": ")]))
def test_any_json_reads_the_same_with_and_without_orjson(
    value: Any, ascii: bool, separators: tuple[str, str] | None
) -> None:
    """Any value written as JSON (big integers, NaN and infinities, lone surrogates,
    every float) reads to the same value of the same type, as text and as UTF-8."""
    text = json.dumps(value, ensure_ascii=ascii, separators=separators)
    same_both_ways(text)
    same_both_ways(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=600, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.sampled_from('{}[],:"\\ 0123456789.eE+-tnfrulasNIy\t\n\r\x0c\ufeff')),
        st.text(),
        st.binary(),
    )
)
def test_any_text_reads_or_fails_the_same_with_and_without_orjson(text: str | bytes) -> None:
    """Text that is almost JSON, or not at all: the same value, or the same error
    (type and message), with and without orjson."""
    same_both_ways(text)


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551616",  # past 64 bits: a float to orjson
        "-9223372036854775809",
        '{"n": 123456789012345678901234567890}',
        '"1234567890123456789012"',  # digits in a string: read by the stdlib, the same
        "1e400",
        "NaN",
        "-Infinity",
        '"\\ud800"',
        "[" * 2000 + "]" * 2000,  # deeper than orjson's 1,024 and than Python's recursion
        "[" * 1100 + "]" * 1100,
        # Between the standard library's limit (Python's recursion limit, here about
        # 1,000 less the stack in use) and orjson's 1,024: orjson would read these.
        *("[" * n + "]" * n for n in (950, 990, 1000, 1010, 1024)),
        '{"a":' * 1000 + "1" + "}" * 1000,
        "[" + ",".join(["[]"] * 300) + "]",  # many brackets, shallow
        "\ufeff{}",
        '{"a":1,"a":2}',
        "",
        " ",
        "1 2",
        '{"a":1}\n',
    ],
)
def test_known_differences_of_orjson_read_as_the_standard_library_does(text: str) -> None:
    same_both_ways(text)
    same_both_ways(text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("value", [None, 1, 2.5, bytearray(b"[1]"), memoryview(b"[1]")])
def test_what_is_not_str_or_bytes_reads_as_the_standard_library_reads_it(value: Any) -> None:
    """orjson takes memoryviews and refuses bytearrays differently: only str and bytes
    are given to it; anything else is the standard library's to read or refuse."""
    fast, slow = (outcome(value, fast=flag) for flag in (True, False))
    assert fast == slow


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le", "utf-32"])
def test_bytes_in_any_encoding_json_detects(encoding: str) -> None:
    same_both_ways('{"k": ["é", 1, 2.5]}'.encode(encoding))


def test_accelerated_names_the_reader_and_turns_it_off() -> None:
    assert _json.accelerated() == "orjson"
    assert _json.accelerated(False) is None
    assert _json.loads('{"a": [1]}') == {"a": [1]}
    assert _json.accelerated(True) == "orjson"


def test_without_orjson_the_standard_library_reads_alone() -> None:
    """harness[fast] is optional: without orjson (its import fails) nothing changes but
    the speed, and accelerated() says so."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "sys.modules['orjson'] = None  # what a missing package looks like to import\n"
        "from harness import _json\n"
        "print(_json.accelerated(), _json.accelerated(True))\n"
        "print(_json.loads(b'{\"a\": [18446744073709551616, 1.5]}'))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines() == ["None None", "{'a': [18446744073709551616, 1.5]}"]
