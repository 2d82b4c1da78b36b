"""Aggregate a whole recorded stream into the provider's non-streaming answer.

A scenario may hold only a streamed recording, yet a client may ask the mock server
for a non-streaming answer (``stream: false``, Anthropic without ``stream``, Gemini
``generateContent``). The functions here fold the stream into the body the provider
would have sent instead, and return ``(http_status, json_body)``. They are pure: bytes
in, data out, no I/O, and total: any input gives an answer, never an exception.

Rules, per function:

:func:`openai_completion` reads a *normalized* OpenAI Chat Completions stream (what
:func:`harness.normalize` outputs) and builds a ``chat.completion``:

* ``id``, ``created``, ``model`` (and ``system_fingerprint``, only if a chunk has
  one): the first value the chunks carry.
* One choice per choice index (index 0 always present): ``message.content`` is the
  concatenated ``content`` fragments, ``None`` when there is no text; ``refusal``
  likewise; ``tool_calls`` (only if any) ordered by tool index, each with the first
  ``id`` seen and the concatenated ``name`` and ``arguments`` fragments;
  ``reasoning_content`` only if any. ``finish_reason`` is the last one reported
  (``"stop"`` if a complete stream reported none); ``logprobs`` is ``None``.
* ``usage`` from the last chunk that has one, left out if none has.
* Errors: a chunk with a top-level ``error`` (harness's ``stream_error``) answers
  with an OpenAI error body whose ``type`` is the error's ``code`` and whose status
  follows the code (rate limit 429, ``overloaded_error`` 529, unavailable 503,
  ``connection_closed`` and ``parse_error`` 502, a numeric code as itself, else 500).
  A stream without ``[DONE]`` is cut: 502 ``connection_closed``. Data that is not a
  JSON object: 502 ``parse_error`` naming the event number.

:func:`fold_openai` is that fold before it becomes a body, for callers that want
the parts (``harness convert`` suggests ``expect`` from it), and
:func:`reported_usage` tells whether a raw provider stream reported its usage
itself, which a normalized stream (always with a usage chunk) cannot show.

:func:`responses_answer` reads an OpenAI Responses stream (what ``POST /v1/responses``
with ``stream: true`` sends, and what the ``openai-responses`` renderer writes) and
answers with the ``Response`` object: the ``response`` of the terminal
``response.completed`` or ``response.incomplete`` event, status 200 either way (a
non-streaming incomplete response is a 200 too); when it has no ``output`` list, the
items of the ``response.output_item.done`` events in ``output_index`` order. The event
kind is the data's ``type``, else the ``event:`` line; events after the terminal one
are ignored. Errors, as OpenAI error bodies with the status by code as for
:func:`openai_completion`: an ``error`` event (its fields at the top level, as the
API reference shows, or nested under ``error``); ``response.failed``: its
``response.error`` (500 unless the code says otherwise, ``server_error`` when it has
none); no terminal event: 502 ``connection_closed``; data that is not a JSON object,
or a terminal event without a ``response`` object: 502 ``parse_error`` naming the
event number.

:func:`anthropic_message` reads a raw Anthropic Messages stream and builds the
``Message``: ``message_start.message``, with ``content`` rebuilt from the content
blocks by index (text: the ``text_delta`` texts joined; ``tool_use`` and other blocks
fed ``input_json_delta``: ``input`` = the parsed concatenated ``partial_json``, ``{}``
when empty; thinking: ``thinking_delta`` joined, ``signature`` from
``signature_delta``; ``citations_delta`` appended to ``citations``; any other block as
its ``content_block_start`` value). Each ``message_delta`` sets its ``delta`` fields
(``stop_reason``, ``stop_sequence``) and overrides the ``message_start`` usage fields
it reports (non-null values only, as the anthropic SDK does). Events after
``message_stop`` are ignored. Errors: an ``error`` event answers with its data object
as the body and the status whose ``ANTHROPIC_TYPES`` entry is its ``error.type``
(the lowest such status; unknown types 500); no ``message_stop`` (or no
``message_start``) is 502; bad JSON (in a data line, or a tool input) is 502 naming
where it was.

:func:`gemini_response` reads a raw Gemini ``streamGenerateContent?alt=sse`` stream
and builds one ``GenerateContentResponse``: per candidate index, the parts in order,
consecutive text parts with the same ``thought`` flag merged into one (texts joined;
other fields such as ``thoughtSignature`` kept unless two parts disagree on one, which
keeps them apart), other parts (``functionCall``...) as they are; other candidate
fields (``finishReason``, ``safetyRatings``...) and top-level fields
(``usageMetadata``, ``modelVersion``, ``responseId``, ``promptFeedback``...) last
value wins. Errors: an in-band ``{"error": {...}}`` chunk answers with that object
and its ``code`` as status (500 unless an int in 400..599); a stream whose last chunk
for some candidate has no ``finishReason`` (or with no candidate, unless
``promptFeedback.blockReason`` blocked the prompt) is cut: 502; bad JSON is 502
naming the event number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness import _json
from harness.errors import ProviderDataError
from harness.stream.adapters import get_adapter, input_decoder
from harness.stream.adapters.base import load_json
from harness.stream.bedrock import CONVERSE_EXCEPTIONS, ConverseEvents, is_exception
from harness.stream.events import Done, StreamError, StreamEvent, Usage
from harness.stream.provider_errors import ANTHROPIC_TYPES, Family, error_body
from harness.stream.renderers.base import DEFAULT_MODEL
from harness.stream.renderers.openai_chat import DEFAULT_ID
from harness.stream.sse import Comment, ServerSentEvent, SSEDecoder

__all__ = [
    "Answer",
    "ChoiceFold",
    "OpenAIFold",
    "ToolCallFold",
    "anthropic_message",
    "converse_answer",
    "fold_openai",
    "gemini_response",
    "openai_completion",
    "reported_usage",
    "responses_answer",
]

#: ``(http_status, json_body)``.
Answer = tuple[int, dict[str, Any]]

#: HTTP status of an OpenAI-stream error, by its code.
_OPENAI_STATUS = {
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "too_many_requests": 429,
    "insufficient_quota": 429,
    "RESOURCE_EXHAUSTED": 429,
    "overloaded_error": 529,
    "UNAVAILABLE": 503,
    "service_unavailable": 503,
    "connection_closed": 502,
    "parse_error": 502,
    # Bedrock Converse's in-stream exceptions (a Converse scenario on the OpenAI routes)
    "throttlingException": 429,
    "serviceUnavailableException": 503,
    "internalServerException": 500,
    "validationException": 400,
}

#: HTTP status per Anthropic error type: ``ANTHROPIC_TYPES`` inverted. Walking the
#: statuses from high to low lets the lowest status of a shared type win
#: (``api_error`` -> 500, not 502 or 503).
_ANTHROPIC_STATUS = {kind: status for status, kind in sorted(ANTHROPIC_TYPES.items(), reverse=True)}


class _Malformed(Exception):
    """The stream cannot be aggregated; the message says where (answered as a 502)."""


# --- OpenAI ----------------------------------------------------------------------------


def openai_completion(stream: bytes) -> Answer:
    """The ``chat.completion`` (or error) a normalized OpenAI SSE stream adds up to.

    Args:
        stream: a whole stream as :func:`harness.normalize` outputs it.

    Returns:
        ``(200, completion)``, or ``(status, OpenAI error body)`` for a stream that
        ended in an error chunk, was cut before ``[DONE]`` or holds bad data (see the
        module docstring for the statuses).
    """
    fold = fold_openai(stream)
    if fold.error is not None:
        return _openai_error(fold.error)
    choices = fold.choices
    choices.setdefault(0, ChoiceFold())
    head = fold.head
    body: dict[str, Any] = {
        "id": head.get("id", DEFAULT_ID),
        "object": "chat.completion",
        "created": head.get("created", 0),
        "model": head.get("model", DEFAULT_MODEL),
    }
    if "system_fingerprint" in head:
        body["system_fingerprint"] = head["system_fingerprint"]
    body["choices"] = [choices[i].render(i) for i in sorted(choices)]
    if fold.usage is not None:
        body["usage"] = fold.usage
    return 200, body


class ChoiceFold:
    """What one choice index of an OpenAI stream has accumulated.

    Attributes:
        role: the last non-empty ``delta.role`` (``"assistant"`` until one comes).
        content, reasoning, refusal: the ``content``, ``reasoning_content`` and
            ``refusal`` fragments, in order.
        tools: the tool calls, by tool index.
        finish_reason: the last non-empty ``finish_reason``, ``None`` until one comes.
    """

    __slots__ = ("content", "finish_reason", "reasoning", "refusal", "role", "tools")

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        self.reasoning: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, ToolCallFold] = {}
        self.finish_reason: str | None = None

    def add(self, choice: dict[str, Any]) -> None:
        """Fold in one chunk's choice object."""
        delta = _obj(choice.get("delta"))
        role = delta.get("role")
        if isinstance(role, str) and role:
            self.role = role
        for key, parts in (
            ("content", self.content),
            ("reasoning_content", self.reasoning),
            ("refusal", self.refusal),
        ):
            fragment = delta.get(key)
            if isinstance(fragment, str):
                parts.append(fragment)
        for raw in _list(delta.get("tool_calls")):
            call = _obj(raw)
            index = _int(call.get("index"))
            tool = self.tools.get(index)
            if tool is None:
                tool = self.tools[index] = ToolCallFold()
            tool.add(call)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            self.finish_reason = finish

    def render(self, index: int) -> dict[str, Any]:
        """The choice of a ``chat.completion`` (``finish_reason`` ``"stop"`` if none came)."""
        message: dict[str, Any] = {
            "role": self.role,
            "content": "".join(self.content) or None,
            "refusal": "".join(self.refusal) or None,
        }
        if self.tools:
            message["tool_calls"] = [self.tools[i].render(i) for i in sorted(self.tools)]
        reasoning = "".join(self.reasoning)
        if reasoning:
            message["reasoning_content"] = reasoning
        return {
            "index": index,
            "message": message,
            "logprobs": None,
            "finish_reason": self.finish_reason or "stop",
        }


class ToolCallFold:
    """One tool call's fragments.

    Attributes:
        id: the first non-empty ``id``, ``None`` until one comes.
        name, arguments: the ``function.name`` and ``function.arguments`` fragments.
    """

    __slots__ = ("arguments", "id", "name")

    def __init__(self) -> None:
        self.id: str | None = None
        self.name: list[str] = []
        self.arguments: list[str] = []

    def add(self, call: dict[str, Any]) -> None:
        """Fold in one ``tool_calls`` entry of a delta."""
        call_id = call.get("id")
        if self.id is None and isinstance(call_id, str) and call_id:
            self.id = call_id
        function = _obj(call.get("function"))
        name, arguments = function.get("name"), function.get("arguments")
        if isinstance(name, str):
            self.name.append(name)
        if isinstance(arguments, str):
            self.arguments.append(arguments)

    def render(self, index: int) -> dict[str, Any]:
        """The tool call of a ``chat.completion`` message (arguments ``"{}"`` if none)."""
        return {
            "id": self.id or f"call_{index}",
            "type": "function",
            "function": {"name": "".join(self.name), "arguments": "".join(self.arguments) or "{}"},
        }


@dataclass(slots=True)
class OpenAIFold:
    """A normalized OpenAI stream, folded: what :func:`openai_completion` answers from.

    Attributes:
        head: the first ``id``, ``created``, ``model`` and ``system_fingerprint``
            values the chunks carry (keys only for those that came).
        choices: what each choice index accumulated, up to the end or the error.
        usage: the ``usage`` of the last chunk that has one, else ``None``.
        error: why the stream is not a complete answer, as an OpenAI error object
            (``code``, ``message``...): the stream's own error chunk, ``parse_error``
            for data that is not a JSON object, ``connection_closed`` for a stream
            cut before ``[DONE]``. ``None`` for a complete stream.
    """

    head: dict[str, Any] = field(default_factory=dict)
    choices: dict[int, ChoiceFold] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


def fold_openai(stream: bytes) -> OpenAIFold:
    """Fold a normalized OpenAI SSE stream, chunk by chunk, up to ``[DONE]`` or an error.

    Total, like :func:`openai_completion`: bad data ends the fold with an ``error``.
    """
    fold = OpenAIFold()
    try:
        _fold_openai(stream, fold)
    except _Malformed as exc:
        fold.error = {"code": "parse_error", "message": str(exc)}
    return fold


def _fold_openai(stream: bytes, fold: OpenAIFold) -> None:
    head, choices = fold.head, fold.choices
    for number, event in enumerate(_events(stream), 1):
        if event.data == "[DONE]":
            return
        if not event.data.strip():
            continue
        chunk = _load(event, number)
        error = chunk.get("error")
        if error is not None:
            fold.error = _obj(error)
            return
        for key in ("id", "created", "model", "system_fingerprint"):
            value = chunk.get(key)
            if key not in head and value is not None and value != "":
                head[key] = value
        if isinstance(chunk.get("usage"), dict):
            fold.usage = chunk["usage"]
        for raw in _list(chunk.get("choices")):
            choice = _obj(raw)
            index = _int(choice.get("index"))
            state = choices.get(index)
            if state is None:
                state = choices[index] = ChoiceFold()
            state.add(choice)
    fold.error = {
        "code": "connection_closed",
        "message": "the stream ended before [DONE]: the response is incomplete",
    }


def reported_usage(provider: str, stream: bytes) -> Usage | None:
    """The token usage that ``provider``'s own raw ``stream`` reports, if any.

    The normalized stream always ends in a usage chunk (or an error), estimating
    usage when the provider reported none; this tells the two apart. Read as the
    pipeline reads the stream: the first terminal event decides, a ``Done`` with
    the provider's usage; ``None`` when it carries none, or the stream ends in an
    error, holds bad data or is cut before its terminal event.

    Raises:
        UnknownProviderError: no adapter is registered for ``provider``.
    """
    adapter = get_adapter(provider)
    try:
        for event in input_decoder(provider).feed_items(stream):
            if isinstance(event, Comment):
                continue
            end = _terminal(adapter.feed(event))
            if end is not None:
                break
        else:
            end = _terminal(adapter.finish())
    except ProviderDataError:  # the pipeline's parse_error
        return None
    return end.usage if isinstance(end, Done) else None


def _terminal(events: Iterable[StreamEvent]) -> Done | StreamError | None:
    """The first event that ends the stream, if any."""
    for event in events:
        if isinstance(event, Done | StreamError):
            return event
    return None


def _openai_error(error: dict[str, Any]) -> Answer:
    code = error.get("code")
    if not isinstance(code, str) or not code:
        # A raw OpenAI error chunk has its kind in ``type`` and often a null ``code``.
        kind = error.get("type")
        code = kind if isinstance(kind, str) and kind else "server_error"
    status = _OPENAI_STATUS.get(code, 500)
    if code.isascii() and code.isdigit() and 400 <= int(code) <= 599:
        status = int(code)  # a Gemini error without a status reaches us as "503"
    message = error.get("message")
    text = message if isinstance(message, str) and message else None
    return status, error_body("openai", status, text, type=code)


# --- OpenAI Responses ------------------------------------------------------------------

_TERMINAL = ("response.completed", "response.incomplete")


def responses_answer(stream: bytes) -> Answer:
    """The ``Response`` (or error) an OpenAI Responses SSE stream adds up to.

    Args:
        stream: a whole ``POST /v1/responses`` stream, as the API (or the
            ``openai-responses`` renderer) sends it.

    Returns:
        ``(200, response)``, or ``(status, OpenAI error body)`` for a stream that
        ended in an ``error`` or ``response.failed`` event, was cut before its
        terminal event or holds bad data (see the module docstring).
    """
    try:
        return _responses(stream)
    except _Malformed as exc:
        return _openai_error({"code": "parse_error", "message": str(exc)})


def _responses(stream: bytes) -> Answer:
    items: dict[int, Any] = {}  # output_item.done items, by output_index
    for number, event in enumerate(_events(stream), 1):
        if not event.data.strip() or event.data == "[DONE]":
            continue
        body = _load(event, number)
        kind = body.get("type")
        if not isinstance(kind, str) or not kind:
            kind = event.event
        if kind in _TERMINAL:
            response = body.get("response")
            if not isinstance(response, dict):
                raise _Malformed(f"event {number}: {kind} has no response object")
            if not isinstance(response.get("output"), list):
                response = {**response, "output": [items[i] for i in sorted(items)]}
            return 200, response
        if kind == "error":
            nested = body.get("error")
            if isinstance(nested, dict):
                return _openai_error(nested)
            return _openai_error({"code": body.get("code"), "message": body.get("message")})
        if kind == "response.failed":
            error = _obj(_obj(body.get("response")).get("error"))
            return _openai_error(
                error or {"code": "server_error", "message": "The response failed."}
            )
        if kind == "response.output_item.done" and isinstance(body.get("item"), dict):
            items[_int(body.get("output_index"))] = body["item"]
    return _openai_error(
        {
            "code": "connection_closed",
            "message": "the stream ended before response.completed: the response is incomplete",
        }
    )


# --- Anthropic -------------------------------------------------------------------------


def anthropic_message(stream: bytes) -> Answer:
    """The ``Message`` (or error) a raw Anthropic Messages SSE stream adds up to.

    Args:
        stream: a whole ``POST /v1/messages`` stream, as the provider sent it.

    Returns:
        ``(200, message)``; ``(status, error event data)`` for an in-band ``error``
        event; ``(502, Anthropic api_error body)`` for a stream cut before
        ``message_stop`` or holding bad JSON.
    """
    try:
        return _anthropic(stream)
    except _Malformed as exc:
        return _incomplete("anthropic", str(exc))


def _anthropic(stream: bytes) -> Answer:
    message: dict[str, Any] | None = None
    blocks: dict[int, dict[str, Any]] = {}
    json_parts: dict[int, list[str]] = {}
    stop_fields: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    for number, event in enumerate(_events(stream), 1):
        if not event.data.strip():
            continue
        body = _load(event, number)
        kind = body.get("type")
        if not isinstance(kind, str) or not kind:
            kind = event.event
        if kind == "message_start":
            message = dict(_obj(body.get("message")))
        elif kind == "content_block_start":
            blocks[_int(body.get("index"))] = dict(_obj(body.get("content_block")))
        elif kind == "content_block_delta":
            _block_delta(body, blocks, json_parts)
        elif kind == "message_delta":
            stop_fields.update(_obj(body.get("delta")))
            usage.update((k, v) for k, v in _obj(body.get("usage")).items() if v is not None)
        elif kind == "error" or (kind == "message" and "error" in body):
            error_type = _obj(body.get("error")).get("type")
            status = _ANTHROPIC_STATUS.get(error_type, 500) if isinstance(error_type, str) else 500
            return status, body
        elif kind == "message_stop":
            break
    else:
        raise _Malformed("the stream ended before message_stop: the response is incomplete")
    if message is None:
        raise _Malformed("the stream has no message_start: the response is incomplete")
    for index, parts in json_parts.items():
        text = "".join(parts)
        try:
            blocks[index]["input"] = _json.loads(text) if text else {}
        except ValueError as exc:
            raise _Malformed(
                f"content block {index}: the tool input is not valid JSON ({exc})"
            ) from None
    if blocks:
        message["content"] = [blocks[i] for i in sorted(blocks)]
    message.update(stop_fields)
    message["usage"] = {**_obj(message.get("usage")), **usage}
    return 200, message


def _block_delta(
    body: dict[str, Any], blocks: dict[int, dict[str, Any]], json_parts: dict[int, list[str]]
) -> None:
    index = _int(body.get("index"))
    block = blocks.get(index)
    if block is None:
        return  # a delta for a block that never started: nothing to attach it to
    delta = _obj(body.get("delta"))
    kind = delta.get("type")
    if kind == "text_delta":
        block["text"] = _str(block.get("text")) + _str(delta.get("text"))
    elif kind == "input_json_delta":
        json_parts.setdefault(index, []).append(_str(delta.get("partial_json")))
    elif kind == "thinking_delta":
        block["thinking"] = _str(block.get("thinking")) + _str(delta.get("thinking"))
    elif kind == "signature_delta":
        block["signature"] = _str(delta.get("signature"))
    elif kind == "citations_delta":
        citations = block.get("citations")
        if not isinstance(citations, list):
            citations = block["citations"] = []
        citations.append(delta.get("citation"))


# --- Gemini ----------------------------------------------------------------------------


def gemini_response(stream: bytes) -> Answer:
    """The ``GenerateContentResponse`` (or error) a raw Gemini SSE stream adds up to.

    Args:
        stream: a whole ``streamGenerateContent?alt=sse`` stream, as the provider
            sent it.

    Returns:
        ``(200, response)``; ``(code, error chunk)`` for an in-band error;
        ``(502, Gemini error body)`` for a stream cut before a ``finishReason`` or
        holding bad JSON.
    """
    try:
        return _gemini(stream)
    except _Malformed as exc:
        return _incomplete("gemini", str(exc))


class _Candidate:
    """One candidate index: its fields (last value wins) and its merged parts."""

    __slots__ = ("fields", "finished", "parts", "role")

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {"content": None}  # content first, as Gemini does
        self.parts: list[dict[str, Any]] = []
        self.role = "model"
        self.finished = False

    def add(self, candidate: dict[str, Any], index: int) -> None:
        for key, value in candidate.items():
            if key != "content":
                self.fields[key] = value
        self.fields["index"] = index
        self.finished = candidate.get("finishReason") is not None
        content = _obj(candidate.get("content"))
        role = content.get("role")
        if isinstance(role, str) and role:
            self.role = role
        for raw in _list(content.get("parts")):
            self._add_part(_obj(raw))

    def _add_part(self, part: dict[str, Any]) -> None:
        last = self.parts[-1] if self.parts else None
        if last is not None and _mergeable(last, part):
            last["text"] += part["text"]
            last.update((k, v) for k, v in part.items() if k not in last)
        else:
            self.parts.append(dict(part))

    def render(self) -> dict[str, Any]:
        out = dict(self.fields)
        out["content"] = {"parts": self.parts, "role": self.role}
        return out


def _mergeable(last: dict[str, Any], part: dict[str, Any]) -> bool:
    """Whether text ``part`` continues text ``last``: same ``thought`` flag, no conflict."""
    if not (isinstance(last.get("text"), str) and isinstance(part.get("text"), str)):
        return False
    if bool(last.get("thought")) != bool(part.get("thought")):
        return False
    return all(last.get(k, v) == v for k, v in part.items() if k not in ("text", "thought"))


def _gemini(stream: bytes) -> Answer:
    candidates: dict[int, _Candidate] = {}
    top: dict[str, Any] = {}
    for number, event in enumerate(_events(stream), 1):
        if not event.data.strip():
            continue
        chunk = _load(event, number)
        error = chunk.get("error")
        if error is not None:
            code = _obj(error).get("code")
            if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
                return code, chunk
            return 500, chunk
        top.update((key, value) for key, value in chunk.items() if key != "candidates")
        for position, raw in enumerate(_list(chunk.get("candidates"))):
            candidate = _obj(raw)
            index = candidate.get("index", position)
            index = index if type(index) is int else position
            state = candidates.get(index)
            if state is None:
                state = candidates[index] = _Candidate()
            state.add(candidate, index)
    blocked = bool(_obj(top.get("promptFeedback")).get("blockReason"))
    finished = bool(candidates) and all(c.finished for c in candidates.values())
    if not (finished or blocked):
        raise _Malformed("the stream ended before a finishReason: the response is incomplete")
    body: dict[str, Any] = {}
    if candidates:
        body["candidates"] = [candidates[i].render() for i in sorted(candidates)]
    body.update(top)
    return 200, body


# --- Bedrock Converse ------------------------------------------------------------------


def converse_answer(stream: bytes) -> Answer:
    """The ``ConverseResponse`` (or error) a Bedrock ``ConverseStream`` adds up to.

    Args:
        stream: a whole ``converse-stream`` event stream (AWS event-stream bytes).

    Returns:
        ``(200, response)``; for a broken stream ``(status, {"message"})`` in AWS's
        shape, with the status of an exception ``Converse`` declares, so that the
        ``x-amzn-errortype`` that goes with it is one botocore knows: an exception
        message's own status (``throttlingException`` 429...), except
        ``modelStreamErrorException``, which ``Converse`` does not declare: 424
        (``ModelErrorException``); a stream cut before ``metadata``, broken framing or
        bad JSON: 500 (``InternalServerException``).
    """
    try:
        return _converse(stream)
    except (_Malformed, ProviderDataError) as exc:
        return 500, error_body("bedrock-converse", 500, str(exc))


def _converse(stream: bytes) -> Answer:
    blocks: dict[int, dict[str, Any]] = {}
    inputs: dict[int, list[str]] = {}
    role = "assistant"
    stop: dict[str, Any] = {}
    decoder = ConverseEvents()
    for number, event in enumerate(decoder.feed_items(stream), 1):
        name = event.event
        if is_exception(name) or name == "error":
            message = _str(_obj(_json_or_none(event.data)).get("message")) or name
            status = CONVERSE_EXCEPTIONS.get(name, 500)
            return status, error_body("bedrock-converse", status, message)
        body = _load(event, number)
        index = _int(body.get("contentBlockIndex"))
        if name == "messageStart":
            role = _str(body.get("role")) or role
        elif name == "contentBlockStart":
            start = _obj(body.get("start"))
            if isinstance(start.get("toolUse"), dict):  # images, tool results: no tool call
                blocks[index] = {"toolUse": {**start["toolUse"], "input": {}}}
                inputs[index] = []
        elif name == "contentBlockDelta":
            _converse_delta(_obj(body.get("delta")), blocks.setdefault(index, {}), inputs, index)
        elif name == "messageStop":
            stop = body
        elif name == "metadata":
            break
    else:
        raise _Malformed("the stream ended before metadata: the response is incomplete")
    for index, parts in inputs.items():
        text = "".join(parts)
        try:
            blocks[index]["toolUse"]["input"] = _json.loads(text) if text else {}
        except ValueError as exc:
            message = f"content block {index}: the tool input is not valid JSON ({exc})"
            raise _Malformed(message) from None
    content = [blocks[i] for i in sorted(blocks) if blocks[i]]
    answer: dict[str, Any] = {
        "output": {"message": {"role": role, "content": content}},
        "stopReason": _str(stop.get("stopReason")) or "end_turn",
    }
    if "additionalModelResponseFields" in stop:
        answer["additionalModelResponseFields"] = stop["additionalModelResponseFields"]
    answer.update((key, body[key]) for key in ("usage", "metrics") if key in body)
    return 200, answer


def _converse_delta(
    delta: dict[str, Any], block: dict[str, Any], inputs: dict[int, list[str]], index: int
) -> None:
    if "text" in delta:
        block["text"] = _str(block.get("text")) + _str(delta.get("text"))
    elif "toolUse" in delta:
        inputs.setdefault(index, []).append(_str(_obj(delta["toolUse"]).get("input")))
        block.setdefault("toolUse", {"input": {}})
    elif "reasoningContent" in delta:
        reasoning = _obj(delta["reasoningContent"])
        content = block.setdefault("reasoningContent", {})
        if "redactedContent" in reasoning:
            content["redactedContent"] = reasoning["redactedContent"]
        if "text" in reasoning or "signature" in reasoning:
            text = content.setdefault("reasoningText", {"text": ""})
            text["text"] += _str(reasoning.get("text"))
            if "signature" in reasoning:
                text["signature"] = _str(reasoning.get("signature"))


def _json_or_none(data: str) -> Any:
    try:
        return _json.loads(data)
    except ValueError:
        return None


# --- Shared ----------------------------------------------------------------------------


def _events(stream: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    return decoder.feed(stream) + decoder.flush()


def _load(event: ServerSentEvent, number: int) -> dict[str, Any]:
    try:
        return load_json(event.data)
    except ProviderDataError as exc:
        raise _Malformed(f"event {number}: {exc}") from None


def _incomplete(family: Family, message: str) -> Answer:
    kind = "api_error" if family == "anthropic" else None
    return 502, error_body(family, 502, message, type=kind)


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
