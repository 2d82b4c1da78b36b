"""What the shipped adapters share: tool-call accumulation, usage and finish-reason
mappings into OpenAI's vocabulary, and the transport failures of the HTTP stacks.

Nothing here imports a client library: the adapters stay independent of each other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.conformance.outcome import Outcome, OutcomeError, ToolCall
from harness.stream.adapters.anthropic import STOP_REASONS as ANTHROPIC_STOP_REASONS

__all__ = [
    "ANTHROPIC_STOP",
    "CONVERSE_STOP",
    "GEMINI_FINISH",
    "Calls",
    "anthropic_error",
    "anthropic_usage",
    "chat_usage",
    "openai_error",
    "parse_arguments",
    "take_langchain_message",
    "transport_error",
]

#: Anthropic ``stop_reason`` in OpenAI terms: the reference reader's own mapping.
ANTHROPIC_STOP: dict[str | None, str | None] = {None: None}
ANTHROPIC_STOP.update(ANTHROPIC_STOP_REASONS.items())
#: Gemini ``finishReason`` names in OpenAI terms (``STOP`` with calls is ``tool_calls``).
GEMINI_FINISH: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
#: Bedrock Converse ``stopReason`` in OpenAI terms.
CONVERSE_STOP: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}

#: Exceptions of the HTTP stacks (``top-level module.ClassName``, matched along the MRO)
#: that mean the connection ended before the answer did.
_CUTS = {
    "httpx.RemoteProtocolError",
    "httpx2.RemoteProtocolError",
    "httpcore.RemoteProtocolError",
    "urllib3.ProtocolError",
    "http.IncompleteRead",
    "aiohttp.ClientPayloadError",
    "aiohttp.ServerDisconnectedError",
}
#: ... and those that mean a read took longer than the client allowed.
_TIMEOUTS = {
    "httpx.ReadTimeout",
    "httpx2.ReadTimeout",
    "httpcore.ReadTimeout",
    "urllib3.ReadTimeoutError",
    "botocore.ReadTimeoutError",
}


def _names(exc: BaseException) -> set[str]:
    return {f"{cls.__module__.split('.')[0]}.{cls.__name__}" for cls in type(exc).__mro__}


def transport_error(exc: BaseException) -> OutcomeError | None:
    """``connection_closed`` (or ``timeout``) when ``exc``, or an exception it was raised
    from, is an HTTP stack's "the connection ended early" (or read timeout); else None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names = _names(current)
        if names & _CUTS:
            return OutcomeError(code="connection_closed")
        if names & _TIMEOUTS:
            return OutcomeError(code="timeout")
        current = current.__cause__ or current.__context__
    return None


def openai_error(openai: Any, exc: BaseException) -> OutcomeError | None:
    """What an exception of the openai SDK (the ``openai`` module given, so that this
    module imports no client library) says: an HTTP status, a timeout, a cut, or an
    error event inside the 200 stream; any other exception as :func:`transport_error`
    reads it (``None``: not one the kit knows, to be raised)."""
    if isinstance(exc, openai.APIStatusError):
        return OutcomeError(status=exc.status_code, code=exc.code, type=exc.type)
    if isinstance(exc, openai.APITimeoutError):  # before its base, APIConnectionError
        return OutcomeError(code="timeout")
    if isinstance(exc, openai.APIConnectionError):
        return OutcomeError(code="connection_closed")
    if isinstance(exc, openai.APIError):  # an error chunk or event inside the 200 stream
        return OutcomeError(code=exc.code, type=exc.type)
    return transport_error(exc)


def anthropic_error(anthropic: Any, exc: BaseException) -> OutcomeError | None:
    """What an exception of the anthropic SDK (the module given) says: an HTTP error,
    or (status 200) an in-band ``error`` event, its code the body's ``error.type``; a
    timeout; a cut; any other exception as :func:`transport_error` reads it (``None``:
    not one the kit knows, to be raised; before 2.17 an abrupt cut leaks the HTTP
    stack's own error)."""
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("type") if isinstance(error, dict) else None
        status = exc.status_code
        return OutcomeError(status=None if status == 200 else status, code=code)
    if isinstance(exc, anthropic.APITimeoutError):  # before its base, APIConnectionError
        return OutcomeError(code="timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return OutcomeError(code="connection_closed")
    return transport_error(exc)


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict: parsed JSON text, or what arrived, unparsed (a
    stream cut inside them leaves ``{"city": "Pa``)."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    text = arguments or ""
    try:
        parsed = json.loads(text or "{}")
    except (TypeError, json.JSONDecodeError):
        parsed = None
    return parsed if isinstance(parsed, dict) else {"_unparsed_arguments": text}


class Calls:
    """Tool calls assembled from deltas, by the index the stream gives them."""

    def __init__(self) -> None:
        self._calls: dict[Any, list[Any]] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, index: Any, name: str | None = None, arguments: Any = None) -> None:
        """Append ``name`` and ``arguments`` (text deltas, or a whole dict) to call ``index``."""
        slot = self._calls.setdefault(index, ["", ""])
        slot[0] += name or ""
        if isinstance(arguments, Mapping):
            slot[1] = dict(arguments)
        elif arguments:
            slot[1] = (slot[1] if isinstance(slot[1], str) else "") + arguments

    def tool_calls(self) -> list[ToolCall]:
        """The calls in index order, their arguments parsed."""
        ordered = sorted(self._calls.items(), key=lambda item: _order(item[0]))
        return [ToolCall(name, parse_arguments(arguments)) for _, (name, arguments) in ordered]


def _order(index: Any) -> tuple[int, str]:
    return (index, "") if isinstance(index, int) else (0, str(index))


def chat_usage(
    prompt: int | None, completion: int | None, total: int | None = None
) -> dict[str, int]:
    """Usage in OpenAI terms (``total`` defaults to the sum)."""
    prompt, completion = prompt or 0, completion or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total if total is not None else prompt + completion,
    }


def anthropic_usage(usage: Mapping[str, Any]) -> dict[str, int]:
    """Anthropic usage in OpenAI terms: cache writes and reads are part of the prompt."""
    prompt = sum(
        usage.get(key) or 0
        for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )
    return chat_usage(prompt, usage.get("output_tokens"))


def take_langchain_message(outcome: Outcome, message: Any, finish_reason: str | None) -> None:
    """A langchain ``AIMessageChunk`` summed over a stream, into ``outcome``: its text,
    tool calls (one it could not parse keeps its text as ``_unparsed_arguments``),
    ``finish_reason`` as the adapter mapped it, and usage."""
    outcome.text = message.text if isinstance(message.text, str) else message.text()
    outcome.tool_calls = [ToolCall(c["name"], dict(c["args"])) for c in message.tool_calls]
    outcome.tool_calls += [
        ToolCall(c.get("name") or "", {"_unparsed_arguments": c.get("args") or ""})
        for c in message.invalid_tool_calls
    ]
    outcome.finish_reason = finish_reason
    usage = message.usage_metadata
    if usage is not None:
        outcome.usage = {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["total_tokens"],
        }
