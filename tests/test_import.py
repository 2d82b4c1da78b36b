"""`harness import`: a pasted or saved capture becomes a scenario that replays its bytes.

Every import here is checked the same way: the scenario file written is loaded with
``parse_scenario`` and replayed with ``build_plan`` on the provider's own route; the
joined writes must be the captured body, byte for byte.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.mock.replay import Plan, build_plan
from harness.mock.scenario import Scenario, parse_scenario
from harness.record.importer import (
    ImportCaptureError,
    add_import_arguments,
    detect_format,
    read_captures,
    run_import,
)
from harness.stream.bedrock import converse_frame

# --- captures, written as they come ---------------------------------------------------

ANTHROPIC = (
    b"event: message_start\n"
    b'data: {"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL",'
    b'"type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],'
    b'"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}\n'
    b"\n"
    b"event: ping\n"
    b'data: {"type": "ping"   }\n'
    b"\n"
    b"event: content_block_start\n"
    b'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n'
    b"\n"
    b"event: content_block_delta\n"
    b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
    b'"text":"Hello, wor"}}\n'
    b"\n"
    b"event: error\n"
    b'data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n'
    b"\n"
)

_OA = (
    '{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk",'
    '"created":1741569952,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":%s,'
    '"logprobs":null,"finish_reason":%s}]}'
)
OPENAI = (
    b": keep-alive\n\n"
    + b"data: "
    + (_OA % ('{"role":"assistant","content":""}', "null")).encode()
    + b"\n\n: keep-alive\n\n"
    + b"data: "
    + (_OA % ('{"content":"Hi there"}', "null")).encode()
    + b"\n\ndata: "
    + (_OA % ("{}", '"stop"')).encode()
    + b"\n\ndata: [DONE]\n\n"
)

GEMINI = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "Bonjour"}],"role": "model"},'
    b'"index": 0}],"usageMetadata": {"promptTokenCount": 5,"totalTokenCount": 5},'
    b'"modelVersion": "gemini-2.5-flash"}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": " le monde"}],"role": "model"},'
    b'"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 5,'
    b'"candidatesTokenCount": 3,"totalTokenCount": 8},"modelVersion": "gemini-2.5-flash"}'
    b"\r\n\r\n"
)

RESPONSES = (
    b"event: response.created\n"
    b'data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1",'
    b'"object":"response","status":"in_progress","output":[]}}\n\n'
    b"event: response.output_text.delta\n"
    b'data: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1",'
    b'"output_index":0,"content_index":0,"delta":"Yo"}\n\n'
)

SECRET = "sk-ant-api03-" + "Q" * 40


def _converse() -> bytes:
    return b"".join(
        converse_frame(name, json.dumps(payload, separators=(",", ":")).encode())
        for name, payload in [
            ("messageStart", {"p": "abcd", "role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}, "p": "ab"}),
            ("contentBlockStop", {"contentBlockIndex": 0, "p": "abcdef"}),
            ("messageStop", {"p": "abc", "stopReason": "end_turn"}),
        ]
    )


# --- helpers ------------------------------------------------------------------------------


def _args(file: str | Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_import_arguments(parser)
    return parser.parse_args([str(file), *extra])


def _import(tmp_path: Path, data: bytes, *extra: str, out: str = "s.yaml") -> tuple[Path, int]:
    capture = tmp_path / "capture.txt"
    capture.write_bytes(data)
    output = tmp_path / out
    slash = "/" if out.endswith("/") else ""  # a folder: Path drops the slash
    return output, run_import(_args(capture, "-o", str(output) + slash, *extra))


def _replay(text: str, target: str) -> tuple[Scenario, Plan]:
    scenario = parse_scenario(text, name="imported-check")
    plan = build_plan(scenario, scenario.answers[-1], target=target, stream=True)  # type: ignore[arg-type]
    return scenario, plan


def _sent(plan: Plan) -> bytes:
    return b"".join(write.data for write in plan.writes)


def _steps(text: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = yaml.safe_load(text)["events"]
    return events


# --- pasted SSE (and curl -N) -----------------------------------------------------------


def test_anthropic_paste_keeps_padded_json_and_the_overloaded_error(tmp_path: Path) -> None:
    path, code = _import(tmp_path, ANTHROPIC)
    assert code == 0
    text = path.read_text()
    scenario, plan = _replay(text, "anthropic")
    assert _sent(plan) == ANTHROPIC
    assert not plan.abort
    assert scenario.provider == "anthropic"
    assert scenario.name == "s"
    steps = _steps(text)
    assert steps[1] == {"event": "ping", "data": '{"type": "ping"   }'}  # the exact text
    assert steps[0]["data"]["type"] == "message_start"  # compact JSON: a mapping
    document = yaml.safe_load(text)
    assert document["tags"] == ["imported"]
    assert document["expect"]["error"] == {"code": "overloaded_error"}
    assert text.startswith("# Generated by `harness import`")


def test_openai_paste_with_keep_alive_comments_and_done(tmp_path: Path) -> None:
    path, code = _import(tmp_path, OPENAI)
    assert code == 0
    text = path.read_text()
    scenario, plan = _replay(text, "openai")
    assert _sent(plan) == OPENAI
    assert scenario.provider == "openai"
    steps = _steps(text)
    assert steps[0] == {"comment": "keep-alive"}
    assert steps[-1] == {"data": "[DONE]"}
    assert yaml.safe_load(text)["expect"] == {"text": "Hi there", "finish_reason": "stop"}


def test_gemini_crlf_paste(tmp_path: Path) -> None:
    path, code = _import(tmp_path, GEMINI)
    assert code == 0
    text = path.read_text()
    scenario, plan = _replay(text, "gemini")
    assert _sent(plan) == GEMINI
    assert scenario.provider == "gemini"
    document = yaml.safe_load(text)
    assert document["newline"] == "crlf"
    assert all(isinstance(step["data"], str) for step in document["events"])  # spaced JSON
    assert document["expect"]["text"] == "Bonjour le monde"


def test_responses_paste_is_told_from_its_events(tmp_path: Path) -> None:
    path, code = _import(tmp_path, RESPONSES)
    assert code == 0
    scenario, plan = _replay(path.read_text(), "openai-responses")
    assert scenario.provider == "openai-responses"
    assert _sent(plan) == RESPONSES


def test_paste_without_trailing_blank_line_ends_mid_event(tmp_path: Path) -> None:
    cut = ANTHROPIC.removesuffix(b"\n\n")
    path, code = _import(tmp_path, cut)
    assert code == 0
    text = path.read_text()
    _, plan = _replay(text, "anthropic")
    assert _sent(plan) == cut
    assert plan.abort  # the connection is cut after the pasted bytes
    steps = _steps(text)
    assert steps[-1] == {"disconnect": True}
    assert "raw" in steps[-2]
    assert "# The capture ends mid-event" in text
    assert "ending mid-event" in yaml.safe_load(text)["description"]


def test_a_trimmed_paste_that_ends_in_its_terminal_event_is_whole(tmp_path: Path) -> None:
    """Editors trim the blank line after a pasted stream: when the last event is the
    terminal one ([DONE] here), the stream was whole, and the blank line is restored."""
    for trimmed in (OPENAI.removesuffix(b"\n"), OPENAI.removesuffix(b"\n\n")):
        path, code = _import(tmp_path, trimmed)
        assert code == 0
        text = path.read_text()
        assert "the blank line was added (the stream was whole)" in text
        _, plan = _replay(text, "openai")
        assert (_sent(plan), plan.abort) == (OPENAI, False)
        path.unlink()
    cut = OPENAI.removesuffix(b"data: [DONE]\n\n").removesuffix(b"\n")  # not terminal
    path, code = _import(tmp_path, cut)
    _, plan = _replay(path.read_text(), "openai")
    assert (_sent(plan), plan.abort) == (cut, True)


# --- curl -i and curl -v ----------------------------------------------------------------


def test_curl_i_keeps_status_and_headers_and_filters_secrets(tmp_path: Path) -> None:
    head = (
        "HTTP/2 200 \r\n"
        "date: Tue, 03 Jun 2025 10:00:00 GMT\r\n"
        "content-type: text/event-stream; charset=utf-8\r\n"
        "cache-control: no-cache\r\n"
        f"x-api-key: {SECRET}\r\n"
        f"authorization: Bearer {SECRET}\r\n"
        "request-id: req_011CPkXc8mu3Zm2Krq9pRQXz\r\n"
        "anthropic-organization-id: 0e3f\r\n"
        "\r\n"
    ).encode()
    path, code = _import(tmp_path, head + ANTHROPIC)
    assert code == 0
    text = path.read_text()
    scenario, plan = _replay(text, "anthropic")
    assert _sent(plan) == ANTHROPIC
    assert SECRET not in text
    headers = yaml.safe_load(text)["headers"]
    # date and the organization id are dropped too (transport, account).
    assert headers == {"request-id": "req_011CPkXc8mu3Zm2Krq9pRQXz"}
    assert "curl -i output" in scenario.description


def test_curl_i_error_body_needs_provider_then_keeps_status(tmp_path: Path) -> None:
    body = b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit"}}'
    data = b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\n\r\n" + body
    path, code = _import(tmp_path, data)
    assert code == 1
    assert not path.exists()
    path, code = _import(tmp_path, data, "--provider", "openai")
    assert code == 0
    _, plan = _replay(path.read_text(), "openai")
    assert (plan.status, _sent(plan)) == (429, body)
    assert yaml.safe_load(path.read_text())["headers"] == {"retry-after": "7"}


def test_curl_i_skips_a_proxy_block() -> None:
    data = b"HTTP/1.1 200 Connection established\r\n\r\nHTTP/2 503 \r\nx-a: 1\r\n\r\n" + OPENAI
    (capture,) = read_captures(data)
    assert (capture.status, capture.body, capture.response_headers) == (503, OPENAI, {"x-a": ["1"]})


def test_curl_v_reads_the_response_head_and_drops_curl_noise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (
        (
            "*   Trying 162.159.140.245:443...\n"
            "* Connected to api.openai.com (162.159.140.245) port 443\n"
            "> POST /v1/chat/completions HTTP/2\r\n"
            "> Host: api.openai.com\r\n"
            f"> Authorization: Bearer {SECRET}\r\n"
            "> content-type: application/json\r\n"
            ">\r\n"
            "* Request completely sent off\n"
            "< HTTP/2 200 \r\n"
            "< content-type: text/event-stream; charset=utf-8\r\n"
            f"< x-api-key: {SECRET}\r\n"
            "< x-request-id: req_7f3a\r\n"
            "< openai-processing-ms: 180\r\n"
            "< \r\n"
        ).encode()
        + OPENAI
        + b"* Connection #0 to host api.openai.com left intact\n"
    )
    capture = tmp_path / "curl.txt"
    capture.write_bytes(data)
    assert run_import(_args(capture)) == 0  # to standard output
    text = capsys.readouterr().out
    scenario, plan = _replay(text, "openai")
    assert _sent(plan) == OPENAI
    assert SECRET not in text
    document = yaml.safe_load(text)
    assert document["headers"] == {"x-request-id": "req_7f3a", "openai-processing-ms": "180"}
    assert document["name"] == "imported"
    assert "POST /v1/chat/completions" in scenario.description


# --- HAR ----------------------------------------------------------------------------------


def _har_entry(url: str, mime: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "request": {
            "method": "POST",
            "url": url,
            "headers": [{"name": "x-api-key", "value": SECRET}],
            "postData": {"mimeType": "application/json", "text": '{"model":"claude-x"}'},
        },
        "response": {
            "status": 200,
            "headers": [
                {"name": ":status", "value": "200"},
                {"name": "content-type", "value": mime},
                {"name": "request-id", "value": "req_har"},
            ],
            "content": {"mimeType": mime, "text": text, **extra},
        },
        "timings": {"send": 0.2, "wait": 412.6, "receive": 90},
    }


def _har(*entries: dict[str, Any]) -> bytes:
    return json.dumps({"log": {"version": "1.2", "entries": list(entries)}}).encode()


HAR = _har(
    _har_entry("https://api.anthropic.com/v1/models", "application/json", '{"data":[]}'),
    _har_entry("https://api.anthropic.com/v1/messages", "text/event-stream", ANTHROPIC.decode()),
)


def test_har_imports_the_streamed_entry_with_its_timing(tmp_path: Path) -> None:
    path, code = _import(tmp_path, HAR)
    assert code == 0
    text = path.read_text()
    _, plan = _replay(text, "anthropic")
    assert _sent(plan) == ANTHROPIC
    document = yaml.safe_load(text)
    # 5 events: the first after timings.wait, then receive / 4 apart.
    assert document["events"][0] == {"sleep_ms": 413}
    assert document["delay_ms"] == 22
    assert plan.writes[0].delay == pytest.approx(0.413)
    assert document["source"].endswith("capture.txt#1")
    assert document["match"] == {"model": "claude-x"}
    assert document["headers"] == {"request-id": "req_har"}
    assert SECRET not in text
    assert "HAR has no per-chunk timing" in text


def test_har_entry_picks_any_entry(tmp_path: Path) -> None:
    path, code = _import(tmp_path, HAR, "--entry", "0", "--provider", "anthropic")
    assert code == 0
    _, plan = _replay(path.read_text(), "anthropic")
    assert _sent(plan) == b'{"data":[]}'
    _, code = _import(tmp_path, HAR, "--entry", "5", out="t.yaml")
    assert code == 1


def test_har_base64_event_stream_entry(tmp_path: Path) -> None:
    body = _converse()
    har = _har(
        _har_entry(
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/m/converse-stream",
            "application/vnd.amazon.eventstream",
            base64.b64encode(body).decode(),
            encoding="base64",
        )
    )
    path, code = _import(tmp_path, har)
    assert code == 0
    scenario, plan = _replay(path.read_text(), "bedrock-converse")
    assert scenario.provider == "bedrock-converse"
    assert _sent(plan) == body


def test_har_with_several_streams_needs_entry_or_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = _har_entry("https://api.openai.com/v1/chat/completions", "text/event-stream", "")
    stream["response"]["content"]["text"] = OPENAI.decode()
    har = _har(stream, json.loads(HAR)["log"]["entries"][1])
    _, code = _import(tmp_path, har)
    assert code == 2
    assert "--entry N" in capsys.readouterr().err
    folder, code = _import(tmp_path, har, "--name", "bug", out="out/")
    assert code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["bug-0.yaml", "bug-1.yaml"]
    _, plan = _replay((folder / "bug-0.yaml").read_text(), "openai")
    assert _sent(plan) == OPENAI
    _, code = _import(tmp_path, har, "--name", "bug", out="out/")
    assert code == 2  # both exist: nothing replaced without --force


# --- AWS event-stream -------------------------------------------------------------------


def test_binary_event_stream_capture(tmp_path: Path) -> None:
    body = _converse()
    path, code = _import(tmp_path, body)
    assert code == 0
    text = path.read_text()
    scenario, plan = _replay(text, "bedrock-converse")
    assert scenario.provider == "bedrock-converse"
    assert _sent(plan) == body
    assert _steps(text)[0]["event"] == "messageStart"
    assert "headers" not in yaml.safe_load(text)


def test_binary_event_stream_cut_mid_message(tmp_path: Path) -> None:
    body = _converse()[:-7]
    path, code = _import(tmp_path, body)
    assert code == 0
    _, plan = _replay(path.read_text(), "bedrock-converse")
    assert (_sent(plan), plan.abort) == (body, True)


# --- the command --------------------------------------------------------------------------


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(GEMINI)))
    assert run_import(_args("-", "--name", "team/gemini-paste")) == 0
    text = capsys.readouterr().out
    _, plan = _replay(text, "gemini")
    assert _sent(plan) == GEMINI
    assert yaml.safe_load(text)["name"] == "team/gemini-paste"
    assert yaml.safe_load(text)["source"] == "standard input"


def test_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "s.yaml"
    target.write_text("keep me\n")
    _, code = _import(tmp_path, ANTHROPIC)
    assert code == 2
    assert "--force" in capsys.readouterr().err
    assert target.read_text() == "keep me\n"
    _, code = _import(tmp_path, ANTHROPIC, "--force")
    assert code == 0
    _, plan = _replay(target.read_text(), "anthropic")
    assert _sent(plan) == ANTHROPIC


def test_unknown_format_names_the_formats_tried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, code = _import(tmp_path, b"Hello, this is not a capture\n")
    assert code == 1
    assert not path.exists()
    err = capsys.readouterr().err
    for kind in ("AWS event-stream", "HAR", "curl -v", "curl -i", "raw SSE"):
        assert kind in err
    assert detect_format(b"{}") is None
    with pytest.raises(ImportCaptureError, match="tried"):
        read_captures(b"plain words")


def test_no_provider_asks_for_provider(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, code = _import(tmp_path, b'data: {"hello": "world"}\n\n')
    assert code == 1
    assert "--provider" in capsys.readouterr().err
    path, code = _import(tmp_path, b'data: {"hello": "world"}\n\n', "--provider", "openai")
    assert code == 0
    _, plan = _replay(path.read_text(), "openai")
    assert _sent(plan) == b'data: {"hello": "world"}\n\n'


def test_provider_overrides_detection(tmp_path: Path) -> None:
    path, code = _import(tmp_path, OPENAI, "--provider", "openai-responses")
    assert code == 0
    assert yaml.safe_load(path.read_text())["provider"] == "openai-responses"


def test_invalid_name_is_a_usage_error(tmp_path: Path) -> None:
    _, code = _import(tmp_path, ANTHROPIC, "--name", "../bad")
    assert code == 2
