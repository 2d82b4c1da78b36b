"""The whole loop: record a live stream through the proxy, convert it, replay it.

The SDK must see the same events from the replayed scenario as it saw live, and the
replay must carry the recorded bytes, boundaries and cut. The "live provider" is
harness's own mock on loopback, at recorded speed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from harness.mock.scenario import ScenarioSet, parse_scenario
from harness.record.cassette import load_cassette
from harness.record.convert import convert
from harness.record.recorder import RecordingProxy
from harness.testing import RunningServer, run_server
from tests.test_recorder import SCENARIOS


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The upstream that plays the real provider (pauses kept: speed 1)."""
    folder = tmp_path_factory.mktemp("live")
    for name in ("slow", "cut", "claude"):
        text = json.dumps({"version": 1, "provider": "openai", **SCENARIOS[name]})
        (folder / f"{name}.yaml").write_text(text)
    with run_server(folder, speed=1.0) as server:
        yield server


def _openai(base_url: str) -> tuple[list[dict[str, Any]], BaseException | None]:
    """What the openai SDK yields for a streamed chat completion, and what it raised."""
    chunks: list[dict[str, Any]] = []
    client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    try:
        stream = client.chat.completions.create(model="m", messages=[], stream=True)
        chunks.extend(chunk.model_dump() for chunk in stream)
    except openai.APIError as exc:
        return chunks, exc
    finally:
        client.close()
    return chunks, None


def _anthropic(base_url: str) -> list[dict[str, Any]]:
    """Every event the anthropic SDK yields for a streamed message."""
    with anthropic.Anthropic(base_url=base_url, api_key="sk-test", max_retries=0) as client:
        stream = client.messages.create(model="m", max_tokens=8, messages=[], stream=True)
        return [event.model_dump() for event in stream]


def _replay(cassette: Path, name: str) -> AbstractContextManager[RunningServer]:
    """The first interaction of ``cassette``, converted and served (speed 0)."""
    scenario = parse_scenario(convert(cassette, name=name), name=name)
    return run_server(ScenarioSet([scenario]))


@pytest.mark.parametrize("name", ["slow", "cut"])
def test_openai_sees_the_same_stream_replayed_as_live(
    live: RunningServer, tmp_path: Path, name: str
) -> None:
    """openai SDK: same chunks (and the same failure on the cut) live and replayed."""
    cassette = tmp_path / "c.yaml"
    with RecordingProxy(live.url, cassette) as proxy:
        seen_live, error_live = _openai(f"{proxy.url}/s/{name}/v1")
    (recorded,) = load_cassette(cassette)
    assert recorded.complete is (name == "slow")
    with _replay(cassette, f"rec/{name}") as server:
        seen_replay, error_replay = _openai(server.base_url(f"rec/{name}"))
        with httpx.Client() as raw:
            replayed = b""
            try:
                with raw.stream(
                    "POST", f"{server.url}/s/rec/{name}/v1/chat/completions", json={"stream": True}
                ) as response:
                    for part in response.iter_raw():
                        replayed += part
            except httpx.RemoteProtocolError:
                assert name == "cut"
    assert seen_replay == seen_live
    assert type(error_replay) is type(error_live)
    assert (error_live is None) is (name == "slow")
    assert replayed == recorded.body


def test_anthropic_sees_the_same_events_replayed_as_live(
    live: RunningServer, tmp_path: Path
) -> None:
    """anthropic SDK: every event identical through the proxy, recorded and replayed."""
    cassette = tmp_path / "c.yaml"
    with RecordingProxy(live.url, cassette) as proxy:
        seen_live = _anthropic(f"{proxy.url}/s/claude")
    with _replay(cassette, "rec/claude") as server:
        seen_replay = _anthropic(server.base_url("rec/claude", "anthropic"))
    assert [e["type"] for e in seen_live][-1] == "message_stop"
    assert seen_replay == seen_live


def test_recorded_pauses_survive_into_the_scenario(live: RunningServer, tmp_path: Path) -> None:
    """The converted scenario keeps the recorded pauses (>= the live ones, within 50 ms)."""
    cassette = tmp_path / "c.yaml"
    with RecordingProxy(live.url, cassette) as proxy:
        _openai(f"{proxy.url}/s/slow/v1")
    scenario = parse_scenario(convert(cassette, name="rec/slow"), name="rec/slow")
    steps = scenario.answers[0].events or []
    pauses = [s.sleep_ms for s in steps if s.sleep_ms is not None]
    delay = scenario.answers[0].delay_ms
    # live: 30 ms before the first write, 40 ms before the others, 100 ms before the third
    total = sum(pauses) + delay * max(0, len([s for s in steps if s.sleep_ms is None]) - 1)
    assert 30 + 40 * 4 + 60 <= total < 30 + 40 * 4 + 60 + 250


def _responses(base_url: str, **client: Any) -> list[dict[str, Any]]:
    """Every event the openai SDK yields for a streamed Responses call."""
    if "azure_endpoint" in client:
        sdk: openai.OpenAI = openai.AzureOpenAI(
            api_key="sk-test", api_version="2024-10-21", max_retries=0, **client
        )
    else:
        sdk = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
    with sdk:
        stream = sdk.responses.create(model="m", input="hi", stream=True)
        return [event.model_dump() for event in stream]


@pytest.fixture(scope="module")
def builtins() -> Iterator[RunningServer]:
    """An upstream that speaks the Responses API (the built-in library, no pauses)."""
    with run_server() as server:
        yield server


@pytest.mark.parametrize("azure", [False, True], ids=["openai", "azure"])
def test_a_recorded_responses_stream_converts_and_replays_the_same_bytes(
    builtins: RunningServer, tmp_path: Path, azure: bool
) -> None:
    """POST /v1/responses (or Azure's /openai/responses) recorded through the proxy
    converts to an openai-responses scenario; replayed, the SDK sees the same events
    and the route sends the recorded bytes."""
    cassette = tmp_path / "c.yaml"
    with RecordingProxy(builtins.url, cassette) as proxy:
        root = f"{proxy.url}/s/openai-responses/tool-calls-parallel"
        seen_live = _responses("", azure_endpoint=root) if azure else _responses(f"{root}/v1")
    (recorded,) = load_cassette(cassette)
    assert recorded.uri.split("?")[0].endswith("/openai/responses" if azure else "/v1/responses")
    text = convert(cassette, name="rec/responses")
    scenario = parse_scenario(text, name="rec/responses")
    assert scenario.provider == "openai-responses"
    with run_server(ScenarioSet([scenario])) as server:
        seen_replay = _responses(server.base_url("rec/responses", "openai-responses"))
        replayed = httpx.post(
            f"{server.url}/s/rec/responses/v1/responses", json={"stream": True}, timeout=10
        )
    assert [e["type"] for e in seen_live][-1] == "response.completed"
    assert seen_replay == seen_live
    assert replayed.content == recorded.body
