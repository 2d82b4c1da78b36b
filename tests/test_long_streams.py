"""Long streams: the replay plan made as it is sent (lazy plans), and captures replayed
from files beside a scenario (``file`` steps), in flat memory.

The memory and first-byte figures are benchmarks (bench/longstream.py), not asserted
here; what is asserted is that a lazy plan sends exactly what a whole one would, that
a capture replays byte for byte whatever the read size and line ends, and that a bad
``file`` step is refused at load with its file, line and field.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.mock import replay
from harness.mock.replay import CaptureEvent, build_plan, capture_events, parse_faults
from harness.mock.scenario import Faults, Scenario, load_scenarios
from harness.mock.timeline import route_views
from harness.stream.sse import SSEDecoder
from harness.testing import run_server

BUILTINS = load_scenarios()
OVERLAYS = [
    "",
    "error_after=2",
    "disconnect_after=3",
    "disconnect_inside=2",
    "disconnect_after_bytes=300",
    "keepalive_every=2",
    "stall_after=1; stall_ms=5",
    "drop_usage=true",
    "event_ids=true",
    "chunking=byte",
    "chunking=random; seed=5",
    "chunking=utf8",
    "chunking=crlf",
    "chunking=coalesce",
    "keepalive_every=1; stall_after=2; stall_ms=3; chunking=random; seed=2",
]


def _plans(scenario: Scenario, overlay: str) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for answer in scenario.answers:
        faults = (answer.faults or Faults()).merged(parse_faults(overlay) if overlay else None)
        for view in route_views(scenario):
            try:
                plan = build_plan(
                    scenario,
                    answer,
                    target=view.route,
                    stream=answer.streaming,
                    normalize=view.normalize,
                    faults=faults,
                    options={"model": "m"},
                )
            except replay.UsageError as exc:
                out.append(("refused", str(exc)))
                continue
            out.append((plan.status, plan.headers, plan.writes, plan.abort, plan.faults))
    return out


@pytest.mark.parametrize("name", BUILTINS.names)
def test_a_lazy_plan_sends_what_a_whole_one_does(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every built-in, every route, every fault: the writes made as they go equal the
    writes made whole (byte for byte, pause for pause), and the lazy plan is lazy."""
    scenario = BUILTINS.get(name)
    assert scenario is not None
    whole = {overlay: _plans(scenario, overlay) for overlay in OVERLAYS}
    monkeypatch.setattr(replay, "LAZY_STEPS", -1)
    for overlay in OVERLAYS:
        assert _plans(scenario, overlay) == whole[overlay], overlay
    answer = scenario.answers[-1]
    if answer.streaming:
        plan = build_plan(scenario, answer, target=scenario.provider, stream=True)
        assert plan.lazy
        assert plan.writes == tuple(plan.iter_writes())


# --- captures --------------------------------------------------------------------------------


def _folder_with(
    tmp_path: Path, capture: bytes, provider: str = "openai", suffix: str = "sse"
) -> Path:
    (tmp_path / f"capture.{suffix}").write_bytes(capture)
    (tmp_path / "replayed.yaml").write_text(
        f"version: 1\nprovider: {provider}\ndelay_ms: 5\nevents:\n  - {{file: capture.{suffix}}}\n"
    )
    return tmp_path


@pytest.mark.parametrize("name", ["openai/text", "anthropic/text", "gemini/text", "openai/crlf"])
@pytest.mark.parametrize("overlay", [o for o in OVERLAYS if "drop_usage" not in o])
def test_a_capture_replays_as_the_stream_it_holds(name: str, overlay: str, tmp_path: Path) -> None:
    """A built-in's bytes saved as a capture replay, on every route and under every
    fault, exactly as the built-in does (same events, same pauses between them)."""
    scenario = BUILTINS.get(name)
    assert scenario is not None
    answer = scenario.answers[0]
    recorded = build_plan(scenario, answer, target=scenario.provider, stream=True)
    body = b"".join(w.data for w in recorded.writes)
    delay = answer.delay_ms
    (tmp_path / "capture.sse").write_bytes(body)
    (tmp_path / "replayed.yaml").write_text(
        f"version: 1\nprovider: {scenario.provider}\ndelay_ms: {delay}\n"
        f"newline: {answer.newline}\nevents:\n  - {{file: capture.sse}}\n"
    )
    replayed = load_scenarios(tmp_path).get("replayed")
    assert replayed is not None
    faults = parse_faults(overlay) if overlay else None
    for view in route_views(scenario):
        kwargs = {"target": view.route, "stream": True, "normalize": view.normalize}
        try:
            expected = build_plan(scenario, answer, faults=faults, **kwargs)  # type: ignore[arg-type]
        except replay.UsageError as exc:
            with pytest.raises(type(exc)):
                build_plan(replayed, replayed.answers[0], faults=faults, **kwargs)  # type: ignore[arg-type]
            continue
        got = build_plan(replayed, replayed.answers[0], faults=faults, **kwargs)  # type: ignore[arg-type]
        assert got.lazy
        assert got.writes == expected.writes, view
        assert got.abort == expected.abort


def test_drop_usage_leaves_a_capture_as_recorded(tmp_path: Path) -> None:
    """A capture's events are bytes, not parsed: drop_usage (which edits data steps)
    leaves them as recorded, as it does raw steps (docs/scenarios.md#long-streams)."""
    scenario = BUILTINS.get("openai/text")
    assert scenario is not None
    plan = build_plan(scenario, scenario.answers[0], target="openai", stream=True)
    folder = _folder_with(tmp_path, b"".join(w.data for w in plan.writes))
    replayed = load_scenarios(folder).get("replayed")
    assert replayed is not None
    dropped = build_plan(
        replayed,
        replayed.answers[0],
        target="openai",
        stream=True,
        faults=parse_faults("drop_usage=true"),
    )
    assert b"".join(w.data for w in dropped.writes) == b"".join(w.data for w in plan.writes)


LINE_ENDS = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def captures(draw: st.DrawFn) -> bytes:
    """SSE blocks with mixed line ends (multi-byte text too), maybe a cut last one."""
    blocks = []
    for _ in range(draw(st.integers(0, 12))):
        end = draw(LINE_ENDS)
        lines = draw(
            st.lists(st.text("ab: é€\U0001f600", min_size=0, max_size=8), min_size=1, max_size=3)
        )
        blocks.append(b"".join(b"data: " + line.encode() + end for line in lines) + end)
    tail = draw(st.binary(max_size=10).filter(lambda b: b"\n" not in b and b"\r" not in b))
    return b"".join(blocks) + tail


@settings(max_examples=300, deadline=None)
@given(capture=captures(), read=st.integers(1, 40))
def test_a_capture_is_cut_at_its_blank_lines_whatever_the_read_size(
    capture: bytes, read: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("cap") / "c.sse"
    path.write_bytes(capture)
    original = replay.CAPTURE_READ
    replay.CAPTURE_READ = read
    try:
        events = list(capture_events(path, "openai"))
    finally:
        replay.CAPTURE_READ = original
    assert b"".join(e.bytes for e in events) == capture
    # Every event but the last ends at a blank line, and an SSE decoder finds in each
    # what it finds in the whole.
    for event in events[:-1]:
        assert replay._ends_event(event.bytes) or event.bytes in (b"\n", b"\r", b"\r\n")
    whole = SSEDecoder().feed(capture)
    pieces: list[object] = []
    decoder = SSEDecoder()
    for event in events:
        pieces.extend(decoder.feed(event.bytes))
    assert pieces == whole


def test_an_event_stream_capture_is_cut_at_its_messages(tmp_path: Path) -> None:
    scenario = BUILTINS.get("bedrock-converse/text")
    assert scenario is not None
    plan = build_plan(scenario, scenario.answers[0], target="bedrock-converse", stream=True)
    messages = [w.data for w in plan.writes]
    path = tmp_path / "c.bin"
    path.write_bytes(b"".join(messages) + b"\x00\x00")  # and a cut prelude at the end
    events = list(capture_events(path, "bedrock-converse"))
    assert [e.bytes for e in events] == [*messages, b"\x00\x00"]
    assert all(isinstance(e, CaptureEvent) for e in events)


def test_a_long_capture_streams_to_the_sdk_over_a_real_socket(tmp_path: Path) -> None:
    chunk = (
        'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{"content":"%d "},"finish_reason":null}]}\n\n'
    )
    end = (
        'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m",'
        '"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    )
    count = 20_000
    folder = _folder_with(tmp_path, ("".join(chunk % i for i in range(count)) + end).encode())
    (folder / "replayed.yaml").write_text(
        "version: 1\nprovider: openai\nevents:\n  - {file: capture.sse}\n"
    )
    with run_server(folder) as server:
        client = openai.OpenAI(base_url=server.base_url("replayed"), api_key="x", max_retries=0)
        stream = client.chat.completions.create(model="m", messages=[], stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "".join(f"{i} " for i in range(count))
        (entry,) = server.requests()
        assert entry["outcome"] == "completed"
        assert entry["bytes_sent"] == (folder / "capture.sse").stat().st_size
        # Normalized on another route, as it goes.
        responses = httpx.post(
            server.base_url("replayed") + "/responses",
            json={"model": "m", "input": "hi", "stream": True},
            timeout=60,
        )
        assert responses.text.count("event: response.output_text.delta\n") == count


@pytest.mark.parametrize(
    ("file", "problem"),
    [
        ("missing.sse", "no such file beside the scenario"),
        ("../outside.sse", "leaves the scenario file's folder"),
        ("/etc/passwd", "is absolute"),
        ("sub", "is not a regular file"),
        ("link.sse", "leads outside the scenario file's folder"),
    ],
)
def test_a_bad_file_step_is_refused_with_its_line(file: str, problem: str, tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    (folder / "sub").mkdir(parents=True)
    (tmp_path / "outside.sse").write_bytes(b"data: x\n\n")
    os.symlink(tmp_path / "outside.sse", folder / "link.sse")
    (folder / "bad.yaml").write_text(
        f"version: 1\nprovider: openai\nevents:\n  - {{data: x}}\n  - {{file: {file!r}}}\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenarios(folder)
    message = str(caught.value)
    assert problem in message
    assert "bad.yaml:5" in message
    assert "events[1]" in message


def test_the_console_counts_a_long_capture_only_so_far(tmp_path: Path) -> None:
    """A page view of a million-event capture stays cheap: the timeline shows the first
    writes and counts up to MAX_COUNTED, saying the stream is longer."""
    from harness.mock import timeline as console_timeline

    chunk = b'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}\n\n'
    folder = _folder_with(tmp_path, chunk * (console_timeline.MAX_COUNTED + 10))
    replayed = load_scenarios(folder).get("replayed")
    assert replayed is not None
    view = route_views(replayed)[0]
    data = console_timeline.timeline(replayed, 0, view, Faults())
    assert data["counted_all"] is False
    assert data["write_count"] == console_timeline.MAX_COUNTED
    assert len(data["writes"]) == console_timeline.MAX_BLOCKS
    short = console_timeline.timeline(BUILTINS.get("openai/text"), 0, view, Faults())  # type: ignore[arg-type]
    assert short["counted_all"] is True
