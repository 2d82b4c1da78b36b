"""OpenAI Responses API streams (``POST /v1/responses`` with ``stream: true``).

Every event is named, repeats its name as ``type`` in the data (which wins), and
carries a ``sequence_number`` (not checked: events count in the order they arrive);
there is no ``[DONE]``::

    event: response.output_text.delta
    data: {"type":"response.output_text.delta","item_id":"msg_…","output_index":1,
           "content_index":0,"delta":"Hi","logprobs":[],"sequence_number":7}

Event flow, as documented by OpenAI (openai-python types them as
``ResponseStreamEvent``)::

    response.created                          response: id, model, created_at
    response.in_progress
    (response.output_item.added               item: message | reasoning | function_call | ...
      response.content_part.added | response.reasoning_summary_part.added
      response.output_text.delta*             | response.reasoning_summary_text.delta*
                                              | response.function_call_arguments.delta*
      response.output_text.done ...           | response.function_call_arguments.done
     response.output_item.done)*
    response.completed                        terminal: usage
    | response.incomplete                     terminal: incomplete_details.reason, usage
    | response.failed                         terminal: response.error {code, message}
    error                                     terminal: in-band error, after HTTP 200

Mapping to OpenAI:

* ``response.created`` -> ``id``, ``model``, ``created`` (``created_at``, seconds)
  and the first chunk ``{"role": "assistant", "content": ""}``.
* ``response.output_text.delta`` -> ``content``; ``response.refusal.delta`` ->
  ``refusal``; ``response.reasoning_summary_text.delta`` and
  ``response.reasoning_text.delta`` -> ``reasoning_content``. A reasoning summary
  part that begins after reasoning text was sent starts with a blank line
  (``"\\n\\n"``), so that the parts do not run together.
* A ``function_call`` output item becomes a tool call. Its index counts function
  calls (0, 1, 2...), not output items; its ``id`` is the item's ``call_id`` (the id
  the client answers with in ``function_call_output``), not the item's ``fc_…`` id.
  ``response.function_call_arguments.delta`` fragments become ``arguments``
  fragments, unchanged, found by ``item_id`` (else ``output_index``), so parallel
  calls whose deltas interleave land on the right index. A call whose arguments
  came with no deltas (whole, in ``function_call_arguments.done`` or
  ``output_item.done``) gets them there, once.
* ``response.completed`` -> ``finish_reason`` ``tool_calls`` if the response made a
  function call, else ``stop``. ``response.incomplete`` -> ``incomplete_details.reason``
  ``max_output_tokens`` -> ``length``, ``content_filter`` -> ``content_filter``,
  anything else -> ``length`` (the response was cut short).
* Usage (on ``response.completed`` and ``response.incomplete``): ``prompt_tokens`` =
  ``input_tokens`` (it includes cached tokens, as OpenAI's prompt count does),
  ``completion_tokens`` = ``output_tokens`` (reasoning included), ``total_tokens``;
  details ``cached_tokens`` = ``input_tokens_details.cached_tokens`` and
  ``reasoning_tokens`` = ``output_tokens_details.reasoning_tokens`` when reported.
* ``error`` ends the stream as a provider error, in both shapes seen: the documented
  one with the fields at the top level (``{"type": "error", "code", "message",
  "param", "sequence_number"}``) and the one the API sends in practice with them
  nested (``{"type": "error", "error": {"type", "code", "message", "param"}}``,
  openai-python issue #2487). The code is the error's ``code``, else its ``type``.
  ``response.failed`` is a provider error too, with ``response.error.code`` (else
  ``response.failed``) and its message.
* The stream is complete only at ``response.completed`` or ``response.incomplete``.

Ignored, as they add nothing the chunks carry: ``response.queued``,
``response.in_progress``, content and summary part events, the ``.done`` events of
text, the output items that are not function calls (messages, reasoning, built-in
and custom tool calls), annotations, logprobs, obfuscation, and event types added
after this was written.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from harness.errors import ProviderDataError
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
    Metadata,
    StreamError,
    StreamEvent,
    ToolCallDelta,
    Usage,
)
from harness.stream.sse import ServerSentEvent

__all__ = ["INCOMPLETE_REASONS", "OpenAIResponsesAdapter"]

#: ``incomplete_details.reason`` -> ``finish_reason`` (anything else: ``length``).
INCOMPLETE_REASONS = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}

_TERMINAL = "response.completed, response.incomplete or response.failed"
_FAILED = "the provider reported an error"


class OpenAIResponsesAdapter:
    """Adapter for ``POST /v1/responses`` streaming events."""

    name = "openai-responses"

    def __init__(self) -> None:
        self._role_sent = False
        self._calls = 0  # function calls started so far: the next tool-call index
        self._by_item: dict[str, int] = {}  # function_call item id -> tool-call index
        self._by_output: dict[int, int] = {}  # output_index -> tool-call index
        self._with_arguments: set[int] = set()  # tool calls whose arguments were sent
        self._reasoning_sent = False
        self._part_break = False  # the next reasoning text starts a new summary part

    def feed(self, event: ServerSentEvent) -> Iterable[StreamEvent]:
        data = event.data
        if not data or data.isspace() or data.strip() == "[DONE]":
            # No event of this API; [DONE] from a compatible server ends nothing.
            return ()
        body = load_json(data)
        # The ``type`` inside the data is authoritative; the SSE event name mirrors it.
        kind = get_str(body, "type", "") or event.event
        if kind == "response.output_text.delta":
            text = get_str(body, "delta", kind)
            return self._emit(Delta(content=text)) if text else []
        if kind == "response.function_call_arguments.delta":
            return self._arguments(body, kind)
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._reasoning(body, kind)
        if kind == "response.refusal.delta":
            text = get_str(body, "delta", kind)
            return self._emit(Delta(refusal=text)) if text else []
        if kind == "response.output_item.added":
            return self._item(body, kind, done=False)
        if kind == "response.output_item.done":
            return self._item(body, kind, done=True)
        if kind == "response.function_call_arguments.done":
            return self._arguments_done(body, kind)
        if kind == "response.reasoning_summary_part.added":
            self._part_break = self._reasoning_sent
            return []
        if kind == "response.created":
            return self._created(body, kind)
        if kind in ("response.completed", "response.incomplete"):
            return self._end(body, kind)
        if kind == "response.failed":
            response = body.get("response")
            error = response.get("error") if type(response) is dict else None
            return [self._error(error if type(error) is dict else {}, "response.failed")]
        if kind == "error" or ("type" not in body and body.get("error") is not None):
            nested = body.get("error")
            return [self._error(nested if type(nested) is dict else body, "error")]
        return ()  # in_progress, part and .done events, and event types added since

    def finish(self) -> Iterable[StreamEvent]:
        return [closed_early(self.name, _TERMINAL)]

    def _emit(self, delta: Delta) -> list[StreamEvent]:
        """``delta`` as the output, carrying ``role`` if it is the first one."""
        if not self._role_sent:
            self._role_sent = True
            delta = replace(delta, role="assistant")
        return [delta]

    def _created(self, body: JSONObject, kind: str) -> list[StreamEvent]:
        where = f"{kind}.response"
        response = get_obj(body, "response", kind) or {}
        out: list[StreamEvent] = [
            Metadata(
                id=get_str(response, "id", where),
                model=get_str(response, "model", where),
                created=_timestamp(response, "created_at", where),
            )
        ]
        if not self._role_sent:
            out += self._emit(Delta(content=""))
        return out

    def _reasoning(self, body: JSONObject, kind: str) -> list[StreamEvent]:
        text = get_str(body, "delta", kind)
        if not text:
            return []
        if self._part_break:
            text = "\n\n" + text
            self._part_break = False
        self._reasoning_sent = True
        return self._emit(Delta(reasoning_content=text))

    def _item(self, body: JSONObject, kind: str, *, done: bool) -> list[StreamEvent]:
        where = f"{kind}.item"
        item = get_obj(body, "item", kind) or {}
        if get_str(item, "type", where) != "function_call":
            return []
        item_id = get_str(item, "id", where)
        output_index = get_int(body, "output_index", kind)
        arguments = get_str(item, "arguments", where) or ""
        index = self._lookup(item_id, output_index)
        if index is None:
            index = self._register(item_id, output_index)
            if arguments:
                self._with_arguments.add(index)
            call = ToolCallDelta(
                index=index,
                id=get_str(item, "call_id", where),
                type="function",
                name=get_str(item, "name", where),
                arguments=arguments,
            )
            return self._emit(Delta(tool_calls=(call,)))
        if done:
            return self._late_arguments(index, arguments)
        return []  # the same item added twice

    def _arguments(self, body: JSONObject, kind: str) -> list[StreamEvent]:
        fragment = get_str(body, "delta", kind)
        if not fragment:
            return []
        item_id = get_str(body, "item_id", kind)
        output_index = get_int(body, "output_index", kind)
        index = self._lookup(item_id, output_index)
        if index is None:
            # Arguments for a call that never started: keep them, as a new call.
            index = self._register(item_id, output_index)
        self._with_arguments.add(index)
        return self._emit(Delta(tool_calls=(ToolCallDelta(index=index, arguments=fragment),)))

    def _arguments_done(self, body: JSONObject, kind: str) -> list[StreamEvent]:
        arguments = get_str(body, "arguments", kind) or ""
        item_id = get_str(body, "item_id", kind)
        output_index = get_int(body, "output_index", kind)
        index = self._lookup(item_id, output_index)
        if index is not None:
            return self._late_arguments(index, arguments)
        index = self._register(item_id, output_index)
        if arguments:
            self._with_arguments.add(index)
        name = get_str(body, "name", kind)
        call = ToolCallDelta(index=index, type="function", name=name, arguments=arguments)
        return self._emit(Delta(tool_calls=(call,)))

    def _late_arguments(self, index: int, arguments: str) -> list[StreamEvent]:
        """A call's whole arguments, sent only if no fragment of them was."""
        if not arguments or index in self._with_arguments:
            return []
        self._with_arguments.add(index)
        return self._emit(Delta(tool_calls=(ToolCallDelta(index=index, arguments=arguments),)))

    def _lookup(self, item_id: str | None, output_index: int | None) -> int | None:
        if item_id is not None and item_id in self._by_item:
            return self._by_item[item_id]
        if output_index is not None:
            return self._by_output.get(output_index)
        return None

    def _register(self, item_id: str | None, output_index: int | None) -> int:
        index = self._calls
        self._calls += 1
        if item_id is not None:
            self._by_item[item_id] = index
        if output_index is not None:
            self._by_output[output_index] = index
        return index

    def _end(self, body: JSONObject, kind: str) -> list[StreamEvent]:
        where = f"{kind}.response"
        response = get_obj(body, "response", kind) or {}
        if kind == "response.completed":
            finish = "tool_calls" if self._calls else "stop"
        else:
            details = get_obj(response, "incomplete_details", where) or {}
            reason = get_str(details, "reason", f"{where}.incomplete_details")
            finish = INCOMPLETE_REASONS.get(reason or "", "length")
        usage = _usage(get_obj(response, "usage", where), f"{where}.usage")
        return [*self._emit(Delta(finish_reason=finish)), Done(usage)]

    def _error(self, error: JSONObject, fallback: str) -> StreamError:
        # Read leniently: the stream is ending in an error either way, and a
        # parse_error would hide the provider's own code.
        code = _scalar(error.get("code")) or _scalar(error.get("type")) or fallback
        message = error.get("message")
        return StreamError(
            kind="provider_error",
            code=code,
            message=message if type(message) is str and message else _FAILED,
            provider=self.name,
        )


def _scalar(value: Any) -> str | None:
    """A code as text: a non-empty string, or an integer (some servers send 429)."""
    if type(value) is str and value:
        return value
    if type(value) is int:
        return str(value)
    return None


def _timestamp(parent: JSONObject, key: str, where: str) -> int | None:
    """Unix seconds; ``created_at`` is a number that may have a fraction."""
    value = parent.get(key)
    if type(value) is float and math.isfinite(value):
        return int(value)
    return get_int(parent, key, where)


def _usage(usage: JSONObject | None, where: str) -> Usage | None:
    if usage is None:
        return None
    prompt = get_int(usage, "input_tokens", where) or 0
    completion = get_int(usage, "output_tokens", where) or 0
    total = get_int(usage, "total_tokens", where)
    if prompt < 0 or completion < 0:
        raise ProviderDataError(f"{where}: token counts cannot be negative")
    inputs = get_obj(usage, "input_tokens_details", where) or {}
    outputs = get_obj(usage, "output_tokens_details", where) or {}
    cached = get_int(inputs, "cached_tokens", f"{where}.input_tokens_details")
    reasoning = get_int(outputs, "reasoning_tokens", f"{where}.output_tokens_details")
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion if total is None else total,
        prompt_tokens_details=None if cached is None else {"cached_tokens": cached},
        completion_tokens_details=None if reasoning is None else {"reasoning_tokens": reasoning},
    )
