"""Anthropic Messages streams (``POST /v1/messages`` with ``stream: true``).

Event flow, as documented by Anthropic::

    message_start                         id, model, input token usage
    (content_block_start                  text | tool_use | thinking | ...
     content_block_delta*                 text_delta | input_json_delta | thinking_delta
                                          | signature_delta | citations_delta
     content_block_stop)*
    message_delta                         stop_reason, cumulative output usage
    message_stop                          terminal
    ping                                  keep-alive, anywhere
    error                                 in-band error, after HTTP 200 (overloaded_error...)

Mapping to OpenAI:

* ``text_delta`` -> ``content``; ``thinking_delta`` -> ``reasoning_content``;
  ``signature_delta``, ``citations_delta`` and redacted thinking carry nothing that
  OpenAI chunks can express and are dropped.
* A ``tool_use`` block becomes a tool call. Tool-call indexes count tool calls, not
  content blocks: with a text block at index 0, the first tool call is index 0.
  Its ``input_json_delta`` fragments become ``arguments`` fragments, unchanged, so a
  client that concatenates them gets the same JSON Anthropic sent.
* ``stop_reason``: ``end_turn``, ``stop_sequence``, ``pause_turn`` -> ``stop``;
  ``max_tokens``, ``model_context_window_exceeded`` -> ``length``; ``tool_use`` ->
  ``tool_calls``; ``refusal`` -> ``content_filter``; anything else -> ``stop``.
* Usage: ``prompt_tokens`` = ``input_tokens`` + ``cache_creation_input_tokens`` +
  ``cache_read_input_tokens`` (OpenAI's prompt count includes cached tokens, with
  ``cached_tokens`` = cache reads); ``completion_tokens`` = ``output_tokens``. Usage
  in ``message_delta`` is cumulative, so the last value of each field wins.
* The stream is complete only at ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.stream.adapters.base import (
    JSONObject,
    closed_early,
    get_int,
    get_obj,
    get_str,
    load_json,
)
from harness.stream.events import (
    Delta,
    Done,
    KeepAlive,
    Metadata,
    StreamError,
    StreamEvent,
    ToolCallDelta,
    Usage,
)
from harness.stream.sse import ServerSentEvent

__all__ = ["STOP_REASONS", "AnthropicAdapter"]

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


class AnthropicAdapter:
    """Adapter for Anthropic Messages streaming events."""

    name = "anthropic"

    def __init__(self) -> None:
        self._tool_index: dict[int, int] = {}  # content block index -> tool call index
        self._usage: dict[str, int] = {}
        self._saw_usage = False

    def feed(self, event: ServerSentEvent) -> Iterable[StreamEvent]:
        kind = event.event
        if kind == "ping":
            return [KeepAlive()]
        data = event.data
        if not data or data.isspace():
            return ()
        body = load_json(data)
        # The ``type`` inside the data is authoritative; the SSE event name mirrors it
        # (and is "message" when a proxy dropped the event lines).
        kind = get_str(body, "type", "") or kind
        if kind == "content_block_delta":
            return self._block_delta(body)
        if kind == "content_block_start":
            return self._block_start(body)
        if kind == "message_start":
            return self._message_start(body)
        if kind == "message_delta":
            return self._message_delta(body)
        if kind == "message_stop":
            return [Done(self._final_usage())]
        if kind == "ping":
            return [KeepAlive()]
        if kind == "error" or (kind == "message" and "error" in body):
            return [self._error(body)]
        return ()  # content_block_stop, and event types added after this was written

    def finish(self) -> Iterable[StreamEvent]:
        return [closed_early(self.name, "message_stop")]

    def _message_start(self, body: JSONObject) -> list[StreamEvent]:
        message = get_obj(body, "message", "message_start") or {}
        self._add_usage(get_obj(message, "usage", "message_start.message"), "message_start")
        return [
            Metadata(
                id=get_str(message, "id", "message_start.message"),
                model=get_str(message, "model", "message_start.message"),
            ),
            Delta(role="assistant", content=""),
        ]

    def _block_start(self, body: JSONObject) -> list[StreamEvent]:
        where = "content_block_start"
        index = get_int(body, "index", where) or 0
        block = get_obj(body, "content_block", where) or {}
        where = "content_block_start.content_block"
        kind = get_str(block, "type", where)
        if kind == "tool_use":
            tool_index = len(self._tool_index)
            self._tool_index[index] = tool_index
            call = ToolCallDelta(
                index=tool_index,
                id=get_str(block, "id", where),
                type="function",
                name=get_str(block, "name", where),
                arguments="",
            )
            return [Delta(tool_calls=(call,))]
        if kind == "text":
            text = get_str(block, "text", where)
            return [Delta(content=text)] if text else []
        if kind == "thinking":
            thinking = get_str(block, "thinking", where)
            return [Delta(reasoning_content=thinking)] if thinking else []
        return []

    def _block_delta(self, body: JSONObject) -> list[StreamEvent]:
        delta = get_obj(body, "delta", "content_block_delta") or {}
        where = "content_block_delta.delta"
        kind = delta.get("type")
        if kind == "text_delta":
            return [Delta(content=get_str(delta, "text", where) or "")]
        if kind == "input_json_delta":
            fragment = get_str(delta, "partial_json", where)
            if not fragment:
                return []
            block = get_int(body, "index", "content_block_delta") or 0
            tool_index = self._tool_index.get(block)
            if tool_index is None:
                # A fragment for a block that never started as tool_use: keep the
                # arguments rather than lose them, as a new call.
                tool_index = self._tool_index[block] = len(self._tool_index)
            return [Delta(tool_calls=(ToolCallDelta(index=tool_index, arguments=fragment),))]
        if kind == "thinking_delta":
            return [Delta(reasoning_content=get_str(delta, "thinking", where) or "")]
        return []  # signature_delta, citations_delta, and newer kinds

    def _message_delta(self, body: JSONObject) -> list[StreamEvent]:
        where = "message_delta"
        self._add_usage(get_obj(body, "usage", where), where)
        delta = get_obj(body, "delta", where) or {}
        reason = get_str(delta, "stop_reason", f"{where}.delta")
        if reason is None:
            return []
        return [Delta(finish_reason=STOP_REASONS.get(reason, "stop"))]

    def _error(self, body: JSONObject) -> StreamError:
        error = get_obj(body, "error", "error") or {}
        return StreamError(
            kind="provider_error",
            code=get_str(error, "type", "error") or "error",
            message=get_str(error, "message", "error") or "the provider reported an error",
            provider=self.name,
        )

    def _add_usage(self, usage: JSONObject | None, where: str) -> None:
        if usage is None:
            return
        for key in _USAGE_KEYS:
            value = get_int(usage, key, f"{where}.usage")
            if value is not None:
                self._usage[key] = value
                self._saw_usage = True

    def _final_usage(self) -> Usage | None:
        if not self._saw_usage:
            return None
        u = self._usage
        cache_read = u.get("cache_read_input_tokens", 0)
        prompt = u.get("input_tokens", 0) + u.get("cache_creation_input_tokens", 0) + cache_read
        completion = u.get("output_tokens", 0)
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=prompt + completion,
            prompt_tokens_details={"cached_tokens": cache_read}
            if "cache_read_input_tokens" in u
            else None,
        )
