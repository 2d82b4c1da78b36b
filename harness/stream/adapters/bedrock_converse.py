"""Amazon Bedrock Converse streams (``POST /model/{modelId}/converse-stream``).

The stream is AWS event-stream messages, read as named events by
:class:`harness.stream.bedrock.ConverseEvents` (the name is the ``:event-type``, or the
``:exception-type`` of an exception message; the data the JSON payload). Event flow,
as botocore's ``ConverseStreamOutput`` declares it::

    messageStart          {"role": "assistant"}
    (contentBlockStart    {"contentBlockIndex", "start": {"toolUse": {"toolUseId", "name"}}}
                          (tool use only: text and reasoning blocks have no start)
     contentBlockDelta*   {"contentBlockIndex", "delta": {"text"} | {"toolUse": {"input"}}
                                                | {"reasoningContent": {"text"} | {"signature"}}}
     contentBlockStop)*   {"contentBlockIndex"}
    messageStop           {"stopReason", "additionalModelResponseFields"?}
    metadata              {"usage": {"inputTokens", "outputTokens", "totalTokens",
                           "cacheReadInputTokens"?, "cacheWriteInputTokens"?},
                           "metrics": {"latencyMs"}}: terminal
    xxxException          {"message"}: an in-stream error, after HTTP 200

Mapping to OpenAI:

* ``delta.text`` -> ``content``; ``delta.reasoningContent.text`` ->
  ``reasoning_content``; the reasoning ``signature`` and ``redactedContent``, citations,
  images and tool results carry nothing OpenAI chunks can express and are dropped.
* A ``toolUse`` start becomes a tool call (``toolUseId`` its id); tool-call indexes
  count tool calls, not content blocks. ``delta.toolUse.input`` fragments become its
  ``arguments`` fragments, unchanged.
* ``stopReason``: ``end_turn``, ``stop_sequence`` -> ``stop``; ``max_tokens``,
  ``model_context_window_exceeded`` -> ``length``; ``tool_use`` -> ``tool_calls``;
  ``guardrail_intervened``, ``content_filtered`` -> ``content_filter``; anything else
  (``malformed_model_output``...) -> ``stop``.
* Usage (in ``metadata``): ``prompt_tokens`` = ``inputTokens`` +
  ``cacheReadInputTokens`` + ``cacheWriteInputTokens`` (Bedrock counts cached input
  apart, OpenAI inside the prompt, with ``cached_tokens`` = cache reads);
  ``completion_tokens`` = ``outputTokens``.
* An exception message is a ``provider_error`` whose code is the exception's name
  (``throttlingException``); AWS's own ``error`` message likewise with its
  ``:error-code``.
* The stream is complete only at ``metadata``, which Bedrock sends last.
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
from harness.stream.bedrock import is_exception
from harness.stream.events import Delta, Done, StreamError, StreamEvent, ToolCallDelta, Usage
from harness.stream.sse import ServerSentEvent

__all__ = ["STOP_REASONS", "BedrockConverseAdapter"]

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


class BedrockConverseAdapter:
    """Adapter for Bedrock ``ConverseStream`` events."""

    name = "bedrock-converse"

    def __init__(self) -> None:
        self._tool_index: dict[int, int] = {}  # content block index -> tool call index

    def feed(self, event: ServerSentEvent) -> Iterable[StreamEvent]:
        kind = event.event
        if is_exception(kind) or kind == "error":
            return [self._error(kind, event.data)]
        body = load_json(event.data)
        if kind == "contentBlockDelta":
            return self._block_delta(body)
        if kind == "contentBlockStart":
            return self._block_start(body)
        if kind == "messageStart":
            return [Delta(role=get_str(body, "role", kind) or "assistant", content="")]
        if kind == "messageStop":
            reason = get_str(body, "stopReason", kind)
            return [Delta(finish_reason=STOP_REASONS.get(reason or "", "stop"))]
        if kind == "metadata":
            return [Done(_usage(get_obj(body, "usage", kind)))]
        return ()  # contentBlockStop, and events added after this was written

    def finish(self) -> Iterable[StreamEvent]:
        return [closed_early(self.name, "metadata")]

    def _block_start(self, body: JSONObject) -> list[StreamEvent]:
        where = "contentBlockStart"
        index = get_int(body, "contentBlockIndex", where) or 0
        start = get_obj(body, "start", where) or {}
        tool = get_obj(start, "toolUse", f"{where}.start")
        if tool is None:
            return []
        where = f"{where}.start.toolUse"
        tool_index = self._tool_index.setdefault(index, len(self._tool_index))
        call = ToolCallDelta(
            index=tool_index,
            id=get_str(tool, "toolUseId", where),
            type="function",
            name=get_str(tool, "name", where),
            arguments="",
        )
        return [Delta(tool_calls=(call,))]

    def _block_delta(self, body: JSONObject) -> list[StreamEvent]:
        where = "contentBlockDelta"
        delta = get_obj(body, "delta", where) or {}
        where = f"{where}.delta"
        text = get_str(delta, "text", where)
        if text is not None:
            return [Delta(content=text)]
        tool = get_obj(delta, "toolUse", where)
        if tool is not None:
            fragment = get_str(tool, "input", f"{where}.toolUse")
            if not fragment:
                return []
            block = get_int(body, "contentBlockIndex", "contentBlockDelta") or 0
            # A fragment for a block that never started as toolUse: kept, as a new call.
            tool_index = self._tool_index.setdefault(block, len(self._tool_index))
            return [Delta(tool_calls=(ToolCallDelta(index=tool_index, arguments=fragment),))]
        reasoning = get_obj(delta, "reasoningContent", where)
        if reasoning is not None:
            thought = get_str(reasoning, "text", f"{where}.reasoningContent")
            return [Delta(reasoning_content=thought)] if thought else []
        return []  # citations, images, tool results, and newer kinds

    def _error(self, kind: str, data: str) -> StreamError:
        body = load_json(data) if data.strip() else {}
        code = (get_str(body, "code", kind) if kind == "error" else kind) or "error"
        return StreamError(
            kind="provider_error",
            code=code,
            message=get_str(body, "message", kind) or "the provider reported an error",
            provider=self.name,
        )


def _usage(usage: JSONObject | None) -> Usage | None:
    if usage is None:
        return None
    where = "metadata.usage"
    cache_read = get_int(usage, "cacheReadInputTokens", where)
    cache_write = get_int(usage, "cacheWriteInputTokens", where) or 0
    prompt = (get_int(usage, "inputTokens", where) or 0) + (cache_read or 0) + cache_write
    completion = get_int(usage, "outputTokens", where) or 0
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details={"cached_tokens": cache_read} if cache_read is not None else None,
    )
