"""``openai-agents``: the OpenAI Agents SDK, ``Runner.run_streamed`` on an ``Agent``
whose model is ``OpenAIResponsesModel`` over ``AsyncOpenAI(base_url=...)``.

The outcome is what the run streams to the application: the raw Responses events
(text, reasoning, the terminal response's function calls, status and usage) and the
exception that ends the run. The agent has no tools: when the model answers with tool
calls, the adapter stops the run there (as ``tool_use_behavior="stop_on_first_tool"``
would) instead of letting the runner fail on a tool it does not have.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from harness.conformance.clients._common import Calls, openai_error
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome, OutcomeError

MODEL = "gpt-4.1-mini"
INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
#: ``ModelBehaviorError`` messages that say the stream broke: the code they carry.
_CODE = re.compile(r"code='?(\w+)")


def client() -> Client:
    """The ``openai-agents`` client (needs the ``openai-agents`` package)."""
    require("agents", "openai-agents", "openai-agents")
    return Client(
        name="openai-agents",
        family="openai-responses",
        distribution="openai-agents",
        run=run,
        description="openai-agents: Runner.run_streamed(Agent(model=OpenAIResponsesModel))",
    )


def run(call: Call) -> Outcome:
    """One streamed agent run (one model turn)."""
    return asyncio.run(_run(call))


async def _run(call: Call) -> Outcome:
    import agents
    import openai

    outcome, calls = Outcome(), Calls()
    sdk = openai.AsyncOpenAI(
        base_url=call.base_url, api_key="sk-harness", max_retries=call.retries, timeout=call.timeout
    )
    model = agents.OpenAIResponsesModel(model=MODEL, openai_client=sdk)
    agent: Any = agents.Agent(name="assistant", model=model)
    try:
        result = agents.Runner.run_streamed(
            agent, "hi", run_config=agents.RunConfig(tracing_disabled=True)
        )
        async for event in result.stream_events():
            if event.type == "raw_response_event" and take_event(outcome, calls, event.data):
                result.cancel()  # tool calls: this agent has no tools to run
                break
    except agents.ModelBehaviorError as exc:  # a stream without response.completed
        message = str(exc)
        match = _CODE.search(message)
        code = match.group(1) if match else None
        if "did not produce a final response" in message:
            code = "connection_closed"
        outcome.error = OutcomeError(code=code, type="ModelBehaviorError")
    except Exception as exc:  # the SDK's errors, and the HTTP stack's cuts
        outcome.error = openai_error(openai, exc)
        if outcome.error is None:
            raise
    finally:
        await sdk.close()
    outcome.tool_calls = calls.tool_calls()
    return outcome


def take_event(outcome: Outcome, calls: Calls, event: Any) -> bool:
    """Fold one raw Responses event; True at a terminal response with function calls."""
    kind = event.type
    if kind == "response.output_text.delta":
        outcome.text += event.delta
    elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
        outcome.reasoning += event.delta
    elif kind in ("response.completed", "response.incomplete"):
        response = event.response
        usage = response.usage
        if usage is not None:
            outcome.usage = {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
            }
        for index, item in enumerate(response.output):
            if item.type == "function_call":
                calls.add(index, item.name, item.arguments)
        if response.status == "completed":
            outcome.finish_reason = "tool_calls" if calls else "stop"
        else:
            details = response.incomplete_details
            outcome.finish_reason = INCOMPLETE.get(details.reason if details else "")
        return len(calls) > 0
    return False
