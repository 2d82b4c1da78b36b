"""Render normalized stream events as an Amazon Bedrock ``ConverseStream`` event stream.

The output is what ``POST /model/{modelId}/converse-stream`` sends, so that boto3's
``converse_stream`` (and every client on it: LangChain's ``ChatBedrockConverse``,
Strands, LiteLLM...) can read any provider's stream. Each frame is one AWS event-stream
message (:func:`harness.stream.bedrock.converse_frame`): ``:event-type`` the event,
``:content-type application/json``, ``:message-type event``, the payload compact JSON
in the field order Bedrock sends::

    messageStart        {"role":"assistant"}
    contentBlockDelta   {"contentBlockIndex":0,"delta":{"text":"Hel"}}
    contentBlockStop    {"contentBlockIndex":0}
    contentBlockStart   {"contentBlockIndex":1,
                         "start":{"toolUse":{"toolUseId":"toolu_1","name":"f"}}}
    contentBlockDelta   {"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\\"a\\":"}}}
    contentBlockStop    {"contentBlockIndex":1}
    messageStop         {"stopReason":"tool_use"}
    metadata            {"usage":{"inputTokens":9,"outputTokens":4,"totalTokens":13},
                         "metrics":{"latencyMs":0}}

The rules:

* ``messageStart`` goes out with the first delta (or the end, for an empty answer).
* One content block per run of the same kind, opened as its first non-empty fragment
  arrives and stopped when the next block opens or the choice finishes;
  ``contentBlockIndex`` counts blocks from 0 in the order they open. Text
  (``content``, and a ``refusal``, which Converse has no block for) and reasoning
  (``reasoning_content``: ``delta.reasoningContent.text``) blocks have no
  ``contentBlockStart``, as Bedrock sends none for them; a tool call's block starts
  with its ``toolUse`` (``toolUseId`` the source's tool-call id, ``tooluse_<index>``
  if it sent none; ``name`` from its first fragment) and its arguments fragments are
  ``delta.toolUse.input``. Fragments of a tool call whose block was already stopped
  (a chat stream may interleave parallel calls) go to that block's index again.
* The finish reason ends the message: the open block stops, then ``messageStop``
  with ``stopReason`` ``end_turn`` (``stop``), ``tool_use`` (``tool_calls``,
  ``function_call``), ``max_tokens`` (``length``), ``content_filtered``
  (``content_filter``). Deltas after it are not rendered. A stream that ends
  complete without one stops with ``end_turn``.
* ``metadata`` ends the stream, always (``include_usage`` is accepted and ignored):
  ``usage`` with ``inputTokens`` = ``prompt_tokens`` less the cached ones,
  ``cacheReadInputTokens`` = ``cached_tokens`` (only when reported), ``outputTokens``
  = ``completion_tokens``, ``totalTokens`` = ``total_tokens``; estimated as the chat
  renderer does when the provider reported none. ``metrics.latencyMs`` is 0: the pure
  core reads no clock, and the same stream always gives the same bytes.
* A broken stream ends, after everything valid before the break, in one exception
  message (``:message-type exception``) of the ``ConverseStreamOutput`` union,
  payload ``{"message": ...}``: the source's error code picks it
  (:data:`EXCEPTION_BY_CODE`: rate limits -> ``throttlingException``, overloaded or
  unavailable -> ``serviceUnavailableException``, server errors ->
  ``internalServerException``, invalid requests -> ``validationException``; a code
  that already is one of them stays), anything else, a cut stream included, is a
  ``modelStreamErrorException``.
* Keep-alives and metadata render nothing (an event stream has no comments and
  Converse carries no id or model); only choice index 0 is rendered.

Real Bedrock pads each payload with a random ``"p"`` field against token-length
side channels; the renderer does not (clients ignore it), recorded streams keep it.
"""

from __future__ import annotations

from typing import Any

from harness import _json
from harness.stream.bedrock import CONVERSE_EXCEPTIONS, converse_frame
from harness.stream.events import Delta, Done, StreamError, StreamEvent, Usage
from harness.stream.renderers.base import StreamState, TokenCounter

__all__ = [
    "EXCEPTION_BY_CODE",
    "STOP_REASONS",
    "ConverseRenderer",
    "converse_usage",
    "exception_for",
]

#: ``stopReason`` per OpenAI finish reason (anything else: ``end_turn``).
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filtered",
}

#: The Converse exception for each provider error code a stream error may carry.
EXCEPTION_BY_CODE: dict[str, str] = {
    **dict.fromkeys(
        ("rate_limit_error", "rate_limit_exceeded", "too_many_requests", "requests",
         "insufficient_quota", "RESOURCE_EXHAUSTED", "ThrottlingException"),
        "throttlingException",
    ),
    **dict.fromkeys(
        ("overloaded_error", "service_unavailable", "UNAVAILABLE", "ServiceUnavailableException"),
        "serviceUnavailableException",
    ),
    **dict.fromkeys(
        ("api_error", "server_error", "INTERNAL", "InternalServerException"),
        "internalServerException",
    ),
    **dict.fromkeys(
        ("invalid_request_error", "INVALID_ARGUMENT", "ValidationException"),
        "validationException",
    ),
}  # fmt: skip


class ConverseRenderer:
    """Turns normalized stream events into Converse event-stream messages.

    After a :class:`~harness.stream.events.Done` or
    :class:`~harness.stream.events.StreamError` it is :attr:`closed` and renders
    nothing more.

    Args:
        prompt_tokens: the prompt size to report when the provider reports no usage.
        model, response_id, created: accepted for the pipeline's sake and ignored: a
            Converse stream names no model, id or time.
        include_usage: ignored: ``metadata`` always reports usage.
        token_counter: a tokenizer for the usage fallback.
    """

    __slots__ = (
        "_block",
        "_blocks",
        "_opened",
        "_started",
        "_stopped",
        "closed",
        "prompt_tokens",
        "state",
    )

    def __init__(
        self,
        *,
        prompt_tokens: int | None = None,
        model: str | None = None,
        response_id: str | None = None,
        created: int = 0,
        include_usage: bool = True,
        token_counter: TokenCounter | None = None,
    ) -> None:
        del model, response_id, created, include_usage
        self.prompt_tokens = prompt_tokens
        self.state = StreamState(token_counter)
        self.closed = False
        self._started = False
        self._stopped = False  # messageStop sent
        # "text" / "reasoning" (their latest run) or ("tool", index) -> block index
        self._blocks: dict[Any, int] = {}
        self._block: Any = None  # the key of the open block
        self._opened = 0  # blocks opened so far

    def render(self, event: StreamEvent) -> list[bytes]:
        """The event-stream messages for ``event`` (possibly none)."""
        if self.closed:
            return []
        if isinstance(event, Delta):
            if event.index != 0 or self._stopped:
                return []
            self.state.add(event)
            return self._start() + self._delta(event)
        if isinstance(event, Done):
            self.closed = True
            frames = self._start() + self._stop("stop")
            usage = event.usage or self.state.estimated_usage(self.prompt_tokens)
            body = {"usage": converse_usage(usage), "metrics": {"latencyMs": 0}}
            return [*frames, _frame("metadata", body)]
        if isinstance(event, StreamError):
            self.closed = True
            name = exception_for(event.code)
            return [_frame(name, {"message": event.message})]
        return []  # Metadata, KeepAlive

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        return [_frame("messageStart", {"role": "assistant"})]

    def _delta(self, delta: Delta) -> list[bytes]:
        frames: list[bytes] = []
        for kind, text in (("reasoning", delta.reasoning_content), ("text", delta.content)):
            if text:
                frames += self._open(kind)
                body = (
                    {"reasoningContent": {"text": text}} if kind == "reasoning" else {"text": text}
                )
                frames.append(self._block_delta(kind, body))
        if delta.refusal:
            frames += self._open("text")
            frames.append(self._block_delta("text", {"text": delta.refusal}))
        for call in delta.tool_calls:
            key = ("tool", call.index)
            new = key not in self._blocks
            frames += self._open(key)
            if new:
                tool = {"toolUseId": call.id or f"tooluse_{call.index}", "name": call.name or ""}
                start = {"contentBlockIndex": self._blocks[key], "start": {"toolUse": tool}}
                frames.append(_frame("contentBlockStart", start))
            if call.arguments:
                frames.append(self._block_delta(key, {"toolUse": {"input": call.arguments}}))
        if delta.finish_reason is not None:
            frames += self._stop(delta.finish_reason)
        return frames

    def _open(self, key: Any) -> list[bytes]:
        """Make ``key``'s block the open one: stop the open block, open a new one (a
        text or reasoning run after another block is a new block)."""
        if self._block == key:
            return []
        frames = self._close()
        if not isinstance(key, tuple) or key not in self._blocks:
            self._blocks[key] = self._opened
            self._opened += 1
            self._block = key
        return frames

    def _close(self) -> list[bytes]:
        if self._block is None:
            return []
        index = self._blocks[self._block]
        self._block = None
        return [_frame("contentBlockStop", {"contentBlockIndex": index})]

    def _block_delta(self, key: Any, delta: dict[str, Any]) -> bytes:
        body = {"contentBlockIndex": self._blocks[key], "delta": delta}
        return _frame("contentBlockDelta", body)

    def _stop(self, finish: str) -> list[bytes]:
        if self._stopped:
            return []
        self._stopped = True
        stop = {"stopReason": STOP_REASONS.get(finish, "end_turn")}
        return [*self._close(), _frame("messageStop", stop)]


def _frame(name: str, body: dict[str, Any]) -> bytes:
    try:
        payload = _json.dumps(body).encode()
    except UnicodeEncodeError:  # a lone surrogate from the input, escaped
        payload = _json.dumps(body, ascii=True).encode()
    return converse_frame(name, payload)


def exception_for(code: str) -> str:
    """The ``ConverseStreamOutput`` exception a stream error with ``code`` becomes."""
    if code in CONVERSE_EXCEPTIONS:
        return code
    return EXCEPTION_BY_CODE.get(code, "modelStreamErrorException")


def converse_usage(usage: Usage) -> dict[str, int]:
    """``usage`` in Converse's ``TokenUsage`` terms (cached prompt tokens apart)."""
    details = usage.prompt_tokens_details or {}
    cached = details.get("cached_tokens")
    out = {
        "inputTokens": usage.prompt_tokens - (cached or 0),
        "outputTokens": usage.completion_tokens,
        "totalTokens": usage.total_tokens,
    }
    if cached is not None:
        out["cacheReadInputTokens"] = cached
    return out
