"""Azure OpenAI's routes over a real socket: deployment paths, v1 paths, prefixes,
the api-key header, error shapes. (The openai SDK's AzureOpenAI on them: test_sdk_responses.)
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from harness.mock.scenario import ScenarioSet, load_scenarios, parse_scenario
from harness.testing import RunningServer, run_server

API_VERSION = {"api-version": "2024-10-21"}

DEPLOYED = parse_scenario(
    "version: 1\nname: by-deployment\nprovider: openai\nmatch: {model: my-gpt4o}\n"
    'events:\n  - {data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, '
    '"model": "gpt-4o", "choices": [{"index": 0, "delta": {"content": "hi"}, '
    '"finish_reason": "stop"}]}}\n  - {data: "[DONE]"}\n'
)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_server(ScenarioSet([*load_scenarios(), DEPLOYED])) as running:
        yield running


def test_the_deployment_in_the_path_selects_like_a_model(server: RunningServer) -> None:
    answer = httpx.post(
        server.url + "/t/az1/openai/deployments/my-gpt4o/chat/completions",
        params=API_VERSION,
        json={"messages": [], "stream": True},
        headers={"api-key": "secret-azure-key-123"},
        timeout=10,
    )
    assert answer.status_code == 200
    assert b'"content":"hi"' in answer.content
    [entry] = server.entries("az1")
    assert (entry.family, entry.scenario) == ("azure", "by-deployment")
    assert entry.headers["api-key"] == "***"
    assert entry.query == API_VERSION


@pytest.mark.parametrize(
    ("path", "family"),
    [
        ("/openai/deployments/d/chat/completions", "azure"),
        ("/openai/v1/chat/completions", "azure"),
        ("/openai/responses", "azure-responses"),
        ("/openai/deployments/d/responses", "azure-responses"),
        ("/openai/v1/responses", "azure-responses"),
    ],
)
def test_every_azure_path_serves_behind_the_prefixes(
    server: RunningServer, path: str, family: str
) -> None:
    """/t/{id}/s/{scenario}/ in front of each Azure path selects and isolates as elsewhere
    (openai/text's name starts with the segment the Azure paths start with)."""
    test_id = f"az-{family}-{len(path)}"
    answer = httpx.post(
        f"{server.url}/t/{test_id}/s/openai/text{path}",
        params=API_VERSION,
        json={"model": "m", "stream": True, "messages": [], "input": "hi"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    [entry] = server.entries(test_id)
    assert (entry.family, entry.scenario) == (family, "openai/text")


def test_an_unknown_scenario_on_an_azure_path_gets_an_openai_shaped_404(
    server: RunningServer,
) -> None:
    answer = httpx.post(
        server.url + "/s/no-such/openai/deployments/d/chat/completions",
        params=API_VERSION,
        json={"messages": []},
        timeout=10,
    )
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert "No scenario named 'no-such'" in error["message"]


def test_an_unknown_azure_path_names_the_azure_routes(server: RunningServer) -> None:
    answer = httpx.post(server.url + "/openai/deployments/d/embeddings", json={}, timeout=10)
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert "POST /openai/deployments/{deployment}/chat/completions" in message
    assert "POST /openai/responses" in message
    assert "POST /v1/responses" in message


@pytest.mark.parametrize(
    "path", ["/openai/deployments/d/chat/completions", "/openai/responses", "/v1/responses"]
)
def test_a_recorded_openai_error_body_goes_as_recorded_on_chat_and_responses_routes(
    server: RunningServer, path: str
) -> None:
    """Responses answers HTTP errors in OpenAI's shape, so the recorded body (Azure's
    content-filter 400, innererror and all) is not re-shaped there either."""
    answer = httpx.post(
        f"{server.url}/s/openai/azure-content-filter-400{path}",
        params=API_VERSION,
        json={"model": "m", "input": "x", "messages": []},
        timeout=10,
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["param"]) == ("content_filter", "prompt")
    assert error["innererror"]["code"] == "ResponsibleAIPolicyViolation"


def test_a_whole_answer_of_a_stream_with_a_lone_surrogate_is_valid_json(
    server: RunningServer,
) -> None:
    """stream: false folds the stream into one JSON body; a lone surrogate in the
    recorded text is escaped (it was an internal error)."""
    scenario = parse_scenario(
        "version: 1\nname: s\nprovider: openai\nevents:\n"
        '  - {raw: "data: {\\"id\\":\\"c\\",\\"object\\":\\"chat.completion.chunk\\",'
        '\\"created\\":1,\\"model\\":\\"m\\",\\"choices\\":[{\\"index\\":0,'
        '\\"delta\\":{\\"content\\":\\"a\\\\ud800b\\"},\\"finish_reason\\":\\"stop\\"}]}\\n\\n"}\n'
        '  - {data: "[DONE]"}\n'
    )
    with run_server(ScenarioSet([scenario])) as own:
        for path in ("/v1/chat/completions", "/v1/responses"):
            answer = httpx.post(f"{own.url}/s/s{path}", json={"model": "m"}, timeout=10)
            assert answer.status_code == 200, answer.text
            assert "\\ud800" in answer.text
