"""OpenAI Chat Completions streams (and the many servers compatible with them).

Input: ``data: {chat.completion.chunk}`` events ending with ``data: [DONE]``.
What this adapter handles beyond the happy path:

* Chunks with empty ``choices``: Azure's first chunk (empty ``id`` and ``model``,
  ``prompt_filter_results``), the usage-only final chunk of
  ``stream_options.include_usage``, and content-filter-only chunks. They produce no
  delta; their non-empty identity fields still count.
* Usage wherever compatible servers put it: top-level ``usage`` (OpenAI), inside a
  choice (some compatible servers), or ``x_groq.usage`` (Groq). The last report wins.
* ``reasoning_content`` (DeepSeek, vLLM) and ``reasoning`` (OpenRouter) both become
  ``reasoning_content``.
* An in-band ``{"error": {...}}`` chunk, with or without ``event: error``, ends the
  stream as a provider error whose code is the error's ``type`` (else its ``code``).
* A stream that ends after a ``finish_reason`` but without ``[DONE]`` is complete,
  because many compatible servers omit ``[DONE]``. One that ends before any
  ``finish_reason`` was cut off.

Dropped on the way through, as fields the normalized stream does not carry:
``logprobs``, ``system_fingerprint``, ``service_tier``, ``obfuscation``, content
filter results, and the legacy ``function_call`` delta.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.errors import ProviderDataError
from harness.stream.adapters.base import (
    JSONObject,
    as_obj,
    closed_early,
    get_int,
    get_list,
    get_obj,
    get_str,
    load_json,
)
from harness.stream.events import (
    Delta,
    Done,
    Metadata,
    StreamError,
    StreamEvent,
    ToolCallDelta,
    Usage,
)
from harness.stream.sse import ServerSentEvent

__all__ = ["OpenAIAdapter", "parse_openai_usage"]

_DETAIL_KEYS = ("prompt_tokens_details", "completion_tokens_details")


class OpenAIAdapter:
    """Adapter for ``POST /v1/chat/completions`` with ``stream: true``."""

    name = "openai"

    def __init__(self) -> None:
        self._usage: Usage | None = None
        self._finished = False  # some choice reported a finish_reason
        self._identity: tuple[Any, Any, Any] = (None, None, None)

    def feed(self, event: ServerSentEvent) -> Iterable[StreamEvent]:
        data = event.data
        if not data.startswith("{"):
            stripped = data.strip()
            if stripped.startswith("[DONE]"):
                return [Done(self._usage)]
            if not stripped:
                return ()  # an empty data line carries nothing (seen as a keep-alive)
        chunk = load_json(data)
        out: list[StreamEvent] = []
        if "error" in chunk and chunk["error"] is not None:
            out.append(self._error(chunk["error"]))
            return out
        identity = (chunk.get("id"), chunk.get("model"), chunk.get("created"))
        if identity != self._identity:
            self._identity = identity
            out.append(
                Metadata(
                    id=get_str(chunk, "id", ""),
                    model=get_str(chunk, "model", ""),
                    created=get_int(chunk, "created", ""),
                )
            )
        for i, raw_choice in enumerate(get_list(chunk, "choices", "")):
            where, delta_where = _WHERE[i] if i < len(_WHERE) else _where(i)
            choice = as_obj(raw_choice, where)
            delta = _delta(choice, where, delta_where)
            if delta is not None:
                out.append(delta)
                if delta.finish_reason is not None:
                    self._finished = True
            choice_usage = get_obj(choice, "usage", where)
            if choice_usage is not None:
                self._usage = parse_openai_usage(choice_usage, f"{where}.usage")
        usage = chunk.get("usage")
        if usage is not None:
            self._usage = parse_openai_usage(as_obj(usage, "usage"), "usage")
        groq = get_obj(chunk, "x_groq", "")
        if groq is not None and groq.get("usage") is not None:
            self._usage = parse_openai_usage(as_obj(groq["usage"], "x_groq.usage"), "x_groq")
        return out

    def finish(self) -> Iterable[StreamEvent]:
        if self._finished:
            return [Done(self._usage)]
        return [closed_early(self.name, "a finish_reason or data: [DONE]")]

    def _error(self, raw: Any) -> StreamError:
        if type(raw) is dict:
            # OpenAI puts the kind in ``type``; a stream harness normalized (a gateway
            # behind a gateway) says ``stream_error`` there and the kind in ``code``.
            code = raw.get("type") or raw.get("code") or "error"
            if code == "stream_error" and raw.get("code"):
                code = raw["code"]
            message = raw.get("message") or "the provider reported an error"
        else:
            code, message = "error", str(raw)
        return StreamError(
            kind="provider_error", code=str(code), message=str(message), provider=self.name
        )


def _where(i: int) -> tuple[str, str]:
    """Where choice ``i`` and its delta are, for error messages."""
    return f"choices[{i}]", f"choices[{i}].delta"


#: The first choices' places, made once (every chunk has one, and they only name
#: where malformed data was).
_WHERE = [_where(i) for i in range(8)]


def _delta(choice: JSONObject, where: str, delta_where: str) -> Delta | None:
    index = get_int(choice, "index", where) or 0
    finish_reason = get_str(choice, "finish_reason", where)
    delta = choice.get("delta")
    if delta is None:
        if finish_reason is None:
            return None
        return Delta(index=index, finish_reason=finish_reason)
    where = delta_where
    delta = as_obj(delta, where)
    role = get_str(delta, "role", where)
    content = get_str(delta, "content", where)
    refusal = get_str(delta, "refusal", where)
    reasoning = get_str(delta, "reasoning_content", where)
    if reasoning is None:
        reasoning = get_str(delta, "reasoning", where)
    tool_calls: tuple[ToolCallDelta, ...] = ()
    raw_calls = delta.get("tool_calls")
    if raw_calls:
        tool_calls = tuple(
            _tool_call(c, f"{where}.tool_calls[{n}]", n)
            for n, c in enumerate(get_list(delta, "tool_calls", where))
        )
    if (
        role is None
        and content is None
        and refusal is None
        and reasoning is None
        and not tool_calls
        and finish_reason is None
    ):
        return None
    return Delta(
        index=index,
        role=role,
        content=content,
        reasoning_content=reasoning,
        refusal=refusal,
        tool_calls=tool_calls,
        finish_reason=finish_reason,
    )


def _tool_call(raw: Any, where: str, position: int) -> ToolCallDelta:
    call = as_obj(raw, where)
    index = get_int(call, "index", where)
    function = get_obj(call, "function", where) or {}
    kind = get_str(call, "type", where)
    return ToolCallDelta(
        index=position if index is None else index,
        id=get_str(call, "id", where),
        type="function" if kind is not None else None,
        name=get_str(function, "name", f"{where}.function"),
        arguments=get_str(function, "arguments", f"{where}.function"),
    )


def parse_openai_usage(usage: JSONObject, where: str) -> Usage:
    """An OpenAI usage object as :class:`Usage`; a missing total is the sum."""
    prompt = get_int(usage, "prompt_tokens", where) or 0
    completion = get_int(usage, "completion_tokens", where) or 0
    total = get_int(usage, "total_tokens", where)
    details: list[dict[str, int] | None] = []
    for key in _DETAIL_KEYS:
        raw = get_obj(usage, key, where)
        if raw is None:
            details.append(None)
            continue
        ints = {k: v for k, v in raw.items() if type(v) is int}
        details.append(ints or None)
    if prompt < 0 or completion < 0:
        raise ProviderDataError(f"{where}: token counts cannot be negative")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion if total is None else total,
        prompt_tokens_details=details[0],
        completion_tokens_details=details[1],
    )
