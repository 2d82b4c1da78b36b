"""The replay plan: one scenario answer, with its faults, as timed writes. Pure.

The server asks for a :class:`Plan` and then only sleeps and writes; everything that
decides *what* goes on the wire happens here, without sockets or clocks, so the same
seed always gives the same bytes and the same writes, and tests can check a plan
without a server.

The stages, in order::

    answer steps ─► content faults (error_after, drop_usage)      provider format
                 ─► encode: one unit per step, pauses attached
                 ─► normalize (OpenAI route, or when asked)        OpenAI SSE
                 ─► frame (a family's own framing: Bedrock's event stream)
                 ─► wire faults (keep-alives, stall, disconnect)   what the client sees
                 ─► chunking (per event, per byte, seeded random, inside UTF-8, CR|LF)

Content faults act on the provider's stream, so an injected error is the provider's
own error event and, on the OpenAI route, comes out of the normalization pipeline as
the client of a gateway would see it. Wire faults act on the bytes the client reads.

Timing: the pause before a unit is the answer's ``delay_ms`` (not before the first
unit) plus every ``sleep_ms`` step since the previous unit; pauses scale with the
server's speed factor. A fault's stall is kept whatever the speed.
"""

from __future__ import annotations

import base64
import difflib
import functools
import json
import random
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from harness import _json
from harness._text import article
from harness.errors import FaultSpecError, UsageError
from harness.mock.scenario import Faults, Response, Scenario, Step
from harness.stream.outputs import OUTPUTS, SSE_CONTENT_TYPE, Output
from harness.stream.provider_errors import (
    Family,
    error_body,
    error_headers,
    error_status,
    same_http_errors,
    stream_error_event,
)
from harness.stream.sse import comment_block, event_block

if TYPE_CHECKING:
    from harness.stream.pipeline import NormalizeOptions

__all__ = [
    "CAPTURE_READ",
    "LAZY_STEPS",
    "MEMO_BYTES",
    "NORMALIZED_ROUTES",
    "SSE_LINE",
    "CaptureEvent",
    "Item",
    "Plan",
    "ReplayError",
    "Write",
    "answer_steps",
    "build_plan",
    "capture_events",
    "completes_event",
    "encode_step",
    "fault_marks",
    "parse_faults",
]

Newline = Literal["lf", "crlf", "cr"]
_NEWLINES: dict[str, str] = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}

#: The keep-alive frame of each style a fault can insert.
KEEPALIVES: dict[str, str] = {
    "comment": ": keep-alive",
    "ping": ": ping",
    "openrouter": ": OPENROUTER PROCESSING",
    "bare": ":",
    "anthropic": 'event: ping\ndata: {"type": "ping"}',
}


#: The providers whose streams are AWS event-stream messages, not SSE.
EVENTSTREAM_PROVIDERS = frozenset({"bedrock-converse"})

#: The routes that render any provider's stream through the normalization pipeline,
#: by the short name the goldens (``NAME.openai.sse``) and the console's views use.
NORMALIZED_ROUTES: dict[str, Family] = {
    "openai": "openai",
    "responses": "openai-responses",
    "converse": "bedrock-converse",
}


class ReplayError(UsageError):
    """The request asks for a replay that cannot be made (answered with HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Write:
    """One write on the wire, after a pause.

    Attributes:
        data: the bytes (may be empty: a pause before closing).
        delay: seconds to wait first, at recorded speed (the server scales it).
        stall: seconds to wait first whatever the speed (a fault's stall).
    """

    data: bytes
    delay: float = 0.0
    stall: float = 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything the server sends for one request.

    Attributes:
        status: HTTP status.
        headers: response headers, in order.
        source: the body, one element per write: the writes themselves, or (a long
            stream) a function that generates them afresh each time it is called, so
            that no request holds the whole stream in memory and the first write does
            not wait for the last one to be made. :attr:`writes` and
            :meth:`iter_writes` read either.
        abort: cut the connection after the writes, without ending the body
            (no terminating chunk): an abrupt disconnect.
        streaming: whether the body is an event stream.
        faults: a short description of the faults applied, for the journal.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    source: tuple[Write, ...] | Callable[[], Iterator[Write]]
    abort: bool = False
    streaming: bool = False
    faults: str = ""
    #: Whether the writes are all non-empty and none waits whatever the speed (no
    #: stall): at speed 0, or with no pause at all (:attr:`untimed`), the server then
    #: writes them back to back. Known for a whole plan only (``False`` otherwise).
    back_to_back: bool = False
    #: Whether no write has a pause before it (known for a whole plan only).
    untimed: bool = False

    @property
    def lazy(self) -> bool:
        """Whether the writes are generated as they are read (a long stream)."""
        return not isinstance(self.source, tuple)

    @property
    def writes(self) -> tuple[Write, ...]:
        """Every write (generated whole for a lazy plan: prefer :meth:`iter_writes`)."""
        source = self.source
        return source if isinstance(source, tuple) else tuple(source())

    def iter_writes(self) -> Iterator[Write]:
        """The writes, one at a time (a lazy plan makes each as it is asked for)."""
        source = self.source
        return iter(source) if isinstance(source, tuple) else source()

    def back_to_back_writes(self, pace: float) -> tuple[Write, ...] | None:
        """The writes, when they are known whole (a whole plan, or a lazy one that kept
        them), all non-empty, and none waits at this pace; else ``None``."""
        source = self.source
        if isinstance(source, tuple):
            flags, writes = (self.back_to_back, self.untimed), source
        elif isinstance(source, _Memo) and source.kept is not None:
            flags, writes = source.flags, source.kept
        else:
            return None
        return writes if flags[0] and (pace == 0 or flags[1]) else None


#: Answers with more steps than this are planned lazily (:attr:`Plan.lazy`): their
#: writes are made as they are sent, never held whole.
LAZY_STEPS = 5000
#: What a lazy plan may keep of the writes it made (bytes, counting ~100 per write for
#: the objects): a stream that fits is made once and then replayed from memory, as a
#: short one is; a longer one is made afresh for every request.
MEMO_BYTES = 8 * 1024 * 1024


class _Memo:
    """A lazy plan's writes, made by ``make`` as they are asked for, and kept by the
    first pass that reads them to the end if they fit in :data:`MEMO_BYTES`: later
    passes replay the kept writes. Passes that overlap the first make their own."""

    __slots__ = ("_kept", "_make", "_recording", "flags")

    def __init__(self, make: Callable[[], Iterator[Write]]) -> None:
        self._make = make
        self._kept: tuple[Write, ...] | None = None
        self._recording = False
        #: :attr:`Plan.back_to_back` and :attr:`Plan.untimed` of the kept writes.
        self.flags = (False, False)

    @property
    def kept(self) -> tuple[Write, ...] | None:
        """The writes, once a pass kept them."""
        return self._kept

    def __call__(self) -> Iterator[Write]:
        if self._kept is not None:
            return iter(self._kept)
        if self._recording:
            return self._make()
        self._recording = True
        return self._record()

    def _record(self) -> Iterator[Write]:
        kept: list[Write] | None = []
        budget = MEMO_BYTES
        try:
            for write in self._make():
                if kept is not None:
                    budget -= len(write.data) + 100
                    if budget < 0:
                        kept = None  # too long to keep: made afresh every time
                    else:
                        kept.append(write)
                yield write
            if kept is not None:
                self.flags = _flags(kept)
                self._kept = tuple(kept)
        finally:
            # Too long to keep: every later pass makes its own. Cut short (the client
            # left): nothing kept, and the next pass records again.
            self._recording = self._kept is None and kept is None


@dataclass(slots=True)
class _Unit:
    data: bytes
    delay: float = 0.0
    stall: float = 0.0
    is_event: bool = True


@dataclass(slots=True)
class _Tail:
    """How a stage's stream ends, known once it has been read to the end: the pause
    after the last unit. (Whether it ends in a cut is known before the first write:
    :func:`_aborts`.)"""

    delay: float = 0.0


def parse_faults(header: str) -> Faults:
    """Parse a fault overlay from a request header.

    Two forms: a JSON object (``{"disconnect_after": 3}``) or ``key=value`` pairs
    separated by ``,`` or ``;`` (``disconnect_after=3; chunking=random; seed=7``).

    Raises:
        FaultSpecError: naming the bad key or value and what was expected.
    """
    text = header.strip()
    values: dict[str, Any]
    if text.startswith("{"):
        try:
            loaded = _json.loads(text)
        except ValueError as exc:
            raise FaultSpecError(f"fault header is not valid JSON: {exc}") from None
        values = loaded  # text that starts with "{" and parses is an object
    else:
        values = {}
        for part in text.replace(";", ",").split(","):
            if not part.strip():
                continue
            key, sep, value = part.partition("=")
            if not sep:
                raise FaultSpecError(f"fault {part.strip()!r}: expected key=value")
            # Values stay text: pydantic's lax mode converts "3", "true" and "0.5" for
            # number and boolean fields, and text fields keep "42" or "off" as written.
            values[key.strip()] = value.strip()
    from pydantic import ValidationError  # checking an overlay is what needs pydantic

    try:
        return Faults.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(_fault_problem(e) for e in exc.errors(include_url=False))
        raise FaultSpecError(f"bad fault overlay: {problems}") from None


def _fault_problem(error: Any) -> str:
    """One readable problem of a fault overlay: an unknown fault names the closest one,
    as a scenario file's ``faults:`` does."""
    where = ".".join(str(p) for p in error["loc"]) or "faults"
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(where, Faults.model_fields, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "see docs/scenarios.md#faults"
        return f"unknown fault {where!r} ({hint})"
    return f"{where}: {error['msg']}"


class CaptureEvent:
    """One event of a capture file (a ``file`` step), as its bytes: replayed as a
    ``raw`` step would be (it counts as an event once it ends at a blank line)."""

    __slots__ = ("bytes",)
    kind = "raw"
    data = event = id = retry = comment = sleep_ms = raw = raw_b64 = disconnect = file = None

    def __init__(self, data: bytes) -> None:
        self.bytes = data


#: A step as the replay reads it: a scenario's own, or one event of a capture file.
Item = Step | CaptureEvent

#: How much of a capture file is read at once.
CAPTURE_READ = 64 * 1024
#: The longest run of a capture with no event end in it that is held before being
#: sent as it is (a capture that is not what its provider sends, say).
MAX_CAPTURE_EVENT = 16 * 1024 * 1024

#: One SSE line with its end (CRLF, CR or LF): the capture reader and the console's
#: timeline both cut streams into blocks with it.
SSE_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)")


def answer_steps(scenario: Scenario, answer: Response) -> Iterator[Item]:
    """The answer's steps, each ``file`` step replaced by its capture's events, read
    as they are asked for (a capture of any length in flat memory)."""
    folder = scenario.path.parent if scenario.path is not None else Path()
    for step in answer.events or ():
        if step.file is None:
            yield step
        else:
            yield from capture_events(folder / step.file, scenario.provider)


def capture_events(path: Path, provider: str) -> Iterator[CaptureEvent]:
    """The events of a capture, in :data:`CAPTURE_READ` reads: SSE blocks up to and
    including their blank line (the last one as it ends, complete or not), or, for an
    AWS event stream, one message each (the rest, if the framing breaks, as it is).

    Raises:
        ReplayError: the file cannot be read any more (moved since it was loaded).
    """
    try:
        file = path.open("rb")
    except OSError as exc:
        raise ReplayError(f"cannot read the capture {path}: {exc}") from None
    with file:
        if provider in EVENTSTREAM_PROVIDERS:
            yield from _capture_messages(file)
        else:
            yield from _capture_blocks(file)


def _capture_blocks(file: BinaryIO) -> Iterator[CaptureEvent]:
    buffer = b""
    while True:
        chunk = file.read(CAPTURE_READ)
        end_of_file = not chunk
        buffer += chunk
        start = position = 0
        while (line := SSE_LINE.match(buffer, position)) is not None:
            after = line.end()
            if not end_of_file and after == len(buffer) and buffer[after - 1] == 13:
                break  # a CR at the end of the read: its LF may come in the next one
            if buffer[position] in (10, 13):  # a blank line ends the block
                yield CaptureEvent(buffer[start:after])
                start = after
            position = after
        buffer = buffer[start:]
        if end_of_file:
            if buffer:
                yield CaptureEvent(buffer)
            return
        if len(buffer) > MAX_CAPTURE_EVENT:
            yield CaptureEvent(buffer)
            buffer = b""


def _capture_messages(file: BinaryIO) -> Iterator[CaptureEvent]:
    while prelude := file.read(4):
        size = int.from_bytes(prelude, "big")
        if len(prelude) < 4 or not 16 <= size <= MAX_CAPTURE_EVENT:
            # Not a message's prelude: what is left goes as it is, in reads.
            yield CaptureEvent(prelude)
            while rest := file.read(CAPTURE_READ):
                yield CaptureEvent(rest)
            return
        yield CaptureEvent(prelude + file.read(size - 4))


def encode_step(step: Item, newline: Newline = "lf", *, provider: str | None = None) -> bytes:
    """The bytes of one step (``b""`` for a pause or a disconnect).

    A data step of a ``bedrock-converse`` stream is an AWS event-stream message (its
    ``event`` the event or exception type, its data the payload); every other
    provider's is an SSE event. A capture's event is its bytes.
    """
    if type(step) is CaptureEvent:
        return step.bytes
    assert isinstance(step, Step)
    end = _NEWLINES[newline]
    if step.data is not None:
        data = step.data if isinstance(step.data, str) else _json.dumps(step.data)
        if provider in EVENTSTREAM_PROVIDERS:
            # The event-stream codec loads with the first Bedrock Converse stream.
            from harness.stream.bedrock import converse_frame

            return converse_frame(step.event or "", data.encode("utf-8", "surrogatepass"))
        return event_block(data, event=step.event, id=step.id, retry=step.retry, end=end).encode()
    if step.comment is not None:
        return comment_block(step.comment, end=end).encode()
    if step.kind == "meta":  # id / retry / event without data: fields and a blank line
        return event_block(None, event=step.event, id=step.id, retry=step.retry, end=end).encode()
    if step.raw is not None:
        return step.raw.encode()
    if step.raw_b64 is not None:
        return base64.b64decode(step.raw_b64)
    return b""


def build_plan(
    scenario: Scenario,
    answer: Response,
    *,
    target: Family,
    stream: bool,
    normalize: bool = False,
    faults: Faults | None = None,
    options: NormalizeOptions | None = None,
) -> Plan:
    """Plan the answer to one request.

    Args:
        scenario: the scenario being replayed (its provider is the input format).
        answer: which of its answers (see :attr:`Scenario.answers`).
        target: the API family of the route, which decides the output format.
        stream: whether the client asked for a stream.
        normalize: on the OpenAI route, send an OpenAI scenario through the
            normalization pipeline too (other scenarios always go through it there).
        faults: the overlay: the scenario's own faults merged with the request's.
        options: passed to the normalization pipeline.

    Raises:
        ReplayError: the combination cannot be served (answered with HTTP 400).
        FaultSpecError: a fault cannot apply to this stream.
    """
    faults = faults or Faults.unchecked()
    source: Family = scenario.provider
    output = OUTPUTS[target]
    if not output.replays(source):
        raise ReplayError(
            f"scenario {scenario.name!r} holds {article(source)} stream; the {target} route can "
            f"only replay {output.provider} scenarios (the OpenAI routes render any provider)"
        )
    if normalize and output.renderer is None:
        raise ReplayError("only the OpenAI route can send the normalized form")
    through_pipeline = output.renderer is not None and (source != output.provider or normalize)
    if faults.http_error is not None:
        return _http_error_plan(target, faults)
    if answer.body is not None or answer.events is None:
        return _body_plan(scenario, answer, target)
    events = answer.events
    options = options or {}

    def units() -> tuple[Iterator[_Unit], _Tail]:
        steps = _content_faults(answer_steps(scenario, answer), source, faults)
        encoded, tail = _encode(steps, answer, source)
        if through_pipeline:
            encoded, tail = _normalize(encoded, tail, source, output, options)
        return encoded, tail

    if not stream:
        return _aggregate_plan(answer, *units(), output, through_pipeline)
    newline: Newline = "lf" if through_pipeline else answer.newline
    _check_wire_faults(faults, output)
    if faults.error_after is not None:  # a bad error_type is refused now, not mid-stream
        stream_error_event(source, type=faults.error_type, message=faults.error_message)

    def writes() -> Iterator[Write]:
        encoded, tail = units()
        if output.framer is not None:
            encoded, tail = _frame(encoded, tail, output)
        encoded, tail = _wire_faults(encoded, tail, faults, newline)
        return _chunk(encoded, tail, faults)

    headers = {"content-type": output.content_type, "cache-control": "no-cache"}
    headers.update({k.lower(): v for k, v in answer.headers.items()})
    stream_plan = functools.partial(
        Plan,
        status=answer.status,
        headers=tuple(headers.items()),
        abort=_aborts(events, faults, through_pipeline),
        streaming=True,
        faults=faults.describe(),
    )
    if _long(events):
        return stream_plan(source=_Memo(writes))
    made = tuple(writes())
    back_to_back, untimed = _flags(made)
    return stream_plan(source=made, back_to_back=back_to_back, untimed=untimed)


def _flags(writes: Iterable[Write]) -> tuple[bool, bool]:
    """(every write has bytes and no stall, no write has a pause)."""
    back_to_back = untimed = True
    for write in writes:
        back_to_back = back_to_back and bool(write.data) and not write.stall
        untimed = untimed and not write.delay
    return back_to_back, untimed


def _long(events: list[Step]) -> bool:
    """Whether an answer is planned lazily: many steps, or a capture file."""
    return len(events) > LAZY_STEPS or any(step.file is not None for step in events)


def _aborts(events: list[Step], faults: Faults, rendered: bool) -> bool:
    """Whether the stream ends in a cut: a disconnect fault, or the answer's own
    disconnect step, unless an injected error comes first or the stream is rendered
    (the pipeline turns an upstream cut into an error event and a clean end)."""
    if (
        faults.disconnect_after is not None
        or faults.disconnect_inside is not None
        or faults.disconnect_after_bytes is not None
    ):
        return True
    ends_cut = bool(events) and events[-1].kind == "disconnect"
    return ends_cut and faults.error_after is None and not rendered


def _http_error_plan(target: Family, faults: Faults) -> Plan:
    asked = faults.http_error or 500
    status = error_status(target, asked)
    body = error_body(target, asked, faults.error_message, type=faults.error_type)
    headers = [("content-type", "application/json")]
    headers.extend(error_headers(target, asked, type=faults.error_type).items())
    if faults.retry_after is not None:
        seconds = faults.retry_after
        headers.append(
            ("retry-after", str(int(seconds)) if seconds == int(seconds) else str(seconds))
        )
    return Plan(
        status, tuple(headers), (Write(_json.dumps(body).encode()),), faults=faults.describe()
    )


def _body_plan(scenario: Scenario, answer: Response, target: Family) -> Plan:
    headers = {"content-type": "application/json"}
    body = answer.body
    status = answer.status
    if answer.status >= 400:
        # A gateway answers an upstream error in its own shape, with the same status
        # (Bedrock: AWS's, whatever the model said, with its exception's status); an
        # error body already in that shape (OpenAI chat's on the Responses or Azure
        # routes) goes as recorded.
        if not same_http_errors(scenario.provider, target):
            body = error_body(target, answer.status, _error_message(body))
            headers.update(error_headers(target, answer.status))
            status = error_status(target, answer.status)
    elif scenario.provider != OUTPUTS[target].provider:
        raise ReplayError(
            f"scenario {scenario.name!r} answers with a whole {scenario.provider} body; "
            f"the {target} route cannot translate it (only streams are normalized)"
        )
    headers.update({k.lower(): v for k, v in answer.headers.items()})
    data = (
        body.encode()
        if isinstance(body, str)
        else _json.dumps(body).encode()
        if body is not None
        else b""
    )
    return Plan(status, tuple(headers.items()), (Write(data),) if data else ())


def _error_message(body: Any) -> str | None:
    """The message of an error body: ``error.message``, or AWS's top-level ``message``."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        return message if isinstance(message, str) else None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return None


def _content_faults(steps: Iterable[Item], source: Family, faults: Faults) -> Iterator[Item]:
    if faults.drop_usage:
        steps = (s for s in (_drop_usage(step, source) for step in steps) if s is not None)
    if faults.error_after is None:
        yield from steps
        return
    events = 0
    sequence: int | None = None
    for step in steps:
        if events == faults.error_after and step.kind in ("data", "raw", "raw_b64"):
            break
        if step.kind == "disconnect":
            break
        yield step
        number = _sequence_number(step)
        if number is not None:
            sequence = number + 1
        if completes_event(step, source):
            events += 1
    name, data = stream_error_event(
        source, type=faults.error_type, message=faults.error_message, sequence_number=sequence
    )
    yield Step.unchecked(event=name, data=data)


#: A CR and the LF after it (``chunking: crlf`` cuts between them).
_CRLF = re.compile(rb"\r\n")

#: How an SSE event ends: a blank line, whatever the line ends.
_EVENT_ENDS = (b"\n\n", b"\r\r", b"\r\n\r\n", b"\n\r\n", b"\r\n\n", b"\n\r")


def _ends_event(data: bytes) -> bool:
    """Whether SSE bytes end at an event boundary (after a blank line)."""
    return data.endswith(_EVENT_ENDS)


def completes_event(step: Item, source: str) -> bool:
    """Whether a step ends a whole event: a data step does; a raw one only when its
    bytes end at an event boundary (half an event split over two raw steps completes
    one with its second half), so that a fault never lands inside an event."""
    if step.kind == "data":
        return True
    if step.kind not in ("raw", "raw_b64") or source in EVENTSTREAM_PROVIDERS:
        return step.kind in ("raw", "raw_b64")
    return _ends_event(encode_step(step))


def fault_marks(steps: Iterable[Item], faults: Faults, provider: str) -> dict[int, list[str]]:
    """Where each event-counting fault lands on the scenario's own route: step index ->
    what happens right after that step (``-1``: before the first step), for
    ``harness show``. Content faults count whole events (:func:`_completes_event`),
    wire faults the steps written as events (not comments, pauses or meta blocks)."""
    marks: dict[int, list[str]] = {}
    whole = written = 0
    last = -1
    for index, step in enumerate(steps):
        if step.kind == "disconnect":
            break
        if step.kind in ("sleep_ms", "comment", "meta"):
            continue
        last = index
        written += 1
        whole += completes_event(step, provider)
        _mark(marks, index, faults, whole if completes_event(step, provider) else None, written)
    if last in marks:  # no keep-alive after the last event
        marks[last] = [mark for mark in marks[last] if not mark.startswith("keep-alive")]
    if faults.error_after is not None and faults.error_after >= whole:
        marks.setdefault(last, []).append(
            f"error_after={faults.error_after}: the error event comes after the last event"
        )
    if faults.error_after == 0 or faults.disconnect_after == 0:
        marks.setdefault(-1, []).append("the fault lands before the first event")
    return marks


def _mark(
    marks: dict[int, list[str]], index: int, faults: Faults, whole: int | None, written: int
) -> None:
    here = marks.setdefault(index, [])
    if whole is not None and faults.error_after == whole:
        here.append(f"error_after={whole}: the provider's error event, then the end")
    if faults.disconnect_after == written:
        here.append(f"disconnect_after={written}: the connection is cut here")
    if faults.disconnect_inside == written:
        here.append(f"disconnect_inside={written}: cut halfway through the next event")
    if faults.stall_after == written:
        here.append(f"stall_after={written}: {faults.stall_ms:g} ms of silence")
    every = faults.keepalive_every
    if whole is not None and every is not None and whole % every == 0:
        here.append(f"keep-alive ({faults.keepalive_style})")
    if not here:
        del marks[index]


def _sequence_number(step: Item) -> int | None:
    """The ``sequence_number`` a step's event carries (Responses events number
    themselves); the error event an ``error_after`` adds takes the next one."""
    data: Any = step.data
    if isinstance(data, str) and '"sequence_number"' in data:
        try:
            data = _json.loads(data)
        except ValueError:
            return None
    if isinstance(data, dict):
        number = data.get("sequence_number")
        if type(number) is int:
            return number
    return None


def _drop_usage(step: Item, source: Family) -> Item | None:
    if not isinstance(step, Step) or not isinstance(step.data, dict):
        return step
    data: dict[str, Any] = json.loads(json.dumps(step.data))  # a deep copy
    if source == "openai":
        if data.get("choices") == [] and "usage" in data:
            return None  # the usage-only chunk
        data.pop("usage", None)
        for choice in data.get("choices") or []:
            if isinstance(choice, dict):
                choice.pop("usage", None)
    elif source == "anthropic":
        data.pop("usage", None)
        message = data.get("message")
        if isinstance(message, dict):
            message.pop("usage", None)
    elif source == "openai-responses":
        response = data.get("response")  # response.completed and .incomplete report it
        if isinstance(response, dict) and response.get("usage") is not None:
            del response["usage"]
    elif source == "bedrock-converse":
        if step.event == "metadata":
            data.pop("usage", None)  # its metrics stay
    else:
        data.pop("usageMetadata", None)
    return step.model_copy(update={"data": data})


def _encode(
    steps: Iterable[Item], answer: Response, provider: str
) -> tuple[Iterator[_Unit], _Tail]:
    """One unit per step, with the pause before it, up to a disconnect step; the tail
    says what pause comes after the last unit."""
    tail = _Tail()
    newline = answer.newline
    default = answer.delay_ms / 1000

    def units() -> Iterator[_Unit]:
        pending = 0.0
        first = True
        for step in steps:
            kind = step.kind
            if kind == "sleep_ms":
                pending += (step.sleep_ms or 0) / 1000
            elif kind == "disconnect":
                break
            else:
                delay = pending if first else pending + default
                first = False
                yield _Unit(
                    encode_step(step, newline, provider=provider),
                    delay,
                    is_event=kind not in ("comment", "meta"),
                )
                pending = 0.0
        tail.delay = pending

    return units(), tail


def _normalize(
    units: Iterator[_Unit], tail: _Tail, source: Family, output: Output, options: NormalizeOptions
) -> tuple[Iterator[_Unit], _Tail]:
    """The stream rendered in ``output``'s format through the normalization pipeline.

    The pipeline turns an upstream cut into a stream_error chunk and a clean end: that
    is what a gateway's client sees (the tail never aborts). A cut on a rendering route
    is a wire fault."""
    assert output.renderer is not None
    # Imported here: a server that replays each provider's own streams never loads
    # the adapters and renderers.
    from harness.stream.pipeline import Normalizer

    rendered: NormalizeOptions = {**options, "renderer": output.renderer}
    normalizer = Normalizer(source, **rendered)
    out = _Tail()

    def rendered_units() -> Iterator[_Unit]:
        carried = 0.0
        for unit in units:
            carried += unit.delay
            for frame in normalizer.feed(unit.data):
                yield _Unit(frame, carried, is_event=not frame.startswith(b":"))
                carried = 0.0
        for frame in normalizer.finish():
            yield _Unit(frame, carried, is_event=not frame.startswith(b":"))
            carried = 0.0
        out.delay = tail.delay + carried

    return rendered_units(), out


def _frame(units: Iterator[_Unit], tail: _Tail, output: Output) -> tuple[Iterator[_Unit], _Tail]:
    """The stream in ``output``'s own framing: each unit's bytes re-framed; a unit that
    frames to nothing (a comment) is dropped, its pause carried to the next one."""
    assert output.framer is not None
    framer = output.framer()
    out = _Tail()

    def framed() -> Iterator[_Unit]:
        carried = stalled = 0.0
        for unit in units:
            carried += unit.delay
            stalled += unit.stall
            data = framer.feed(unit.data)
            if data:
                yield _Unit(data, carried, stalled)
                carried = stalled = 0.0
        out.delay = tail.delay
        data = framer.finish()
        if data:
            yield _Unit(data, carried, stalled)
        elif stalled:
            yield _Unit(b"", carried, stalled, is_event=False)
        else:
            out.delay += carried

    return framed(), out


def _aggregate_plan(
    answer: Response, units: Iterator[_Unit], tail: _Tail, output: Output, rendered: bool
) -> Plan:
    """The whole answer: ``output``'s answer renderer folds the stream it would send
    (rendered when ``output`` has a renderer, else the recorded one)."""
    if output.renderer is not None and not rendered and output.refold:
        units, tail = _normalize(units, tail, output.provider, output, {})
    whole = list(units)
    stream = b"".join(unit.data for unit in whole)
    # A whole answer takes as long as the stream it stands for.
    took = sum(unit.delay for unit in whole) + tail.delay
    status, body = output.answer(stream)
    headers = {"content-type": "application/json"}
    if status < 400:
        headers.update({k.lower(): v for k, v in answer.headers.items()})
    else:
        if not same_http_errors(output.provider, output.family):
            body = error_body(output.family, status, _error_message(body))
        headers.update(error_headers(output.family, status))
        status = error_status(output.family, status)
    return Plan(status, tuple(headers.items()), (Write(_encoded(body), took),))


def _encoded(body: Any) -> bytes:
    """``body`` as compact JSON in UTF-8; a lone surrogate from the input escaped."""
    try:
        return _json.dumps(body).encode()
    except UnicodeEncodeError:
        return _json.dumps(body, ascii=True).encode()


def _check_wire_faults(faults: Faults, output: Output) -> None:
    """Refuse, before the first byte, the wire faults that cannot apply to ``output``.

    Raises:
        FaultSpecError: saying why.
    """
    if faults.event_ids and output.content_type != SSE_CONTENT_TYPE:
        raise FaultSpecError(
            "event_ids cannot apply to this route: an AWS event stream has no event ids"
        )
    if faults.keepalive_every is not None:
        if output.no_keepalive:
            raise FaultSpecError(output.no_keepalive)
        if faults.keepalive_style == "anthropic" and output.provider != "anthropic":
            raise FaultSpecError(
                "keepalive_style 'anthropic' (an event: ping) needs the Anthropic route"
            )


def _wire_faults(
    units: Iterator[_Unit], tail: _Tail, faults: Faults, newline: Newline
) -> tuple[Iterator[_Unit], _Tail]:
    """Event ids, keep-alives, stall and disconnects, in that order, each a stage over
    the units (checked by :func:`_check_wire_faults` first)."""
    if faults.event_ids:
        units = _stamp_ids(units, newline)
    if faults.keepalive_every is not None:
        end = _NEWLINES[newline]
        frame = (KEEPALIVES[faults.keepalive_style].replace("\n", end) + end + end).encode()
        units = _keepalives(units, faults.keepalive_every, frame)
    if faults.stall_after is not None:
        units = _stall(units, faults.stall_after, (faults.stall_ms or 0) / 1000)
    cut = _Tail()  # a cut: no pause after the last byte
    if faults.disconnect_after is not None:
        units, tail = _after_events(units, faults.disconnect_after), cut
    if faults.disconnect_inside is not None:
        units, tail = _inside_event(units, faults.disconnect_inside), cut
    if faults.disconnect_after_bytes is not None:
        units, tail = _first_bytes(units, faults.disconnect_after_bytes), cut
    return units, tail


def _stamp_ids(units: Iterator[_Unit], newline: Newline) -> Iterator[_Unit]:
    """``id: N`` (1, 2, ...) as the first line of every event: where a unit starts an
    event (an event split over units is stamped once). An event's own ``id:`` comes
    later in its block, so it still wins, as the SSE standard reads fields in order."""
    end = _NEWLINES[newline].encode()
    number = 0
    at_start = True
    for unit in units:
        if unit.is_event and at_start and unit.data:
            number += 1
            unit.data = b"id: %d" % number + end + unit.data
        if unit.data:
            at_start = _ends_event(unit.data)
        yield unit


def _keepalives(units: Iterator[_Unit], every: int, frame: bytes) -> Iterator[_Unit]:
    """A keep-alive after every ``every``-th whole event (never inside an event), but
    not after the last unit: it goes out only once another unit follows."""
    events = 0
    due = False
    for unit in units:
        if due:
            yield _Unit(frame, is_event=False)
            due = False
        yield unit
        if unit.is_event and _ends_event(unit.data):
            events += 1
            due = events % every == 0


def _stall(units: Iterator[_Unit], after: int, stall: float) -> Iterator[_Unit]:
    """The stall before the unit that follows the ``after``-th event unit (or, when no
    unit follows, an empty write after the last one)."""
    seen = 0
    due = after == 0
    applied = False
    for unit in units:
        if due and not applied:
            unit.stall += stall
            applied = True
        yield unit
        if unit.is_event:
            seen += 1
            due = due or seen == after
    if not applied:
        yield _Unit(b"", stall=stall, is_event=False)


def _after_events(units: Iterator[_Unit], count: int) -> Iterator[_Unit]:
    """The units up to and including the ``count``-th event unit."""
    if count == 0:
        return
    seen = 0
    for unit in units:
        yield unit
        if unit.is_event:
            seen += 1
            if seen == count:
                return


def _inside_event(units: Iterator[_Unit], count: int) -> Iterator[_Unit]:
    """``count`` whole events, then the first half of the next one: a cut inside an
    event wherever its bytes fall (an echoed model name moves byte offsets, not events);
    a comment or keep-alive before it goes out whole."""
    seen = 0
    cutting = count == 0
    for unit in units:
        if cutting and unit.is_event:
            yield replace(unit, data=unit.data[: max(1, len(unit.data) // 2)])
            return
        yield unit
        if unit.is_event and not cutting:
            seen += 1
            cutting = seen == count


def _first_bytes(units: Iterator[_Unit], budget: int) -> Iterator[_Unit]:
    """The first ``budget`` bytes, the unit they end in cut short."""
    for unit in units:
        if budget <= 0:
            return
        yield replace(unit, data=unit.data[:budget]) if len(unit.data) > budget else unit
        budget -= len(unit.data)


#: The largest write ``chunking: coalesce`` makes.
COALESCE_SIZE = 65536


def _coalesce(units: Iterator[_Unit]) -> Iterator[Write]:
    """As few writes as possible, up to :data:`COALESCE_SIZE` bytes each.

    For load tests where chunk boundaries do not matter: the pauses of the units
    merged into a write are summed before it, so the total time is kept.
    """
    parts: list[bytes] = []
    size = 0
    delay = stall = 0.0
    for unit in units:
        if size and size + len(unit.data) > COALESCE_SIZE:
            yield Write(b"".join(parts), delay, stall)
            parts, size, delay, stall = [], 0, 0.0, 0.0
        parts.append(unit.data)
        size += len(unit.data)
        delay += unit.delay
        stall += unit.stall
    if parts:
        yield Write(b"".join(parts), delay, stall)


def _chunk(units: Iterator[_Unit], tail: _Tail, faults: Faults) -> Iterator[Write]:
    """The writes: one per unit, or the bytes re-cut as the chunking fault says; then
    the pause after the last unit, as an empty write."""
    mode = faults.chunking
    if mode == "event":
        for unit in units:
            yield Write(unit.data, unit.delay, unit.stall)
    elif mode == "coalesce":
        yield from _coalesce(units)
    else:
        yield from _recut(units, faults)
    if tail.delay:
        yield Write(b"", tail.delay)


def _recut(units: Iterator[_Unit], faults: Faults) -> Iterator[Write]:
    """The stream's bytes cut at the points the chunking fault names, as they come.

    The cuts: where a unit with a pause starts (so recorded timing survives
    re-chunking: the write starting there takes the pauses of every unit starting
    there); every unit's start for ``utf8`` and ``crlf``; and, by mode, every byte,
    seeded random lengths from the start of the stream, after the lead byte of every
    multi-byte character, or between every CR and the LF after it. A pause due after
    the last byte is an empty final write."""
    mode = faults.chunking
    rng = random.Random(faults.seed)
    next_random = 0  # the next random cut, as an offset into the whole stream
    segment = bytearray()
    delay = stall = 0.0  # the pauses before the segment being gathered
    offset = 0  # bytes of the stream before this unit
    for unit in units:
        data = unit.data
        size = len(data)
        cuts: list[int] = []
        if mode == "byte":
            cuts = list(range(size))
        elif mode == "random":
            while next_random < offset + size:
                cuts.append(next_random - offset)
                next_random += rng.randint(1, faults.max_chunk)
        elif mode == "utf8":
            cuts = [0, *(i + 1 for i, byte in enumerate(data) if byte >= 0xC0 and i + 1 < size)]
        else:  # crlf
            cuts = [0, *(match.start() + 1 for match in _CRLF.finditer(data))]
        timed = bool(unit.delay or unit.stall)
        if timed or (cuts and cuts[0] == 0) or (not size and mode in ("utf8", "crlf")):
            if segment:
                yield Write(bytes(segment), delay, stall)
                segment.clear()
                delay = stall = 0.0
            delay += unit.delay
            stall += unit.stall
        begin = 0
        for cut in cuts:
            if cut == 0:
                continue
            segment += data[begin:cut]
            yield Write(bytes(segment), delay, stall)
            segment.clear()
            delay = stall = 0.0
            begin = cut
        segment += data[begin:]
        offset += size
    if segment:
        yield Write(bytes(segment), delay, stall)
    elif delay or stall:
        yield Write(b"", delay, stall)
