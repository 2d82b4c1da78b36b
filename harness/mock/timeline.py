"""A replay as the console draws it: the writes of a plan on a time axis, the events
they carry, what a reader makes of each event, and where the faults land.

Pure: built from :func:`~harness.mock.replay.build_plan`, so the timeline of a request
is the plan the server sent (same scenario, answer, route, stream flag, normalization,
faults and model give the same bytes and writes). The console (``/_harness/ui/``)
serves it as JSON; nothing here knows about HTTP.

The bytes are cut into **blocks** where the wire format says one thing ends: an SSE
block ends at its blank line (an event, a comment or an ``id``/``retry`` block), an
event-stream block is one message. A block may span several writes (re-chunking) and
a write may carry several blocks (coalescing). Each block is read by the reference
reader of the route's format (the normalization pipeline's decoder and adapter), so
the page shows what a correct client concludes from it: text, a finish reason, usage,
a keep-alive, an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.errors import ProviderDataError
from harness.mock.replay import (
    EVENTSTREAM_PROVIDERS,
    NORMALIZED_ROUTES,
    SSE_LINE,
    Plan,
    Write,
    answer_steps,
    build_plan,
    fault_marks,
)
from harness.mock.scenario import Faults, Response, Scenario
from harness.stream.adapters import get_adapter, input_decoder
from harness.stream.events import Delta, Done, KeepAlive, StreamError, StreamEvent
from harness.stream.eventstream import EventStreamDecoder, EventStreamError, encode
from harness.stream.outputs import OUTPUTS
from harness.stream.provider_errors import Family
from harness.stream.sse import Comment

__all__ = ["MAX_BLOCKS", "MAX_COUNTED", "MAX_TEXT", "View", "route_views", "timeline"]

#: Blocks and writes described in full per view; a longer stream is cut short there
#: (``truncated`` says how many more), so a page never has to draw a million rows.
MAX_BLOCKS = 2000
#: Characters of a block's or a write's bytes shown.
MAX_TEXT = 600
#: Writes counted for a view's totals: a longer stream (a capture of a million events)
#: is counted this far and said to be longer, so that a page view stays cheap.
MAX_COUNTED = 100_000


@dataclass(frozen=True)
class View:
    """One way a scenario is sent: ``name`` (``raw``, ``openai``...), the route."""

    name: str
    route: Family
    normalize: bool


def route_views(scenario: Scenario) -> list[View]:
    """The routes a scenario is shown on: its own route byte for byte (``raw``), then
    each normalized route that renders it (the golden kinds, in their order)."""
    views = [View("raw", scenario.provider, False)]
    for name, route in NORMALIZED_ROUTES.items():
        if OUTPUTS[route].replays(scenario.provider) and OUTPUTS[route].renderer is not None:
            views.append(View(name, route, True))
    return views


def timeline(
    scenario: Scenario,
    index: int,
    view: View,
    faults: Faults,
    *,
    stream: bool | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """The timeline of answer ``index`` of ``scenario`` as ``view``'s route sends it
    with ``faults`` in effect (the answer's own merged with any overlay already).

    ``stream`` defaults to the answer's own kind; ``model`` is the model a request
    named (it is echoed in rendered streams). A combination that cannot be served
    gives ``{"error": ...}`` instead of writes, as the server would answer 400.
    """
    answer = scenario.answers[index]
    out: dict[str, Any] = {"view": view.name, "route": view.route, "normalize": view.normalize}
    try:
        plan = build_plan(
            scenario,
            answer,
            target=view.route,
            stream=answer.streaming if stream is None else stream,
            normalize=view.normalize,
            faults=faults,
            options={"model": model},
        )
    except Exception as exc:  # ReplayError, FaultSpecError: what a request would get
        out["error"] = str(exc)
        return out
    # A long stream is read once, as it is made: its first writes kept, the rest counted.
    shown: list[Write] = []
    count = size = 0
    duration = 0.0
    for write in plan.iter_writes():
        if count < MAX_BLOCKS:
            shown.append(write)
        elif count >= MAX_COUNTED:
            out["counted_all"] = False  # the totals are of the first MAX_COUNTED writes
            break
        count += 1
        size += len(write.data)
        duration += write.delay + write.stall
    else:
        out["counted_all"] = True
    out.update(_plan_facts(plan, count, size, duration))
    truncated = count > len(shown)
    reader = _reader_provider(view)
    blocks, rest = _blocks(b"".join(w.data for w in shown), plan, reader, truncated=truncated)
    out["blocks"], out["truncated_blocks"] = blocks[:MAX_BLOCKS], max(0, len(blocks) - MAX_BLOCKS)
    out["writes"] = _writes(shown, blocks)
    out["truncated_writes"] = count - len(shown)
    out["end"] = [] if truncated else rest
    out["markers"] = _markers(plan, blocks, faults, truncated=truncated)
    if not view.normalize and view.route == scenario.provider:
        out["notes"] = _notes(scenario, answer, faults)
    return out


def _plan_facts(plan: Plan, count: int, size: int, duration: float) -> dict[str, Any]:
    return {
        "status": plan.status,
        "headers": [list(pair) for pair in plan.headers],
        "streaming": plan.streaming,
        "abort": plan.abort,
        "faults": plan.faults,
        "bytes": size,
        "write_count": count,
        "duration_ms": round(duration * 1000, 3),
    }


def _reader_provider(view: View) -> str | None:
    """The provider whose reader reads the route's bytes (``None``: none can, as for
    Bedrock InvokeModel's base64 chunks of Anthropic events)."""
    output = OUTPUTS[view.route]
    if output.framer is not None:
        return None
    return output.provider


def _text(data: bytes) -> str:
    text = data.decode("utf-8", "backslashreplace")
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… ({len(data)} bytes)"


def _blocks(
    body: bytes, plan: Plan, reader: str | None, *, truncated: bool = False
) -> tuple[list[dict[str, Any]], Any]:
    """The blocks of ``body`` with their byte ranges and readings, and what the reader
    concluded at the end. A block the body ends inside is ``partial`` (the stream was
    cut there), or ``truncated`` when only the first writes of a long stream are shown."""
    if not plan.streaming:
        return [{"start": 0, "end": len(body), "kind": "body", "text": _text(body)}], None
    content_type = dict(plan.headers).get("content-type", "")
    if "eventstream" in content_type:
        spans = _message_spans(body)
    else:
        spans = _sse_spans(body)
    blocks: list[dict[str, Any]] = []
    decoder = input_decoder(reader) if reader else None
    adapter = get_adapter(reader) if reader else None
    number = 0
    for start, end, kind, name in spans:
        if kind == "partial" and truncated:
            kind = "truncated"
        data = body[start:end]
        block: dict[str, Any] = {"start": start, "end": end, "kind": kind, "text": _text(data)}
        if name:
            block["name"] = name
        if kind == "event":
            number += 1
            block["event"] = number
        if decoder is not None and adapter is not None and kind not in ("partial", "truncated"):
            block["reading"] = _describe(_read(decoder, adapter, data))
        blocks.append(block)
    end_reading: list[str] = []
    if adapter is not None:
        try:
            end_reading = _describe(adapter.finish())
        except ProviderDataError as exc:
            end_reading = [f"parse error: {exc}"]
    return blocks, end_reading


def _read(decoder: Any, adapter: Any, data: bytes) -> list[StreamEvent]:
    events: list[StreamEvent] = []
    try:
        for item in decoder.feed_items(data):
            if isinstance(item, Comment):
                events.append(KeepAlive())
            else:
                events.extend(adapter.feed(item))
    except ProviderDataError as exc:
        events.append(
            StreamError(kind="parse_error", code="parse_error", message=str(exc), provider="")
        )
    return events


def _describe(events: Iterable[StreamEvent]) -> list[str]:
    """Each normalized event in a few words, as the page lists them."""
    out: list[str] = []
    for event in events:
        if isinstance(event, Delta):
            parts = [f"role {event.role}"] if event.role else []
            texts = ("text", event.content), ("reasoning", event.reasoning_content)
            for label, text in (*texts, ("refusal", event.refusal)):
                if text:
                    parts.append(f"{label} {text!r}")
            for call in event.tool_calls:
                if call.name:
                    parts.append(f"tool call {call.index} {call.name}")
                if call.arguments:
                    parts.append(f"arguments {call.arguments!r}")
            if event.finish_reason:
                parts.append(f"finish {event.finish_reason}")
            out.append(", ".join(parts) or "empty delta")
        elif isinstance(event, Done):
            usage = event.usage
            out.append(
                f"done, usage {usage.prompt_tokens}+{usage.completion_tokens}"
                if usage
                else "done, no usage"
            )
        elif isinstance(event, KeepAlive):
            out.append("keep-alive")
        elif isinstance(event, StreamError):
            out.append(f"error {event.code}: {event.message}")
        else:
            out.append("metadata" + (f" {event.model}" if event.model else ""))
    return out


def _sse_spans(body: bytes) -> list[tuple[int, int, str, str]]:
    """(start, end, kind, event name) of each SSE block; a block the body ends inside
    is ``partial``."""
    spans: list[tuple[int, int, str, str]] = []
    start = position = 0
    fields: list[bytes] = []
    for match in SSE_LINE.finditer(body):
        line = match.group().rstrip(b"\r\n")
        position = match.end()
        if line:
            fields.append(line)
            continue
        if fields:
            spans.append((start, position, *_classify(fields)))
        elif spans:  # a blank line with nothing before it belongs to the block before
            last = spans[-1]
            spans[-1] = (last[0], position, last[2], last[3])
        else:
            spans.append((start, position, "blank", ""))
        start, fields = position, []
    if start < len(body):
        spans.append((start, len(body), "partial", ""))
    return spans


def _classify(lines: list[bytes]) -> tuple[str, str]:
    names = [line.partition(b":")[0] for line in lines]
    if all(name == b"" for name in names):
        return "comment", ""
    event = ""
    for line in lines:
        if line.startswith(b"event:"):
            event = line[6:].strip().decode("utf-8", "replace")
    if b"data" in names:
        return "event", event or "message"
    return "meta", event


def _message_spans(body: bytes) -> list[tuple[int, int, str, str]]:
    decoder = EventStreamDecoder()
    try:
        messages = decoder.feed(body)
    except EventStreamError as exc:
        messages = exc.messages
    spans: list[tuple[int, int, str, str]] = []
    position = 0
    for message in messages:
        size = len(encode(message))
        headers = message.headers
        kind = headers.get(":message-type")
        name = headers.get(":exception-type" if kind == "exception" else ":event-type")
        spans.append((position, position + size, "event", str(name or kind or "message")))
        position += size
    if position < len(body):
        spans.append((position, len(body), "partial", ""))
    return spans


def _writes(writes: list[Write], blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    offset = 0
    clock = 0.0
    first = 0  # the first block that may overlap the next write
    for number, write in enumerate(writes):
        clock += write.delay + write.stall
        size = len(write.data)
        while first < len(blocks) and blocks[first]["end"] <= offset:
            first += 1
        touched = []
        index = first
        while index < len(blocks) and blocks[index]["start"] < offset + size:
            touched.append(index)
            index += 1
        item: dict[str, Any] = {
            "index": number,
            "at_ms": round(clock * 1000, 3),
            "delay_ms": round(write.delay * 1000, 3),
            "stall_ms": round(write.stall * 1000, 3),
            "start": offset,
            "size": size,
            "blocks": touched,
            "text": _text(write.data),
        }
        out.append(item)
        offset += size
    return out


def _markers(
    plan: Plan, blocks: list[dict[str, Any]], faults: Faults, *, truncated: bool = False
) -> list[dict[str, Any]]:
    """Where the faults show in what was sent: keep-alives, error events, stalls, the cut."""
    markers: list[dict[str, Any]] = []
    if not plan.streaming:
        if plan.status >= 400:
            what = f"http_error={faults.http_error}" if faults.http_error else "error answer"
            markers.append(
                {"kind": "http_error", "block": 0, "label": f"HTTP {plan.status} ({what})"}
            )
        return markers
    for index, block in enumerate(blocks):
        reading = block.get("reading") or []
        if block["kind"] == "comment" or reading == ["keep-alive"]:
            markers.append({"kind": "keepalive", "block": index, "label": "keep-alive"})
        if any(item.startswith("error ") for item in reading) and block["kind"] != "partial":
            why = f" (error_after={faults.error_after})" if faults.error_after is not None else ""
            markers.append(
                {
                    "kind": "error",
                    "block": index,
                    "event": block.get("event"),
                    "label": f"error event{why}",
                }
            )
    if plan.abort and not truncated:
        last = len(blocks) - 1
        inside = bool(blocks) and blocks[-1]["kind"] == "partial"
        markers.append(
            {
                "kind": "cut",
                "block": last,
                "inside": inside,
                "label": "connection cut inside an event" if inside else "connection cut",
            }
        )
    return markers


def _notes(scenario: Scenario, answer: Response, faults: Faults) -> list[str]:
    """``harness show``'s fault notes for the scenario's own route: after which step
    each event-counting fault lands."""
    if answer.events is None:
        return []
    marks = fault_marks(answer_steps(scenario, answer), faults, scenario.provider)
    notes: list[str] = []
    for index in sorted(marks):
        where = "before the first step" if index < 0 else f"after step {index + 1}"
        notes.extend(f"{where}: {mark}" for mark in marks[index])
    if scenario.provider in EVENTSTREAM_PROVIDERS:
        notes.append("one AWS event-stream message per event")
    return notes
