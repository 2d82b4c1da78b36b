"""Fuzzing the scenario loader: whatever a file holds, loading it either gives a
scenario or raises :class:`ScenarioError` (or its :class:`ScenarioSetError`) naming
the file. Never another exception, never a crash.

Four sources of files: random data dumped as YAML, random text, random bytes, and
mutations of the built-in library (a line deleted, two lines swapped, a value given
another type, the file truncated, bytes replaced). Bounded: a few hundred examples
each, about ten seconds in all (``HARNESS_FUZZ_SCALE=20`` runs twenty times more).
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError, ScenarioSetError
from harness.mock.scenario import builtin_scenarios_dir, load_scenario

_counter = itertools.count()
_BIG = "BIGINT-PLACEHOLDER"  # Hypothesis cannot print a 5000-digit int, so it is pasted in

#: HARNESS_FUZZ_SCALE=20 runs twenty times the examples (a longer hunt, by hand).
_SCALE = float(os.environ.get("HARNESS_FUZZ_SCALE", "1"))


def _examples(count: int) -> int:
    return max(1, int(count * _SCALE))


FUZZ = settings(
    max_examples=_examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for the generated files (one new file per example)."""
    return tmp_path_factory.mktemp("fuzz")


def _load(folder: Path, data: bytes) -> None:
    """Write ``data`` as a scenario file and load it: a scenario, or our error naming it."""
    path = folder / f"s{next(_counter)}.yaml"
    path.write_bytes(data)
    caught: ScenarioError | None = None
    try:
        load_scenario(path, root=folder)
    except ScenarioError as exc:  # anything else fails the test
        caught = exc
    finally:
        path.unlink()
    if caught is None:
        return
    assert str(caught).startswith(str(path)) or str(path) in str(caught), caught
    errors = caught.errors if isinstance(caught, ScenarioSetError) else (caught,)
    assert errors
    for error in errors:
        assert error.path == str(path), error


# --- random data, dumped as YAML ------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.just(_BIG)  # replaced by 5000 digits: past Python's int-from-str limit
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["openai", "anthropic", "gemini", "[DONE]", "2001-13-45", "1", "0x1f"])
    | st.binary(max_size=20)
)
_keys = st.sampled_from(
    [
        "version",
        "name",
        "provider",
        "events",
        "responses",
        "body",
        "data",
        "event",
        "id",
        "retry",
        "raw",
        "raw_b64",
        "disconnect",
        "sleep_ms",
        "comment",
        "faults",
        "match",
        "expect",
        "status",
        "headers",
        "delay_ms",
        "newline",
        "model",
        "tool_calls",
        "usage",
    ]
) | st.text(max_size=10)
_data = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=25,
)
_scenario_like = st.fixed_dictionaries(
    {"version": st.just(1) | _scalars, "provider": st.sampled_from(["openai", "gemini"])},
    optional={"events": st.lists(_data, max_size=5), "expect": _data, "faults": _data},
)


@FUZZ
@given(data=_data | _scenario_like)
def test_random_yaml_documents(folder: Path, data: Any) -> None:
    """Random nested data dumped as YAML (typed scalars, binary, big ints included)."""
    text = yaml.safe_dump(data, allow_unicode=True).replace(_BIG, "9" * 5000)
    _load(folder, text.encode("utf-8", "surrogatepass"))


# --- random text and bytes -------------------------------------------------------------------


@FUZZ
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_random_text(folder: Path, text: str) -> None:
    """Random UTF-8 text (control characters, tabs, lone YAML indicators)."""
    _load(folder, text.encode("utf-8", "surrogatepass"))


_YAML_BITS = [
    "{",
    "}",
    "[",
    "]",
    ":",
    "- ",
    "&a ",
    "*a",
    "!!",
    "? ",
    "|",
    ">",
    "\n",
    "  ",
    "'",
    '"',
]


@FUZZ
@given(parts=st.lists(st.sampled_from(_YAML_BITS) | st.text(max_size=4), max_size=60))
def test_yaml_punctuation_soup(folder: Path, parts: list[str]) -> None:
    """Text made of YAML's indicators: anchors, aliases, tags, flow and block styles."""
    _load(folder, "".join(parts).encode("utf-8", "surrogatepass"))


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(folder: Path, data: bytes) -> None:
    """Random bytes (mostly not UTF-8)."""
    _load(folder, data)


# --- mutations of the built-in library -----------------------------------------------------------

_BUILTINS = sorted(builtin_scenarios_dir().rglob("*.yaml"))
_VALUES = [
    "[]",
    "{}",
    "null",
    "~",
    "true",
    "-1",
    "1e400",
    ".nan",
    "-.inf",
    '"x"',
    "2001-13-45",
    "&anchor 1",
    "*missing",
    "!!binary '@@'",
    "!!python/object:os.system 'true'",
    "9" * 5000,
    "[[[[[[",
    "{a: 1, a: 2}",
    "|\n  block",
]


def _mutate(lines: list[str], kind: str, draw: Any) -> list[str]:
    if not lines:
        return lines
    at = draw(st.integers(0, len(lines) - 1))
    out = list(lines)
    if kind == "delete":
        del out[at]
    elif kind == "swap":
        other = draw(st.integers(0, len(lines) - 1))
        out[at], out[other] = out[other], out[at]
    elif kind == "duplicate":
        out.insert(at, out[at])
    elif kind == "retype":
        head, sep, _ = out[at].partition(": ")
        value = draw(st.sampled_from(_VALUES))
        out[at] = f"{head}{sep or ': '}{value}"
    elif kind == "indent":
        out[at] = draw(st.sampled_from(["", " ", "\t", "    "])) + out[at].lstrip()
    elif kind == "truncate":
        text = "\n".join(out)
        cut = draw(st.integers(0, len(text)))
        return text[:cut].split("\n")
    return out


@settings(FUZZ, max_examples=_examples(200))
@given(
    path=st.sampled_from(_BUILTINS),
    kinds=st.lists(
        st.sampled_from(["delete", "swap", "duplicate", "retype", "indent", "truncate"]),
        min_size=1,
        max_size=4,
    ),
    data=st.data(),
)
def test_mutated_builtin_scenarios(
    folder: Path, path: Path, kinds: list[str], data: st.DataObject
) -> None:
    """A built-in scenario with lines deleted, swapped, duplicated, re-indented, values
    of another type, or cut short."""
    lines = path.read_text().split("\n")
    for kind in kinds:
        lines = _mutate(lines, kind, data.draw)
    _load(folder, "\n".join(lines).encode())


@settings(FUZZ, max_examples=_examples(120))
@given(
    path=st.sampled_from(_BUILTINS),
    edits=st.lists(st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=3)), max_size=4),
)
def test_builtin_scenarios_with_bytes_replaced(
    folder: Path, path: Path, edits: list[tuple[float, bytes]]
) -> None:
    """A built-in scenario with a few bytes overwritten (invalid UTF-8 mid-file, NULs)."""
    raw = bytearray(path.read_bytes())
    for where, new in edits:
        at = int(where * (len(raw) - 1))
        raw[at : at + len(new)] = new
    _load(folder, bytes(raw))


def test_every_builtin_still_loads(folder: Path) -> None:
    """The mutation sources are themselves valid (so mutations start from good files)."""
    assert len(_BUILTINS) > 40
    for path in _BUILTINS:
        load_scenario(path)
