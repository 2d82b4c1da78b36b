"""Golden files: what harness sends for every scenario, written down and compared.

Four goldens per scenario, ``<goldens>/<scenario name>.<kind>.sse``:

* ``raw``: what the server sends on the scenario's own provider route (the replay,
  byte for byte);
* ``openai``: what the OpenAI route sends with the scenario put through the
  normalization pipeline (for an openai scenario too, as ``x-harness-normalize: 1``);
* ``responses`` and ``converse``: likewise on the Responses route and on Bedrock's
  ``converse-stream`` route.

A golden is readable text: per answer a block of ``#`` lines (status, write count,
how the stream ends, the headers), a blank line, then the body bytes exactly as
sent; an AWS event stream (binary) is written one message per line instead
(:func:`eventstream_view`). Volatile values (ids, timestamps, request ids...) are
replaced by placeholders by :func:`mask`, in the files and before comparing.
``docs/goldens.md`` describes the format and every masking rule; ``harness check``
compares (or ``--update``\\s) the goldens of a whole scenario set.

Everything here is pure except the functions that read or write files
(:func:`write_atomic`, :func:`assert_golden`, :func:`check`, :func:`unused_goldens`);
nothing imports the web stack. Goldens are written by :func:`harness.atomic.write_atomic`
(re-exported here): a kill at any moment leaves each golden old or new, whole, and no
temporary file behind.
"""

from __future__ import annotations

import base64
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.atomic import write_atomic
from harness.errors import HarnessError, InvalidValueError, UsageError
from harness.mock.replay import NORMALIZED_ROUTES, Plan, build_plan
from harness.mock.scenario import NAME_PATTERN, Scenario, ScenarioSet
from harness.stream.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    encode,
    event_message,
    exception_message,
)
from harness.stream.outputs import EVENTSTREAM_CONTENT_TYPE
from harness.stream.provider_errors import Family

__all__ = [
    "KINDS",
    "SUFFIX",
    "CheckReport",
    "GoldenMismatch",
    "Kind",
    "assert_golden",
    "check",
    "diff_bytes",
    "eventstream_view",
    "golden_path",
    "mask",
    "render",
    "unused_goldens",
    "view_lines",
    "write_atomic",
]

#: The renderings of a scenario: its own route (as recorded), the OpenAI chat route,
#: the Responses route and Bedrock's Converse route (the last three through the
#: normalization pipeline).
Kind = Literal["raw", "openai", "responses", "converse"]
KINDS: tuple[Kind, ...] = ("raw", "openai", "responses", "converse")

#: The file name ending of every golden (``anthropic/text.raw.sse``).
SUFFIX = ".sse"


class GoldenMismatch(HarnessError, AssertionError):
    """A rendering does not match its golden file (or there is no golden file).

    An ``AssertionError`` too, so that pytest reports it as a failed assertion.

    Attributes:
        message: what is wrong, naming the file.
        path: the golden file.
        diff: a unified diff, golden (``fromfile``, the path) to actual (``tofile``
            ``"actual"``), without color; ``""`` when the file is missing.
        scenario: the scenario's name, when known.
        kind: which rendering, when known.
        expected: the golden, masked (``b""`` when the file is missing).
        actual: the rendering, masked.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path,
        diff: str = "",
        scenario: str | None = None,
        kind: Kind | None = None,
        expected: bytes = b"",
        actual: bytes = b"",
    ) -> None:
        self.message = message
        self.path = path
        self.diff = diff
        self.scenario = scenario
        self.kind = kind
        self.expected = expected
        self.actual = actual
        super().__init__(f"{message}\n{diff}" if diff else message)


# --- masking ------------------------------------------------------------------------

# A JSON string literal (escapes included), as bytes.
_JSON_STRING = rb'"(?:[^"\\]|\\.)*"'

#: ``"id"`` values kept as they are: tool-call ids (a client echoes them back in its
#: next request, so they are part of the contract) and the empty id (Azure's first
#: chunk), which is a shape, not a value.
_KEPT_ID = re.compile(rb'"(?:(?:call|toolu|srvtoolu)_(?:[^"\\]|\\.)*)?"')

_ID = re.compile(rb'("id"\s*:\s*)(' + _JSON_STRING + rb")")
_STRING_KEYS = re.compile(
    rb'("(responseId|request_id|system_fingerprint|obfuscation)"\s*:\s*)(' + _JSON_STRING + rb")"
)
_CREATED = re.compile(rb'("created"\s*:\s*)(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)')
_HEADER = re.compile(
    rb"^((?:#[ \t]*)?"
    rb"(?:date|request-id|x-request-id|x-amzn-requestid|anthropic-organization-id"
    rb"|openai-organization"
    rb"|x-ratelimit-reset-[a-z0-9-]+)"
    rb"[ \t]*:[ \t]*)([^\r\n]*)",
    re.IGNORECASE | re.MULTILINE,
)
_PLACEHOLDERS = {
    b"responseId": b'"<id>"',
    b"request_id": b'"<id>"',
    b"system_fingerprint": b'"<fingerprint>"',
    b"obfuscation": b'"<obfuscation>"',
}


def _mask_id(match: re.Match[bytes]) -> bytes:
    value = match.group(2)
    if _KEPT_ID.fullmatch(value):
        return match.group(0)
    return match.group(1) + b'"<id>"'


def _mask_string(match: re.Match[bytes]) -> bytes:
    return match.group(1) + _PLACEHOLDERS[match.group(2)]


def mask(data: bytes) -> bytes:
    """``data`` with its volatile values replaced by stable placeholders.

    In JSON text: string ``"id"`` values (except tool-call ids ``call_…``,
    ``toolu_…``, ``srvtoolu_…`` and the empty id) and ``"responseId"`` /
    ``"request_id"`` become ``"<id>"``; a numeric ``"created"`` becomes ``<created>``;
    ``"system_fingerprint"`` and ``"obfuscation"`` strings become ``"<fingerprint>"``
    and ``"<obfuscation>"``. Header lines (``name: value``, optionally after ``#``) of
    ``date``, ``request-id``, ``x-request-id``, ``anthropic-organization-id``,
    ``openai-organization`` and ``x-ratelimit-reset-*`` get the value ``<masked>``.

    Works on bytes with regular expressions (the data may be cut mid-JSON or not be
    UTF-8), whatever the length of the values, and is idempotent:
    ``mask(mask(x)) == mask(x)``. ``docs/goldens.md`` says why each rule exists.
    """
    data = _ID.sub(_mask_id, data)
    data = _STRING_KEYS.sub(_mask_string, data)
    data = _CREATED.sub(rb"\1<created>", data)
    return _HEADER.sub(rb"\1<masked>", data)


# --- rendering ----------------------------------------------------------------------


def render(scenario: Scenario, kind: Kind) -> bytes:
    """The golden text of one scenario, before masking.

    ``raw``: every answer as the scenario's own provider route replays it (byte for
    byte); ``openai``: every answer as the OpenAI chat route sends it through the
    normalization pipeline (``normalize=True``, so openai scenarios too); ``responses``:
    likewise on the Responses route (``/v1/responses``). Each answer
    is planned by :func:`harness.mock.replay.build_plan` as a request would be (a stream
    for a stream answer, the answer's own faults), and written as a block of ``#``
    lines, a blank line and the body bytes exactly (see ``docs/goldens.md``). An
    answer the route cannot serve gets a ``# not servable on this route: …`` line.

    Raises:
        InvalidValueError: ``kind`` is not one of :data:`KINDS` (a ``ValueError``).
    """
    if kind not in KINDS:
        raise InvalidValueError(f"unknown golden kind {kind!r}; expected one of {', '.join(KINDS)}")
    target: Family
    if kind == "raw":
        target = scenario.provider
        what = f"raw ({target} route)"
    else:
        target = NORMALIZED_ROUTES[kind]
        what = f"{kind} ({target} route, normalized)"
    out = [_comment(f"harness golden · {scenario.name} · {what}")]
    answers = scenario.answers
    for number, answer in enumerate(answers, 1):
        title = f"answer {number} of {len(answers)}"
        try:
            plan = build_plan(
                scenario,
                answer,
                target=target,
                stream=answer.streaming,
                normalize=kind != "raw",
                faults=answer.faults,
            )
        except UsageError as exc:  # ReplayError, FaultSpecError
            out.append(_comment(title))
            out.append(_comment(f"not servable on this route: {exc}"))
            out.append(b"\n")
            continue
        out.extend(_comment(line) for line in _describe(title, plan))
        out.append(b"\n")
        body = b"".join(write.data for write in plan.writes)
        if dict(plan.headers).get("content-type") == EVENTSTREAM_CONTENT_TYPE:
            body = eventstream_view(body)
        out.append(body)
        if body and not body.endswith(b"\n"):
            out.append(b"\n" + _comment(_NO_FINAL_LF))
    return b"".join(out)


def eventstream_view(body: bytes) -> bytes:
    """An AWS event stream as text, one line per message, every byte accounted for.

    A message with Bedrock's three headers in Bedrock's order (:func:`~harness.stream.
    eventstream.event_message`, :func:`~harness.stream.eventstream.exception_message`)
    is ``<message type> <event or exception type> <payload>``; any other message
    ``message <headers> <payload>`` with each header's wire type. The payload is its
    UTF-8 text (invalid bytes as ``\\xNN``; CR and LF as ``\\r``, ``\\n``). What
    follows the last whole message (a cut, broken framing) is a ``#`` line with its
    length and base64. Encoding is deterministic, so the same lines mean the same bytes.
    """
    decoder = EventStreamDecoder()
    lines: list[bytes] = []
    try:
        messages = decoder.feed(body)
    except EventStreamError as exc:
        messages = exc.messages
        tail = f"broken framing: {exc}"
    else:
        tail = "cut inside a message"
    lines.extend(_message_line(message) for message in messages)
    rest = body[_length(messages) :]
    if rest:
        encoded = base64.b64encode(rest).decode("ascii")
        lines.append(_comment(f"{tail}: {len(rest)} more bytes: {encoded}"))
    return b"".join(lines)


def _length(messages: list[EventStreamMessage]) -> int:
    return sum(len(encode(message)) for message in messages)


def _message_line(message: EventStreamMessage) -> bytes:
    headers = message.headers
    payload = message.payload.decode("utf-8", "backslashreplace")
    payload = payload.replace("\r", "\\r").replace("\n", "\\n")
    kind = headers.get(":message-type")
    name = headers.get(":exception-type" if kind == "exception" else ":event-type")
    if isinstance(name, str) and encode(_standard(str(kind), name, message)) == encode(message):
        return f"{kind!s} {name} {payload}\n".encode()
    shown = ", ".join(f"{key}={value!r}" for key, value in headers.items())
    return f"message [{shown}] {payload}\n".encode()


def _standard(kind: str, name: str, message: EventStreamMessage) -> EventStreamMessage:
    make = exception_message if kind == "exception" else event_message
    return make(name, message.payload)


#: The line after a body that does not end in LF; the LF before it is not the body's.
_NO_FINAL_LF = "\\ body ends without LF (the LF before this line is not part of it)"


def _describe(title: str, plan: Plan) -> list[str]:
    writes = sum(1 for write in plan.writes if write.data)
    facts = [f"HTTP {plan.status}"]
    if plan.streaming:
        facts.append(f"{writes} write{'s' if writes != 1 else ''}")
    else:
        facts.append("whole body")
    pauses = sum(write.delay for write in plan.writes)
    stall = sum(write.stall for write in plan.writes)
    if pauses:
        facts.append(f"pauses {pauses * 1000:.0f} ms")
    if stall:
        facts.append(f"stall {stall * 1000:.0f} ms")
    ends = "disconnect (no terminating chunk)" if plan.abort else "complete"
    facts.append(f"ends: {ends}")
    lines = [f"{title}: {', '.join(facts)}"]
    if plan.faults:
        lines.append(f"faults: {plan.faults}")
    lines.extend(f"{name}: {value}" for name, value in plan.headers)
    return lines


def _comment(text: str) -> bytes:
    # A header value or a message is one line: make any line break in it visible.
    return b"# " + text.replace("\r", "\\r").replace("\n", "\\n").encode() + b"\n"


# --- files --------------------------------------------------------------------------


def golden_path(goldens: Path, name: str, kind: Kind) -> Path:
    """The golden file of scenario ``name`` and ``kind``: ``goldens/<name>.<kind>.sse``.

    A name with ``/`` lands in subfolders (``anthropic/text`` →
    ``goldens/anthropic/text.raw.sse``).

    Raises:
        InvalidValueError: ``name`` is not a valid scenario name (so never ``..`` or
            absolute), or ``kind`` is unknown (a ``ValueError``).
    """
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidValueError(f"{name!r} is not a valid scenario name")
    if kind not in KINDS:
        raise InvalidValueError(f"unknown golden kind {kind!r}; expected one of {', '.join(KINDS)}")
    return Path(goldens) / f"{name}.{kind}{SUFFIX}"


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


Outcome = Literal["same", "written", "missing", "different"]


def _compare(actual: bytes, path: Path, *, update: bool) -> tuple[Outcome, bytes | None]:
    """Compare masked ``actual`` with the golden at ``path`` (writing it if ``update``)."""
    expected = _read(path)
    if update:
        if expected == actual:
            return "same", expected
        write_atomic(path, actual)
        return "written", expected
    if expected is None:
        return "missing", None
    return ("same" if mask(expected) == actual else "different"), expected


def assert_golden(data: bytes, path: Path, *, update: bool = False) -> None:
    """Check that ``data``, masked, is the golden at ``path``.

    With ``update``, write the masked data to ``path`` instead (atomically, and only
    when the file is missing or its bytes differ) and return.

    Raises:
        GoldenMismatch: the golden is missing, or differs (with a unified diff from
            the golden to the actual data).
    """
    path = Path(path)
    actual = mask(data)
    outcome, expected = _compare(actual, path, update=update)
    if outcome == "missing":
        raise GoldenMismatch(f"no golden file {path}; run with --update to create it", path=path)
    if outcome == "different":
        assert expected is not None
        raise GoldenMismatch(
            f"{path}: the output differs from the golden (run with --update to rewrite it)",
            path=path,
            diff=diff_bytes(mask(expected), actual, fromfile=str(path), tofile="actual"),
        )


def diff_bytes(expected: bytes, actual: bytes, *, fromfile: str, tofile: str) -> str:
    """A unified diff of two byte strings, readable whatever they hold.

    Bytes are decoded as UTF-8 with ``backslashreplace`` (invalid bytes show as
    ``\\xNN``), and carriage returns are made visible: a CRLF line ends in ``\\r``,
    a line ended by a lone CR in ``\\r (no LF)``. Returns ``""`` for equal inputs.
    When the texts look the same although the bytes differ, says where they differ.
    """
    if expected == actual:
        return ""
    old, new = view_lines(expected), view_lines(actual)
    lines = list(difflib.unified_diff(old, new, fromfile=fromfile, tofile=tofile, lineterm=""))
    if old == new:
        at = next(
            (i for i, (a, b) in enumerate(zip(expected, actual, strict=False)) if a != b),
            min(len(expected), len(actual)),
        )
        lines = [
            f"--- {fromfile}",
            f"+++ {tofile}",
            f"the bytes differ at offset {at} in a way the text view cannot show: "
            f"{expected[at : at + 16]!r} != {actual[at : at + 16]!r}",
        ]
    return "\n".join(lines) + "\n"


def view_lines(data: bytes) -> list[str]:
    """``data`` as the lines a diff shows: UTF-8 (invalid bytes as ``\\xNN``), CR made
    visible (``\\r`` before a CRLF's LF, ``\\r (no LF)`` for a lone CR)."""
    text = data.decode("utf-8", "backslashreplace")
    text = text.replace("\r\n", "\\r\n").replace("\r", "\\r (no LF)\n")
    return text.split("\n")


# --- a whole scenario set -------------------------------------------------------------


@dataclass
class CheckReport:
    """What :func:`check` found.

    Attributes:
        mismatches: goldens that differ from the rendering (each with its diff).
        missing: goldens that do not exist (never with ``update``: they are written).
        unused: ``*.sse`` files under the goldens folder that no scenario renders.
        written: goldens created or rewritten (only with ``update``).
        checked: how many goldens were compared (one per scenario and kind).
    """

    mismatches: list[GoldenMismatch] = field(default_factory=list)
    missing: list[Path] = field(default_factory=list)
    unused: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    checked: int = 0

    @property
    def ok(self) -> bool:
        """No mismatch, no missing golden and no unused golden."""
        return not (self.mismatches or self.missing or self.unused)


def check(scenarios: ScenarioSet, goldens: Path, *, update: bool = False) -> CheckReport:
    """Render every scenario every way (:data:`KINDS`) and compare with the goldens
    under ``goldens``.

    With ``update``, write every golden that is missing or differs (atomically) and
    report it in :attr:`CheckReport.written`. Unused goldens are listed, never
    deleted.
    """
    goldens = Path(goldens)
    report = CheckReport()
    for scenario in scenarios:
        for kind in KINDS:
            path = golden_path(goldens, scenario.name, kind)
            actual = mask(render(scenario, kind))
            outcome, expected = _compare(actual, path, update=update)
            report.checked += 1
            if outcome == "written":
                report.written.append(path)
            elif outcome == "missing":
                report.missing.append(path)
            elif outcome == "different":
                assert expected is not None
                golden = mask(expected)
                report.mismatches.append(
                    GoldenMismatch(
                        f"{path}: scenario {scenario.name} ({kind}) differs from the golden "
                        "(harness check --update rewrites it)",
                        path=path,
                        diff=diff_bytes(golden, actual, fromfile=str(path), tofile="actual"),
                        scenario=scenario.name,
                        kind=kind,
                        expected=golden,
                        actual=actual,
                    )
                )
    report.unused = unused_goldens(scenarios, goldens)
    return report


def unused_goldens(scenarios: ScenarioSet, goldens: Path) -> list[Path]:
    """The ``*.sse`` files under ``goldens`` that are no golden of a scenario in the set.

    A golden is used when its path under ``goldens`` is ``<name>.<kind>.sse`` for a
    loaded scenario's name and a kind. Sorted; ``[]`` when the folder does not exist.
    """
    goldens = Path(goldens)
    if not goldens.is_dir():
        return []
    used = {f"{scenario.name}.{kind}{SUFFIX}" for scenario in scenarios for kind in KINDS}
    return sorted(
        path
        for path in goldens.rglob(f"*{SUFFIX}")
        if path.is_file() and path.relative_to(goldens).as_posix() not in used
    )
