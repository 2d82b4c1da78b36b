"""The OpenAI Agents SDK (``openai-agents``, import ``agents``) against the running server.

An ``Agent`` is run by ``Runner.run_streamed`` on its default model, the Responses API
(``OpenAIResponsesModel``), through an ``AsyncOpenAI`` client whose ``base_url`` points
at harness on 127.0.0.1 (``set_default_openai_client``; tracing disabled, so nothing
leaves the machine):

* a text answer becomes the run's ``final_output``;
* a function call runs the ``@function_tool`` it names, and the next request (the second
  answer of a ``responses:`` sequence built from two built-in scenarios) gets the final
  text, with the call outputs under the scenario's call ids;
* each broken Responses stream, and an HTTP error, ends the run with the exception that
  ``tests/sdk_behaviour.py`` pins for the installed ``openai-agents``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
import yaml
from agents import (
    Agent,
    Runner,
    function_tool,
    set_default_openai_client,
    set_tracing_disabled,
)
from agents.models import _openai_shared
from agents.tracing import get_trace_provider

from harness.mock.scenario import Scenario, ScenarioSet, load_scenarios, parse_scenario
from harness.testing import RunningServer, run_server
from tests import sdk_behaviour

LIBRARY = load_scenarios()
MODEL = "gpt-4.1-mini"
TEST_ID_HEADER = "x-harness-test-id"
ROUND_TRIP = "agents/tool-round-trip"


def _scenario(name: str, scenarios: ScenarioSet = LIBRARY) -> Scenario:
    """The scenario ``name``, with its ``expect``."""
    scenario = scenarios.get(name)
    assert scenario is not None, name
    assert scenario.expect is not None, name
    return scenario


def _round_trip() -> Scenario:
    """The tool call of ``openai-responses/tool-calls-parallel``, then the text of
    ``openai-responses/text``: what a model answers before and after the tool outputs."""
    calls = _scenario("openai-responses/tool-calls-parallel")
    text = _scenario("openai-responses/text")
    assert text.expect is not None

    def steps(scenario: Scenario) -> list[dict[str, Any]]:
        return [step.model_dump(exclude_none=True) for step in scenario.answers[-1].events or []]

    document = {
        "version": 1,
        "description": "a function call, then (after the tool outputs) the final text",
        "provider": "openai-responses",
        "responses": [{"events": steps(calls)}, {"events": steps(text)}],
        "expect": text.expect.model_dump(exclude_none=True),
    }
    return parse_scenario(yaml.safe_dump(document, sort_keys=False), name=ROUND_TRIP)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """The built-in library plus the round trip, served on 127.0.0.1 (speed 0)."""
    with run_server(ScenarioSet([*LIBRARY, _round_trip()])) as running:
        yield running


@pytest.fixture(autouse=True)
def _agents_offline() -> Iterator[None]:
    """Tracing off (no exporter, no network) and the default client restored afterwards."""
    before = _openai_shared.get_default_openai_client()
    set_tracing_disabled(True)
    yield
    _openai_shared.set_default_openai_client(before)  # type: ignore[arg-type]
    get_trace_provider().set_disabled(True)


@dataclass
class Run:
    """What one streamed run gave."""

    final_output: Any = None
    items: list[str] = field(default_factory=list)  # run item event names, in order
    text_deltas: str = ""
    error: BaseException | None = None


def run_agent(base_url: str, agent: Agent[Any], test_id: str) -> Run:
    """``Runner.run_streamed(agent, "hi")`` with an AsyncOpenAI client on ``base_url``."""
    run = Run()

    async def main() -> None:
        client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key="sk-test",
            max_retries=0,
            default_headers={TEST_ID_HEADER: test_id},
        )
        set_default_openai_client(client, use_for_tracing=False)
        try:
            result = Runner.run_streamed(agent, "hi")
            async for event in result.stream_events():
                if event.type == "run_item_stream_event":
                    run.items.append(event.name)
                elif (
                    event.type == "raw_response_event"
                    and event.data.type == "response.output_text.delta"
                ):
                    run.text_deltas += event.data.delta
            run.final_output = result.final_output
        except Exception as exc:
            run.error = exc
        finally:
            await client.close()

    asyncio.run(main())
    return run


def _url(server: RunningServer, name: str) -> str:
    return server.base_url(name, "openai-responses")


def test_text_answer_is_the_final_output(server: RunningServer) -> None:
    """The agent's final output is the streamed text; one request, on /v1/responses."""
    scenario = _scenario("openai-responses/text")
    assert scenario.expect is not None
    test_id = str(uuid.uuid4())
    agent: Agent[Any] = Agent(name="assistant", instructions="Be brief.", model=MODEL)
    run = run_agent(_url(server, scenario.name), agent, test_id)
    assert run.error is None, repr(run.error)
    assert run.final_output == scenario.expect.text
    assert run.text_deltas == scenario.expect.text
    assert run.items == ["message_output_created"]
    [entry] = server.requests(test_id)
    assert (entry["path"], entry["status"], entry["body"]["stream"]) == ("/v1/responses", 200, True)
    assert entry["body"]["model"] == MODEL


def test_rendered_text_answer_is_the_final_output(server: RunningServer) -> None:
    """An Anthropic stream rendered on /v1/responses runs the agent as well."""
    scenario = _scenario("anthropic/text")
    assert scenario.expect is not None
    agent: Agent[Any] = Agent(name="assistant", model=MODEL)
    run = run_agent(_url(server, scenario.name), agent, str(uuid.uuid4()))
    assert run.error is None, repr(run.error)
    assert run.final_output == scenario.expect.text


def test_function_call_runs_the_tool_then_the_final_text(server: RunningServer) -> None:
    """The scenario's two parallel get_weather calls run the agent's @function_tool with
    their arguments; the second request carries both outputs under the scenario's call
    ids, and its answer's text is the final output."""
    calls: list[tuple[str, str]] = []

    @function_tool
    def get_weather(city: str, unit: str) -> str:
        """Get the current weather in a city.

        Args:
            city: The city.
            unit: celsius or fahrenheit.
        """
        calls.append((city, unit))
        return f"Sunny and 21 degrees {unit} in {city}."

    scenario = _scenario(ROUND_TRIP, server.scenarios)
    assert scenario.expect is not None
    test_id = str(uuid.uuid4())
    agent: Agent[Any] = Agent(name="weather", model=MODEL, tools=[get_weather])
    run = run_agent(_url(server, ROUND_TRIP), agent, test_id)
    assert run.error is None, repr(run.error)
    assert calls == [("Paris", "celsius"), ("Tokyo", "celsius")]
    assert run.final_output == scenario.expect.text
    assert run.items == [
        "tool_called",
        "tool_called",
        "tool_output",
        "tool_output",
        "message_output_created",
    ]
    first, second = server.requests(test_id)
    assert [t["name"] for t in first["body"]["tools"]] == ["get_weather"]
    call_ids = [
        step.data["item"]["call_id"]
        for step in scenario.answers[0].events or []
        if isinstance(step.data, dict) and step.data["type"] == "response.output_item.added"
    ]
    assert call_ids == ["call_HarnessFake0003a", "call_HarnessFake0003b"]
    sent = second["body"]["input"]
    outputs = [item for item in sent if item.get("type") == "function_call_output"]
    assert [item["call_id"] for item in outputs] == call_ids
    assert outputs[0]["output"] == "Sunny and 21 degrees celsius in Paris."
    echoed = [item for item in sent if item.get("type") == "function_call"]
    assert [item["call_id"] for item in echoed] == call_ids


#: Each Responses scenario that does not end in a complete answer: the row of the table that
#: says what the run raises on it, and a part of the exception's message.
FAULTS = {
    "openai-responses/error-midstream": (
        "error_event",
        "terminal event `error`. code=server_error",
    ),
    "openai-responses/error-nested": ("error_nested", "Too Many Requests"),
    "openai-responses/failed": ("failed", "terminal event `response.failed`. status=failed"),
    "openai-responses/length": ("incomplete", "reason='max_output_tokens'"),
    "openai-responses/cut-clean": ("clean_cut", "Model did not produce a final response!"),
    "openai-responses/cut-abrupt": ("abrupt_cut", "Connection error."),
    "openai-responses/http-500": ("http_500", "Error code: 500"),
}


@pytest.mark.parametrize("name", FAULTS)
def test_broken_streams_end_the_run(server: RunningServer, name: str) -> None:
    """The run ends with the exception the table pins, saying why; the text before the
    break has streamed to the application, and there is no final output."""
    key, message = FAULTS[name]
    scenario = _scenario(name)
    assert scenario.expect is not None
    agent: Agent[Any] = Agent(name="assistant", model=MODEL)
    test_id = str(uuid.uuid4())
    run = run_agent(_url(server, name), agent, test_id)
    sdk_behaviour.check("openai-agents", f"agents_{key}", name, run.error)
    assert message in str(run.error)
    assert run.final_output is None
    assert run.text_deltas == (scenario.expect.text or "")
    assert len(server.requests(test_id)) == 1  # no retry by default
