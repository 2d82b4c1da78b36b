"""``pydantic-ai``: pydantic-ai's ``OpenAIChatModel`` (its ``OpenAIProvider`` on an
``AsyncOpenAI`` client at ``base_url``), streamed by ``direct.model_request_stream``
(optional: ``pip install "pydantic-ai-slim[openai]"``).

A direct model request, not ``Agent.run_stream``: an agent would try to run the
scenario's tool calls (tools this adapter does not have) and send the results back; a
direct request reports the model's answer, tool calls included, as the agent gets it.
"""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

from harness.conformance.clients._common import transport_error
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome, OutcomeError, ToolCall

MODEL = "gpt-4o-mini"
FINISH = {"tool_call": "tool_calls", "error": None}


def client() -> Client:
    """The ``pydantic-ai`` client (needs ``pydantic-ai-slim[openai]``)."""
    require("pydantic_ai.models.openai", "pydantic-ai-slim[openai]", "pydantic-ai")
    return Client(
        name="pydantic-ai",
        family="openai",
        distribution="pydantic-ai-slim",
        run=run,
        description="pydantic-ai: OpenAIChatModel + direct.model_request_stream()",
    )


def run(call: Call) -> Outcome:
    """One streamed model request; the outcome is its final ``ModelResponse``."""
    return asyncio.run(_run(call))


async def _run(call: Call) -> Outcome:
    import openai

    exceptions: Any = importlib.import_module("pydantic_ai.exceptions")
    direct: Any = importlib.import_module("pydantic_ai.direct")
    messages: Any = importlib.import_module("pydantic_ai.messages")
    models: Any = importlib.import_module("pydantic_ai.models.openai")
    providers: Any = importlib.import_module("pydantic_ai.providers.openai")

    outcome = Outcome()
    sdk = openai.AsyncOpenAI(
        base_url=call.base_url, api_key="sk-harness", max_retries=call.retries, timeout=call.timeout
    )
    model = models.OpenAIChatModel(MODEL, provider=providers.OpenAIProvider(openai_client=sdk))
    streamed = ""  # the text as it streams: all there is when the stream breaks
    try:
        request = [messages.ModelRequest.user_text_prompt("hi")]
        async with direct.model_request_stream(model, request) as stream:
            async for event in stream:
                streamed += _text_of(event)
            take_response(outcome, stream.get())
    except exceptions.ModelHTTPError as exc:
        outcome.error = OutcomeError(
            status=None if exc.in_stream else exc.status_code,
            code=exc.provider_error_code,
            type=exc.provider_error_type,
        )
    except exceptions.ModelTimeoutError:
        outcome.error = OutcomeError(code="timeout")
    except exceptions.ModelConnectionError:
        outcome.error = OutcomeError(code="connection_closed")
    except exceptions.ModelAPIError as exc:  # an error inside the 200 stream
        outcome.error = OutcomeError(code=exc.provider_error_code, type=exc.provider_error_type)
    except Exception as exc:
        outcome.error = transport_error(exc)
        if outcome.error is None:
            raise
    finally:
        await sdk.close()
    if outcome.error is not None:
        outcome.text = streamed
    return outcome


def _text_of(event: Any) -> str:
    """The text a stream event adds (a text part's start or delta)."""
    if event.event_kind == "part_start" and event.part.part_kind == "text":
        return str(event.part.content)
    if event.event_kind == "part_delta" and event.delta.part_delta_kind == "text":
        return str(event.delta.content_delta)
    return ""


def take_response(outcome: Outcome, response: Any) -> None:
    """The final ``ModelResponse``: its parts, finish reason and usage."""
    for part in response.parts:
        if part.part_kind == "text":
            outcome.text += part.content
        elif part.part_kind == "thinking":
            outcome.reasoning += part.content
        elif part.part_kind == "tool-call":
            outcome.tool_calls.append(ToolCall(part.tool_name, part.args_as_dict()))
    reason = response.finish_reason
    outcome.finish_reason = FINISH.get(reason, reason)
    usage = response.usage
    if usage is not None and (usage.input_tokens or usage.output_tokens):
        outcome.usage = {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }
