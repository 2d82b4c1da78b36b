"""``litellm``: ``litellm.completion(stream=True)`` with an ``openai/`` model on the
OpenAI route (optional: ``pip install litellm``)."""

from __future__ import annotations

import importlib
import os
from typing import Any

from harness.conformance.clients._common import Calls, transport_error
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome, OutcomeError

MODEL = "openai/gpt-4o-mini"


def client() -> Client:
    """The ``litellm`` client (needs the ``litellm`` package)."""
    # litellm fetches its model price list from the network at import unless told not to.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    require("litellm", "litellm", "litellm")
    return Client(
        name="litellm",
        family="openai",
        distribution="litellm",
        run=run,
        description="litellm: completion(model='openai/...', api_base=..., stream=True)",
    )


def run(call: Call) -> Outcome:
    """One streamed completion, read chunk by chunk."""
    import openai

    litellm: Any = importlib.import_module("litellm")

    outcome, calls = Outcome(), Calls()
    try:
        stream = litellm.completion(
            model=MODEL,
            api_base=call.base_url,
            api_key="sk-harness",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
            max_retries=call.retries,
            timeout=call.timeout,
        )
        for chunk in stream:
            take_chunk(outcome, calls, chunk)
    except litellm.exceptions.MidStreamFallbackError as exc:  # any failure after the 200
        outcome.error = _midstream(exc)
    except openai.APIStatusError as exc:  # litellm's exceptions subclass openai's
        outcome.error = OutcomeError(status=exc.status_code, code=_text(exc.code), type=exc.type)
    except openai.APITimeoutError:
        outcome.error = OutcomeError(code="timeout")
    except openai.APIConnectionError:
        outcome.error = OutcomeError(code="connection_closed")
    except openai.APIError as exc:  # litellm.APIError: an HTTP status it has no class for
        status = getattr(exc, "status_code", None)
        outcome.error = OutcomeError(status=status, code=_text(exc.code), type=exc.type)
    except Exception as exc:
        outcome.error = transport_error(exc)
        if outcome.error is None:
            raise
    outcome.tool_calls = calls.tool_calls()
    return outcome


def _midstream(exc: Any) -> OutcomeError:
    """litellm wraps every failure of a started stream (an in-band error, a cut) in a
    ``MidStreamFallbackError`` (``status_code`` 500 whatever the HTTP status was) around
    the ``APIConnectionError`` it raised: what it concluded is a broken connection."""
    import openai

    original = exc.original_exception
    if isinstance(original, openai.APITimeoutError):
        return OutcomeError(status=exc.status_code, code="timeout")
    if isinstance(original, openai.APIConnectionError):
        return OutcomeError(status=exc.status_code, code="connection_closed")
    return OutcomeError(status=exc.status_code, code=_text(getattr(original, "code", None)))


def _text(code: object) -> str | None:
    """An error code as text (litellm puts the HTTP status, an int, in ``code``)."""
    return None if code is None else str(code)


def take_chunk(outcome: Outcome, calls: Calls, chunk: Any) -> None:
    """Fold one ``ModelResponseStream`` into ``outcome``."""
    usage = getattr(chunk, "usage", None)
    if usage is not None:
        outcome.usage = {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
    for choice in chunk.choices:
        outcome.finish_reason = choice.finish_reason or outcome.finish_reason
        delta = choice.delta
        if delta is None:
            continue
        outcome.text += delta.content or ""
        outcome.reasoning += getattr(delta, "reasoning_content", None) or ""
        for tool in delta.tool_calls or []:
            if tool.function is not None:
                calls.add(tool.index, tool.function.name, tool.function.arguments)
