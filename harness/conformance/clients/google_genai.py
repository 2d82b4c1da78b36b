"""``google-genai``: the official google-genai SDK's ``generate_content_stream``."""

from __future__ import annotations

from typing import Any

from harness.conformance.clients._common import GEMINI_FINISH, Calls, chat_usage, transport_error
from harness.conformance.clients.base import Call, Client, require
from harness.conformance.outcome import Outcome, OutcomeError

MODEL = "gemini-2.5-flash"


def client() -> Client:
    """The ``google-genai`` client (needs the ``google-genai`` package)."""
    require("google.genai", "google-genai", "google-genai")
    return Client(
        name="google-genai",
        family="gemini",
        distribution="google-genai",
        run=run,
        description="google-genai: Client().models.generate_content_stream()",
    )


def run(call: Call) -> Outcome:
    """One streamed generation, read response by response."""
    from google import genai
    from google.genai import errors, types

    outcome, calls, finish = Outcome(), Calls(), list[str]()
    options = types.HttpOptions(
        base_url=call.base_url,
        api_version="v1beta",
        timeout=int(call.timeout * 1000),
        retry_options=types.HttpRetryOptions(attempts=call.retries + 1),
    )
    sdk = genai.Client(api_key="harness-key", http_options=options)
    try:
        for response in sdk.models.generate_content_stream(model=MODEL, contents="hi"):
            take_response(outcome, calls, finish, response)
    except errors.APIError as exc:
        outcome.error = OutcomeError(status=_http_status(exc), code=exc.status)
    except Exception as exc:  # an abrupt cut leaks httpx2.RemoteProtocolError
        outcome.error = transport_error(exc)
        if outcome.error is None:
            raise
    finally:
        sdk.close()
    outcome.tool_calls = calls.tool_calls()
    if finish:
        mapped = "content_filter" if finish[-1] == "blocked" else GEMINI_FINISH.get(finish[-1])
        outcome.finish_reason = "tool_calls" if mapped == "stop" and calls else mapped
    return outcome


def _http_status(exc: Any) -> int | None:
    """The HTTP status of an error answer; None for an error inside a 200 stream (the SDK
    raises the same classes for both, with the error's own ``code``)."""
    status = getattr(exc.response, "status_code", None)
    return status if isinstance(status, int) and status >= 400 else None


def take_response(outcome: Outcome, calls: Calls, finish: list[str], response: Any) -> None:
    """Fold one ``GenerateContentResponse`` into ``outcome``."""
    meta = response.usage_metadata
    if meta is not None:
        completion = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
        outcome.usage = chat_usage(meta.prompt_token_count, completion, meta.total_token_count)
    if response.prompt_feedback is not None and response.prompt_feedback.block_reason:
        finish.append("blocked")  # the prompt was blocked: no candidates at all
    for candidate in response.candidates or []:
        parts = candidate.content.parts if candidate.content is not None else None
        for part in parts or []:
            if part.thought:
                outcome.reasoning += part.text or ""
            elif part.text:
                outcome.text += part.text
            if part.function_call is not None:
                call = part.function_call
                calls.add(len(calls), call.name, dict(call.args or {}))
        if candidate.finish_reason is not None:
            reason = candidate.finish_reason
            finish.append(getattr(reason, "value", None) or str(reason))
