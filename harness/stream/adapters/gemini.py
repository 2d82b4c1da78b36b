"""Gemini ``streamGenerateContent?alt=sse`` streams.

Each event is a whole ``GenerateContentResponse``::

    data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]},
           "index": 0}], "usageMetadata": {...}, "modelVersion": "...", "responseId": "..."}

There is no terminator event: the response is complete once a candidate carries a
``finishReason`` (or the prompt is blocked: ``promptFeedback.blockReason``), and the
stream then simply ends. The adapter therefore ends a complete stream in
:meth:`GeminiAdapter.finish`, after any usage-only chunk that follows the final
candidate.

Mapping to OpenAI:

* text parts -> ``content``; parts with ``thought: true`` -> ``reasoning_content``.
* ``functionCall`` parts -> one complete tool call each (Gemini does not fragment
  arguments): ``arguments`` is ``args`` as compact, strict JSON, so ``args`` holding
  a number JSON cannot write (``NaN``, ``1e400``) is malformed data. The call's ``id``
  is the one Gemini sent, else ``call_<n>`` with ``n`` the tool-call index, so ids
  are deterministic and unique within the response.
* ``finishReason``: ``STOP`` -> ``stop`` (``tool_calls`` when the candidate emitted
  a function call); ``MAX_TOKENS`` -> ``length``; ``SAFETY``, ``RECITATION``,
  ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII`` and the image safety reasons ->
  ``content_filter``; anything else -> ``stop``.
* ``usageMetadata`` is cumulative, so the last report wins: ``prompt_tokens`` =
  ``promptTokenCount`` (+ ``toolUsePromptTokenCount``), ``completion_tokens`` =
  ``candidatesTokenCount`` + ``thoughtsTokenCount``, with ``cached_tokens`` and
  ``reasoning_tokens`` as details.
* An in-band ``{"error": {"code": 503, "status": "UNAVAILABLE", ...}}`` ends the
  stream as a provider error with the ``status`` as its code.
"""

from __future__ import annotations

from collections.abc import Iterable

from harness import _json
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

__all__ = ["FINISH_REASONS", "GeminiAdapter"]

_FILTERED = (
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
)
FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"} | dict.fromkeys(
    _FILTERED, "content_filter"
)


class GeminiAdapter:
    """Adapter for Gemini ``streamGenerateContent`` with ``alt=sse``."""

    name = "gemini"

    def __init__(self) -> None:
        self._finished = False
        self._usage: Usage | None = None
        self._usage_read: JSONObject | None = None  # the usageMetadata _usage was read from
        self._started: set[int] = set()  # candidate indexes that have sent a delta
        self._tool_calls: dict[int, int] = {}  # candidate index -> tool calls so far

    def feed(self, event: ServerSentEvent) -> Iterable[StreamEvent]:
        data = event.data
        if not data or data.isspace():
            return ()
        body = load_json(data)
        if body.get("error") is not None:
            return [self._error(body["error"])]
        out: list[StreamEvent] = []
        response_id = get_str(body, "responseId", "")
        model = get_str(body, "modelVersion", "")
        if response_id or model:
            out.append(Metadata(id=response_id, model=model))
        for position, raw in enumerate(get_list(body, "candidates", "")):
            out.extend(self._candidate(as_obj(raw, f"candidates[{position}]"), position))
        feedback = get_obj(body, "promptFeedback", "")
        if feedback is not None and get_str(feedback, "blockReason", "promptFeedback"):
            self._finished = True
            out.append(Delta(role="assistant", finish_reason="content_filter"))
        usage = get_obj(body, "usageMetadata", "")
        if usage is not None and usage != self._usage_read:
            # Gemini repeats the usage so far in every chunk: read it when it changes.
            self._usage = _usage(usage)
            self._usage_read = usage
        return out

    def finish(self) -> Iterable[StreamEvent]:
        if self._finished:
            return [Done(self._usage)]
        return [closed_early(self.name, "a candidate with a finishReason")]

    def _candidate(self, candidate: JSONObject, position: int) -> list[StreamEvent]:
        where = f"candidates[{position}]"
        index = get_int(candidate, "index", where)
        index = position if index is None else index
        out: list[Delta] = []
        content = get_obj(candidate, "content", where) or {}
        for n, raw_part in enumerate(get_list(content, "parts", f"{where}.content")):
            part_where = f"{where}.content.parts[{n}]"
            part = as_obj(raw_part, part_where)
            text = get_str(part, "text", part_where)
            call = get_obj(part, "functionCall", part_where)
            if call is not None:
                out.append(
                    Delta(index=index, tool_calls=(self._tool_call(call, index, part_where),))
                )
            elif text is not None:
                if part.get("thought") is True:
                    out.append(Delta(index=index, reasoning_content=text))
                else:
                    out.append(Delta(index=index, content=text))
        reason = get_str(candidate, "finishReason", where)
        if reason is not None:
            self._finished = True
            finish = FINISH_REASONS.get(reason, "stop")
            if finish == "stop" and self._tool_calls.get(index):
                finish = "tool_calls"
            out.append(Delta(index=index, finish_reason=finish))
        if out and index not in self._started:
            self._started.add(index)
            first = out[0]
            out[0] = Delta(
                index=index,
                role="assistant",
                content=first.content,
                reasoning_content=first.reasoning_content,
                tool_calls=first.tool_calls,
                finish_reason=first.finish_reason,
            )
        return list(out)

    def _tool_call(self, call: JSONObject, candidate: int, where: str) -> ToolCallDelta:
        where = f"{where}.functionCall"
        n = self._tool_calls.get(candidate, 0)
        self._tool_calls[candidate] = n + 1
        args = get_obj(call, "args", where) or {}
        try:
            arguments = _json.dumps(args, allow_nan=False)
        except ValueError:
            # json reads NaN, Infinity and 1e400 as floats but, strict, cannot write them;
            # lenient, it would hand clients arguments that are not JSON (seen in fuzzing).
            raise ProviderDataError(
                f"{where}.args: holds a number JSON cannot carry (NaN, Infinity or out of range)"
            ) from None
        return ToolCallDelta(
            index=n,
            id=get_str(call, "id", where) or f"call_{n}",
            type="function",
            name=get_str(call, "name", where) or "",
            arguments=arguments,
        )

    def _error(self, raw: object) -> StreamError:
        error = as_obj(raw, "error")
        code = get_str(error, "status", "error")
        if code is None:
            numeric = error.get("code")
            code = str(numeric) if numeric is not None else "error"
        return StreamError(
            kind="provider_error",
            code=code,
            message=get_str(error, "message", "error") or "the provider reported an error",
            provider=self.name,
        )


def _usage(usage: JSONObject) -> Usage:
    where = "usageMetadata"
    prompt = (get_int(usage, "promptTokenCount", where) or 0) + (
        get_int(usage, "toolUsePromptTokenCount", where) or 0
    )
    thoughts = get_int(usage, "thoughtsTokenCount", where)
    completion = (get_int(usage, "candidatesTokenCount", where) or 0) + (thoughts or 0)
    cached = get_int(usage, "cachedContentTokenCount", where)
    total = get_int(usage, "totalTokenCount", where)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion if total is None else total,
        prompt_tokens_details=None if cached is None else {"cached_tokens": cached},
        completion_tokens_details=None if thoughts is None else {"reasoning_tokens": thoughts},
    )
