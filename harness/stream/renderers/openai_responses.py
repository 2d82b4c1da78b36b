"""Render normalized stream events as an OpenAI Responses API stream.

The output is what ``POST /v1/responses`` with ``stream: true`` sends, so that any
Responses client (the openai SDK's ``responses.create(stream=True)`` and
``responses.stream()``, the Agents SDK...) can read a normalized Anthropic, Gemini or
Chat Completions stream. Every frame is a named event whose data repeats the name
as ``type`` and counts ``sequence_number`` from 0, one up per event::

    event: response.created
    data: {"type":"response.created","sequence_number":0,"response":{...}}

The events, in order (field order as the API sends them):

* ``response.created`` and ``response.in_progress``, each with the whole
  :class:`Response` (``status`` ``in_progress``, ``output`` ``[]``, ``usage`` null),
  sent when the first delta (or the end) arrives, so that the identity the provider
  reports first (:class:`~harness.stream.events.Metadata`) is in them.
* One output item per run of the same kind, opened as its first fragment arrives
  and closed when the next item opens or the choice finishes, as the API streams
  them, with ``output_index`` counting items in the order they were opened:

  - reasoning (``reasoning_content``): a ``reasoning`` item with one summary part:
    ``output_item.added``, ``reasoning_summary_part.added``,
    ``reasoning_summary_text.delta`` per fragment, then ``reasoning_summary_text.done``,
    ``reasoning_summary_part.done``, ``output_item.done``;
  - text (``content``): a ``message`` item: ``output_item.added``,
    ``content_part.added`` (an ``output_text`` part), ``output_text.delta`` per
    fragment, then ``output_text.done``, ``content_part.done``, ``output_item.done``.
    A ``refusal`` is a ``refusal`` part of the message (``refusal.delta`` /
    ``refusal.done``); text and refusal alternating make consecutive parts;
  - tool calls: one ``function_call`` item per tool-call index, ``call_id`` the
    source's tool-call id (Anthropic ``toolu_...``; ``call_<index>`` if it sent none)
    and ``name`` from its first fragment: ``output_item.added``,
    ``function_call_arguments.delta`` per arguments fragment, then
    ``function_call_arguments.done`` and ``output_item.done`` with the whole
    arguments.

  Empty fragments open nothing. Item ids are derived from the response id (the part
  after ``resp_``): ``rs_<id>_<output index>``, ``msg_<id>_<n>``, ``fc_<id>_<n>``, so
  the same stream always gives the same bytes.
* ``response.completed`` with the whole response: ``status`` ``completed``, every
  item in ``output`` as its ``output_item.done`` sent it, and ``usage`` in Responses
  terms. When the choice finished for ``length`` it is ``response.incomplete``
  instead (``incomplete_details.reason`` ``max_output_tokens``; ``content_filter``
  likewise), and the items closed by that finish have ``status`` ``incomplete``.

or, for a broken stream, everything valid up to the break and then one ``error``
event, and nothing after (no ``response.completed``)::

    event: error
    data: {"type":"error","code":"overloaded_error","message":"Overloaded",
           "param":null,"sequence_number":7}

A keep-alive is the comment frame ``: keep-alive``, as in the chat stream.

The response id is the provider's when it reported one, with ``resp_`` put in front
unless it starts so already (an Anthropic ``msg_01...`` becomes ``resp_msg_01...``);
else ``response_id`` (likewise), else ``resp_harness``. The model and creation time
follow the chat renderer's rules: first non-empty value, frozen at the first event.

Usage. ``input_tokens`` is ``prompt_tokens`` (``input_tokens_details.cached_tokens``
from ``prompt_tokens_details``), ``output_tokens`` is ``completion_tokens``
(``output_tokens_details.reasoning_tokens`` from ``completion_tokens_details``).
When the provider reported none it is estimated as the chat renderer does (characters
/ 4 rounded up, or ``token_counter``), reasoning tokens from the reasoning text
alone. Responses always reports usage, so ``include_usage`` is accepted and ignored.

The Responses API has no choices: only choice index 0 is rendered, and deltas of
other choice indexes (an ``n > 1`` chat stream) are ignored.

Should a tool call's fragments interleave with another item's (no provider streams
that way, but a chat stream may), the call's item is reopened: the late fragments
come as more ``function_call_arguments.delta`` events, and the call closes again
with its ``function_call_arguments.done`` and ``output_item.done`` repeated with the
whole arguments, which is how the openai SDK's stream accumulator replaces an item.
"""

from __future__ import annotations

from typing import Any, TypeVar

from harness import _json
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
from harness.stream.renderers.base import (
    DEFAULT_MODEL,
    StreamMetadata,
    TokenCounter,
    estimate_tokens,
)
from harness.stream.sse import KEEPALIVE, event_block

__all__ = ["DEFAULT_ID", "DEFAULT_MODEL", "ResponsesRenderer", "responses_usage"]

#: Counts the tokens in a fragment of text.

DEFAULT_ID = "resp_harness"

#: ``incomplete_details.reason`` per finish reason that makes a response incomplete.
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}

Event = dict[str, Any]


# --- Output items ------------------------------------------------------------------------


class _Item:
    """One output item: its id, output index, and the events of its life."""

    __slots__ = ("id", "index", "status")

    id: str
    index: int
    #: How it was closed (``completed``, ``incomplete``); ``in_progress`` while open.
    status: str

    def added(self) -> list[Event]:
        """The events that open it."""
        return [
            {
                "type": "response.output_item.added",
                "output_index": self.index,
                "item": self.render("in_progress"),
            }
        ]

    def close(self, status: str) -> list[Event]:
        """The events that close it, ending with ``output_item.done``."""
        self.status = status
        return [
            {
                "type": "response.output_item.done",
                "output_index": self.index,
                "item": self.render(status),
            }
        ]

    def render(self, status: str) -> dict[str, Any]:
        """The item as ``output`` holds it."""
        raise NotImplementedError


class _Reasoning(_Item):
    """A ``reasoning`` item with one summary part."""

    __slots__ = ("text",)

    def __init__(self, id: str, index: int) -> None:
        self.id, self.index, self.status = id, index, "in_progress"
        self.text: list[str] = []

    def added(self) -> list[Event]:
        part = {"type": "summary_text", "text": ""}
        return [*super().added(), self._event("response.reasoning_summary_part.added", part=part)]

    def delta(self, text: str) -> list[Event]:
        self.text.append(text)
        return [self._event("response.reasoning_summary_text.delta", delta=text)]

    def close(self, status: str) -> list[Event]:
        text = "".join(self.text)
        part = {"type": "summary_text", "text": text}
        return [
            self._event("response.reasoning_summary_text.done", text=text),
            self._event("response.reasoning_summary_part.done", part=part),
            *super().close(status),
        ]

    def render(self, status: str) -> dict[str, Any]:
        # The API's reasoning items carry no status; a summary once it is written.
        summary = (
            [{"type": "summary_text", "text": "".join(self.text)}]
            if status != "in_progress"
            else []
        )
        return {"id": self.id, "type": "reasoning", "summary": summary}

    def _event(self, kind: str, **fields: Any) -> Event:
        return {
            "type": kind,
            "item_id": self.id,
            "output_index": self.index,
            "summary_index": 0,
            **fields,
        }


class _Part:
    """One content part of a message: ``output_text`` or ``refusal``."""

    __slots__ = ("kind", "text")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.text: list[str] = []

    def render(self, text: str) -> dict[str, Any]:
        if self.kind == "refusal":
            return {"type": "refusal", "refusal": text}
        return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


class _Message(_Item):
    """An assistant ``message`` item: text and refusal parts, one open at a time."""

    __slots__ = ("parts",)

    def __init__(self, id: str, index: int) -> None:
        self.id, self.index, self.status = id, index, "in_progress"
        self.parts: list[_Part] = []

    def delta(self, kind: str, text: str) -> list[Event]:
        events: list[Event] = []
        part = self.parts[-1] if self.parts else None
        if part is None or part.kind != kind:
            if part is not None:
                events += self._close_part()
            part = _Part(kind)
            self.parts.append(part)
            events.append(self._event("response.content_part.added", part=part.render("")))
        part.text.append(text)
        if kind == "refusal":
            events.append(self._event("response.refusal.delta", delta=text))
        else:
            events.append(self._event("response.output_text.delta", delta=text, logprobs=[]))
        return events

    def close(self, status: str) -> list[Event]:
        events = self._close_part() if self.parts else []
        return events + super().close(status)

    def _close_part(self) -> list[Event]:
        part = self.parts[-1]
        text = "".join(part.text)
        if part.kind == "refusal":
            done = self._event("response.refusal.done", refusal=text)
        else:
            done = self._event("response.output_text.done", text=text, logprobs=[])
        return [done, self._event("response.content_part.done", part=part.render(text))]

    def render(self, status: str) -> dict[str, Any]:
        content = (
            [part.render("".join(part.text)) for part in self.parts]
            if status != "in_progress"
            else []
        )
        return {
            "id": self.id,
            "type": "message",
            "status": status,
            "content": content,
            "role": "assistant",
        }

    def _event(self, kind: str, **fields: Any) -> Event:
        return {
            "type": kind,
            "item_id": self.id,
            "output_index": self.index,
            "content_index": len(self.parts) - 1,
            **fields,
        }


class _Call(_Item):
    """A ``function_call`` item: one tool-call index of the normalized stream."""

    __slots__ = ("arguments", "call_id", "name")

    def __init__(self, id: str, index: int, call_id: str, name: str) -> None:
        self.id, self.index, self.status = id, index, "in_progress"
        self.call_id = call_id
        self.name = name
        self.arguments: list[str] = []

    def delta(self, arguments: str) -> list[Event]:
        self.arguments.append(arguments)
        return [self._event("response.function_call_arguments.delta", delta=arguments)]

    def close(self, status: str) -> list[Event]:
        done = self._event(
            "response.function_call_arguments.done", arguments="".join(self.arguments)
        )
        return [done, *super().close(status)]

    def render(self, status: str) -> dict[str, Any]:
        arguments = "".join(self.arguments) if status != "in_progress" else ""
        return {
            "id": self.id,
            "type": "function_call",
            "status": status,
            "arguments": arguments,
            "call_id": self.call_id,
            "name": self.name,
        }

    def _event(self, kind: str, **fields: Any) -> Event:
        return {"type": kind, "item_id": self.id, "output_index": self.index, **fields}


_I = TypeVar("_I", bound=_Item)


# --- The renderer ------------------------------------------------------------------------


class ResponsesRenderer:
    """Turns normalized stream events into OpenAI Responses SSE frames.

    After a :class:`~harness.stream.events.Done` or
    :class:`~harness.stream.events.StreamError` it is :attr:`closed` and renders
    nothing more.

    Args:
        prompt_tokens: the prompt size to report when the provider reports no usage.
        model: the model to report if the provider names none.
        response_id: the id to report if the provider gives none (``resp_`` is put in
            front unless it starts so).
        created: the creation time to report if the provider gives none.
        include_usage: accepted for the pipeline's sake and ignored: a Responses
            stream always reports usage.
        token_counter: a tokenizer for the usage fallback (see the module docstring).
    """

    __slots__ = (
        "_base",
        "_calls",
        "_chars",
        "_counted",
        "_current",
        "_fallback",
        "_finish",
        "_head",
        "_items",
        "_meta",
        "_reasoning_chars",
        "_reasoning_counted",
        "_seq",
        "_templates",
        "closed",
        "prompt_tokens",
        "token_counter",
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
        del include_usage  # always reported
        self.prompt_tokens = prompt_tokens
        self.token_counter = token_counter
        self.closed = False
        self._fallback = (response_id or DEFAULT_ID, model or DEFAULT_MODEL, created)
        self._meta = StreamMetadata()
        # The id, creation time and model, frozen when the first frame is rendered.
        self._head: dict[str, Any] | None = None
        self._base = ""  # the response id without ``resp_``, for item ids
        self._seq = 0
        #: Delta frames cut around their sequence number and fragment, per item and kind.
        self._templates: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        self._items: list[_Item] = []
        self._current: _Item | None = None
        self._calls: dict[int, _Call] = {}
        self._finish: str | None = None
        self._chars = self._counted = 0
        self._reasoning_chars = self._reasoning_counted = 0

    def render(self, event: StreamEvent) -> list[bytes]:
        """The SSE frames for ``event`` (possibly none)."""
        if self.closed:
            return []
        if isinstance(event, Delta) and self._head is not None:  # the commonest first
            frame = self._more_text(event)
            if frame is not None:
                return [frame]
        elif isinstance(event, Metadata):
            if self._head is None:
                self._meta.update(event)
            return []
        elif isinstance(event, KeepAlive):
            return [KEEPALIVE]
        events = self._start() if self._head is None else []
        if isinstance(event, Delta):
            if event.index == 0:
                events += self._delta(event)
        elif isinstance(event, Done):
            self.closed = True
            events += self._close(self._finish)
            events.append(self._end(event.usage or self._estimated_usage()))
        else:
            self.closed = True
            events.append(_error(event))
        return [self._frame(e) for e in events]

    # --- identity ----------------------------------------------------------------------

    def _start(self) -> list[Event]:
        fid, fmodel, fcreated = self._fallback
        meta = self._meta
        rid = str(meta.id or fid)
        if not rid.startswith("resp_"):
            rid = f"resp_{rid}"
        self._base = rid.removeprefix("resp_")
        self._head = {
            "id": rid,
            "created_at": meta.created or fcreated,
            "model": meta.model or fmodel,
        }
        response = self._response("in_progress", [], None)
        return [
            {"type": "response.created", "response": response},
            {"type": "response.in_progress", "response": response},
        ]

    # --- deltas ------------------------------------------------------------------------

    def _delta(self, delta: Delta) -> list[Event]:
        events: list[Event] = []
        if delta.reasoning_content:
            self._count(delta.reasoning_content, reasoning=True)
            item = self._current
            if not isinstance(item, _Reasoning):
                events += self._close(None)
                item = self._open(
                    _Reasoning(f"rs_{self._base}_{len(self._items)}", len(self._items))
                )
                events += item.added()
            events += item.delta(delta.reasoning_content)
        for kind, text in (("output_text", delta.content), ("refusal", delta.refusal)):
            if text:
                self._count(text)
                message = self._current
                if not isinstance(message, _Message):
                    events += self._close(None)
                    index = len(self._items)
                    message = self._open(_Message(f"msg_{self._base}_{index}", index))
                    events += message.added()
                events += message.delta(kind, text)
        for call in delta.tool_calls:
            events += self._tool_call(call)
        if delta.finish_reason is not None:
            self._finish = delta.finish_reason
            events += self._close(delta.finish_reason)
        return events

    def _more_text(self, delta: Delta) -> bytes | None:
        """The hot path: a delta that only adds text to the output text being written
        makes one ``response.output_text.delta`` frame, the same bytes as the general
        path (``None``: any other delta, which takes it)."""
        text = delta.content
        message = self._current
        if (
            not text
            or delta.index != 0
            or delta.reasoning_content
            or delta.refusal
            or delta.tool_calls
            or delta.finish_reason is not None
            or not isinstance(message, _Message)
            or not message.parts
            or message.parts[-1].kind != "output_text"
        ):
            return None
        if self.token_counter is None:  # _count, inlined on the hot path
            self._chars += len(text)
        else:
            self._count(text)
        message.parts[-1].text.append(text)
        kind = "response.output_text.delta"
        parts = self._templates.get((kind, message.id, message.index, len(message.parts) - 1, None))
        if parts is None:  # the first fragment of this part makes the template
            return self._delta_frame(message._event(kind, delta=text, logprobs=[]))
        return self._fill(parts, text)

    def _tool_call(self, fragment: ToolCallDelta) -> list[Event]:
        events: list[Event] = []
        call = self._calls.get(fragment.index)
        if call is None:
            events += self._close(None)
            index = len(self._items)
            call_id = fragment.id or f"call_{fragment.index}"
            call = _Call(f"fc_{self._base}_{index}", index, call_id, fragment.name or "")
            self._calls[fragment.index] = self._open(call)
            events += call.added()
            if fragment.name:
                self._count(fragment.name)
        else:
            if call is not self._current:  # fragments interleaved: reopen the call
                events += self._close(None)
                self._current = call
            if fragment.name:
                call.name += fragment.name
                self._count(fragment.name)
        if fragment.arguments:
            self._count(fragment.arguments)
            events += call.delta(fragment.arguments)
        return events

    def _open(self, item: _I) -> _I:
        self._items.append(item)
        self._current = item
        return item

    def _close(self, finish: str | None) -> list[Event]:
        """Close the open item, if any; ``finish`` is why, when the choice finished."""
        item = self._current
        if item is None:
            return []
        self._current = None
        return item.close("incomplete" if finish in _INCOMPLETE else "completed")

    # --- the end -----------------------------------------------------------------------

    def _end(self, usage: Usage) -> Event:
        reason = _INCOMPLETE.get(self._finish or "")
        status = "completed" if reason is None else "incomplete"
        output = [item.render(item.status) for item in self._items]
        response = self._response(status, output, responses_usage(usage))
        if reason is not None:
            response["incomplete_details"] = {"reason": reason}
        return {"type": f"response.{status}", "response": response}

    def _response(
        self, status: str, output: list[Any], usage: dict[str, Any] | None
    ) -> dict[str, Any]:
        head = self._head
        assert head is not None
        return {
            "id": head["id"],
            "object": "response",
            "created_at": head["created_at"],
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": None,
            "max_output_tokens": None,
            "max_tool_calls": None,
            "model": head["model"],
            "output": output,
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "prompt_cache_key": None,
            "reasoning": {"effort": None, "summary": None},
            "safety_identifier": None,
            "service_tier": "auto" if status == "in_progress" else "default",
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": usage,
            "user": None,
            "metadata": {},
        }

    # --- usage -------------------------------------------------------------------------

    def _count(self, fragment: str, *, reasoning: bool = False) -> None:
        chars = len(fragment)
        tokens = self.token_counter(fragment) if self.token_counter is not None else 0
        self._chars += chars
        self._counted += tokens
        if reasoning:
            self._reasoning_chars += chars
            self._reasoning_counted += tokens

    def _estimated_usage(self) -> Usage:
        if self.token_counter is not None:
            completion, reasoning = self._counted, self._reasoning_counted
        else:
            completion = estimate_tokens(self._chars)
            reasoning = estimate_tokens(self._reasoning_chars)
        prompt = self.prompt_tokens or 0
        details = {"reasoning_tokens": reasoning} if reasoning else None
        return Usage(prompt, completion, prompt + completion, completion_tokens_details=details)

    # --- frames ------------------------------------------------------------------------

    def _frame(self, event: Event) -> bytes:
        if "delta" in event:
            return self._delta_frame(event)
        kind = event.pop("type")
        data = {"type": kind, "sequence_number": self._seq, **event}
        if kind == "error":  # the API writes the sequence number last here
            data["sequence_number"] = data.pop("sequence_number")
        self._seq += 1
        try:
            return event_block(_json.dumps(data), event=kind).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from the input: escape it
            return event_block(_json.dumps(data, ascii=True), event=kind).encode()

    def _delta_frame(self, event: Event) -> bytes:
        """A ``*.delta`` event, the hot path (one per fragment): the JSON around the
        fragment is encoded once per item and kind, only the fragment every time; the
        bytes are those the general path of :meth:`_frame` writes."""
        # What a delta event holds besides its fragment: its kind (which says whether
        # logprobs follow) and where it goes.
        key = (
            event["type"],
            event["item_id"],
            event["output_index"],
            event.get("content_index"),
            event.get("summary_index"),
        )
        parts = self._templates.get(key)
        if parts is None:
            parts = self._templates[key] = _template(event)
        return self._fill(parts, event["delta"])

    def _fill(self, parts: tuple[str, str, str], fragment: str) -> bytes:
        """A delta frame from its template: the next sequence number and the fragment."""
        head, middle, tail = parts
        seq = self._seq
        self._seq += 1
        text = f"{head}{seq}{middle}{_json.dumps(fragment)}{tail}"
        try:
            return text.encode()
        except UnicodeEncodeError:
            # A lone surrogate from the input, in the fragment or in the ids around it:
            # the whole frame in ASCII escapes, as the general path writes such an event.
            return _json.ascii_escaped(text).encode()


#: Stands for the sequence number and the fragment while the JSON around them is encoded.
_SEQ = -7_770_777
_HOLE = "harness-fragment-hole"


def _template(event: Event) -> tuple[str, str, str]:
    """A delta event's frame cut around its sequence number and its fragment:
    ``head + str(seq) + middle + json(fragment) + tail`` is the whole frame."""
    kind = event["type"]
    fields = {k: (_HOLE if k == "delta" else v) for k, v in event.items() if k != "type"}
    body = _json.dumps({"type": kind, "sequence_number": _SEQ, **fields})
    head, _, rest = body.partition(str(_SEQ))
    middle, _, tail = rest.rpartition(_json.dumps(_HOLE))  # only fixed JSON after it
    return f"event: {kind}\ndata: {head}", middle, f"{tail}\n\n"


def _error(error: StreamError) -> Event:
    return {"type": "error", "code": error.code, "message": error.message, "param": None}


def responses_usage(usage: Usage) -> dict[str, Any]:
    """``usage`` in the Responses API's terms (every field the SDK requires)."""
    prompt = usage.prompt_tokens_details or {}
    completion = usage.completion_tokens_details or {}
    return {
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": prompt.get("cached_tokens", 0),
            "cache_write_tokens": prompt.get("cache_write_tokens", 0),
        },
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": completion.get("reasoning_tokens", 0)},
        "total_tokens": usage.total_tokens,
    }
