"""Fuzzing the adapters and the pipeline from valid streams, mutated (Hypothesis).

Each provider's stream (OpenAI chat, Anthropic, Gemini, OpenAI Responses) is first
generated valid and realistic, in the documented shapes (text, tool calls with
arguments split across chunks, thinking, usage, several choices or candidates, finish
reasons, in-band errors), then mutated: fields dropped, values of the wrong type
(null, arrays, numbers, huge and non-finite numbers, nested objects, nesting deep
enough to exhaust the JSON parser's recursion), events dropped, reordered and
duplicated (terminal events included), events after the terminal one, unknown event
types, non-JSON data, lone surrogates escaped in JSON, invalid UTF-8 and stray line
ends in the bytes, and the bytes cut short, also in the middle of a line.
Whatever comes in:

* nothing raises, and an adapter raises nothing but ``ProviderDataError``;
* the output is SSE frames, each a keep-alive or ``data:`` with strict JSON, except
  one final ``[DONE]`` (right after the usage chunk); Gemini tool-call ``arguments``
  (whole ``args`` objects re-encoded by us) are strict JSON too;
* it ends in ``[DONE]`` or in exactly one ``stream_error`` chunk, and nothing follows;
* it is the same bytes for any chunking of the input (random cuts, and a cut after
  every CR), and from ``anormalize``.

Each property was checked to fail on a deliberately broken core (bench/fuzz/README.md
lists the mutations). The last section pins deep JSON outside the pure core.

The coverage-guided counterpart, run for minutes rather than seconds, is
``make fuzz`` (bench/fuzz/).
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import (
    Delta,
    Done,
    KeepAlive,
    Metadata,
    ProviderDataError,
    StreamError,
    StreamEvent,
    ToolCallDelta,
    Usage,
    get_adapter,
    normalize,
)
from harness.mock.scenario import parse_scenario
from harness.record.cassette import Chunk, Interaction
from harness.record.convert import scenario_yaml
from harness.stream.aggregate import anthropic_message
from harness.testing import RunningServer
from tests.output_rules import acollect, check_output, split
from tests.streams import an_message, collect, events_of, oa_chunk, sse

T = TypeVar("T")
PROVIDERS = ["openai", "anthropic", "gemini", "openai-responses"]
OPENAI_FINISH = {"stop", "length", "tool_calls", "content_filter", "function_call"}


# --- Streams as data, so that they can be mutated before they become bytes. ----------


@dataclass(frozen=True, slots=True)
class Raw:
    """JSON text written as is: what ``json.dumps`` cannot produce (``1e400``, ``\\ud800``)."""

    text: str


def dump(value: Any) -> str:
    """Compact JSON with :class:`Raw` values spliced in verbatim (non-ASCII as UTF-8)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{dump(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@dataclass(slots=True)
class Event:
    """One provider SSE event: its ``event:`` name (or none) and its data."""

    data: Any
    name: str | None = None


@dataclass(slots=True)
class Spec:
    """A generated provider stream and what a client should assemble from it."""

    events: list[Event]
    text: str = ""
    reasoning: str = ""
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None  # the error code, for a stream that ends in a provider error
    eol: str = "\n"

    def wire(self) -> bytes:
        return b"".join(sse(dump(e.data), e.name, eol=self.eol) for e in self.events)


# Text that can be UTF-8 (no lone surrogates); line ends and U+2028 are fine inside JSON.
texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
json_leaf = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | texts
tool_args = st.dictionaries(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=6),
    st.recursive(json_leaf, lambda c: st.lists(c, max_size=3), max_leaves=5),
    max_size=4,
)
eols = st.sampled_from(["\n", "\r\n", "\r"])


def pick(draw: st.DrawFn, options: Sequence[T]) -> T:
    """One of ``options``; cheaper than building a ``sampled_from`` strategy per draw."""
    return options[draw(st.integers(0, len(options) - 1))]


def split_text(draw: st.DrawFn, text: str, most: int = 4) -> list[str]:
    """``text`` in up to ``most`` pieces (cut anywhere, so inside words and escapes)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=most - 1)))
    edges = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(edges)]


@st.composite
def openai_specs(draw: st.DrawFn) -> Spec:
    """Chat Completions chunks: 1-2 choices, text, reasoning, a split tool call, usage."""
    n = draw(st.integers(1, 2))
    spec = Spec([], eol=draw(eols))
    first = [{"index": i, "delta": {"role": "assistant", "content": ""}} for i in range(n)]
    spec.events.append(Event(oa_chunk(choices=[{**c, "finish_reason": None} for c in first])))

    def piece(i: int, delta: dict[str, Any]) -> None:
        choice = {"index": i, "delta": delta, "logprobs": None, "finish_reason": None}
        spec.events.append(Event(oa_chunk(choices=[choice])))

    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, n - 1))
        kind = pick(draw, ["content", "reasoning_content", "tool"])
        if kind == "tool":  # on choice 0 only: collect() keys calls by index alone
            call = len(spec.tool_calls)
            name = pick(draw, ["get_weather", "search", "f"])
            args = json.dumps(draw(tool_args), ensure_ascii=False)
            spec.tool_calls.append({"id": f"call_{call}", "name": name, "arguments": args})
            head = {"index": call, "id": f"call_{call}", "type": "function"}
            piece(0, {"tool_calls": [{**head, "function": {"name": name, "arguments": ""}}]})
            for fragment in split_text(draw, args):
                piece(0, {"tool_calls": [{"index": call, "function": {"arguments": fragment}}]})
            continue
        text = draw(texts)
        piece(i, {kind: text})
        if kind == "content":
            spec.text += text
        else:
            spec.reasoning += text
    if draw(st.booleans()):
        spec.error = pick(draw, ["server_error", "rate_limit_exceeded"])
        error = {"message": "The server had an error", "type": spec.error, "code": None}
        spec.events.append(Event({"error": error}, pick(draw, [None, "error"])))
        return spec
    for i in range(n):
        finish = pick(draw, ["stop", "length", "tool_calls", "content_filter"])
        spec.events.append(
            Event(oa_chunk(choices=[{"index": i, "delta": {}, "finish_reason": finish}]))
        )
    if draw(st.booleans()):
        usage = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}
        spec.events.append(Event(oa_chunk(choices=[], usage=usage)))
    if draw(st.booleans()):  # many compatible servers omit [DONE]
        spec.events.append(Event(Raw("[DONE]")))
    return spec


@st.composite
def anthropic_specs(draw: st.DrawFn) -> Spec:
    """Messages events: text, thinking and tool_use blocks, pings, usage, stop reason."""
    spec = Spec([], eol=draw(eols))

    def event(kind: str, **fields: Any) -> None:
        spec.events.append(Event({"type": kind, **fields}, kind))
        if draw(st.integers(0, 5)) == 0:
            spec.events.append(Event({"type": "ping"}, "ping"))

    event("message_start", message=an_message(cache_read_input_tokens=3))
    for index in range(draw(st.integers(0, 4))):
        kind = pick(draw, ["text", "thinking", "tool_use"])
        if kind == "tool_use":
            call = len(spec.tool_calls)
            name = pick(draw, ["get_weather", "search"])
            args = json.dumps(draw(tool_args), ensure_ascii=False)
            spec.tool_calls.append({"id": f"toolu_{call}", "name": name, "arguments": args})
            block = {"type": "tool_use", "id": f"toolu_{call}", "name": name, "input": {}}
            deltas = [
                {"type": "input_json_delta", "partial_json": f} for f in split_text(draw, args)
            ]
        elif kind == "text":
            block = {"type": "text", "text": ""}
            pieces = draw(st.lists(texts, max_size=4))
            spec.text += "".join(pieces)
            deltas = [{"type": "text_delta", "text": p} for p in pieces]
        else:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            pieces = draw(st.lists(texts, max_size=4))
            spec.reasoning += "".join(pieces)
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces]
            deltas.append({"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"})
        event("content_block_start", index=index, content_block=block)
        for delta in deltas:
            event("content_block_delta", index=index, delta=delta)
        event("content_block_stop", index=index)
    if draw(st.booleans()):
        spec.error = pick(draw, ["overloaded_error", "api_error"])
        event("error", error={"type": spec.error, "message": "Overloaded"})
        return spec
    reason = pick(draw, ["end_turn", "max_tokens", "tool_use", "refusal", "pause_turn"])
    event(
        "message_delta",
        delta={"stop_reason": reason, "stop_sequence": None},
        usage={"output_tokens": 15},
    )
    event("message_stop")
    return spec


@st.composite
def gemini_specs(draw: st.DrawFn) -> Spec:
    """GenerateContentResponse chunks: text, thoughts, function calls, 1-2 candidates."""
    n = draw(st.integers(1, 2))
    spec = Spec([], eol=pick(draw, ("\r\n", "\n")))
    calls = 0

    def response(candidates: list[dict[str, Any]], **extra: Any) -> None:
        body = {"candidates": candidates, "modelVersion": "gemini-2.5-flash", **extra}
        spec.events.append(Event({**body, "responseId": "mJ4aZ9yZLsOg1MkP-YmCuQ4"}))

    for _ in range(draw(st.integers(0, 5))):
        i = draw(st.integers(0, n - 1))
        kind = pick(draw, ["text", "thought", "call"])
        if kind == "call":  # on candidate 0 only: collect() keys calls by index alone
            args = draw(tool_args)
            arguments = json.dumps(args, ensure_ascii=False, separators=(",", ":"))
            spec.tool_calls.append({"id": f"call_{calls}", "name": "f", "arguments": arguments})
            calls += 1
            part: dict[str, Any] = {"functionCall": {"name": "f", "args": args}}
            i = 0
        else:
            text = draw(texts)
            part = {"text": text, "thought": True} if kind == "thought" else {"text": text}
            if kind == "thought":
                spec.reasoning += text
            else:
                spec.text += text
        response([{"content": {"role": "model", "parts": [part]}, "index": i}])
    if draw(st.booleans()):
        spec.error = "UNAVAILABLE"
        error = {"code": 503, "message": "The model is overloaded.", "status": spec.error}
        spec.events.append(Event({"error": error}))
        return spec
    usage = {"promptTokenCount": 8, "candidatesTokenCount": 4, "totalTokenCount": 12}
    finishes = [pick(draw, ("STOP", "MAX_TOKENS", "SAFETY")) for _ in range(n)]
    response([{"finishReason": finishes[i], "index": i} for i in range(n)], usageMetadata=usage)
    return spec


@st.composite
def responses_specs(draw: st.DrawFn) -> Spec:
    """Responses events: messages, reasoning summaries (1-2 parts), function calls whose
    argument deltas interleave, usage, the three endings and both error shapes."""
    spec = Spec([], eol=draw(eols))
    events: list[dict[str, Any]] = []
    response = {"id": "resp_1", "object": "response", "created_at": 1741476777, "model": "gpt-4.1"}
    events.append({"type": "response.created", "response": {**response, "status": "in_progress"}})
    events.append({"type": "response.in_progress", "response": {**response}})
    open_calls: list[tuple[int, str, str, str, list[str]]] = []

    def flush_calls() -> None:
        """The argument deltas of the open calls, interleaved, each call closed when done."""
        while open_calls:
            at = draw(st.integers(0, len(open_calls) - 1))
            output, item_id, name, args, fragments = open_calls[at]
            if fragments:
                fragment = fragments.pop(0)
                delta = {"item_id": item_id, "output_index": output, "delta": fragment}
                events.append({"type": "response.function_call_arguments.delta", **delta})
                continue
            del open_calls[at]
            where = {"item_id": item_id, "output_index": output}
            events.append(
                {"type": "response.function_call_arguments.done", **where, "arguments": args}
            )
            item = {"id": item_id, "type": "function_call", "arguments": args, "name": name}
            events.append(
                {"type": "response.output_item.done", "output_index": output, "item": item}
            )

    for output in range(draw(st.integers(0, 5))):
        kind = pick(draw, ["text", "reasoning", "call"])
        if kind == "call":
            call = len(spec.tool_calls)
            name = pick(draw, ["get_weather", "search"])
            args = json.dumps(draw(tool_args), ensure_ascii=False)
            spec.tool_calls.append({"id": f"call_{call}", "name": name, "arguments": args})
            item = {
                "id": f"fc_{call}",
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": f"call_{call}",
                "name": name,
            }
            events.append(
                {"type": "response.output_item.added", "output_index": output, "item": item}
            )
            open_calls.append((output, f"fc_{call}", name, args, split_text(draw, args)))
            continue
        flush_calls()
        item_id = f"item_{output}"
        where = {"item_id": item_id, "output_index": output}
        if kind == "text":
            item = {"id": item_id, "type": "message", "role": "assistant", "content": []}
            events.append(
                {"type": "response.output_item.added", "output_index": output, "item": item}
            )
            pieces = draw(st.lists(texts, max_size=4))
            spec.text += "".join(pieces)
            events += [
                {"type": "response.output_text.delta", **where, "content_index": 0, "delta": p}
                for p in pieces
            ]
        else:
            item = {"id": item_id, "type": "reasoning", "summary": []}
            events.append(
                {"type": "response.output_item.added", "output_index": output, "item": item}
            )
            for part in range(draw(st.integers(1, 2))):
                events.append(
                    {
                        "type": "response.reasoning_summary_part.added",
                        **where,
                        "summary_index": part,
                    }
                )
                pieces = draw(st.lists(texts, max_size=3))
                if "".join(pieces):  # a part after reasoning text starts with a blank line
                    spec.reasoning += ("\n\n" if spec.reasoning else "") + "".join(pieces)
                events += [
                    {
                        "type": "response.reasoning_summary_text.delta",
                        **where,
                        "summary_index": part,
                        "delta": p,
                    }
                    for p in pieces
                ]
        events.append({"type": "response.output_item.done", "output_index": output, "item": item})
    flush_calls()
    ending = pick(draw, ["completed", "incomplete", "error", "nested_error", "failed"])
    usage = {
        "input_tokens": 9,
        "input_tokens_details": {"cached_tokens": 2},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 13,
    }
    if ending == "completed":
        end = {**response, "status": "completed", "usage": usage}
        events.append({"type": "response.completed", "response": end})
    elif ending == "incomplete":
        reason = pick(draw, ["max_output_tokens", "content_filter"])
        end = {**response, "status": "incomplete", "incomplete_details": {"reason": reason}}
        events.append({"type": "response.incomplete", "response": {**end, "usage": usage}})
    elif ending == "error":
        spec.error = pick(draw, ["rate_limit_exceeded", "server_error"])
        events.append({"type": "error", "code": spec.error, "message": "Slow down", "param": None})
    elif ending == "nested_error":
        spec.error = "too_many_requests"
        error = {"type": spec.error, "code": spec.error, "message": "Too Many Requests"}
        events.append({"type": "error", "error": error})
    else:
        spec.error = "server_error"
        error = {"code": spec.error, "message": "The model failed."}
        end = {**response, "status": "failed", "error": error}
        events.append({"type": "response.failed", "response": end})
    spec.events = [
        Event({**event, "sequence_number": n}, event["type"]) for n, event in enumerate(events)
    ]
    return spec


SPECS: dict[str, st.SearchStrategy[Spec]] = {
    "openai": openai_specs(),
    "anthropic": anthropic_specs(),
    "gemini": gemini_specs(),
    "openai-responses": responses_specs(),
}


# --- Mutations. ---------------------------------------------------------------------

DEEP = "[" * 5000 + "]" * 5000  # deeper than the JSON parser's recursion limit
WRONG_VALUES: list[Any] = [
    None,
    [],
    [None, 1],
    {},
    {"nested": {"deeper": [1, {"x": None}]}},
    0,
    -1,
    1.5,
    12.0,
    2**63,
    10**30,
    True,
    "",
    "x",
    "\u2028",
]
# Values json.dumps cannot write, each a mutation of its own so that they come up often.
HOSTILE = [
    Raw("1e400"),
    Raw("-1e400"),
    Raw("NaN"),
    Raw("-Infinity"),
    Raw("9" * 5000),  # beyond Python's int-to-str digit limit
    Raw('"\\ud800"'),
    Raw('"a\\udfffb"'),
    Raw(DEEP),
]
NON_JSON = ["not json", "{", '{"a":1}{', "[DONE", "[DONE]", "", " ", "null", "[1,2]", '"s"', "7"]
NAMES = [
    None,
    "message",
    "error",
    "ping",
    "message_stop",
    "content_block_delta",
    "response.completed",
    "surprise",
]
BYTES = [
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\x00",
    b"\r",
    b"\n",
    b"\r\n\r\n",
    b":",
    b"\xef\xbb\xbf",
]
TAILS = [b":", b": keep-alive", b"event: message_stop", b'data: {"choices": [', b"\r", b"data"]
UNKNOWN: dict[str, list[Any]] = {
    "openai": [{"object": "chat.completion.chunk", "choices": [], "x_new_field": {"a": 1}}],
    "anthropic": [
        {"type": "content_block_surprise", "index": 0},
        {"type": "message_surprise", "usage": {"output_tokens": "many"}},
    ],
    "gemini": [{"candidates": [], "newThing": [1, 2]}, {"automaticFunctionCallingHistory": []}],
    "openai-responses": [
        {"type": "response.future_event", "sequence_number": 99, "payload": {"a": 1}},
        {"type": "response.output_item.added", "output_index": 7, "item": {"type": "mcp_call"}},
    ],
}


MUTATIONS = (
    "drop_field",
    "wrong_type",
    "wrong_type",
    "hostile",
    "hostile_leaf",
    "hostile_leaf",
    "drop_event",
    "duplicate",
    "duplicate_terminal",
    "swap",
    "after_terminal",
    "unknown",
    "non_json",
    "rename",
)


def slots(value: Any, out: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Every (container, key) pair inside ``value``, depth first."""
    if isinstance(value, dict):
        for key in list(value):
            out.append((value, key))
            slots(value[key], out)
    elif isinstance(value, list):
        for i in range(len(value)):
            out.append((value, i))
            slots(value[i], out)
    return out


def mutate(draw: st.DrawFn, provider: str, events: list[Event]) -> None:
    """Apply one drawn mutation to ``events`` in place."""
    op = pick(draw, MUTATIONS)
    if op in ("drop_field", "wrong_type", "hostile", "hostile_leaf"):
        places = [s for e in events for s in slots(e.data, [])]
        if op == "hostile_leaf":  # where text, ids, counts and arguments are: the rendered values
            places = [(c, k) for c, k in places if not isinstance(c[k], dict | list)]
        if not places:
            return
        container, key = pick(draw, places)
        if op == "drop_field" and isinstance(container, dict):
            del container[key]
        else:
            values = WRONG_VALUES if op == "wrong_type" else HOSTILE
            container[key] = copy.deepcopy(pick(draw, values))
        return
    if op == "unknown":
        at = draw(st.integers(0, len(events)))
        data = copy.deepcopy(pick(draw, UNKNOWN[provider]))
        events.insert(at, Event(data, data.get("type")))
        return
    if not events:
        return
    at = draw(st.integers(0, len(events) - 1))
    if op == "drop_event":
        del events[at]
    elif op == "duplicate":
        events.insert(at, copy.deepcopy(events[at]))
    elif op == "duplicate_terminal":  # message_stop, [DONE], the finish chunk twice
        events.append(copy.deepcopy(events[-1]))
    elif op == "swap":
        other = draw(st.integers(0, len(events) - 1))
        events[at], events[other] = events[other], events[at]
    elif op == "after_terminal":
        events.append(copy.deepcopy(events[at]))
    elif op == "non_json":
        events[at].data = Raw(pick(draw, NON_JSON))
    else:
        events[at].name = pick(draw, NAMES)


@st.composite
def mutated_streams(draw: st.DrawFn, provider: str) -> bytes:
    """A valid stream of ``provider``, mutated as events and then as bytes."""
    spec = draw(SPECS[provider])
    events = copy.deepcopy(spec.events)
    for _ in range(draw(st.integers(1, 4))):
        mutate(draw, provider, events)
    wire = b"".join(sse(dump(e.data), e.name, eol=spec.eol) for e in events)
    for _ in range(draw(st.integers(0, 2))):
        at = draw(st.integers(0, len(wire)))
        if draw(st.integers(0, 3)) == 0:
            wire = wire[:at]  # the connection cut here
        else:
            wire = wire[:at] + pick(draw, BYTES) + wire[at:]
    if draw(st.integers(0, 5)) == 0:  # cut in the middle of a line: what flush() sees
        wire += pick(draw, TAILS)
    return wire


# --- The properties. ------------------------------------------------------------------


def check_stream(provider: str, stream: bytes, cuts: list[int]) -> bytes:
    """Normalize ``stream`` whole, split and async; check the invariants; the output."""
    whole = b"".join(normalize(provider, [stream]))
    check_output(whole, provider)
    chunks = split(stream, cuts)
    assert b"".join(normalize(provider, chunks)) == whole
    # Right after every CR: each CRLF split across two reads.
    at_cr = [i + 1 for i, byte in enumerate(stream) if byte == 0x0D]
    assert b"".join(normalize(provider, split(stream, at_cr))) == whole
    assert asyncio.run(acollect(provider, chunks)) == whole
    return whole


cut_lists = st.lists(st.integers(min_value=0), max_size=12)


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), cuts=cut_lists)
def test_valid_streams_come_through_whole(
    provider: str, data: st.DataObject, cuts: list[int]
) -> None:
    """Unmutated streams: the text, reasoning, tool calls and error survive any chunking."""
    spec = data.draw(SPECS[provider])
    got = collect(check_stream(provider, spec.wire(), cuts))
    assert got["text"] == spec.text
    assert got["reasoning"] == spec.reasoning
    if spec.error is None:
        assert got["done"]
        assert got["error"] is None
        if provider != "gemini":  # Gemini ids are ours: call_<n>
            assert got["tool_calls"] == spec.tool_calls
        assert [c["arguments"] for c in got["tool_calls"]] == [
            c["arguments"] for c in spec.tool_calls
        ]
    else:
        assert not got["done"]
        assert got["error"]["code"] == spec.error


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cuts=cut_lists)
def test_mutated_streams_keep_the_invariants(
    provider: str, data: st.DataObject, cuts: list[int]
) -> None:
    """Mutated streams never raise, end in one terminal frame, and ignore the chunking."""
    check_stream(provider, data.draw(mutated_streams(provider)), cuts)


def _check_event(provider: str, event: StreamEvent) -> None:
    def opt_str(*values: object) -> bool:
        return all(v is None or type(v) is str for v in values)

    if isinstance(event, Delta):
        assert type(event.index) is int
        assert opt_str(event.role, event.content, event.reasoning_content, event.refusal)
        assert opt_str(event.finish_reason)
        if provider != "openai":  # translated reasons are OpenAI's; OpenAI's pass through
            assert event.finish_reason is None or event.finish_reason in OPENAI_FINISH
        assert type(event.tool_calls) is tuple
        for call in event.tool_calls:
            assert type(call) is ToolCallDelta
            assert type(call.index) is int
            assert opt_str(call.id, call.name, call.arguments)
    elif isinstance(event, Metadata):
        assert opt_str(event.id, event.model)
        assert event.created is None or type(event.created) is int
    elif isinstance(event, Done):
        usage = event.usage
        assert usage is None or type(usage) is Usage
        if usage is not None:
            counts = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)
            assert all(type(n) is int for n in counts)
    elif isinstance(event, StreamError):
        assert event.kind in ("parse_error", "connection_closed", "provider_error")
        assert opt_str(event.code, event.message)
        assert event.provider == provider
    else:
        assert type(event) is KeepAlive


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_adapter_contract(provider: str, data: st.DataObject) -> None:
    """Adapters raise only ProviderDataError, return typed events, and end exactly once."""
    stream = data.draw(mutated_streams(provider))
    adapter = get_adapter(provider)
    terminal = False
    for sse_event in events_of(stream):
        try:
            out = list(adapter.feed(sse_event))
        except ProviderDataError:
            return  # the pipeline renders it as parse_error and stops feeding
        for n, event in enumerate(out):
            _check_event(provider, event)
            if isinstance(event, Done | StreamError):
                assert n == len(out) - 1, "events after a terminal one"
                terminal = True
        if terminal:
            return  # the pipeline stops feeding after the terminal event
    try:
        out = list(adapter.finish())
    except ProviderDataError:
        return
    for event in out:
        _check_event(provider, event)
    assert [type(e) for e in out if isinstance(e, Done | StreamError)] == [type(out[-1])]


# --- Huge strings: a few examples, each megabytes. --------------------------------------

MB = 1 << 20


def _huge_stream(provider: str, text: str, args: str, eol: str) -> bytes:
    """A stream with one text delta of ``text`` and one tool call whose arguments are ``args``."""
    thirds = [args[: len(args) // 3], args[len(args) // 3 : -5], args[-5:]]
    if provider == "openai":
        call = {"index": 0, "id": "call_0", "type": "function"}
        chunks = [
            oa_chunk({"role": "assistant", "content": text}),
            oa_chunk({"tool_calls": [{**call, "function": {"name": "f", "arguments": ""}}]}),
            *(
                oa_chunk({"tool_calls": [{"index": 0, "function": {"arguments": a}}]})
                for a in thirds
            ),
            oa_chunk({}, "tool_calls"),
        ]
        events = [Event(c) for c in chunks] + [Event(Raw("[DONE]"))]
    elif provider == "anthropic":
        block = {"type": "tool_use", "id": "call_0", "name": "f", "input": {}}
        events = [
            Event({"type": "message_start", "message": {"id": "msg_1", "usage": {}}}),
            Event({"type": "content_block_delta", "delta": {"type": "text_delta", "text": text}}),
            Event({"type": "content_block_start", "index": 1, "content_block": block}),
            *(
                Event({"type": "content_block_delta", "index": 1, "delta": delta})
                for delta in ({"type": "input_json_delta", "partial_json": a} for a in thirds)
            ),
            Event({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}),
            Event({"type": "message_stop"}),
        ]
    elif provider == "openai-responses":
        call = {"id": "fc_0", "type": "function_call", "call_id": "call_0", "name": "f"}
        at = {"item_id": "fc_0", "output_index": 1}
        events = [
            Event({"type": "response.created", "response": {"id": "resp_1"}}),
            Event({"type": "response.output_text.delta", "item_id": "m", "delta": text}),
            Event({"type": "response.output_item.added", "output_index": 1, "item": call}),
            *(
                Event({"type": "response.function_call_arguments.delta", **at, "delta": a})
                for a in thirds
            ),
            Event({"type": "response.completed", "response": {"id": "resp_1"}}),
        ]
    else:
        parts = [{"text": text}, {"functionCall": {"name": "f", "args": json.loads(args)}}]
        events = [Event({"candidates": [{"content": {"parts": parts}, "finishReason": "STOP"}]})]
    return Spec(events, eol=eol).wire()


@pytest.mark.parametrize("provider", PROVIDERS)
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    char=st.sampled_from(["a", "é", "日", "🙂", "\n", '"', "\u2028"]),
    eol=eols,
    cuts=st.lists(st.integers(min_value=0), max_size=6),
    broken=st.booleans(),
)
def test_megabyte_strings(
    provider: str, char: str, eol: str, cuts: list[int], broken: bool
) -> None:
    """1 MB text deltas and tool arguments pass whole; invalid UTF-8 in them becomes U+FFFD."""
    count = MB // len(char.encode())
    text = char * count
    args = json.dumps({"blob": text}, ensure_ascii=False, separators=(",", ":"))
    stream = _huge_stream(provider, text, args, eol)
    if broken:  # an invalid byte between two characters in the middle of the text delta
        wire_char = json.dumps(char, ensure_ascii=False)[1:-1].encode()
        at = stream.index(wire_char * 64) + len(wire_char) * (count // 2)
        stream = stream[:at] + b"\xff" + stream[at:]
        text = char * (count // 2) + "\ufffd" + char * (count - count // 2)
    got = collect(check_stream(provider, stream, cuts))
    assert got["done"]
    assert got["text"] == text
    assert got["tool_calls"][0]["arguments"] == args


# --- Regressions found by fuzzing, and the terminal-event edge cases, pinned. ---------


NESTED = {
    "bare": lambda depth: b"[" * depth,  # the fuzzer's find: a data line of "[" only
    "closed": lambda depth: b"[" * depth + b"]" * depth,
    "in-object": lambda depth: b'{"choices": ' + b"[" * depth + b"]" * depth + b"}",
}


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("shape", list(NESTED))
@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_deeply_nested_json_is_a_parse_error(provider: str, shape: str, depth: int) -> None:
    """JSON nested past the parser's recursion limit ends the stream in parse_error.

    Found by fuzzing: ``json`` raised ``RecursionError`` out of the pipeline.
    """
    stream = b"data: " + NESTED[shape](depth) + b"\n\n"
    chunks = [stream[:7], stream[7:]]
    out = b"".join(normalize(provider, chunks))
    check_output(out)
    error = collect(out)["error"]
    assert error["code"] == "parse_error"
    assert "nested too deeply" in error["message"]
    assert asyncio.run(acollect(provider, chunks)) == out


@pytest.mark.parametrize("number", ["NaN", "-Infinity", "1e400"])
def test_gemini_arguments_with_non_finite_numbers_are_a_parse_error(number: str) -> None:
    """``args`` json reads as a float it cannot write strictly ends the stream in parse_error.

    Found by fuzzing: the ``arguments`` handed on were ``{"x":NaN}``, which is not JSON.
    """
    call = {"name": "f", "args": {"x": Raw(number), "ok": [1.5]}}
    part = {
        "candidates": [{"content": {"parts": [{"functionCall": call}]}, "finishReason": "STOP"}]
    }
    stream = Spec([Event(part)]).wire()
    out = check_stream("gemini", stream, [9, 30])
    error = collect(out)["error"]
    assert error["code"] == "parse_error"
    assert "functionCall.args" in error["message"]


def _openai_done(finish: str = "stop") -> bytes:
    return sse(oa_chunk({"role": "assistant", "content": "hi"})) + sse(oa_chunk({}, finish))


AN_STOP = sse({"type": "message_stop"}, "message_stop")
AN_START = sse({"type": "message_start", "message": {"id": "m"}}, "message_start")
GM_STOP = sse({"candidates": [{"content": {"parts": [{"text": "hi"}]}, "finishReason": "STOP"}]})
RS_TEXT = sse({"type": "response.output_text.delta", "delta": "hi"}, "response.output_text.delta")
RS_DONE = sse({"type": "response.completed", "response": {"id": "r"}}, "response.completed")
RS_ERROR = sse({"type": "error", "code": "server_error", "message": "late"}, "error")
TERMINAL_CASES: list[tuple[str, str, bytes, Callable[[dict[str, Any]], bool]]] = [
    ("openai", "done-twice", _openai_done() + sse("[DONE]") * 2, lambda c: c["done"]),
    ("openai", "finish-twice", _openai_done() + sse(oa_chunk({}, "stop")), lambda c: c["done"]),
    (
        "openai",
        "chunks-after-done",
        _openai_done() + sse("[DONE]") + sse(oa_chunk({"content": "late"})),
        lambda c: c["text"] == "hi",
    ),
    (
        "openai",
        "error-after-done",
        _openai_done() + sse("[DONE]") + sse({"error": {"type": "late"}}),
        lambda c: c["done"] and c["error"] is None,
    ),
    (
        "openai",
        "error-twice",
        sse({"error": {"type": "a"}}) * 2,
        lambda c: c["error"]["code"] == "a",
    ),
    ("anthropic", "stop-twice", AN_START + AN_STOP * 2, lambda c: c["done"]),
    (
        "anthropic",
        "events-after-stop",
        AN_START + AN_STOP + sse({"type": "error", "error": {"type": "late"}}, "error"),
        lambda c: c["done"] and c["error"] is None,
    ),
    ("anthropic", "stop-before-start", AN_STOP + AN_START, lambda c: c["done"]),
    ("gemini", "finish-twice", GM_STOP * 2, lambda c: c["done"] and c["text"] == "hihi"),
    (
        "gemini",
        "error-after-finish",
        GM_STOP + sse({"error": {"code": 503, "status": "UNAVAILABLE"}}),
        lambda c: c["error"]["code"] == "UNAVAILABLE",
    ),
    ("openai-responses", "completed-twice", RS_TEXT + RS_DONE * 2, lambda c: c["done"]),
    (
        "openai-responses",
        "events-after-completed",
        RS_TEXT + RS_DONE + RS_TEXT + RS_ERROR,
        lambda c: c["done"] and c["text"] == "hi" and c["error"] is None,
    ),
    (
        "openai-responses",
        "error-twice",
        RS_TEXT + RS_ERROR * 2,
        lambda c: c["error"]["code"] == "server_error" and c["text"] == "hi",
    ),
]


@pytest.mark.parametrize(
    ("provider", "stream", "expect"),
    [(p, s, e) for p, _, s, e in TERMINAL_CASES],
    ids=[f"{p}-{name}" for p, name, _, _ in TERMINAL_CASES],
)
def test_duplicated_and_late_terminal_events(
    provider: str, stream: bytes, expect: Callable[[dict[str, Any]], bool]
) -> None:
    """A second terminal event, or anything after the first, adds nothing to the output."""
    out = check_stream(provider, stream, list(range(0, len(stream), 3)))
    assert expect(collect(out))


# --- Deep JSON outside the pure core: untrusted JSON the server, convert and replay parse. --
#
# The pipeline's RecursionError (above) has siblings wherever ``json.loads`` (or a
# recursive dumper such as ``yaml.dump``) meets untrusted input: the request body, the
# fault header, convert's reading of a recording, the stream:false aggregation. Each
# goes through harness._json.loads, which makes nesting too deep a ValueError.

DEEP_100K = "[" * 100_000
GEMINI_STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/v1/chat/completions", lambda b: b["error"]["type"] == "invalid_request_error"),
        ("/v1/messages", lambda b: b["type"] == "error" and b["error"]["type"]),
        (GEMINI_STREAM, lambda b: b["error"]["status"] == "INVALID_ARGUMENT"),
    ],
    ids=["openai", "anthropic", "gemini"],
)
def test_deep_request_body_is_a_provider_shaped_400(
    builtin_server: RunningServer, path: str, shape: Callable[[dict[str, Any]], bool]
) -> None:
    """A request body of 100,000 ``[`` is a 400 in the provider's error shape, not a 500."""
    with httpx.Client(base_url=builtin_server.url, timeout=30) as http:
        response = http.post(path, content=DEEP_100K, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    body = response.json()
    assert shape(body), body
    assert "nested too deeply" in response.text


@pytest.mark.parametrize(
    "header", ['{"a":' + "[" * 6_000 + "}", '{"a":' + "9" * 5_000 + "}"], ids=["deep", "bigint"]
)
def test_deep_fault_header_is_a_400(builtin_server: RunningServer, header: str) -> None:
    """An ``x-harness-faults`` header of nested ``[`` (RecursionError in json) or of
    5,000 digits (past Python's int limit) is the provider's 400, not a 500."""
    with httpx.Client(base_url=builtin_server.url, timeout=30) as http:
        response = http.post(
            "/s/openai/text/v1/chat/completions",
            json={"stream": True},
            headers={"x-harness-faults": header},
        )
    assert response.status_code == 400, response.text[:300]
    assert "x-harness-faults" in response.text or "fault" in response.text


def _tool_args_chunk(arguments: str) -> dict[str, Any]:
    call = {"index": 0, "id": "c", "type": "function", "function": {"name": "f"}}
    return oa_chunk({"tool_calls": [{**call, "function": {"name": "f", "arguments": arguments}}]})


OK_STREAM = sse(oa_chunk({"content": "hi"})) + sse(oa_chunk({}, "stop")) + sse("[DONE]")
CONVERT_CASES = {
    # harness/record/convert.py _json_object (request body; via _model)
    "request-body": (OK_STREAM, DEEP_100K.encode()),
    # harness/record/convert.py _compact_json (a response data line; via _structured)
    "data-line": (sse(DEEP_100K) + OK_STREAM, None),
    # harness/record/convert.py _dump: json reads 400 levels, yaml.dump recurses on them
    "data-line-400": (sse("[" * 400 + "]" * 400) + OK_STREAM, None),
    # harness/record/convert.py _tool_calls (tool-call arguments; via _suggest_expect)
    "tool-arguments": (
        sse(_tool_args_chunk(DEEP_100K)) + sse(oa_chunk({}, "tool_calls")) + sse("[DONE]"),
        None,
    ),
}


@pytest.mark.parametrize("case", list(CONVERT_CASES))
def test_convert_deep_json(case: str) -> None:
    """A recording with deeply nested JSON converts (the deep data kept as text, no
    structured expect for deep arguments) into a scenario that loads; never a
    RecursionError."""
    body, request_body = CONVERT_CASES[case]
    interaction = Interaction(
        method="POST",
        uri="https://api.openai.com/v1/chat/completions",
        request_headers={"content-type": ["application/json"]},
        request_body=request_body or b'{"model": "gpt-4o-mini", "stream": true}',
        status=200,
        reason="",
        response_headers={"content-type": ["text/event-stream"]},
        chunks=(Chunk(body, 0.0),),
    )
    text = scenario_yaml(interaction, name="t/deep")
    scenario = parse_scenario(text, path="t/deep.yaml")  # within the loader's depth limit
    assert scenario.events


def test_aggregate_deep_tool_input() -> None:
    """A stream:false replay of an Anthropic stream whose tool input is 100,000 ``[``
    answers 502 (the stream is malformed), not a RecursionError (a 500)."""
    block = {"type": "tool_use", "id": "t", "name": "f", "input": {}}
    delta = {"type": "input_json_delta", "partial_json": DEEP_100K}
    stream = (
        sse({"type": "message_start", "message": {"id": "m", "usage": {}}}, "message_start")
        + sse({"type": "content_block_start", "index": 0, "content_block": block}, "x")
        + sse({"type": "content_block_delta", "index": 0, "delta": delta}, "x")
        + sse({"type": "content_block_stop", "index": 0}, "x")
        + sse({"type": "message_delta", "delta": {"stop_reason": "tool_use"}}, "x")
        + sse({"type": "message_stop"}, "message_stop")
    )
    status, _ = anthropic_message(stream)
    assert status == 502
