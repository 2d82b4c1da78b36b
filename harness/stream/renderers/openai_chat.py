"""Render normalized stream events as OpenAI Chat Completions SSE.

The output is what ``POST /v1/chat/completions`` with ``stream: true`` sends, so that
any OpenAI client can read a normalized Anthropic or Gemini stream::

    data: {"id":...,"object":"chat.completion.chunk","created":...,"model":...,
           "choices":[{"index":0,"delta":{...},"logprobs":null,"finish_reason":null}]}

    : keep-alive

    data: {..., "choices":[], "usage":{"prompt_tokens":...}}     (the usage chunk)

    data: [DONE]

or, for a broken stream, everything valid up to the break and then one error chunk
and no ``[DONE]``::

    data: {"error":{"type":"stream_error","code":"overloaded_error",
           "message":"Overloaded","provider":"anthropic"}}

The top-level ``error`` key is what makes the openai SDK raise ``APIError`` instead
of yielding a broken chunk, and the missing ``[DONE]`` marks the stream incomplete.

Usage. When the provider reported usage, the usage chunk carries it. When it did not,
the usage is estimated so that clients and golden files still see one, and the same
stream always gives the same numbers: ``completion_tokens`` is the number of
characters (code points) the stream produced (text, reasoning, refusal, tool names
and tool arguments) divided by four and rounded up, OpenAI's rule of thumb for
English; ``prompt_tokens`` is what the caller passes (for example counted from the
request), else 0. A real tokenizer can be plugged in as ``token_counter``: it is
called on each fragment and the counts are summed, so memory stays flat however long
the stream runs.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from harness import _json
from harness.stream.events import (
    Delta,
    Done,
    KeepAlive,
    Metadata,
    StreamEvent,
    ToolCallDelta,
    Usage,
)
from harness.stream.renderers.base import (
    DEFAULT_MODEL,
    StreamMetadata,
    StreamState,
    TokenCounter,
    estimate_tokens,
)
from harness.stream.sse import KEEPALIVE, format_sse_chunk, format_sse_done

__all__ = [
    "ChunkChoice",
    "ChunkDelta",
    "ChunkToolCall",
    "OpenAIRenderer",
    "StreamChunk",
    "StreamMetadata",
    "StreamState",
    "TokenCounter",
    "UsageDict",
    "estimate_tokens",
    "usage_to_dict",
]

#: Counts the tokens in a fragment of text.

DEFAULT_ID = "chatcmpl-harness"


# --- The wire types: what one chunk of an OpenAI stream looks like. ----------------


class ChunkFunction(TypedDict, total=False):
    name: str
    arguments: str


class ChunkToolCall(TypedDict, total=False):
    index: int
    id: str
    type: Literal["function"]
    function: ChunkFunction


class ChunkDelta(TypedDict, total=False):
    role: str
    content: str
    reasoning_content: str
    refusal: str
    tool_calls: list[ChunkToolCall]


class ChunkChoice(TypedDict):
    index: int
    delta: ChunkDelta
    logprobs: None
    finish_reason: str | None


class UsageDict(TypedDict, total=False):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, int]
    completion_tokens_details: dict[str, int]


class StreamChunk(TypedDict, total=False):
    """One ``chat.completion.chunk``."""

    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: UsageDict


# --- The renderer. -------------------------------------------------------------------


class OpenAIRenderer:
    """Turns normalized stream events into OpenAI SSE frames, one frame per event.

    After a :class:`~harness.stream.events.Done` or :class:`~harness.stream.events.StreamError` it
    is :attr:`closed` and renders nothing more.

    Args:
        prompt_tokens: the prompt size to report when the provider reports no usage.
        model: the model to report if the provider names none.
        response_id: the id to report if the provider gives none.
        created: the creation time to report if the provider gives none (the pure
            core reads no clock; a server passes the current time).
        include_usage: send the usage chunk before ``[DONE]``.
        token_counter: a tokenizer for the usage fallback (see the module docstring).
    """

    __slots__ = (
        "_fallback",
        "_prefix",
        "_templates",
        "closed",
        "include_usage",
        "metadata",
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
        self.metadata = StreamMetadata()
        self.state = StreamState(token_counter)
        self.prompt_tokens = prompt_tokens
        self.include_usage = include_usage
        self.closed = False
        self._fallback = (response_id or DEFAULT_ID, model or DEFAULT_MODEL, created)
        self._prefix: dict[str, Any] | None = None
        self._templates: dict[tuple[int, str], tuple[bytes, bytes] | None] = {}

    def render(self, event: StreamEvent) -> list[bytes]:
        """The SSE frames for ``event`` (possibly none)."""
        if self.closed:
            return []
        if isinstance(event, Delta):
            self.state.add(event)
            if event.role is None and event.finish_reason is None and not event.tool_calls:
                frame = self._text_frame(event)
                if frame is not None:
                    return [frame]
            return [format_sse_chunk(self._chunk([_choice(event)]))]
        if isinstance(event, Metadata):
            if self._prefix is None:
                self.metadata.update(event)
            return []
        if isinstance(event, KeepAlive):
            return [KEEPALIVE]
        self.closed = True
        if isinstance(event, Done):
            frames = []
            if self.include_usage:
                chunk = self._chunk([])
                chunk["usage"] = usage_to_dict(
                    event.usage or self.state.estimated_usage(self.prompt_tokens)
                )
                frames.append(format_sse_chunk(chunk))
            frames.append(format_sse_done())
            return frames
        error = {
            "type": "stream_error",
            "code": event.code,
            "message": event.message,
            "provider": event.provider,
        }
        return [format_sse_chunk({"error": error})]

    def _text_frame(self, delta: Delta) -> bytes | None:
        """The frame of a delta that carries one text fragment and nothing else, the
        hot path (one per fragment): the JSON around the fragment is encoded once per
        choice and field, only the fragment every time. The bytes are those of the
        general path (``None``: take it, as for a lone surrogate, which it escapes)."""
        if delta.content is not None:
            if delta.reasoning_content is not None or delta.refusal is not None:
                return None
            field, text = "content", delta.content
        elif delta.reasoning_content is not None:
            if delta.refusal is not None:
                return None
            field, text = "reasoning_content", delta.reasoning_content
        elif delta.refusal is not None:
            field, text = "refusal", delta.refusal
        else:
            return None
        index = delta.index
        if type(index) is not int:  # True == 1 as a key, but is written `true`
            return None
        key = (index, field)
        try:
            parts = self._templates[key]
        except KeyError:
            parts = self._templates[key] = self._template(index, field)
        if parts is None:
            return None
        try:
            return parts[0] + _json.dumps(text).encode() + parts[1]
        except UnicodeEncodeError:
            return None

    def _template(self, index: int, field: str) -> tuple[bytes, bytes] | None:
        """``(head, tail)``: the frame of a one-fragment delta is ``head + json(text) +
        tail`` (``None`` when the identity holds a lone surrogate: the general path
        escapes the whole chunk then)."""
        body = {"index": index, "delta": {field: _HOLE}, "logprobs": None, "finish_reason": None}
        try:
            text = _json.dumps(self._chunk([body])).encode()  # type: ignore[list-item]
        except UnicodeEncodeError:
            return None
        # The hole is the last string of the chunk: only fixed JSON follows it.
        head, _, tail = text.rpartition(_json.dumps(_HOLE).encode())
        return b"data: " + head, tail + b"\n\n"

    def _chunk(self, choices: list[ChunkChoice]) -> StreamChunk:
        prefix = self._prefix
        if prefix is None:
            # Freeze the identity at the first chunk; later metadata cannot change it.
            meta = self.metadata
            fid, fmodel, fcreated = self._fallback
            meta.id = meta.id or fid
            meta.model = meta.model or fmodel
            meta.created = meta.created or fcreated
            prefix = self._prefix = {
                "id": meta.id,
                "object": "chat.completion.chunk",
                "created": meta.created,
                "model": meta.model,
            }
        chunk: StreamChunk = prefix.copy()  # type: ignore[assignment]
        chunk["choices"] = choices
        return chunk


#: Stands for the fragment while the JSON around it is encoded.
_HOLE = "harness-fragment-hole"


def _choice(delta: Delta) -> ChunkChoice:
    body: ChunkDelta = {}
    if delta.role is not None:
        body["role"] = delta.role
    if delta.content is not None:
        body["content"] = delta.content
    if delta.reasoning_content is not None:
        body["reasoning_content"] = delta.reasoning_content
    if delta.refusal is not None:
        body["refusal"] = delta.refusal
    if delta.tool_calls:
        body["tool_calls"] = [_tool_call(call) for call in delta.tool_calls]
    return {
        "index": delta.index,
        "delta": body,
        "logprobs": None,
        "finish_reason": delta.finish_reason,
    }


def _tool_call(call: ToolCallDelta) -> ChunkToolCall:
    out: ChunkToolCall = {"index": call.index}
    if call.id is not None:
        out["id"] = call.id
    if call.type is not None:
        out["type"] = call.type
    function: ChunkFunction = {}
    if call.name is not None:
        function["name"] = call.name
    if call.arguments is not None:
        function["arguments"] = call.arguments
    out["function"] = function
    return out


def usage_to_dict(usage: Usage) -> UsageDict:
    """``usage`` as OpenAI's usage object (details only when known)."""
    out: UsageDict = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.prompt_tokens_details:
        out["prompt_tokens_details"] = dict(usage.prompt_tokens_details)
    if usage.completion_tokens_details:
        out["completion_tokens_details"] = dict(usage.completion_tokens_details)
    return out
