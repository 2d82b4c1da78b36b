"""`harness convert`: a recorded interaction becomes a scenario that replays its exact bytes.

Every conversion here is checked the same way: the YAML text is parsed back with
``parse_scenario`` and replayed with ``build_plan`` on the provider's own route; the
joined writes must be the recorded body, byte for byte.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import vcr
import yaml
from vcr.serialize import deserialize  # type: ignore[import-untyped]
from vcr.serializers import yamlserializer  # type: ignore[import-untyped]

from harness.cli import main
from harness.errors import UsageError
from harness.mock.replay import Plan, build_plan
from harness.mock.scenario import Scenario, ScenarioSet, load_scenario, parse_scenario
from harness.record import convert as convert_module
from harness.record.cassette import Chunk, Interaction, load_cassette
from harness.record.convert import (
    DROPPED_HEADERS,
    ConvertError,
    convert,
    default_name,
    detect_provider,
    interaction_to_scenario,
    scenario_yaml,
)
from harness.testing import run_server
from tests.streams import (
    an_end,
    an_event,
    an_start,
    an_text_block,
    an_thinking_block,
    an_tool_block,
    gemini_stream,
    gm_chunk,
    oa_chunk,
    openai_stream,
    openai_text,
    sse,
)

ROOT = Path(__file__).resolve().parent.parent
CASSETTES = ROOT / "cassettes"
SAMPLES = ["openai-text", "anthropic-overloaded", "gemini-crlf", "openai-cut"]

URIS = {
    "openai": "https://api.openai.com/v1/chat/completions",
    "anthropic": "https://api.anthropic.com/v1/messages",
    "gemini": "https://generativelanguage.googleapis.com/v1beta/models/"
    "gemini-2.5-flash:streamGenerateContent?alt=sse",
}
SSE_HEADERS = {"content-type": ["text/event-stream; charset=utf-8"]}
JSON_HEADERS = {"content-type": ["application/json"]}


def recorded(
    *chunks: bytes | tuple[bytes, float],
    provider: str = "openai",
    uri: str | None = None,
    status: int = 200,
    headers: dict[str, list[str]] | None = None,
    request_body: bytes = b'{"model": "gpt-4o-mini", "stream": true}',
    request_headers: dict[str, list[str]] | None = None,
    complete: bool = True,
) -> Interaction:
    """An interaction whose body arrived in ``chunks`` (bytes, or (bytes, seconds))."""
    pieces = tuple(
        Chunk(*chunk) if isinstance(chunk, tuple) else Chunk(chunk, 0.0) for chunk in chunks
    )
    return Interaction(
        method="POST",
        uri=uri or URIS[provider],
        request_headers=request_headers or {"content-type": ["application/json"]},
        request_body=request_body,
        status=status,
        reason="",
        response_headers=SSE_HEADERS if headers is None else headers,
        chunks=pieces,
        complete=complete,
    )


def replay(text: str) -> tuple[Scenario, Plan]:
    """The scenario parsed back from its YAML text, and its plan on its own route."""
    scenario = parse_scenario(text)
    plan = build_plan(scenario, scenario.answers[0], target=scenario.provider, stream=True)
    return scenario, plan


def converted(interaction: Interaction) -> tuple[dict[str, Any], Scenario, Plan]:
    """Convert; assert the replay is byte-exact and cut exactly when the recording was."""
    text = scenario_yaml(interaction, name="t/converted", source="c.yaml#0")
    scenario, plan = replay(text)
    assert b"".join(write.data for write in plan.writes) == interaction.body
    assert plan.status == interaction.status
    assert plan.abort is (scenario.answers[0].streaming and not interaction.complete)
    return yaml.safe_load(text), scenario, plan


def steps(mapping: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps of a converted scenario, pauses left out."""
    return [step for step in mapping["events"] if "sleep_ms" not in step]


# --- the sample cassettes -------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_cassette_loads_and_replays_its_exact_bytes(name: str) -> None:
    """Each sample cassette loads and its committed scenario replays the recorded body."""
    (interaction,) = load_cassette(CASSETTES / f"{name}.yaml")
    assert interaction.timed
    requests, _ = deserialize((CASSETTES / f"{name}.yaml").read_text(), yamlserializer)
    assert [request.uri for request in requests] == [interaction.uri]  # vcrpy reads it too
    scenario = load_scenario(CASSETTES / f"{name}.scenario.yaml")
    plan = build_plan(scenario, scenario.answers[0], target=scenario.provider, stream=True)
    assert b"".join(write.data for write in plan.writes) == interaction.body
    assert plan.abort is not interaction.complete
    assert scenario.source == f"cassettes/{name}.yaml#0"
    assert f"cassettes/{name}.yaml#0" in scenario.description


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_writes_keep_the_recorded_chunks_and_their_timing(name: str) -> None:
    """Every recorded chunk starts a write, at its recorded arrival time (to the ms)."""
    (interaction,) = load_cassette(CASSETTES / f"{name}.yaml")
    scenario = load_scenario(CASSETTES / f"{name}.scenario.yaml")
    plan = build_plan(scenario, scenario.answers[0], target=scenario.provider, stream=True)
    starts: dict[int, float] = {}
    offset, clock = 0, 0.0
    for write in plan.writes:
        clock += write.delay
        starts[offset] = clock
        offset += len(write.data)
    offset = 0
    for chunk in interaction.chunks:
        assert offset in starts, f"no write starts at the chunk boundary {offset}"
        assert starts[offset] == pytest.approx(chunk.t, abs=0.002)
        offset += len(chunk.data)


@pytest.mark.parametrize("name", SAMPLES)
def test_regenerating_a_sample_gives_the_committed_scenario(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`harness convert cassettes/NAME.yaml` gives exactly cassettes/NAME.scenario.yaml."""
    monkeypatch.chdir(ROOT)
    committed = (CASSETTES / f"{name}.scenario.yaml").read_text(encoding="utf-8")
    assert convert(f"cassettes/{name}.yaml") == committed


def test_samples_convert_as_the_readme_says() -> None:
    """The structure of each sample's scenario: events, raw pieces, CRLF, the cut."""
    text = load_scenario(CASSETTES / "openai-text.scenario.yaml")
    assert text.expect is not None
    assert text.expect.usage is not None
    assert text.expect.text == "Hello! How can I help you today?"
    assert all(step.kind in ("data", "sleep_ms") for step in text.events or [])

    anthropic = load_scenario(CASSETTES / "anthropic-overloaded.scenario.yaml")
    kinds = [step.kind for step in anthropic.events or [] if step.kind != "sleep_ms"]
    assert kinds == ["data"] * 4 + ["raw", "raw", "data"]
    assert anthropic.expect is not None
    assert anthropic.expect.error is not None
    assert anthropic.expect.error.code == "overloaded_error"

    gemini = load_scenario(CASSETTES / "gemini-crlf.scenario.yaml")
    assert gemini.newline == "crlf"
    assert all(isinstance(step.data, str) for step in gemini.events or [] if step.data)

    cut = load_scenario(CASSETTES / "openai-cut.scenario.yaml")
    assert cut.events is not None
    assert cut.events[-1].disconnect is True
    assert cut.events[-2].raw is not None
    assert not cut.events[-2].raw.endswith("\n")
    assert cut.expect is not None
    assert cut.expect.error is not None
    assert cut.expect.error.code == "connection_closed"


def test_cut_recording_is_cut_over_the_real_server_after_the_recorded_bytes() -> None:
    """Served over loopback, the converted cut stream ends in a protocol error for httpx."""
    (interaction,) = load_cassette(CASSETTES / "openai-cut.yaml")
    scenario = load_scenario(CASSETTES / "openai-cut.scenario.yaml")
    received = b""
    with run_server(ScenarioSet([scenario])) as server:
        url = server.base_url("openai-cut") + "/chat/completions"
        with (
            httpx.Client(timeout=10) as client,
            client.stream("POST", url, json={"model": "gpt-4o-mini", "stream": True}) as response,
        ):
            assert response.status_code == 200
            assert response.headers["x-request-id"] == "req_sample0000000000000000000002"
            pieces = response.iter_raw()
            while True:
                try:
                    received += next(pieces)
                except httpx.RemoteProtocolError:
                    break
                except StopIteration:  # pragma: no cover - the failure this test is for
                    pytest.fail("the stream ended cleanly instead of being cut")
    assert received == interaction.body


# --- tricky streams -------------------------------------------------------------------

OA = (
    b"data: %s\n\n"
    % json.dumps(
        oa_chunk({"content": "Hé 世界"}), ensure_ascii=False, separators=(",", ":")
    ).encode()
)
DONE = sse("[DONE]")


@pytest.mark.parametrize(
    ("chunks", "kinds"),
    [
        pytest.param([b'data:{"a":1}\n\n' + DONE], ["raw", "data"], id="data-without-space"),
        pytest.param([b"data:  two spaces\n\n"], ["data"], id="two-spaces-kept-in-text"),
        pytest.param(
            [OA.replace(b"\n", b"\r\n") + b"data: [DONE]\r\n\r\n"], ["data"] * 2, id="crlf"
        ),
        pytest.param([OA.replace(b"\n", b"\r") + b"data: [DONE]\r\r"], ["data"] * 2, id="cr-only"),
        pytest.param([OA + b"data: [DONE]\r\n\r\n"], ["data", "raw"], id="crlf-mixed-in"),
        pytest.param([b"data: a\r\ndata: b\n\n"], ["raw"], id="mixed-in-one-event"),
        pytest.param(
            [b": keep-alive\n\n:\n\n" + OA], ["comment", "comment", "data"], id="comments"
        ),
        pytest.param([b":no space\n\n: \n\n"], ["raw", "raw"], id="odd-comments"),
        pytest.param([b": ping\ndata: x\n\n"], ["raw"], id="comment-inside-event"),
        pytest.param(
            [b"event: delta\nid: 42\nretry: 3000\ndata: line one\ndata: line two\n\n"],
            ["data"],
            id="event-id-retry",
        ),
        pytest.param([b"id: 1\nevent: x\ndata: y\n\n"], ["raw"], id="fields-out-of-order"),
        pytest.param([b"retry: 03\ndata: y\n\n"], ["raw"], id="retry-leading-zero"),
        pytest.param([b"retry: soon\ndata: y\n\n"], ["raw"], id="retry-not-a-number"),
        pytest.param([b"id: a\x00b\ndata: y\n\n"], ["raw"], id="id-with-nul"),
        pytest.param([b'data: {"a":NaN}\n\n'], ["data"], id="nan-is-text"),
        pytest.param([b"event: x\n\n"], ["raw"], id="event-without-data"),
        pytest.param([OA + b"\n" + DONE], ["data", "raw", "data"], id="extra-blank-line"),
        pytest.param([b"\xef\xbb\xbf" + OA + DONE], ["raw", "data"], id="bom"),
        pytest.param([OA[:40], OA[40:] + DONE], ["raw", "raw", "data"], id="boundary-in-event"),
        pytest.param(
            [OA[: OA.index("世".encode()) + 1], OA[OA.index("世".encode()) + 1 :]],
            ["raw_b64", "raw_b64"],
            id="boundary-in-multibyte-char",
        ),
        pytest.param([b"data: \xff\xfe\n\n" + DONE], ["raw_b64", "data"], id="invalid-utf8"),
        pytest.param([OA + b"data: [DO"], ["data", "raw"], id="trailing-partial-event"),
        pytest.param([OA + b"data: [DONE]\n"], ["data", "raw"], id="missing-last-blank-line"),
        pytest.param(
            [b"data: \x00 \xc2\x85 \xe2\x80\xa8 \xef\xbb\xbf\t\n\n"],
            ["data"],
            id="nul-nel-ls-bom-tab",
        ),
        pytest.param([b'data: {"a": 1}\n\n'], ["data"], id="spaced-json-as-text"),
        pytest.param([b""], [], id="empty"),
    ],
)
def test_tricky_streams_replay_byte_for_byte(chunks: list[bytes], kinds: list[str]) -> None:
    """Odd streams replay exactly; only frames that re-encode identically are structured."""
    mapping, _, plan = converted(recorded(*chunks))
    got = [next(iter(step.keys() - {"event", "id", "retry"})) for step in steps(mapping)]
    assert got == kinds
    boundaries = {len(b"".join(chunks[:n])) for n in range(len(chunks))}
    starts = {len(b"".join(w.data for w in plan.writes[:n])) for n in range(len(plan.writes))}
    assert boundaries - {len(b"".join(chunks))} <= starts | {0}


def test_structured_steps_keep_event_id_retry_and_data_text() -> None:
    """event, id and retry come back as fields; multi-line data as one string."""
    mapping, _, _ = converted(recorded(b"event: delta\nid: 42\nretry: 3000\ndata: a\ndata: b\n\n"))
    assert steps(mapping) == [{"event": "delta", "id": "42", "retry": 3000, "data": "a\nb"}]


def test_data_is_a_mapping_only_when_compact_json_gives_the_same_text() -> None:
    """Compact JSON becomes a mapping; spaced or escaped JSON and [DONE] stay text."""
    escaped = b'data: {"text":"H\\u00e9"}\n\n'
    mapping, _, _ = converted(recorded(OA + escaped + b'data: {"a": 1}\n\n' + DONE))
    data = [step["data"] for step in steps(mapping)]
    assert isinstance(data[0], dict)
    assert data[0]["choices"][0]["delta"]["content"] == "Hé 世界"
    assert data[1:] == ['{"text":"H\\u00e9"}', '{"a": 1}', "[DONE]"]


def test_newline_follows_the_stream() -> None:
    """A CRLF stream is written with newline: crlf, a CR one with cr, LF with none."""
    crlf, _, _ = converted(recorded(gemini_stream(gm_chunk({"text": "hi"}, finish="STOP"))))
    cr, _, _ = converted(recorded(OA.replace(b"\n", b"\r")))
    lf, _, _ = converted(recorded(OA))
    assert (crlf["newline"], cr["newline"], "newline" in lf) == ("crlf", "cr", False)


def test_chunk_boundary_inside_a_multibyte_character_keeps_both_halves() -> None:
    """The two writes are the recorded halves; the second starts with a continuation byte."""
    cut = OA.index("世".encode()) + 1
    mapping, _, plan = converted(recorded(OA[:cut], OA[cut:]))
    assert [write.data for write in plan.writes] == [OA[:cut], OA[cut:]]
    assert base64.b64decode(steps(mapping)[1]["raw_b64"])[0] & 0xC0 == 0x80


def test_several_events_in_one_chunk_become_separate_writes_without_pauses() -> None:
    """A chunk holding three events gives three writes at the chunk's arrival time."""
    body = openai_text("a", "b")
    mapping, _, plan = converted(recorded((body, 0.25)))
    assert mapping["events"][0] == {"sleep_ms": 250}
    assert len(plan.writes) == body.count(b"\n\n")
    assert [write.delay for write in plan.writes] == [0.25] + [0.0] * (len(plan.writes) - 1)


def test_equal_gaps_become_delay_ms_and_unequal_ones_sleep_ms() -> None:
    """Regular arrivals give delay_ms; irregular ones a sleep_ms before each late write."""
    frames = [sse(oa_chunk({"content": c})) for c in "abc"]
    even, _, plan = converted(recorded(*zip(frames, (0.1, 0.12, 0.14), strict=True)))
    assert even["delay_ms"] == 20
    assert even["events"][0] == {"sleep_ms": 100}
    assert [w.delay for w in plan.writes] == pytest.approx([0.1, 0.02, 0.02])
    uneven, _, plan = converted(recorded(*zip(frames, (0.1, 0.1004, 0.3), strict=True)))
    assert "delay_ms" not in uneven
    assert [s for s in uneven["events"] if "sleep_ms" in s] == [
        {"sleep_ms": 100},
        {"sleep_ms": 200},
    ]


def test_untimed_recording_has_no_pauses() -> None:
    """A plain vcrpy recording (one chunk at t=0) converts without sleep_ms or delay_ms."""
    mapping, _, plan = converted(recorded(openai_text("a", "b")))
    assert "delay_ms" not in mapping
    assert not any("sleep_ms" in step for step in mapping["events"])
    assert all(write.delay == 0 for write in plan.writes)


def test_cut_recording_ends_with_disconnect_after_the_partial_event() -> None:
    """complete: false gives a raw partial event, then disconnect: true as the last step."""
    body = openai_text("Hel", "lo")[:-30]
    mapping, scenario, plan = converted(recorded(body, complete=False))
    assert mapping["events"][-1] == {"disconnect": True}
    assert "raw" in mapping["events"][-2]
    assert plan.abort
    assert scenario.expect is not None
    assert scenario.expect.error is not None
    assert scenario.expect.error.code == "connection_closed"


def test_non_streaming_json_body_is_kept_exactly() -> None:
    """A compact JSON body becomes a mapping, a pretty-printed one its exact text."""
    completion = {"id": "c", "object": "chat.completion", "choices": [], "usage": None}
    compact = json.dumps(completion, separators=(",", ":")).encode()
    pretty = json.dumps(completion, indent=2).encode() + b"\n"
    as_map, _, _ = converted(recorded(compact, headers=JSON_HEADERS))
    as_text, _, _ = converted(recorded(pretty, headers=JSON_HEADERS))
    assert as_map["body"] == completion
    assert "events" not in as_map
    assert as_text["body"] == pretty.decode()
    assert "expect" not in as_map
    assert "content-type" not in as_map.get("headers", {})


def test_non_utf8_body_is_a_convert_error() -> None:
    """A whole body that is not UTF-8 cannot be a scenario body: ConvertError, not a crash."""
    with pytest.raises(ConvertError, match="not UTF-8"):
        interaction_to_scenario(recorded(b"\xff\xfe", headers=JSON_HEADERS), name="x")


def test_429_keeps_status_retry_after_and_rate_limit_headers() -> None:
    """A 429 JSON answer keeps its status, retry-after and rate-limit headers; expect the status."""
    body = (
        b'{\n  "error": {\n    "message": "Rate limit reached",\n    "type": "requests"\n  }\n}\n'
    )
    headers = {
        "Content-Type": ["application/json; charset=utf-8"],
        "Retry-After": ["2"],
        "x-ratelimit-remaining-requests": ["0"],
        "x-request-id": ["req_1"],
        "anthropic-ratelimit-tokens-remaining": ["0"],
        "openai-processing-ms": ["12"],
        "Date": ["Wed, 01 Jan 2025 00:00:00 GMT"],
        "Set-Cookie": ["__cf_bm=abc; path=/"],
        "CF-RAY": ["8f0000-CDG"],
        "Server": ["cloudflare"],
        "Content-Length": [str(len(body))],
    }
    mapping, scenario, plan = converted(recorded(body, status=429, headers=headers))
    assert mapping["status"] == 429
    assert mapping["headers"] == {
        "retry-after": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-request-id": "req_1",
        "anthropic-ratelimit-tokens-remaining": "0",
        "openai-processing-ms": "12",
    }
    assert mapping["expect"] == {"error": {"status": 429}}
    assert ("retry-after", "2") in plan.headers
    assert scenario.answers[0].body == body.decode()


def test_headers_dropped_and_kept() -> None:
    """Transport, CDN and account headers go; an unusual content-type and the rest stay."""
    headers = {name: ["x"] for name in DROPPED_HEADERS} | {
        "cf-cache-status": ["DYNAMIC"],
        "access-control-allow-origin": ["*"],
        "content-type": ["text/plain"],
        "cache-control": ["no-store"],
        "x-should-retry": ["true"],
        "vary": ["Origin", "Referer"],
        "x-multi": ["a", "b"],
    }
    mapping, _, _ = converted(recorded(b"data: x\n\n", headers=headers))
    assert mapping["headers"] == {
        "content-type": "text/plain",
        "cache-control": "no-store",
        "x-should-retry": "true",
        "x-multi": "a, b",
    }


def test_default_content_type_and_cache_control_of_a_stream_are_dropped() -> None:
    """text/event-stream and no-cache are what the server sends anyway: no headers: key."""
    headers = {"content-type": ["text/event-stream"], "cache-control": ["no-cache"]}
    mapping, _, _ = converted(recorded(OA, headers=headers))
    assert "headers" not in mapping


def test_stream_without_content_type_is_sniffed() -> None:
    """Without a content-type, a body that starts like SSE is a stream, JSON a body."""
    stream, _, _ = converted(recorded(OA, headers={}))
    body, _, _ = converted(recorded(b'{"a":1}', headers={}))
    assert "events" in stream
    assert body["body"] == {"a": 1}


def test_a_wrong_conversion_falls_back_to_the_recorded_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Were the steps ever wrong, the checked output is one raw_b64 step per recorded chunk."""
    monkeypatch.setattr(convert_module, "_pieces", lambda *args: [({"raw": "wrong"}, 0)])
    body = openai_text("a")
    mapping, _, plan = converted(recorded((body[:9], 0.1), (body[9:], 0.3), complete=False))
    assert mapping["events"] == [
        {"sleep_ms": 100},
        {"raw_b64": base64.b64encode(body[:9]).decode()},
        {"sleep_ms": 200},
        {"raw_b64": base64.b64encode(body[9:]).decode()},
        {"disconnect": True},
    ]
    assert [write.data for write in plan.writes] == [body[:9], body[9:]]


# --- provider detection -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "provider"),
    [
        ("https://api.openai.com/v1/chat/completions", "openai"),
        ("https://openrouter.ai/api/v1/chat/completions", "openai"),
        (
            "https://x.openai.azure.com/openai/deployments/gpt4o/chat/completions"
            "?api-version=2024-10-21",
            "openai",
        ),
        ("https://api.anthropic.com/v1/messages", "anthropic"),
        ("https://gw.example/anthropic/v1/messages?beta=true", "anthropic"),
        (URIS["gemini"], "gemini"),
        (
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-pro:generateContent",
            "gemini",
        ),
        (
            "https://aiplatform.googleapis.com/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-pro:streamGenerateContent",
            "gemini",
        ),
    ],
)
def test_provider_from_the_path(uri: str, provider: str) -> None:
    """Each route, Azure's deployment path and gateways' prefixes tell the provider."""
    interaction = recorded(b"", uri=uri, request_body=b"", request_headers={"x": ["y"]})
    assert detect_provider(interaction) == provider


@pytest.mark.parametrize(
    ("headers", "body", "provider"),
    [
        ({"Anthropic-Version": ["2023-06-01"]}, b"", "anthropic"),
        ({"x-goog-api-client": ["genai"]}, b"", "gemini"),
        ({}, b'{"contents": []}', "gemini"),
        ({}, b'{"anthropic_version": "vertex-2023-10-16", "messages": []}', "anthropic"),
        ({}, b'{"system": "s", "messages": [], "max_tokens": 5}', "anthropic"),
        ({}, b'{"model": "m", "messages": []}', "openai"),
    ],
)
def test_provider_from_headers_then_body(
    headers: dict[str, list[str]], body: bytes, provider: str
) -> None:
    """Off the known paths, request headers and then the request body's shape decide."""
    interaction = recorded(
        b"", uri="https://proxy.example/llm", request_headers=headers, request_body=body
    )
    assert detect_provider(interaction) == provider


def test_unknown_provider_is_an_error_naming_the_interaction() -> None:
    """Nothing telling: a ConvertError (a UsageError) naming the method and URI."""
    interaction = recorded(b"", uri="https://example.com/v1/other", request_body=b"[1]")
    with pytest.raises(ConvertError, match=r"POST https://example\.com/v1/other") as info:
        detect_provider(interaction)
    assert isinstance(info.value, UsageError)


def test_match_model_from_body_or_gemini_path() -> None:
    """match.model is the request's model: the body's, Gemini's from the path, or an
    Azure deployment's (the model the Azure route selects by)."""
    openai, _, _ = converted(recorded(OA))
    gemini, _, _ = converted(
        recorded(gemini_stream(gm_chunk({"text": "hi"}, finish="STOP")), provider="gemini")
    )
    azure, _, _ = converted(
        recorded(
            OA,
            uri="https://x.openai.azure.com/openai/deployments/d/chat/completions",
            request_body=b'{"stream": true}',
        )
    )
    assert openai["match"] == {"model": "gpt-4o-mini"}
    assert gemini["match"] == {"model": "gemini-2.5-flash"}
    assert azure["match"] == {"model": "d"}
    behind_a_gateway, _, _ = converted(
        recorded(
            OA,
            uri="https://gw.example.com/base/openai/deployments/d2/chat/completions",
            request_body=b'{"stream": true}',
        )
    )
    assert behind_a_gateway["match"] == {"model": "d2"}


# --- expect -----------------------------------------------------------------------------


def test_expect_text_finish_reason_and_reported_usage() -> None:
    """Text, finish reason and the provider's own usage are suggested."""
    usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    mapping, _, _ = converted(recorded(openai_text("Hel", "lo", usage=usage)))
    assert mapping["expect"] == {"text": "Hello", "finish_reason": "stop", "usage": usage}


def test_expect_leaves_out_estimated_usage() -> None:
    """Without usage in the stream, the pipeline's estimate is not suggested."""
    mapping, _, _ = converted(recorded(openai_text("Hello")))
    assert mapping["expect"] == {"text": "Hello", "finish_reason": "stop"}


def test_expect_tool_calls_with_parsed_arguments() -> None:
    """Tool-call fragments are joined and parsed; the finish reason is tool_calls."""
    body = (
        an_start()
        + an_tool_block(0, "toolu_1", "get_weather", '{"city": "Pa', 'ris"}')
        + an_tool_block(1, "toolu_2", "get_time", "")
        + an_end("tool_use")
    )
    mapping, _, _ = converted(recorded(body, provider="anthropic"))
    assert mapping["expect"]["tool_calls"] == [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_time", "arguments": {}},
    ]
    assert mapping["expect"]["finish_reason"] == "tool_calls"
    assert mapping["expect"]["usage"]["completion_tokens"] == 15


@pytest.mark.parametrize("arguments", ["{", "[1]"])
def test_expect_drops_tool_calls_whose_arguments_are_not_an_object(arguments: str) -> None:
    """Unparseable or non-object arguments leave tool_calls out rather than suggest them."""
    function = {"name": "f", "arguments": arguments}
    call = {"index": 0, "id": "c1", "type": "function", "function": function}
    body = openai_stream(oa_chunk({"tool_calls": [call]}), oa_chunk({}, "tool_calls"))
    mapping, _, _ = converted(recorded(body))
    assert "tool_calls" not in mapping["expect"]


def test_expect_reasoning() -> None:
    """Thinking text is suggested as reasoning."""
    body = (
        an_start() + an_thinking_block(0, "Let me", " think.") + an_text_block(1, "42") + an_end()
    )
    mapping, _, _ = converted(recorded(body, provider="anthropic"))
    assert mapping["expect"]["reasoning"] == "Let me think."
    assert mapping["expect"]["text"] == "42"


def test_expect_error_code_of_an_in_band_error() -> None:
    """An in-band error gives its code and the text before it; no finish reason or usage."""
    error = an_event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    body = an_start() + an_text_block(0, "Hi")[:-60] + error
    mapping, _, _ = converted(recorded(body, provider="anthropic"))
    assert mapping["expect"]["error"] == {"code": "overloaded_error"}
    assert "finish_reason" not in mapping["expect"]
    assert "usage" not in mapping["expect"]


def test_expect_http_status_of_an_error_answer() -> None:
    """A non-2xx answer suggests only error.status."""
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    mapping, _, _ = converted(
        recorded(body, provider="anthropic", status=529, headers=JSON_HEADERS)
    )
    assert mapping["expect"] == {"error": {"status": 529}}


# --- convert() and the command -----------------------------------------------------------


def write_cassette(path: Path, *bodies: bytes) -> Path:
    """A plain vcrpy-format cassette with one OpenAI stream interaction per body."""
    interactions = [
        {
            "request": {
                "method": "POST",
                "uri": URIS["openai"],
                "body": '{"model":"gpt-4o-mini","stream":true}',
                "headers": {"content-type": ["application/json"]},
            },
            "response": {
                "status": {"code": 200, "message": "OK"},
                "headers": {"content-type": ["text/event-stream"]},
                "body": {"string": body.decode()},
            },
        }
        for body in bodies
    ]
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))
    return path


def test_convert_output_is_a_loadable_version_1_scenario(tmp_path: Path) -> None:
    """convert() gives YAML that parse_scenario accepts, with source and description."""
    cassette = write_cassette(tmp_path / "two.yaml", openai_text("a"), openai_text("b"))
    text = convert(cassette, interaction=1)
    scenario = parse_scenario(text)
    assert scenario.version == 1
    assert scenario.name == "two-1"
    assert scenario.source == f"{cassette}#1"
    assert f"{cassette}#1" in scenario.description
    assert scenario.expect is not None
    assert scenario.expect.text == "b"
    assert parse_scenario(convert(cassette, name="mine/x")).name == "mine/x"
    with pytest.raises(ConvertError, match="not a valid scenario name"):
        convert(cassette, name="../escape")


def test_default_name_is_a_valid_scenario_name() -> None:
    """File names lose .yaml and .scenario; other characters become dashes."""
    assert default_name("dir/openai-text.scenario.yaml") == "openai-text"
    assert default_name("My Cassette (1).yml") == "My-Cassette-1-"
    assert default_name(".hidden.yaml") == "hidden"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """main(argv): exit code, stdout, stderr."""
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_to_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Without -o the scenario goes to standard output, exit 0."""
    cassette = write_cassette(tmp_path / "c.yaml", openai_text("hi"))
    code, out, err = run_cli(["convert", str(cassette)], capsys)
    assert (code, err) == (0, "")
    assert parse_scenario(out).expect is not None


def test_cli_output_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-o writes; a second run without --force exits 2 and leaves the file alone."""
    cassette = write_cassette(tmp_path / "c.yaml", openai_text("hi"))
    target = tmp_path / "out" / "mine.yaml"
    code, _, err = run_cli(["convert", str(cassette), "-o", str(target)], capsys)
    assert code == 0
    assert "wrote" in err
    assert parse_scenario(target.read_text()).name == "mine"
    target.write_text("precious\n")
    code, _, err = run_cli(["convert", str(cassette), "-o", str(target)], capsys)
    assert code == 2
    assert "--force" in err
    assert target.read_text() == "precious\n"
    code, _, _ = run_cli(["convert", str(cassette), "-o", str(target), "--force"], capsys)
    assert code == 0
    assert target.read_text().startswith("# Generated by `harness convert`")
    assert sorted(os.listdir(target.parent)) == ["mine.yaml"]  # no temporary file left


def test_cli_bad_index_names_the_file_and_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An index past the end (or negative) exits 1 naming the file and how many there are."""
    cassette = write_cassette(tmp_path / "c.yaml", openai_text("a"), openai_text("b"))
    for index in ("2", "-1"):
        code, out, err = run_cli(["convert", str(cassette), "--interaction", index], capsys)
        assert (code, out) == (1, "")
        assert str(cassette) in err
        assert f"no interaction {index}" in err
        assert "2 interactions" in err


def test_cli_bad_cassette_and_bad_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing cassette exits 1; an invalid --name exits 2; an unknown provider exits 1."""
    code, _, err = run_cli(["convert", str(tmp_path / "missing.yaml")], capsys)
    assert code == 1
    assert "missing.yaml" in err
    cassette = write_cassette(tmp_path / "c.yaml", openai_text("a"))
    code, _, err = run_cli(["convert", str(cassette), "--name", "../x"], capsys)
    assert code == 2
    assert "not a valid scenario name" in err
    other = tmp_path / "o.yaml"
    other.write_text(cassette.read_text().replace("/v1/chat/completions", "/x"))
    other.write_text(other.read_text().replace('{"model":"gpt-4o-mini","stream":true}', "x"))
    code, _, err = run_cli(["convert", str(other)], capsys)
    assert code == 1
    assert f"{other}#0" in err
    assert "cannot tell its provider" in err


def test_cli_reports_an_unwritable_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An output under a regular file exits 1 with "cannot write", not the overwrite refusal."""
    cassette = write_cassette(tmp_path / "c.yaml", openai_text("a"))
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = run_cli(["convert", str(cassette), "-o", str(blocker / "x.yaml")], capsys)
    assert code == 1
    assert "cannot write" in err


def test_write_never_replaces_a_file_that_appears_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without force the final step fails on an existing file, with or without hard links."""
    target = tmp_path / "s.yaml"
    target.write_text("first\n")
    with pytest.raises(convert_module._Exists):
        convert_module._write(target, b"second\n", force=False)

    def no_links(source: str, destination: str, **kwargs: object) -> None:
        raise PermissionError("no hard links here")

    monkeypatch.setattr(os, "link", no_links)
    with pytest.raises(convert_module._Exists):
        convert_module._write(target, b"second\n", force=False)
    assert target.read_text() == "first\n"
    convert_module._write(tmp_path / "new.yaml", b"new\n", force=False)
    assert (tmp_path / "new.yaml").read_text() == "new\n"
    assert sorted(os.listdir(tmp_path)) == ["new.yaml", "s.yaml"]


# --- cassettes vcrpy itself recorded ---------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "scenario", "family", "path"),
    [
        (httpx.Client, "openai/text", "openai", "/chat/completions"),
        (httpx2.Client, "anthropic/text", "anthropic", "/v1/messages"),
    ],
    ids=["httpx", "httpx2"],
)
def test_cassette_recorded_by_vcrpy_converts_to_the_same_bytes(
    client: Any,
    scenario: str,
    family: str,
    path: str,
    tmp_path: Path,
    builtin_server: Any,
) -> None:
    """vcrpy records a harness stream; the converted scenario replays the recorded body."""
    cassette = tmp_path / "c.yaml"
    url = builtin_server.base_url(scenario, family) + path
    with vcr.use_cassette(str(cassette), record_mode="once"), client(timeout=10) as http:
        response = http.post(url, json={"model": "m", "stream": True, "max_tokens": 8})
        body = response.content
    assert response.status_code == 200
    assert body.startswith((b"data: ", b"event: "))
    converted_scenario, plan = replay(convert(cassette))
    assert b"".join(write.data for write in plan.writes) == body
    assert converted_scenario.provider == family
    original = builtin_server.scenarios.get(scenario)
    assert converted_scenario.expect is not None
    assert original.expect is not None
    assert converted_scenario.expect.text == original.expect.text


def test_secret_response_headers_never_reach_the_scenario() -> None:
    """A cassette from another tool with unfiltered headers: none of them is kept."""
    interaction = Interaction(
        method="POST",
        uri="https://api.anthropic.com/v1/messages",
        request_headers={"x-api-key": ["sk-ant-api03-HARNESSFAKEabcdefghijklmnop"]},
        request_body=b'{"model": "claude-x", "stream": true}',
        status=200,
        reason="OK",
        response_headers={
            "Set-Cookie": ["session=HARNESSFAKEcookievalue0123456789"],
            "anthropic-organization-id": ["00000000-0000-4000-8000-harness00000"],
            "request-id": ["req_keep"],
        },
        chunks=(Chunk(b'event: ping\ndata: {"type":"ping"}\n\n', 0.0),),
        complete=True,
    )
    scenario = interaction_to_scenario(interaction, name="t/secret")
    assert scenario.get("headers") == {"request-id": "req_keep"}
