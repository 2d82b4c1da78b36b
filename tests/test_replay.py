"""Replay plans: encoding, timing, the cross-family pipeline, faults, chunking, bodies.

Pure: every test builds a :class:`Plan` from a scenario parsed from YAML text and
checks its writes; no server, no clock.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import FaultSpecError
from harness.mock.replay import (
    COALESCE_SIZE,
    KEEPALIVES,
    Plan,
    ReplayError,
    Write,
    build_plan,
    encode_step,
    parse_faults,
)
from harness.mock.scenario import Faults, Scenario, Step, parse_scenario
from harness.stream.provider_errors import error_body
from harness.stream.sse import Comment, ServerSentEvent, SSEDecoder

# --- building scenarios -----------------------------------------------------------------


def scenario(provider: str, events: list[dict[str, Any]] | None = None, **top: Any) -> Scenario:
    """A scenario parsed from YAML text: top-level fields, then one step per line."""
    lines = ["version: 1", f"provider: {provider}"]
    lines += [f"{key}: {json.dumps(value)}" for key, value in top.items()]
    if events is not None:
        lines.append("events:")
        lines += [f"  - {json.dumps(step, ensure_ascii=False)}" for step in events]
    return parse_scenario("\n".join(lines) + "\n", name="t/x")


def oa(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    """An OpenAI chunk step with one choice."""
    chunk = {
        "id": "chatcmpl-t",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-t",
        "system_fingerprint": "fp_t",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }
    chunk.update(extra)
    return {"data": chunk}


OA_USAGE = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
OA_EVENTS = [
    oa({"role": "assistant", "content": ""}),
    oa({"content": "Hé"}),
    oa({"content": " 世界 🎉"}),
    oa({}, "stop"),
    {
        "data": {
            "id": "chatcmpl-t",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "gpt-t",
            "choices": [],
            "usage": OA_USAGE,
        }
    },
    {"data": "[DONE]"},
]
TEXT = "Hé 世界 🎉"


def an(kind: str, **fields: Any) -> dict[str, Any]:
    """An Anthropic event step (``event:`` equal to the data's ``type``)."""
    return {"event": kind, "data": {"type": kind, **fields}}


AN_EVENTS = [
    an(
        "message_start",
        message={
            "id": "msg_t",
            "type": "message",
            "role": "assistant",
            "model": "claude-t",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 7, "output_tokens": 1},
        },
    ),
    an("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    an("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hé"}),
    an("content_block_delta", index=0, delta={"type": "text_delta", "text": " 世界 🎉"}),
    an("content_block_stop", index=0),
    an(
        "message_delta",
        delta={"stop_reason": "end_turn", "stop_sequence": None},
        usage={"output_tokens": 4},
    ),
    an("message_stop"),
]


def gm(text: str, tokens: int, finish: str | None = None) -> dict[str, Any]:
    """A Gemini chunk step with one candidate and cumulative usage."""
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    candidate["index"] = 0
    return {
        "data": {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": 4,
                "candidatesTokenCount": tokens,
                "totalTokenCount": 4 + tokens,
            },
            "modelVersion": "gemini-t",
            "responseId": "resp-t",
        }
    }


GM_EVENTS = [gm("Hé", 1), gm(" 世界 🎉", 3, "STOP")]


def openai_s(**top: Any) -> Scenario:
    return scenario("openai", OA_EVENTS, **top)


def anthropic_s(**top: Any) -> Scenario:
    return scenario("anthropic", AN_EVENTS, **top)


def gemini_s(**top: Any) -> Scenario:
    return scenario("gemini", GM_EVENTS, newline="crlf", **top)


def plan(s: Scenario, target: str | None = None, *, stream: bool = True, **kwargs: Any) -> Plan:
    return build_plan(s, s.answers[0], target=target or s.provider, stream=stream, **kwargs)  # type: ignore[arg-type]


def fplan(s: Scenario, target: str | None = None, **faults: Any) -> Plan:
    """The streaming plan of ``s`` with these faults."""
    return plan(s, target, faults=Faults(**faults))


def joined(p: Plan) -> bytes:
    return b"".join(w.data for w in p.writes)


def decode(data: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(data) + decoder.flush()


def datas(p: Plan) -> list[Any]:
    """The data of every event of the plan, JSON-decoded where it is JSON."""
    out = []
    for event in decode(joined(p)):
        try:
            out.append(json.loads(event.data))
        except json.JSONDecodeError:
            out.append(event.data)
    return out


def boundaries(p: Plan) -> set[int]:
    """The byte offsets where a write starts (0 excluded)."""
    out, offset = set(), 0
    for write in p.writes[:-1]:
        offset += len(write.data)
        out.add(offset)
    return out


# --- encode_step ----------------------------------------------------------------------------


ENCODINGS = [
    ({"data": {"a": "é", "b": [1, 2]}}, "lf", 'data: {"a":"é","b":[1,2]}\n\n'),
    ({"data": [1, "x", None]}, "lf", 'data: [1,"x",null]\n\n'),
    ({"data": " {not json "}, "lf", "data:  {not json \n\n"),
    ({"data": ""}, "lf", "data: \n\n"),
    ({"data": "a\nb\r\nc\rd"}, "lf", "data: a\ndata: b\ndata: c\ndata: d\n\n"),
    (
        {"data": "x", "event": "e", "id": "7", "retry": 1500},
        "lf",
        "event: e\nid: 7\nretry: 1500\ndata: x\n\n",
    ),
    ({"data": "x", "id": ""}, "lf", "id: \ndata: x\n\n"),
    ({"data": "x", "event": "e"}, "crlf", "event: e\r\ndata: x\r\n\r\n"),
    ({"data": "a\nb"}, "cr", "data: a\rdata: b\r\r"),
    ({"comment": "keep-alive"}, "lf", ": keep-alive\n\n"),
    ({"comment": ""}, "lf", ":\n\n"),
    ({"comment": "a\n\nb"}, "lf", ": a\n:\n: b\n\n"),
    ({"comment": "ping"}, "crlf", ": ping\r\n\r\n"),
    ({"raw": "data: x\n"}, "crlf", "data: x\n"),
    ({"sleep_ms": 5}, "lf", ""),
    ({"disconnect": True}, "lf", ""),
]


@pytest.mark.parametrize(("fields", "newline", "expected"), ENCODINGS)
def test_encode_step(fields: dict[str, Any], newline: str, expected: str) -> None:
    """Each step kind encodes to exactly these bytes, with the chosen line end."""
    assert encode_step(Step(**fields), newline) == expected.encode()  # type: ignore[arg-type]


def test_encode_raw_b64_gives_exact_bytes() -> None:
    """``raw_b64`` gives its decoded bytes, even when they are not UTF-8."""
    step = Step(raw_b64=base64.b64encode(b"data: \xe4\xb8").decode())
    assert encode_step(step, "crlf") == b"data: \xe4\xb8"


def test_encode_default_newline_is_lf() -> None:
    """Without a newline argument, lines end in LF."""
    assert encode_step(Step(data="x")) == b"data: x\n\n"


E = ServerSentEvent
ROUNDTRIP = [
    ({"data": {"a": "é", "n": [1, {"b": None}]}}, E, None),
    ({"data": "plain text"}, E, None),
    ({"data": "line1\nline2\n\nline4"}, E, None),
    ({"data": ""}, E, None),
    ({"data": "x", "event": "delta", "id": "42", "retry": 3000}, E, None),
    ({"comment": "keep-alive"}, Comment, "keep-alive"),
    ({"comment": ""}, Comment, ""),
]


@pytest.mark.parametrize("newline", ["lf", "crlf", "cr"])
@pytest.mark.parametrize(("fields", "kind", "comment"), ROUNDTRIP)
def test_encoded_step_decodes_back(
    fields: dict[str, Any], kind: type, comment: str | None, newline: str
) -> None:
    """The SSE decoder gives back the step's data, event, id and retry (or its comment)."""
    step = Step(**fields)
    decoder = SSEDecoder()
    items = decoder.feed_items(encode_step(step, newline)) + decoder.flush_items()  # type: ignore[arg-type]
    assert len(items) == 1
    (item,) = items
    assert type(item) is kind
    if isinstance(item, Comment):
        assert item.text == comment
        return
    data = fields["data"]
    expected = (
        data
        if isinstance(data, str)
        else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    )
    assert item.data == expected.replace("\r\n", "\n")
    assert item.event == fields.get("event", "message")
    assert item.id == fields.get("id")
    assert item.retry == fields.get("retry")


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"raw": 'event: e\ndata: {"a":1}\n\n'}, E(data='{"a":1}', event="e")),
        (
            {"raw_b64": base64.b64encode("data: é\r\nid: 9\r\n\r\n".encode()).decode()},
            E(data="é", id="9"),
        ),
    ],
    ids=["raw", "raw_b64"],
)
def test_raw_steps_decode_back(fields: dict[str, Any], expected: ServerSentEvent) -> None:
    """Raw and base64 steps decode as the SSE they spell out."""
    assert decode(encode_step(Step(**fields))) == [expected]


# --- raw replay, same family ------------------------------------------------------------


def test_same_family_one_write_per_event() -> None:
    """An OpenAI scenario on the OpenAI route: one write per step, bytes as encoded."""
    s = openai_s()
    p = plan(s)
    assert [w.data for w in p.writes] == [encode_step(step) for step in s.answers[0].events or []]
    assert (p.status, p.streaming, p.abort, p.faults) == (200, True, False, "")


def test_stream_headers() -> None:
    """Stream headers: event-stream content type, no-cache, then scenario headers lower-cased."""
    p = plan(openai_s(status=201, headers={"X-Request-Id": "abc", "OpenAI-Version": "v"}))
    assert p.status == 201
    assert p.headers == (
        ("content-type", "text/event-stream; charset=utf-8"),
        ("cache-control", "no-cache"),
        ("x-request-id", "abc"),
        ("openai-version", "v"),
    )


def test_scenario_content_type_overrides_default() -> None:
    """A scenario's own Content-Type replaces the default one."""
    p = plan(openai_s(headers={"Content-Type": "text/plain"}))
    assert dict(p.headers)["content-type"] == "text/plain"


def test_newline_of_the_scenario_is_used() -> None:
    """A same-family replay writes the scenario's line ends (CRLF for Gemini)."""
    p = plan(gemini_s())
    assert all(w.data.endswith(b"}\r\n\r\n") for w in p.writes)
    assert len(p.writes) == 2


TIMED: list[dict[str, Any]] = [
    {"data": "a"},
    {"comment": "c"},
    {"sleep_ms": 100},
    {"sleep_ms": 30},
    {"data": "b"},
    {"sleep_ms": 50},
]


def test_delays_between_units() -> None:
    """``delay_ms`` precedes every unit but the first; ``sleep_ms`` adds to the next unit."""
    p = plan(scenario("openai", TIMED, delay_ms=20))
    assert [w.data for w in p.writes] == [b"data: a\n\n", b": c\n\n", b"data: b\n\n", b""]
    assert [w.delay for w in p.writes] == pytest.approx([0.0, 0.02, 0.15, 0.05])
    assert [w.stall for w in p.writes] == [0.0, 0.0, 0.0, 0.0]


def test_sleep_before_first_unit_without_delay_ms() -> None:
    """A leading ``sleep_ms`` delays the first unit; the default delay does not."""
    p = plan(scenario("openai", [{"sleep_ms": 300}, {"data": "a"}, {"data": "b"}], delay_ms=7))
    assert [(w.data, w.delay) for w in p.writes] == [
        (b"data: a\n\n", pytest.approx(0.3)),
        (b"data: b\n\n", pytest.approx(0.007)),
    ]


def test_no_trailing_write_without_trailing_sleep() -> None:
    """Without a trailing pause there is no final empty write."""
    p = plan(scenario("openai", [{"data": "a"}], delay_ms=20))
    assert p.writes == (Write(b"data: a\n\n"),)


def test_disconnect_step_aborts() -> None:
    """A ``disconnect`` step: the writes before it, then abort (no clean end)."""
    events: list[dict[str, Any]] = [{"data": "a"}, {"raw": 'data: {"par'}, {"disconnect": True}]
    p = plan(scenario("openai", events))
    assert [w.data for w in p.writes] == [b"data: a\n\n", b'data: {"par']
    assert p.abort is True


def test_pause_before_disconnect_is_kept() -> None:
    """A ``sleep_ms`` right before ``disconnect`` is an empty write before the cut."""
    p = plan(scenario("anthropic", [{"data": "a"}, {"sleep_ms": 40}, {"disconnect": True}]))
    assert p.writes == (Write(b"data: a\n\n"), Write(b"", 0.04))
    assert p.abort is True


# --- cross-family: the normalization pipeline ----------------------------------------------


@pytest.mark.parametrize("make", [anthropic_s, gemini_s], ids=["anthropic", "gemini"])
def test_cross_family_goes_through_pipeline(make: Any) -> None:
    """A non-OpenAI scenario on the OpenAI route comes out as OpenAI chunks and ``[DONE]``."""
    p = plan(make(), "openai")
    out = datas(p)
    assert out[-1] == "[DONE]"
    chunks = out[:-1]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == TEXT
    assert chunks[-1]["choices"] == []
    assert p.writes[-1].data == b"data: [DONE]\n\n"
    assert (p.status, p.abort, p.streaming) == (200, False, True)


def test_cross_family_output_uses_lf() -> None:
    """The pipeline writes LF line ends whatever the scenario's newline."""
    p = plan(gemini_s(), "openai")
    assert b"\r" not in joined(p)


def test_cross_family_keeps_timing() -> None:
    """The pipeline's frames carry the source units' delays (total unchanged)."""
    s = anthropic_s(delay_ms=20)
    p = plan(s, "openai")
    assert sum(w.delay for w in p.writes) == pytest.approx(0.02 * (len(AN_EVENTS) - 1))
    assert p.writes[0].delay == 0.0


def test_cross_family_disconnect_becomes_stream_error() -> None:
    """A cut Anthropic stream on the OpenAI route ends with a connection_closed error, cleanly."""
    p = plan(scenario("anthropic", [*AN_EVENTS[:3], {"disconnect": True}]), "openai")
    last = datas(p)[-1]
    assert last["error"]["type"] == "stream_error"
    assert last["error"]["code"] == "connection_closed"
    assert last["error"]["provider"] == "anthropic"
    assert b"[DONE]" not in joined(p)
    assert p.abort is False


@pytest.mark.parametrize(
    ("make", "target"),
    [
        (openai_s, "anthropic"),
        (openai_s, "gemini"),
        (anthropic_s, "gemini"),
        (gemini_s, "anthropic"),
    ],
)
def test_other_family_on_non_openai_route_rejected(make: Any, target: str) -> None:
    """Only the OpenAI route translates: another family's scenario elsewhere is a ReplayError."""
    s = make()
    with pytest.raises(ReplayError, match=f"the {target} route can only replay {target}"):
        plan(s, target)


def test_normalize_on_anthropic_route_rejected() -> None:
    """``normalize=True`` on the Anthropic route is a ReplayError."""
    with pytest.raises(ReplayError, match="only the OpenAI route"):
        plan(anthropic_s(), "anthropic", normalize=True)


def test_normalize_on_openai_route() -> None:
    """``normalize=True`` sends an OpenAI scenario through the pipeline (fields dropped)."""
    raw = plan(openai_s())
    normalized = plan(openai_s(), normalize=True)
    assert b"system_fingerprint" in joined(raw)
    assert b"system_fingerprint" not in joined(normalized)
    out = datas(normalized)
    assert out[-1] == "[DONE]"
    assert out[-2]["usage"] == OA_USAGE
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in out[:-2])
    assert text == TEXT


# --- content faults -----------------------------------------------------------------------


ANTHROPIC_ERROR = (
    b'event: error\ndata: {"type":"error","error":'
    b'{"type":"overloaded_error","message":"Overloaded"}}\n\n'
)
OPENAI_ERROR = (
    b'data: {"error":{"message":"The server had an error while processing your request.",'
    b'"type":"server_error","param":null,"code":null}}\n\n'
)
GEMINI_ERROR = (
    b'data: {"error":{"code":503,"message":"The model is overloaded. Please try again later.",'
    b'"status":"UNAVAILABLE"}}\r\n\r\n'
)


@pytest.mark.parametrize(
    ("make", "after", "error"),
    [
        (anthropic_s, 3, ANTHROPIC_ERROR),
        (anthropic_s, 0, ANTHROPIC_ERROR),
        (openai_s, 2, OPENAI_ERROR),
        (gemini_s, 1, GEMINI_ERROR),
    ],
    ids=["anthropic", "anthropic-at-0", "openai", "gemini"],
)
def test_error_after(make: Any, after: int, error: bytes) -> None:
    """``error_after=N``: N events, then the provider's own error event, then nothing."""
    s = make()
    full = plan(s)
    p = fplan(s, error_after=after)
    assert [w.data for w in p.writes] == [*(w.data for w in full.writes[:after]), error]
    assert p.abort is False


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (anthropic_s, {"type": "error", "error": {"type": "api_error", "message": "boom"}}),
        (
            openai_s,
            {"error": {"message": "boom", "type": "api_error", "param": None, "code": None}},
        ),
        (gemini_s, {"error": {"code": 503, "message": "boom", "status": "api_error"}}),
    ],
)
def test_error_after_custom_type_and_message(make: Any, expected: dict[str, Any]) -> None:
    """``error_type`` / ``error_message`` go into the provider's error event."""
    p = fplan(make(), error_after=1, error_type="api_error", error_message="boom")
    assert datas(p)[-1] == expected


def test_error_after_keeps_comments_and_does_not_count_them() -> None:
    """Comments before the error point are kept and are not counted as events."""
    events = [{"comment": "a"}, {"data": "1"}, {"comment": "b"}, {"data": "2"}, {"data": "3"}]
    p = fplan(scenario("openai", events), error_after=1)
    assert [w.data for w in p.writes] == [b": a\n\n", b"data: 1\n\n", b": b\n\n", OPENAI_ERROR]


def test_error_after_replaces_a_disconnect() -> None:
    """An error due after the end of a cut stream replaces the cut: no abort."""
    p = fplan(scenario("openai", [{"data": "1"}, {"disconnect": True}]), error_after=5)
    assert [w.data for w in p.writes] == [b"data: 1\n\n", OPENAI_ERROR]
    assert p.abort is False


def test_error_after_beyond_the_end_is_appended() -> None:
    """An error due after the last event comes after all of them."""
    p = fplan(scenario("openai", [{"data": "1"}, {"comment": "c"}]), error_after=3)
    assert [w.data for w in p.writes] == [b"data: 1\n\n", b": c\n\n", OPENAI_ERROR]


def test_error_after_on_openai_route_is_a_stream_error() -> None:
    """An injected Anthropic error, on the OpenAI route, is a stream_error chunk with its type."""
    p = fplan(anthropic_s(), "openai", error_after=3)
    last = datas(p)[-1]
    assert last == {
        "error": {
            "type": "stream_error",
            "code": "overloaded_error",
            "message": "Overloaded",
            "provider": "anthropic",
        }
    }


def test_drop_usage_openai() -> None:
    """OpenAI ``drop_usage``: the usage-only chunk goes, ``usage`` keys go, the rest stays."""
    events = [*OA_EVENTS[:3], oa({}, "stop", usage=OA_USAGE), *OA_EVENTS[4:]]
    events[1]["data"]["choices"][0]["usage"] = OA_USAGE  # usage inside a choice
    p = fplan(scenario("openai", events), drop_usage=True)
    out = datas(p)
    assert len(out) == len(events) - 1
    assert out[-1] == "[DONE]"
    assert b"usage" not in joined(p)
    assert [c["choices"][0].get("finish_reason") for c in out[:-1]] == [None, None, None, "stop"]


def test_drop_usage_anthropic() -> None:
    """Anthropic ``drop_usage``: message_start's and message_delta's usage go."""
    p = fplan(anthropic_s(), drop_usage=True)
    out = datas(p)
    assert len(out) == len(AN_EVENTS)
    assert "usage" not in out[0]["message"]
    assert out[0]["message"]["id"] == "msg_t"
    assert out[5] == {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
    }
    assert b"usage" not in joined(p)


def test_drop_usage_gemini() -> None:
    """Gemini ``drop_usage``: usageMetadata goes, candidates stay."""
    p = fplan(gemini_s(), drop_usage=True)
    out = datas(p)
    assert [sorted(c) for c in out] == [["candidates", "modelVersion", "responseId"]] * 2
    assert b"usageMetadata" not in joined(p)


def test_drop_usage_leaves_the_scenario_unchanged() -> None:
    """``drop_usage`` works on a copy: the scenario's own steps keep their usage."""
    s = anthropic_s()
    fplan(s, drop_usage=True)
    assert plan(s).writes == plan(anthropic_s()).writes


# --- wire faults: keep-alives ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "frame"),
    [
        ("comment", b": keep-alive\n\n"),
        ("ping", b": ping\n\n"),
        ("openrouter", b": OPENROUTER PROCESSING\n\n"),
        ("bare", b":\n\n"),
    ],
)
def test_keepalive_styles_on_openai(style: str, frame: bytes) -> None:
    """``keepalive_every=2``: a frame of the style after every 2nd event, none after the last."""
    s = openai_s()
    events = [w.data for w in plan(s).writes]
    p = fplan(s, keepalive_every=2, keepalive_style=style)
    assert [w.data for w in p.writes] == [
        events[0],
        events[1],
        frame,
        events[2],
        events[3],
        frame,
        events[4],
        events[5],
    ]


def test_keepalive_anthropic_style_on_anthropic() -> None:
    """The anthropic style is an ``event: ping``; with every=1, one between each pair."""
    frame = b'event: ping\ndata: {"type": "ping"}\n\n'
    p = fplan(anthropic_s(), keepalive_every=1, keepalive_style="anthropic")
    data = [w.data for w in p.writes]
    assert data[1::2] == [frame] * (len(AN_EVENTS) - 1)
    assert len(data) == 2 * len(AN_EVENTS) - 1
    assert data[-1] == b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


def test_keepalive_uses_the_scenario_newline() -> None:
    """Keep-alive frames end lines as the scenario does (CRLF here)."""
    p = fplan(openai_s(newline="crlf"), keepalive_every=3, keepalive_style="ping")
    assert p.writes[3].data == b": ping\r\n\r\n"


def test_keepalive_counts_only_events() -> None:
    """Comments in the stream do not count toward ``keepalive_every``."""
    events = [{"data": "1"}, {"comment": "c"}, {"data": "2"}, {"data": "3"}]
    p = fplan(scenario("openai", events), keepalive_every=2)
    assert [w.data for w in p.writes] == [
        b"data: 1\n\n",
        b": c\n\n",
        b"data: 2\n\n",
        b": keep-alive\n\n",
        b"data: 3\n\n",
    ]


def test_keepalive_frames_have_no_delay() -> None:
    """An inserted keep-alive is written at once after its event."""
    p = fplan(openai_s(delay_ms=20), keepalive_every=1)
    assert [w.delay for w in p.writes[1::2]] == [0.0] * (len(OA_EVENTS) - 1)


def test_keepalive_on_gemini_rejected() -> None:
    """Keep-alives cannot apply to a Gemini stream: FaultSpecError."""
    with pytest.raises(FaultSpecError, match="Gemini"):
        fplan(gemini_s(), keepalive_every=1)


def test_keepalive_anthropic_style_on_openai_rejected() -> None:
    """The anthropic keep-alive style off the Anthropic route is a FaultSpecError."""
    with pytest.raises(FaultSpecError, match="keepalive_style 'anthropic'"):
        fplan(openai_s(), keepalive_every=1, keepalive_style="anthropic")


def test_keepalive_table_matches_styles() -> None:
    """The keep-alive table has exactly the five documented styles."""
    assert sorted(KEEPALIVES) == ["anthropic", "bare", "comment", "openrouter", "ping"]


# --- wire faults: stall, disconnect, http_error -------------------------------------------


@pytest.mark.parametrize(("after", "index"), [(0, 0), (2, 2), (5, 5)])
def test_stall_after(after: int, index: int) -> None:
    """``stall_after=N``: the unit after the N-th event carries the stall, the others none."""
    p = fplan(openai_s(), stall_after=after, stall_ms=1500)
    assert [w.stall for w in p.writes] == [1.5 if i == index else 0.0 for i in range(6)]
    assert len(p.writes) == len(OA_EVENTS)


def test_stall_after_the_end_adds_an_empty_write() -> None:
    """A stall due after the last event is an extra empty write carrying it."""
    p = fplan(openai_s(), stall_after=6, stall_ms=250)
    assert len(p.writes) == len(OA_EVENTS) + 1
    assert p.writes[-1] == Write(b"", 0.0, 0.25)
    assert sum(w.stall for w in p.writes) == 0.25


def test_stall_kept_separate_from_delay() -> None:
    """A stall adds to ``stall``, never to the scaled ``delay``."""
    p = fplan(openai_s(delay_ms=20), stall_after=1, stall_ms=1000)
    assert (p.writes[1].delay, p.writes[1].stall) == (pytest.approx(0.02), 1.0)


@pytest.mark.parametrize("chunking", ["byte", "random", "utf8", "crlf"])
def test_stall_after_the_end_survives_rechunking(chunking: str) -> None:
    """A stall past the last event is still written when the bytes are re-chunked."""
    p = fplan(openai_s(), stall_after=6, stall_ms=250, chunking=chunking)
    assert sum(w.stall for w in p.writes) == 0.25


def test_disconnect_after_keeps_n_events_and_earlier_comments() -> None:
    """``disconnect_after=N``: N events and the comments before the cut, then abort."""
    events = [{"comment": "a"}, {"data": "1"}, {"comment": "b"}, {"data": "2"}]
    events += [{"comment": "c"}, {"data": "3"}]
    p = fplan(scenario("openai", events), disconnect_after=2)
    assert [w.data for w in p.writes] == [b": a\n\n", b"data: 1\n\n", b": b\n\n", b"data: 2\n\n"]
    assert p.abort is True
    assert p.faults == "disconnect_after=2"


def test_disconnect_after_zero_writes_nothing() -> None:
    """``disconnect_after=0`` cuts before the first byte."""
    p = fplan(openai_s(), disconnect_after=0)
    assert (p.writes, p.abort) == ((), True)


def test_disconnect_after_beyond_end_drops_tail_pause() -> None:
    """A cut due after the end: every unit, no trailing pause, then abort."""
    s = scenario("openai", [{"data": "1"}, {"sleep_ms": 500}])
    p = fplan(s, disconnect_after=9)
    assert p.writes == (Write(b"data: 1\n\n"),)
    assert p.abort is True


def test_disconnect_after_on_openai_route_counts_output_events() -> None:
    """On the OpenAI route the cut counts the normalized chunks the client reads."""
    full = plan(anthropic_s(), "openai")
    p = fplan(anthropic_s(), "openai", disconnect_after=2)
    assert p.abort is True
    assert datas(p) == datas(full)[:2]


@pytest.mark.parametrize("budget", [0, 1, 9, 10, 11, 25, 10_000])
def test_disconnect_after_bytes(budget: int) -> None:
    """``disconnect_after_bytes=B``: exactly the first B bytes, then abort."""
    s = scenario("openai", [{"data": "1234"}, {"data": "abcd"}, {"data": "xyzw"}])
    full = joined(plan(s))
    p = fplan(s, disconnect_after_bytes=budget)
    assert joined(p) == full[:budget]
    assert all(w.data for w in p.writes)
    assert p.abort is True


HTTP_BODIES = {
    "openai": {
        "error": {
            "message": "Rate limit reached. Please try again later.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    },
    "anthropic": {
        "type": "error",
        "error": {
            "type": "rate_limit_error",
            "message": "Rate limit reached. Please try again later.",
        },
    },
    "gemini": {
        "error": {
            "code": 429,
            "message": "Rate limit reached. Please try again later.",
            "status": "RESOURCE_EXHAUSTED",
        }
    },
}


@pytest.mark.parametrize(
    ("make", "target"),
    [
        (openai_s, "openai"),
        (anthropic_s, "anthropic"),
        (gemini_s, "gemini"),
        (anthropic_s, "openai"),
    ],
)
def test_http_error_replaces_everything(make: Any, target: str) -> None:
    """``http_error``: only the target family's error body, with its status; not a stream."""
    p = fplan(make(), target, http_error=429)
    assert p.status == 429
    assert p.headers == (("content-type", "application/json"),)
    assert [json.loads(w.data) for w in p.writes] == [HTTP_BODIES[target]]
    assert (p.streaming, p.abort) == (False, False)
    assert p.faults == "http_error=429"


@pytest.mark.parametrize(
    ("seconds", "header"), [(2, "2"), (2.0, "2"), (0, "0"), (1.5, "1.5"), (0.25, "0.25")]
)
def test_http_error_retry_after(seconds: float, header: str) -> None:
    """``retry_after`` is a header; whole seconds are written without ``.0``."""
    p = fplan(openai_s(), http_error=503, retry_after=seconds)
    assert p.headers == (("content-type", "application/json"), ("retry-after", header))


def test_http_error_custom_message_and_type() -> None:
    """``error_message`` / ``error_type`` go into the HTTP error body."""
    p = fplan(anthropic_s(), http_error=500, error_message="down", error_type="api_error")
    assert json.loads(p.writes[0].data) == {
        "type": "error",
        "error": {"type": "api_error", "message": "down"},
    }


def test_http_error_even_for_non_stream_requests() -> None:
    """``http_error`` applies to a non-streaming request too."""
    p = plan(openai_s(), stream=False, faults=Faults(http_error=500))
    assert p.status == 500
    assert json.loads(p.writes[0].data) == error_body("openai", 500)


# --- chunking ---------------------------------------------------------------------------------


def timed_s() -> Scenario:
    """An OpenAI stream with delays, a pause, a comment and multi-byte characters."""
    events = [*OA_EVENTS[:2], {"comment": "ké"}, {"sleep_ms": 70}, *OA_EVENTS[2:]]
    return scenario("openai", [*events, {"sleep_ms": 30}], delay_ms=20)


def test_byte_chunking() -> None:
    """``byte``: every write is one byte; the bytes are unchanged."""
    s = timed_s()
    p = fplan(s, chunking="byte")
    full = joined(plan(s))
    body = [w for w in p.writes if w.data]
    assert {len(w.data) for w in body} == {1}
    assert joined(p) == full
    assert len(body) == len(full)


def test_random_chunking_is_seeded() -> None:
    """``random``: the same seed gives the same writes; another seed, other writes."""
    s = timed_s()
    first = fplan(s, chunking="random", seed=7, max_chunk=8)
    again = fplan(s, chunking="random", seed=7, max_chunk=8)
    other = fplan(s, chunking="random", seed=8, max_chunk=8)
    assert first.writes == again.writes
    assert [len(w.data) for w in first.writes] != [len(w.data) for w in other.writes]


@pytest.mark.parametrize("max_chunk", [1, 3, 16, 100])
def test_random_chunking_sizes_and_bytes(max_chunk: int) -> None:
    """``random``: no write exceeds ``max_chunk`` and the bytes are unchanged."""
    s = timed_s()
    p = fplan(s, chunking="random", seed=1, max_chunk=max_chunk)
    assert max(len(w.data) for w in p.writes) <= max_chunk
    assert joined(p) == joined(plan(s))


def test_utf8_chunking_splits_every_multibyte_char() -> None:
    """``utf8``: a write boundary falls inside every multi-byte character."""
    s = timed_s()
    p = fplan(s, chunking="utf8")
    full = joined(p)
    assert full == joined(plan(s))
    cuts = boundaries(p)
    text = full.decode()
    offset, inside = 0, 0
    for char in text:
        size = len(char.encode())
        if size > 1:
            assert any(offset < cut < offset + size for cut in cuts), (char, offset)
            inside += 1
        offset += size
    assert inside == 5  # é, 世, 界, 🎉 in the deltas, é in the comment
    assert boundaries(plan(s)) <= cuts  # the per-event cuts are kept


def test_crlf_chunking_splits_every_crlf() -> None:
    """``crlf``: every CRLF is split between its CR and LF."""
    s = gemini_s()
    p = fplan(s, chunking="crlf")
    full = joined(p)
    assert full == joined(plan(s))
    positions = [i for i in range(len(full) - 1) if full[i : i + 2] == b"\r\n"]
    assert len(positions) == 4
    assert {i + 1 for i in positions} <= boundaries(p)
    assert not any(b"\r\n" in w.data for w in p.writes)


@pytest.mark.parametrize("chunking", ["byte", "random", "utf8", "crlf"])
def test_rechunking_keeps_timed_unit_starts(chunking: str) -> None:
    """A unit with a delay still starts a write that carries exactly that delay."""
    s = timed_s()
    units = plan(s).writes
    p = fplan(s, chunking=chunking, max_chunk=10_000)
    starts: dict[int, float] = {}
    offset = 0
    for write in p.writes:
        starts[offset] = write.delay
        offset += len(write.data)
    offset = 0
    for unit in units:
        if unit.delay and unit.data:
            assert starts.get(offset) == pytest.approx(unit.delay)
        offset += len(unit.data)
    assert p.writes[-1] == Write(b"", pytest.approx(0.03))  # type: ignore[arg-type]


def test_rechunking_keeps_stall() -> None:
    """A stall inside the stream survives re-chunking on the unit's first write."""
    p = fplan(openai_s(), stall_after=2, stall_ms=400, chunking="byte")
    offset_of_third = sum(len(w.data) for w in plan(openai_s()).writes[:2])
    offsets = [0]
    for write in p.writes:
        offsets.append(offsets[-1] + len(write.data))
    stalled = [offsets[i] for i, w in enumerate(p.writes) if w.stall]
    assert stalled == [offset_of_third]
    assert sum(w.stall for w in p.writes) == 0.4


TIMED_S = timed_s()
TIMED_PLAN = plan(TIMED_S)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(min_value=-(2**63), max_value=2**63), max_chunk=st.integers(1, 64))
def test_random_chunking_preserves_bytes_and_delay(seed: int, max_chunk: int) -> None:
    """For any seed and max_chunk, random chunking keeps the bytes and the total delay."""
    p = fplan(TIMED_S, chunking="random", seed=seed, max_chunk=max_chunk)
    assert joined(p) == joined(TIMED_PLAN)
    assert sum(w.delay for w in p.writes) == pytest.approx(sum(w.delay for w in TIMED_PLAN.writes))
    assert all(0 < len(w.data) <= max_chunk for w in p.writes[:-1])


# --- non-streaming answers --------------------------------------------------------------------


def test_openai_stream_as_whole_completion() -> None:
    """``stream=False`` on an OpenAI stream: one chat.completion JSON with the text."""
    s = openai_s(headers={"X-Request-Id": "r1"}, delay_ms=10)
    p = plan(s, stream=False)
    assert (p.status, p.streaming, p.abort) == (200, False, False)
    assert p.headers == (("content-type", "application/json"), ("x-request-id", "r1"))
    (write,) = p.writes
    body = json.loads(write.data)
    assert body["object"] == "chat.completion"
    assert body["id"] == "chatcmpl-t"
    assert body["choices"][0]["message"]["content"] == TEXT
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == OA_USAGE
    assert write.delay == pytest.approx(0.01 * (len(OA_EVENTS) - 1))


def test_anthropic_stream_as_whole_message() -> None:
    """``stream=False`` on the Anthropic route: one Message JSON."""
    p = plan(anthropic_s(), stream=False)
    (write,) = p.writes
    assert json.loads(write.data) == {
        "id": "msg_t",
        "type": "message",
        "role": "assistant",
        "model": "claude-t",
        "content": [{"type": "text", "text": TEXT}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 7, "output_tokens": 4},
    }
    assert p.streaming is False


def test_gemini_stream_as_whole_response() -> None:
    """``stream=False`` on the Gemini route: one response with the merged text."""
    p = plan(gemini_s(), stream=False)
    body = json.loads(p.writes[0].data)
    assert body["candidates"][0]["content"]["parts"] == [{"text": TEXT}]
    assert body["candidates"][0]["finishReason"] == "STOP"
    assert body["usageMetadata"]["totalTokenCount"] == 7


def test_anthropic_stream_as_openai_completion() -> None:
    """``stream=False`` on the OpenAI route with an Anthropic stream: a chat.completion."""
    body = json.loads(plan(anthropic_s(), "openai", stream=False).writes[0].data)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == TEXT
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}


@pytest.mark.parametrize(
    ("make", "target", "status", "body"),
    [
        (anthropic_s, "anthropic", 529, json.loads(ANTHROPIC_ERROR.split(b"data: ")[1])),
        (openai_s, "openai", 500, json.loads(OPENAI_ERROR.removeprefix(b"data: "))),
        (gemini_s, "gemini", 503, json.loads(GEMINI_ERROR.removeprefix(b"data: "))),
        (
            anthropic_s,
            "openai",
            529,
            {
                "error": {
                    "message": "Overloaded",
                    "type": "overloaded_error",
                    "param": None,
                    "code": None,
                }
            },
        ),
    ],
)
def test_whole_answer_of_an_errored_stream(
    make: Any, target: str, status: int, body: dict[str, Any]
) -> None:
    """``stream=False`` on a stream with an in-band error: an HTTP error, no scenario headers."""
    s = make(headers={"X-Request-Id": "r"})
    p = plan(s, target, stream=False, faults=Faults(error_after=2))
    assert (p.status, p.headers) == (status, (("content-type", "application/json"),))
    assert json.loads(p.writes[0].data) == body


def test_whole_answer_ignores_wire_faults() -> None:
    """A non-streaming answer is built before wire faults: no cut, no abort."""
    p = plan(openai_s(), stream=False, faults=Faults(disconnect_after=1, chunking="byte"))
    assert len(p.writes) == 1
    assert p.abort is False


def test_body_replayed_verbatim_same_family() -> None:
    """A body answer on its own family's route is sent as written (compact JSON)."""
    s = scenario(
        "anthropic",
        status=529,
        headers={"Retry-After": "1"},
        body={"type": "error", "error": {"type": "overloaded_error", "message": "Über"}},
    )
    p = plan(s)
    assert p.status == 529
    assert p.headers == (("content-type", "application/json"), ("retry-after", "1"))
    assert p.writes == (
        Write('{"type":"error","error":{"type":"overloaded_error","message":"Über"}}'.encode()),
    )
    assert p.streaming is False


def test_string_body_replayed_verbatim() -> None:
    """A string body is sent byte for byte."""
    p = plan(scenario("openai", status=502, body="<html>Bad gateway</html>\n"))
    assert p.writes == (Write(b"<html>Bad gateway</html>\n"),)


def test_body_cross_family_error_is_reshaped() -> None:
    """A cross-family error body becomes the target family's body, same status and message."""
    s = scenario(
        "anthropic",
        status=529,
        headers={"Retry-After": "1"},
        body={"type": "error", "error": {"type": "overloaded_error", "message": "Busy now"}},
    )
    p = plan(s, "openai")
    assert p.status == 529
    assert p.headers == (("content-type", "application/json"), ("retry-after", "1"))
    assert json.loads(p.writes[0].data) == {
        "error": {"message": "Busy now", "type": "server_error", "param": None, "code": None}
    }


def test_body_cross_family_without_message_uses_default() -> None:
    """A cross-family error body without an error message gets the status's default."""
    p = plan(scenario("gemini", status=429, body="quota"), "openai")
    assert json.loads(p.writes[0].data) == error_body("openai", 429)


def test_body_cross_family_success_rejected() -> None:
    """A cross-family body with status 200 cannot be translated: ReplayError."""
    s = scenario("anthropic", body={"type": "message", "content": []})
    with pytest.raises(ReplayError, match="cannot translate"):
        plan(s, "openai")


def test_sequence_answers_planned_separately() -> None:
    """Each answer of a sequence plans on its own (429 body, then a stream)."""
    text = "\n".join(
        [
            "version: 1",
            "provider: openai",
            "responses:",
            "  - {status: 429, body: {error: {message: slow}}}",
            "  - events: [{data: hi}]",
        ]
    )
    s = parse_scenario(text, name="t/x")
    first = build_plan(s, s.answers[0], target="openai", stream=True)
    second = build_plan(s, s.answers[1], target="openai", stream=True)
    assert (first.status, first.streaming, first.writes) == (
        429,
        False,
        (Write(b'{"error":{"message":"slow"}}'),),
    )
    assert (second.status, second.streaming, second.writes) == (
        200,
        True,
        (Write(b"data: hi\n\n"),),
    )


# --- parse_faults -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {}),
        (" ,; ", {}),
        ("disconnect_after=3", {"disconnect_after": 3}),
        (
            "disconnect_after=3; chunking=random, seed=7",
            {"disconnect_after": 3, "chunking": "random", "seed": 7},
        ),
        ("drop_usage=true", {"drop_usage": True}),
        ("drop_usage=YES", {"drop_usage": True}),
        ("drop_usage=on;drop_usage=off", {}),
        ("stall_after = 2 , stall_ms = 1.5", {"stall_after": 2, "stall_ms": 1.5}),
        ("http_error=503;retry_after=2", {"http_error": 503, "retry_after": 2.0}),
        (
            "keepalive_every=2,keepalive_style=openrouter",
            {"keepalive_every": 2, "keepalive_style": "openrouter"},
        ),
        (
            "error_after=1,error_type=api_error,error_message=Boom!",
            {"error_after": 1, "error_type": "api_error", "error_message": "Boom!"},
        ),
        (
            '{"disconnect_after": 3, "chunking": "utf8"}',
            {"disconnect_after": 3, "chunking": "utf8"},
        ),
        ('  {"error_message": "a, b; c"}  ', {"error_message": "a, b; c"}),
        ('{"seed": "5"}', {"seed": 5}),
    ],
)
def test_parse_faults(header: str, expected: dict[str, Any]) -> None:
    """Both header forms give these fault values (unset fields stay at their defaults)."""
    assert parse_faults(header).model_dump(exclude_defaults=True) == expected


def test_parse_faults_types() -> None:
    """key=value values become booleans, ints and floats as written."""
    faults = parse_faults("drop_usage=false, max_chunk=4, stall_after=0, stall_ms=2.5")
    assert (faults.drop_usage, faults.max_chunk, faults.stall_after, faults.stall_ms) == (
        False,
        4,
        0,
        2.5,
    )
    assert type(faults.max_chunk) is int


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("drop_usage", "'drop_usage': expected key=value"),
        ("seed=1, chunking", "'chunking': expected key=value"),
        ("bogus=1", "bogus"),
        ("chunking=zigzag", "chunking"),
        ("seed=abc", "seed"),
        ("keepalive_every=0", "keepalive_every"),
        ("http_error=200", "http_error"),
        ("keepalive_style=loud", "keepalive_style"),
        ("stall_after=3", "stall_after and stall_ms go together"),
        ("retry_after=2", "retry_after needs http_error"),
        ('{"bogus": 1}', "bogus"),
        ("{not json", "fault header is not valid JSON"),
        ("[1, 2]", "expected key=value"),
        ("stall_after=1, stall_ms=inf", "stall_ms: Input should be a finite number"),
        ('{"stall_after": 1, "stall_ms": NaN}', "stall_ms: Input should be a finite number"),
    ],
)
def test_parse_faults_errors(header: str, named: str) -> None:
    """A bad overlay is a FaultSpecError that names the offending key or form."""
    with pytest.raises(FaultSpecError) as info:
        parse_faults(header)
    assert named in str(info.value)


@pytest.mark.parametrize(
    ("header", "named"),
    [
        ("eror_after=2", "unknown fault 'eror_after' (did you mean 'error_after'?)"),
        ('{"disconect_after": 1}', "unknown fault 'disconect_after' (did you mean"),
        ("zzz=1", "unknown fault 'zzz' (see docs/scenarios.md#faults)"),
    ],
)
def test_parse_faults_typo_names_the_closest_fault(header: str, named: str) -> None:
    """A misspelt fault in the header gets the same hint as in a file, not pydantic's
    'Extra inputs are not permitted'."""
    with pytest.raises(FaultSpecError) as info:
        parse_faults(header)
    assert named in str(info.value)
    assert "Extra inputs" not in str(info.value)


@pytest.mark.parametrize("value", ["off", "42", "1.5"])
def test_parse_faults_string_fields_take_any_text(value: str) -> None:
    """``error_message=<text>`` keeps the text even when it looks like a bool or number."""
    assert parse_faults(f"error_message={value}").error_message == value


def test_coalesce_makes_one_write_and_keeps_the_total_pause() -> None:
    """``coalesce``: a small stream is one write whose pause is the sum of all pauses."""
    s = timed_s()
    p = fplan(s, chunking="coalesce")
    base = plan(s)
    assert joined(p) == joined(base)
    assert len([w for w in p.writes if w.data]) == 1
    assert sum(w.delay for w in p.writes) == pytest.approx(sum(w.delay for w in base.writes))


def test_coalesce_caps_writes_at_64_kib() -> None:
    """``coalesce``: a long stream becomes writes of at most 64 KiB, bytes unchanged."""
    events = [{"data": {"n": i, "pad": "x" * 200}} for i in range(1000)]
    s = scenario("openai", [*events, {"data": "[DONE]"}])
    p = fplan(s, chunking="coalesce")
    sizes = [len(w.data) for w in p.writes]
    assert joined(p) == joined(plan(s))
    assert max(sizes) <= COALESCE_SIZE
    # packed greedily by whole events: at most one write more than the byte count needs
    assert len(sizes) <= -(-len(joined(p)) // COALESCE_SIZE) + 1
    assert len(sizes) >= 3
