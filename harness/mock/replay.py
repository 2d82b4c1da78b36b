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
import json
import random
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from pydantic import ValidationError

from harness import _json
from harness._text import article
from harness.errors import FaultSpecError, UsageError
from harness.mock.scenario import Faults, Response, Scenario, Step
from harness.stream.bedrock import converse_frame
from harness.stream.outputs import OUTPUTS, SSE_CONTENT_TYPE, Output
from harness.stream.pipeline import NormalizeOptions, Normalizer
from harness.stream.provider_errors import (
    Family,
    error_body,
    error_headers,
    error_status,
    same_http_errors,
    stream_error_event,
)
from harness.stream.sse import comment_block, event_block

__all__ = [
    "Plan",
    "ReplayError",
    "Write",
    "build_plan",
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
        writes: the body, one element per write.
        abort: cut the connection after the writes, without ending the body
            (no terminating chunk): an abrupt disconnect.
        streaming: whether the body is an event stream.
        faults: a short description of the faults applied, for the journal.
    """

    status: int
    headers: tuple[tuple[str, str], ...]
    writes: tuple[Write, ...]
    abort: bool = False
    streaming: bool = False
    faults: str = ""


@dataclass(slots=True)
class _Unit:
    data: bytes
    delay: float = 0.0
    stall: float = 0.0
    is_event: bool = True


@dataclass(slots=True)
class _Stream:
    units: list[_Unit] = field(default_factory=list)
    abort: bool = False
    tail_delay: float = 0.0  # pauses after the last unit, before the end


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


def encode_step(step: Step, newline: Newline = "lf", *, provider: str | None = None) -> bytes:
    """The bytes of one step (``b""`` for a pause or a disconnect).

    A data step of a ``bedrock-converse`` stream is an AWS event-stream message (its
    ``event`` the event or exception type, its data the payload); every other
    provider's is an SSE event.
    """
    end = _NEWLINES[newline]
    if step.data is not None:
        data = step.data if isinstance(step.data, str) else _json.dumps(step.data)
        if provider in EVENTSTREAM_PROVIDERS:
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
    faults = faults or Faults()
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
    steps = _content_faults(list(answer.events), source, faults)
    raw = _encode(steps, answer, source)
    if through_pipeline:
        raw = _normalize(raw, source, output, options or {})
    if not stream:
        return _aggregate_plan(answer, raw, output, through_pipeline)
    newline: Newline = "lf" if through_pipeline else answer.newline
    if output.framer is not None:
        raw = _frame(raw, output)
    _wire_faults(raw, faults, output, newline)
    writes = _chunk(raw, faults)
    headers = {"content-type": output.content_type, "cache-control": "no-cache"}
    headers.update({k.lower(): v for k, v in answer.headers.items()})
    return Plan(
        status=answer.status,
        headers=tuple(headers.items()),
        writes=writes,
        abort=raw.abort,
        streaming=True,
        faults=faults.describe(),
    )


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


def _content_faults(steps: list[Step], source: Family, faults: Faults) -> list[Step]:
    if faults.drop_usage:
        steps = [s for s in (_drop_usage(step, source) for step in steps) if s is not None]
    if faults.error_after is not None:
        out: list[Step] = []
        events = 0
        for step in steps:
            if events == faults.error_after and step.kind in ("data", "raw", "raw_b64"):
                break
            if step.kind == "disconnect":
                break
            out.append(step)
            if completes_event(step, source):
                events += 1
        name, data = stream_error_event(
            source,
            type=faults.error_type,
            message=faults.error_message,
            sequence_number=_next_sequence_number(out),
        )
        out.append(Step(event=name, data=data))
        steps = out
    return steps


#: How an SSE event ends: a blank line, whatever the line ends.
_EVENT_ENDS = (b"\n\n", b"\r\r", b"\r\n\r\n", b"\n\r\n", b"\r\n\n", b"\n\r")


def _ends_event(data: bytes) -> bool:
    """Whether SSE bytes end at an event boundary (after a blank line)."""
    return data.endswith(_EVENT_ENDS)


def completes_event(step: Step, source: str) -> bool:
    """Whether a step ends a whole event: a data step does; a raw one only when its
    bytes end at an event boundary (half an event split over two raw steps completes
    one with its second half), so that a fault never lands inside an event."""
    if step.kind == "data":
        return True
    if step.kind not in ("raw", "raw_b64") or source in EVENTSTREAM_PROVIDERS:
        return step.kind in ("raw", "raw_b64")
    return _ends_event(encode_step(step))


def fault_marks(steps: list[Step], faults: Faults, provider: str) -> dict[int, list[str]]:
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


def _next_sequence_number(steps: list[Step]) -> int | None:
    """The ``sequence_number`` after the last one in ``steps`` (Responses events number
    themselves); ``None`` when no event before carries one."""
    for step in reversed(steps):
        data: Any = step.data
        if isinstance(data, str) and '"sequence_number"' in data:
            try:
                data = _json.loads(data)
            except ValueError:
                continue
        if isinstance(data, dict):
            number = data.get("sequence_number")
            if type(number) is int:
                return number + 1
    return None


def _drop_usage(step: Step, source: Family) -> Step | None:
    if not isinstance(step.data, dict):
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


def _encode(steps: list[Step], answer: Response, provider: str) -> _Stream:
    out = _Stream()
    pending = 0.0
    default = answer.delay_ms / 1000
    for step in steps:
        kind = step.kind
        if kind == "sleep_ms":
            pending += (step.sleep_ms or 0) / 1000
        elif kind == "disconnect":
            out.abort = True
            break
        else:
            delay = pending + (default if out.units else 0.0)
            out.units.append(
                _Unit(
                    encode_step(step, answer.newline, provider=provider),
                    delay,
                    is_event=kind not in ("comment", "meta"),
                )
            )
            pending = 0.0
    out.tail_delay = pending
    return out


def _normalize(raw: _Stream, source: Family, output: Output, options: NormalizeOptions) -> _Stream:
    """The stream rendered in ``output``'s format through the normalization pipeline."""
    assert output.renderer is not None
    rendered: NormalizeOptions = {**options, "renderer": output.renderer}
    normalizer = Normalizer(source, **rendered)
    out = _Stream(tail_delay=raw.tail_delay)
    carried = 0.0
    for unit in raw.units:
        carried += unit.delay
        for frame in normalizer.feed(unit.data):
            out.units.append(_Unit(frame, carried, is_event=not frame.startswith(b":")))
            carried = 0.0
    for frame in normalizer.finish():
        out.units.append(_Unit(frame, carried, is_event=not frame.startswith(b":")))
        carried = 0.0
    out.tail_delay += carried
    # The pipeline turns an upstream cut into a stream_error chunk and a clean end:
    # that is what a gateway's client sees. A cut on the OpenAI route is a wire fault.
    return out


def _frame(raw: _Stream, output: Output) -> _Stream:
    """The stream in ``output``'s own framing: each unit's bytes re-framed; a unit that
    frames to nothing (a comment) is dropped, its pause carried to the next one."""
    assert output.framer is not None
    framer = output.framer()
    out = _Stream(abort=raw.abort, tail_delay=raw.tail_delay)
    carried = stalled = 0.0
    for unit in raw.units:
        carried += unit.delay
        stalled += unit.stall
        data = framer.feed(unit.data)
        if data:
            out.units.append(_Unit(data, carried, stalled))
            carried = stalled = 0.0
    data = framer.finish()
    if data:
        out.units.append(_Unit(data, carried, stalled))
    elif stalled:
        out.units.append(_Unit(b"", carried, stalled, is_event=False))
    else:
        out.tail_delay += carried
    return out


def _aggregate_plan(answer: Response, raw: _Stream, output: Output, rendered: bool) -> Plan:
    """The whole answer: ``output``'s answer renderer folds the stream it would send
    (rendered when ``output`` has a renderer, else the recorded one)."""
    if output.renderer is not None and not rendered and output.refold:
        raw = _normalize(raw, output.provider, output, {})
    stream = b"".join(unit.data for unit in raw.units)
    # A whole answer takes as long as the stream it stands for.
    took = sum(unit.delay for unit in raw.units) + raw.tail_delay
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


def _wire_faults(raw: _Stream, faults: Faults, output: Output, newline: Newline) -> None:
    """Apply event ids, keep-alives, stall and disconnects to the units, in place."""
    if faults.event_ids:
        _stamp_ids(raw, output, newline)
    if faults.keepalive_every is not None:
        style = faults.keepalive_style
        if output.no_keepalive:
            raise FaultSpecError(output.no_keepalive)
        if style == "anthropic" and output.provider != "anthropic":
            raise FaultSpecError(
                "keepalive_style 'anthropic' (an event: ping) needs the Anthropic route"
            )
        end = _NEWLINES[newline]
        frame = (KEEPALIVES[style].replace("\n", end) + end + end).encode()
        units: list[_Unit] = []
        events = 0
        for index, unit in enumerate(raw.units):
            units.append(unit)
            if unit.is_event and _ends_event(unit.data):  # never inside an event
                events += 1
                if events % faults.keepalive_every == 0 and index < len(raw.units) - 1:
                    units.append(_Unit(frame, is_event=False))
        raw.units = units
    if faults.stall_after is not None:
        stall = (faults.stall_ms or 0) / 1000
        position = _after_events(raw.units, faults.stall_after)
        if position < len(raw.units):
            raw.units[position].stall += stall
        else:
            raw.units.append(_Unit(b"", stall=stall, is_event=False))
    if faults.disconnect_after is not None:
        raw.units = raw.units[: _after_events(raw.units, faults.disconnect_after)]
        raw.abort = True
        raw.tail_delay = 0.0
    if faults.disconnect_inside is not None:
        # N whole events, then the first half of the next one: a cut inside an event
        # wherever its bytes fall (an echoed model name moves byte offsets, not events).
        position = _after_events(raw.units, faults.disconnect_inside)
        while position < len(raw.units) and not raw.units[position].is_event:
            position += 1  # a comment or keep-alive goes out whole: the cut is in an event
        whole = raw.units[:position]
        if position < len(raw.units):
            unit = raw.units[position]
            whole.append(replace(unit, data=unit.data[: max(1, len(unit.data) // 2)]))
        raw.units = whole
        raw.abort = True
        raw.tail_delay = 0.0
    if faults.disconnect_after_bytes is not None:
        budget = faults.disconnect_after_bytes
        kept: list[_Unit] = []
        for unit in raw.units:
            if budget <= 0:
                break
            kept.append(replace(unit, data=unit.data[:budget]) if len(unit.data) > budget else unit)
            budget -= len(unit.data)
        raw.units = kept
        raw.abort = True
        raw.tail_delay = 0.0


def _stamp_ids(raw: _Stream, output: Output, newline: Newline) -> None:
    """``id: N`` (1, 2, ...) as the first line of every event: where a unit starts an
    event (an event split over units is stamped once). An event's own ``id:`` comes
    later in its block, so it still wins, as the SSE standard reads fields in order."""
    if output.content_type != SSE_CONTENT_TYPE:
        raise FaultSpecError(
            "event_ids cannot apply to this route: an AWS event stream has no event ids"
        )
    end = _NEWLINES[newline].encode()
    number = 0
    at_start = True
    for unit in raw.units:
        if unit.is_event and at_start and unit.data:
            number += 1
            unit.data = b"id: %d" % number + end + unit.data
        if unit.data:
            at_start = _ends_event(unit.data)


def _after_events(units: list[_Unit], count: int) -> int:
    """The index just after the ``count``-th event unit (0 for ``count == 0``)."""
    if count == 0:
        return 0
    seen = 0
    for index, unit in enumerate(units):
        if unit.is_event:
            seen += 1
            if seen == count:
                return index + 1
    return len(units)


#: The largest write ``chunking: coalesce`` makes.
COALESCE_SIZE = 65536


def _coalesce(units: list[_Unit]) -> list[Write]:
    """As few writes as possible, up to :data:`COALESCE_SIZE` bytes each.

    For load tests where chunk boundaries do not matter: the pauses of the units
    merged into a write are summed before it, so the total time is kept.
    """
    writes: list[Write] = []
    parts: list[bytes] = []
    size = 0
    delay = stall = 0.0
    for unit in units:
        if size and size + len(unit.data) > COALESCE_SIZE:
            writes.append(Write(b"".join(parts), delay, stall))
            parts, size, delay, stall = [], 0, 0.0, 0.0
        parts.append(unit.data)
        size += len(unit.data)
        delay += unit.delay
        stall += unit.stall
    if parts:
        writes.append(Write(b"".join(parts), delay, stall))
    return writes


def _chunk(raw: _Stream, faults: Faults) -> tuple[Write, ...]:
    """The writes: one per unit, or the bytes re-cut as the chunking fault says."""
    mode = faults.chunking
    tail = (Write(b"", raw.tail_delay),) if raw.tail_delay else ()
    if mode == "event":
        return (*(Write(u.data, u.delay, u.stall) for u in raw.units), *tail)
    if mode == "coalesce":
        return (*_coalesce(raw.units), *tail)
    stream = b"".join(u.data for u in raw.units)
    # A unit with a pause starts a write, so recorded timing survives re-chunking.
    timed: dict[int, tuple[float, float]] = {}
    cuts: set[int] = set()
    offset = 0
    for unit in raw.units:
        if unit.delay or unit.stall:
            delay, stall = timed.get(offset, (0.0, 0.0))
            timed[offset] = (delay + unit.delay, stall + unit.stall)
            cuts.add(offset)
        if mode in ("utf8", "crlf"):
            cuts.add(offset)  # these modes add cuts to the per-event ones
        offset += len(unit.data)
    if mode == "byte":
        cuts.update(range(len(stream)))
    elif mode == "random":
        rng = random.Random(faults.seed)
        position = 0
        while position < len(stream):
            cuts.add(position)
            position += rng.randint(1, faults.max_chunk)
    elif mode == "utf8":
        # Cut after the lead byte of every multi-byte character.
        for index, byte in enumerate(stream):
            if byte >= 0xC0:
                cuts.add(index + 1)
    else:  # crlf: cut between every CR and the LF after it
        start = 0
        while (found := stream.find(b"\r\n", start)) >= 0:
            cuts.add(found + 1)
            start = found + 2
    points = sorted(c for c in cuts if 0 <= c < len(stream)) or [0]
    if points[0] != 0:
        points.insert(0, 0)
    writes = []
    for begin, end in zip(points, [*points[1:], len(stream)], strict=True):
        delay, stall = timed.get(begin, (0.0, 0.0))
        writes.append(Write(stream[begin:end], delay, stall))
    if not stream:
        writes = []
    # A pause due after the last byte (a stall past the end) is an empty final write.
    if len(stream) in timed:
        delay, stall = timed[len(stream)]
        writes.append(Write(b"", delay, stall))
    return (*writes, *tail)
