"""Turn one recorded interaction of a cassette into a scenario (``harness convert``).

The contract: replaying the scenario on its own provider's route sends **exactly the
recorded bytes**, and every recorded chunk boundary is a write boundary. Structure is
recovered where it costs no byte:

* The body is split into SSE frames (everything up to and including a blank line,
  with the WHATWG line ends CRLF, LF and CR). A frame becomes a structured step
  (``{event?, id?, retry?, data}`` or ``{comment}``) only when
  :func:`harness.mock.replay.encode_step` gives back its exact bytes; anything else (odd
  spacing, ``data:`` without a space, a mixture of line ends, a BOM, bytes that are
  not UTF-8, blank lines between events, a trailing partial event) is kept as it is
  in ``raw`` (UTF-8 text) or ``raw_b64`` steps.
* ``data`` is a mapping (or list) when the text is JSON whose compact re-encoding is
  the recorded text, character for character (OpenAI and Anthropic write compact
  JSON); otherwise the exact text after ``data: `` as a string (Gemini's spaced JSON,
  ``[DONE]``). A mapping is easier to edit and lets ``drop_usage`` act on it.
* ``newline`` is the stream's most common line end, so a CRLF stream (Gemini) is
  structured too; frames that use another line end are raw.
* A frame that a recorded chunk boundary cuts is written as one raw step per piece,
  so the replay's writes are the recording's chunks, further cut between events.
* Timing, when the cassette has it: a ``sleep_ms`` before the first write (the time
  to the first byte), then the gap between chunk arrivals before each chunk's first
  write, rounded to the millisecond (``delay_ms`` when all gaps are equal).
* A recording the upstream cut (``complete: false``) ends with ``{disconnect: true}``.

Amazon Bedrock Runtime (``/model/{modelId}/{action}``; the model id, percent-decoded,
goes into ``match.model``):

* ``converse-stream`` (``bedrock-converse``): the body is split into AWS event-stream
  messages. A message becomes ``{event, data}`` (``event`` its ``:event-type`` or
  ``:exception-type``) only when :func:`~harness.mock.replay.encode_step` gives back its
  exact bytes, so with Bedrock's three headers in Bedrock's order; ``data`` is a mapping
  when the payload's compact re-encoding is the payload, else its text. Anything else
  (other or more headers, another header type or order, an unknown event name, a
  payload that is not UTF-8, a message cut off) is a ``raw_b64`` step. Chunk
  boundaries, timing and cuts are kept as for SSE: the replay sends the exact bytes.
* ``invoke-with-response-stream`` (``anthropic``): each ``chunk`` message's base64
  ``bytes`` is decoded back into the Anthropic event it carries (``event: <type>``,
  ``data: <json>``), an exception message into Anthropic's ``error`` event. The
  scenario holds the Anthropic events, not the recorded bytes: replayed on the invoke
  route it sends the same events (each chunk's decoded bytes, each exception, the
  cut), re-framed by harness; Bedrock's ``p`` padding and other payload fields, and
  messages of any other kind, are not kept.
* ``converse`` and ``invoke``: a whole body, as below.

A whole (non-streaming) body is kept as a mapping when it is JSON whose compact
re-encoding is the recorded body, otherwise as the exact text. Before returning,
:func:`convert` replays the scenario it wrote (YAML text, parsed back) and checks the
bytes; were they ever to differ, it falls back to one ``raw_b64`` step per chunk.

``expect`` is a suggestion from the normalization pipeline (see
``docs/convert.md``): review it before trusting it.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import itertools
import os
import re
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

import yaml
from pydantic import ValidationError

from harness import _json
from harness.atomic import write_atomic
from harness.errors import UsageError
from harness.mock.replay import build_plan, encode_step
from harness.mock.scenario import MAX_DEPTH, NAME_PATTERN, Step, parse_scenario
from harness.secrets import filter_headers
from harness.stream.aggregate import ChoiceFold, ToolCallFold, fold_openai, reported_usage
from harness.stream.bedrock import CONVERSE_EVENTS, CONVERSE_EXCEPTIONS, EXCEPTION_TYPES
from harness.stream.eventstream import EventStreamDecoder, EventStreamError, EventStreamMessage
from harness.stream.formats import Provider
from harness.stream.outputs import EVENTSTREAM_CONTENT_TYPE
from harness.stream.pipeline import normalize
from harness.stream.provider_errors import Family

if TYPE_CHECKING:
    import argparse

__all__ = [
    "ConvertError",
    "FlowStep",
    "convert",
    "default_name",
    "detect_provider",
    "dump_yaml",
    "emit",
    "interaction_to_scenario",
    "run_convert",
    "scenario_yaml",
]

Newline = Literal["lf", "crlf", "cr"]

#: How deeply a data line or tool arguments may nest to be written as YAML structure:
#: a scenario file may nest MAX_DEPTH levels, a step's data sits up to six levels down
#: (the document, responses, an answer, events, a step, data) and a few more are kept
#: in reserve. Deeper JSON is kept as text.
MAX_DATA_DEPTH = MAX_DEPTH - 8
_NEWLINES: dict[Newline, bytes] = {"lf": b"\n", "crlf": b"\r\n", "cr": b"\r"}


class ConvertError(UsageError):
    """An interaction cannot be converted (unknown provider, bad index, body not text)."""


class _Chunk(Protocol):
    @property
    def data(self) -> bytes: ...
    @property
    def t(self) -> float: ...


class _Interaction(Protocol):
    """What conversion reads of :class:`harness.record.cassette.Interaction`."""

    @property
    def method(self) -> str: ...
    @property
    def uri(self) -> str: ...
    @property
    def request_headers(self) -> dict[str, list[str]]: ...
    @property
    def request_body(self) -> bytes: ...
    @property
    def status(self) -> int: ...
    @property
    def response_headers(self) -> dict[str, list[str]]: ...
    @property
    def chunks(self) -> Sequence[_Chunk]: ...
    @property
    def complete(self) -> bool: ...
    @property
    def timed(self) -> bool: ...


# --- provider detection ---------------------------------------------------------------

_GEMINI_PATH = re.compile(r"/models/([^/:]+):(?:stream)?[Gg]enerateContent$")
_AZURE_DEPLOYMENT = re.compile(r"/openai/deployments/([^/]+)/")
#: Bedrock Runtime: ``/model/{modelId}/{action}``, on the path as sent (an inference
#: profile ARN's ``/`` is ``%2F`` there).
_BEDROCK_PATH = re.compile(
    r"/model/([^/]+)/(converse-stream|converse|invoke-with-response-stream|invoke)$"
)


def _bedrock(interaction: _Interaction) -> tuple[str, str] | None:
    """``(model id, action)`` of a Bedrock Runtime request: the id percent-decoded
    (``anthropic.claude-3-5-sonnet-20240620-v1%3A0`` is ``...-v1:0``)."""
    found = _BEDROCK_PATH.search(urlsplit(interaction.uri).path.rstrip("/"))
    return (unquote(found.group(1)), found.group(2)) if found else None


def _route(interaction: _Interaction, provider: Provider) -> Family:
    """The API family whose route replays the interaction: the provider's own, but
    Bedrock's InvokeModel for an Anthropic stream recorded from it."""
    bedrock = _bedrock(interaction)
    if provider == "anthropic" and bedrock is not None and bedrock[1].startswith("invoke"):
        return "bedrock-anthropic"
    return provider


def detect_provider(interaction: _Interaction) -> Provider:
    """The provider API an interaction spoke, from its request.

    In order: Bedrock Runtime's path (``/model/{id}/converse-stream`` or ``/converse``:
    ``bedrock-converse``; ``/model/{id}/invoke-with-response-stream`` or ``/invoke``:
    ``anthropic``, Claude's events in Bedrock's framing), the path
    (``/chat/completions``, including Azure's
    ``/openai/deployments/{name}/chat/completions``; ``/responses``, including
    Azure's ``/openai/responses`` and ``/openai/deployments/{name}/responses``;
    ``/v1/messages``; ``:streamGenerateContent`` / ``:generateContent``), then request
    headers (``anthropic-version``; ``x-goog-api-key`` / ``x-goog-api-client``), then the
    shape of the request body (``contents``: Gemini; ``anthropic_version`` or a
    top-level ``system`` with ``messages``: Anthropic; ``messages``: OpenAI chat;
    ``input``: OpenAI Responses).

    Raises:
        ConvertError: nothing tells, naming the interaction's method and URI.
    """
    bedrock = _bedrock(interaction)
    if bedrock is not None:
        return "bedrock-converse" if bedrock[1].startswith("converse") else "anthropic"
    path = unquote(urlsplit(interaction.uri).path).rstrip("/")
    if path.endswith("/chat/completions"):
        return "openai"
    if path.endswith("/responses"):
        return "openai-responses"
    if path.endswith("/v1/messages") or path == "/messages":
        return "anthropic"
    if _GEMINI_PATH.search(path):
        return "gemini"
    headers = {name.lower() for name in interaction.request_headers}
    if "anthropic-version" in headers:
        return "anthropic"
    if any(name.startswith("x-goog-api-") for name in headers):
        return "gemini"
    body = _json_object(interaction.request_body)
    if body is not None:
        if "contents" in body:
            return "gemini"
        if "anthropic_version" in body or ("system" in body and "messages" in body):
            return "anthropic"
        if "messages" in body:
            return "openai"
        if "input" in body:
            return "openai-responses"
    raise ConvertError(
        f"interaction {interaction.method} {interaction.uri}: cannot tell its provider: the "
        "path is not /v1/chat/completions, /v1/responses, /v1/messages, "
        ":streamGenerateContent or Bedrock's /model/{id}/converse-stream (or converse, "
        "invoke-with-response-stream, invoke), no anthropic-version or x-goog-api-* header, "
        "and the request body has no messages, input or contents"
    )


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = _json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _model(interaction: _Interaction, provider: Provider) -> str | None:
    bedrock = _bedrock(interaction)
    if bedrock is not None:  # Bedrock: the model id is in the path, not the body
        return bedrock[0]
    path = unquote(urlsplit(interaction.uri).path)
    if provider == "gemini":
        found = _GEMINI_PATH.search(path)
        if found:
            return found.group(1)
    # Azure: the deployment in the path is what the client named as its model.
    deployment = _AZURE_DEPLOYMENT.search(path)
    if deployment:
        return deployment.group(1)
    body = _json_object(interaction.request_body)
    model = body.get("model") if body is not None else None
    return model if isinstance(model, str) and model else None


# --- response headers -------------------------------------------------------------------

#: Response headers never kept: the server sets them itself (framing, CORS), they
#: describe the recording's transport or CDN rather than the answer, or they identify
#: the account. Everything else (request ids, retry-after, x-should-retry, rate-limit
#: headers, processing times, versions) is kept.
DROPPED_HEADERS = frozenset(
    {
        "date",
        "content-length",
        "content-encoding",  # the cassette holds the decoded body
        "transfer-encoding",
        "connection",
        "keep-alive",
        "set-cookie",
        "server",
        "alt-svc",
        "via",
        "vary",
        "nel",
        "report-to",
        "strict-transport-security",
        "x-content-type-options",
        "x-frame-options",
        "x-xss-protection",
        "server-timing",
        "openai-organization",
        "openai-project",
    }
)
_DROPPED_PREFIXES = ("cf-", "access-control-")


def _headers(raw: dict[str, list[str]], *, streaming: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    # Secrets first: a cassette written by another tool may not have been filtered.
    for name, values in filter_headers(raw).items():
        key = name.lower()
        if key in DROPPED_HEADERS or key.startswith(_DROPPED_PREFIXES):
            continue
        value = ", ".join(values)
        media = value.split(";", 1)[0].strip().lower()
        if key == "content-type" and media in (
            ("text/event-stream", EVENTSTREAM_CONTENT_TYPE) if streaming else ("application/json",)
        ):
            continue  # what the server sends anyway
        if key == "cache-control" and streaming and value == "no-cache":
            continue  # the server's own for a stream
        out[key] = out[key] + ", " + value if key in out else value
    return out


def _is_stream(interaction: _Interaction, body: bytes) -> bool:
    for name, values in interaction.response_headers.items():
        if name.lower() == "content-type" and values:
            media = values[0].lower()
            return "event-stream" in media or EVENTSTREAM_CONTENT_TYPE in media
    bedrock = _bedrock(interaction)
    if bedrock is not None:
        return bedrock[1] in ("converse-stream", "invoke-with-response-stream")
    return body.lstrip(b"\xef\xbb\xbf").startswith((b"data:", b"event:", b":", b"id:"))


# --- the stream as steps ----------------------------------------------------------------

_LINE_END = re.compile(rb"\r\n|\r|\n")


def _frames(body: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of each frame: up to and including a blank line; then the rest."""
    frames: list[tuple[int, int]] = []
    start = line_start = 0
    for found in _LINE_END.finditer(body):
        if found.start() == line_start:  # a blank line ends the frame
            frames.append((start, found.end()))
            start = found.end()
        line_start = found.end()
    if start < len(body):
        frames.append((start, len(body)))
    return frames


def _newline(body: bytes) -> Newline:
    """The most common line end of the stream (LF when there is a tie or none)."""
    kinds: dict[bytes, Newline] = {b"\n": "lf", b"\r\n": "crlf", b"\r": "cr"}
    counts: dict[Newline, int] = {"lf": 0, "crlf": 0, "cr": 0}
    for found in _LINE_END.finditer(body):
        counts[kinds[found.group()]] += 1
    order: tuple[Newline, ...] = ("lf", "crlf", "cr")
    return max(order, key=lambda kind: (counts[kind], kind == "lf"))


def _structured(frame: bytes, newline: Newline) -> dict[str, Any] | None:
    """A data or comment step whose encoding is exactly ``frame``, or ``None``."""
    end = _NEWLINES[newline]
    if not frame.endswith(end + end):
        return None
    try:
        text = frame[: -2 * len(end)].decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split(end.decode())
    if any("\r" in line or "\n" in line for line in lines):
        return None
    candidates: list[dict[str, Any]] = []
    if all(line.startswith(":") for line in lines):
        candidates.append({"comment": "\n".join(line[1:].removeprefix(" ") for line in lines)})
    else:
        step: dict[str, Any] = {}
        index = 0
        for field in ("event", "id", "retry"):
            if index < len(lines) and lines[index].startswith(f"{field}: "):
                value = lines[index][len(field) + 2 :]
                if field == "retry":
                    if not (value.isascii() and value.isdigit()):
                        return None
                    step[field] = int(value)
                else:
                    step[field] = value
                index += 1
        data = lines[index:]
        if not data or not all(line.startswith("data: ") for line in data):
            return None
        text = "\n".join(line[6:] for line in data)
        parsed = _compact_json(text)
        if parsed is not None:
            candidates.append({**step, "data": parsed})
        candidates.append({**step, "data": text})
    for candidate in candidates:
        try:
            if encode_step(Step.model_validate(candidate), newline) == frame:
                return _ordered(candidate)
        except ValidationError:
            return None
    return None


def _ordered(step: dict[str, Any]) -> dict[str, Any]:
    """``event``, ``id`` and ``retry`` first, as on the wire."""
    order = ("event", "id", "retry", "data", "comment")
    return {key: step[key] for key in order if key in step}


def _compact_json(text: str) -> dict[str, Any] | list[Any] | None:
    """The JSON object or array ``text`` holds if re-encoding it compactly gives ``text``."""
    try:
        value = _json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict | list) or _json.depth(value) > MAX_DATA_DEPTH:
        return None  # deeper than a scenario file may nest: kept as text
    try:
        again = _json.dumps(value, allow_nan=False)
    except ValueError:
        return None
    return value if again == text else None


def _raw(data: bytes) -> dict[str, Any]:
    try:
        return {"raw": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"raw_b64": base64.b64encode(data).decode("ascii")}


def _raw_b64(data: bytes) -> dict[str, Any]:
    return {"raw_b64": base64.b64encode(data).decode("ascii")}


_Structure = Callable[[bytes], dict[str, Any] | None]
_Pieces = list[tuple[dict[str, Any], int]]


def _pieces(
    chunks: Sequence[_Chunk],
    body: bytes,
    frames: list[tuple[int, int]],
    structure: _Structure,
    raw: Callable[[bytes], dict[str, Any]],
) -> _Pieces:
    """Each write as ``(step, index of the chunk it starts in)``.

    ``frames`` cut the body into its events (``(start, end)``); ``structure`` gives the
    step whose encoding is exactly a frame's bytes (or ``None``); ``raw`` the step of
    bytes as they are. A frame that a recorded chunk boundary cuts is one raw step per
    piece.
    """
    starts: list[int] = []  # where each non-empty chunk starts
    numbers: list[int] = []  # and its index in ``chunks``
    offset = 0
    for number, chunk in enumerate(chunks):
        if chunk.data:
            starts.append(offset)
            numbers.append(number)
        offset += len(chunk.data)
    boundaries = starts[1:]

    def chunk_at(position: int) -> int:
        return numbers[bisect.bisect_right(starts, position) - 1]

    out: _Pieces = []
    for start, end in frames:
        cuts = boundaries[
            bisect.bisect_right(boundaries, start) : bisect.bisect_left(boundaries, end)
        ]
        structured = None if cuts else structure(body[start:end])
        if structured is not None:
            out.append((structured, chunk_at(start)))
            continue
        for begin, stop in zip([start, *cuts], [*cuts, end], strict=True):
            out.append((raw(body[begin:stop]), chunk_at(begin)))
    return out


def _sse_pieces(chunks: Sequence[_Chunk], body: bytes) -> tuple[_Pieces, Newline]:
    """An SSE stream's writes, and its line end."""
    newline = _newline(body)
    pieces = _pieces(chunks, body, _frames(body), lambda f: _structured(f, newline), _raw)
    return pieces, newline


# --- AWS event streams (Bedrock) ----------------------------------------------------------

#: The names a Converse step may have: its events and its exceptions.
_CONVERSE_NAMES = frozenset((*CONVERSE_EVENTS, *CONVERSE_EXCEPTIONS))


def _message_spans(body: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of each whole event-stream message, then of the rest, if any (a
    message cut off, or bytes after the framing broke)."""
    try:
        count = len(EventStreamDecoder().feed(body))
    except EventStreamError as error:
        count = len(error.messages)
    spans: list[tuple[int, int]] = []
    position = 0
    for _ in range(count):
        (total,) = struct.unpack_from("!I", body, position)
        spans.append((position, position + total))
        position += total
    if position < len(body):
        spans.append((position, len(body)))
    return spans


def _message(frame: bytes) -> EventStreamMessage | None:
    """The one whole event-stream message ``frame`` holds, or ``None``."""
    decoder = EventStreamDecoder()
    try:
        messages = decoder.feed(frame)
    except EventStreamError:
        return None
    return messages[0] if len(messages) == 1 and not decoder.pending else None


def _converse_step(frame: bytes) -> dict[str, Any] | None:
    """The Converse step ``{event, data}`` whose message is exactly ``frame``, or ``None``
    (other headers, in another order or of another type, an unknown name, a payload
    that is not UTF-8)."""
    message = _message(frame)
    if message is None:
        return None
    kind = message.headers.get(":message-type")
    name = message.headers.get(":exception-type" if kind == "exception" else ":event-type")
    if type(name) is not str or name not in _CONVERSE_NAMES:
        return None
    try:
        text = message.payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    parsed = _compact_json(text)
    candidates: list[dict[str, Any]] = [{"event": name, "data": text}]
    if parsed is not None:
        candidates.insert(0, {"event": name, "data": parsed})
    for candidate in candidates:
        try:
            step = Step.model_validate(candidate)
            if encode_step(step, provider="bedrock-converse") == frame:
                return candidate
        except ValueError:  # pydantic's ValidationError, or a payload too large
            continue
    return None


def _converse_pieces(chunks: Sequence[_Chunk], body: bytes) -> _Pieces:
    """A Converse stream's writes: a step per message, raw_b64 for anything else."""
    return _pieces(chunks, body, _message_spans(body), _converse_step, _raw_b64)


#: The Anthropic error type whose ``error`` event Bedrock sends as each exception.
_ERROR_TYPES = {exception: kind for kind, exception in EXCEPTION_TYPES.items()}
_ERROR_TYPES["modelStreamErrorException"] = "modelStreamErrorException"  # any other type


@dataclass(frozen=True)
class _InvokeEvent:
    """One Anthropic event of an InvokeModelWithResponseStream stream.

    Attributes:
        end: the offset after its message in the body.
        event: the event's name (``error`` for an exception message).
        data: the event's data, as the Anthropic route sends it.
        key: what the invoke route must send back for it: a chunk's decoded bytes, an
            exception's type and message.
    """

    end: int
    event: str
    data: str
    key: tuple[str, ...]


def _invoke_event(message: EventStreamMessage, end: int) -> _InvokeEvent | None:
    """The Anthropic event of one message: a ``chunk`` event's base64 ``bytes``
    decoded (other payload fields, such as Bedrock's ``p`` padding, are not kept), an
    exception as Anthropic's ``error`` event; ``None`` for any other message."""
    headers = message.headers
    payload = _json_object(message.payload) or {}
    if headers.get(":message-type") == "exception":
        name = headers.get(":exception-type")
        text = payload.get("message")
        if type(name) is not str or name not in _ERROR_TYPES or not isinstance(text, str):
            return None
        error = {"type": "error", "error": {"type": _ERROR_TYPES[name], "message": text}}
        return _InvokeEvent(end, "error", _json.dumps(error), ("exception", name, text))
    if headers.get(":message-type") != "event" or headers.get(":event-type") != "chunk":
        return None
    try:
        blob = base64.b64decode(str(payload.get("bytes")), validate=True)
        data = blob.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    kind = (_json_object(blob) or {}).get("type")
    if not isinstance(kind, str) or not kind or "\r" in data:
        return None
    return _InvokeEvent(end, kind, data, ("chunk", data))


def _invoke_events(body: bytes) -> tuple[list[_InvokeEvent], int]:
    """The Anthropic events of an InvokeModelWithResponseStream body, and how many
    messages (or trailing bytes) are not one."""
    events: list[_InvokeEvent] = []
    left_out = 0
    for start, end in _message_spans(body):
        message = _message(body[start:end])
        event = None if message is None else _invoke_event(message, end)
        if event is None:
            left_out += 1
        else:
            events.append(event)
    return events, left_out


def _invoke_pieces(chunks: Sequence[_Chunk], body: bytes) -> tuple[_Pieces, int]:
    """An invoke stream's Anthropic events as steps, each with the chunk its message
    ends in (when the client can read it), and how many messages were left out."""
    ends: list[int] = []
    offset = 0
    for chunk in chunks:
        offset += len(chunk.data)
        ends.append(offset)
    events, left_out = _invoke_events(body)
    pieces: _Pieces = []
    for event in events:
        parsed = _compact_json(event.data)
        step = {"event": event.event, "data": event.data if parsed is None else parsed}
        pieces.append((step, bisect.bisect_left(ends, event.end)))
    return pieces, left_out


def _timed_steps(
    pieces: _Pieces, chunks: Sequence[_Chunk], timed: bool
) -> tuple[list[dict[str, Any]], float | None]:
    """The steps with ``sleep_ms`` pauses, and a ``delay_ms`` when every gap is equal."""
    steps = [step for step, _ in pieces]
    if not timed or not pieces:
        return steps, None
    times = [round(chunks[index].t * 1000) for _, index in pieces]
    for position in range(1, len(times)):  # arrival times never go backwards
        times[position] = max(times[position], times[position - 1])
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    first = max(times[0], 0)
    delay: float | None = None
    if gaps and len(set(gaps)) == 1 and gaps[0] > 0:
        delay, gaps = gaps[0], [0] * len(gaps)
    out: list[dict[str, Any]] = [{"sleep_ms": first}] if first > 0 else []
    out.append(steps[0])
    for gap, step in zip(gaps, steps[1:], strict=True):
        if gap > 0:
            out.append({"sleep_ms": gap})
        out.append(step)
    return out, delay


def _raw_steps(chunks: Sequence[_Chunk], timed: bool) -> list[dict[str, Any]]:
    """The fallback: one raw_b64 step per recorded chunk, with its pause."""
    out: list[dict[str, Any]] = []
    previous = 0
    for chunk in chunks:
        if not chunk.data:
            continue
        now = max(round(chunk.t * 1000), previous) if timed else 0
        if now > previous:
            out.append({"sleep_ms": now - previous})
        previous = now
        out.append(_raw_b64(chunk.data))
    return out


# --- expect ---------------------------------------------------------------------------


def expected_outcome(provider: str, stream: bytes) -> dict[str, Any]:
    """What a correct client concludes from ``provider``'s raw ``stream``, as ``expect``
    fields, read by the normalization pipeline.

    ``text`` (``""``: none); ``reasoning`` when there is some; ``tool_calls`` (``[]``:
    none; left out when a call's arguments are not a JSON object, as a cut leaves
    them); ``finish_reason`` (one of the four, ``absent`` when the stream carries none,
    left out for another value); ``error`` ``{code}`` for a stream that breaks;
    otherwise ``usage`` as the provider reported it, or ``absent``. The conformance
    kit checks clients against it (:mod:`harness.conformance.matrix`); ``harness
    convert`` suggests what of it is present (:func:`_suggest_expect`).
    """
    fold = fold_openai(b"".join(normalize(provider, [stream])))
    choice = fold.choices.get(0) or ChoiceFold()
    expect: dict[str, Any] = {"text": "".join(choice.content)}
    if "".join(choice.reasoning):
        expect["reasoning"] = "".join(choice.reasoning)
    calls = _tool_calls(choice.tools)
    if calls is not None:
        expect["tool_calls"] = calls
    if choice.finish_reason is None:
        expect["finish_reason"] = "absent"
    elif choice.finish_reason in ("stop", "length", "tool_calls", "content_filter"):
        expect["finish_reason"] = choice.finish_reason
    if fold.error is not None:  # the pipeline ends a broken stream in an error chunk
        expect["error"] = {"code": str(fold.error.get("code") or fold.error.get("type"))}
        return expect
    usage = reported_usage(provider, stream)
    expect["usage"] = (
        {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        }
        if usage is not None
        else "absent"
    )
    return expect


def _suggest_expect(provider: Provider, body: bytes) -> dict[str, Any]:
    """The ``expect`` fields :func:`expected_outcome` finds present: no absence demand,
    no empty text or tool calls, no finish reason beside an error (a suggestion for a
    person to review; usage only when the provider reported it, as an estimate changes
    with the estimator)."""
    found = expected_outcome(provider, body)
    return {
        key: value
        for key, value in found.items()
        if value not in ("absent", "", []) and not (key == "finish_reason" and "error" in found)
    }


def _tool_calls(calls: dict[int, ToolCallFold]) -> list[dict[str, Any]] | None:
    """``[{name, arguments}]`` in index order; ``None`` if any arguments are not an object."""
    out: list[dict[str, Any]] = []
    for index in sorted(calls):
        call = calls[index]
        try:
            arguments = _json.loads("".join(call.arguments) or "{}")
        except ValueError:
            return None
        if not isinstance(arguments, dict) or _json.depth(arguments) > MAX_DATA_DEPTH:
            return None
        out.append({"name": "".join(call.name), "arguments": arguments})
    return out


# --- the scenario -----------------------------------------------------------------------


def interaction_to_scenario(
    interaction: _Interaction,
    *,
    name: str,
    provider: Provider | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """One interaction as a version 1 scenario: a mapping ready for ``yaml.safe_dump``.

    Args:
        interaction: a :class:`harness.record.cassette.Interaction`.
        name: the scenario's name.
        provider: the API it spoke (default: :func:`detect_provider`).
        source: where it comes from (``<cassette>#<index>``), for ``source`` and the
            description.

    Raises:
        ConvertError: the provider cannot be told, or a whole body is not UTF-8.
    """
    provider = provider or detect_provider(interaction)
    body = b"".join(chunk.data for chunk in interaction.chunks)
    streaming = _is_stream(interaction, body)
    where = source or "a recorded interaction"
    path = urlsplit(interaction.uri).path
    scenario: dict[str, Any] = {"version": 1, "name": name}
    described = f"Converted from {where}: {interaction.method} {path}, HTTP {interaction.status}"
    scenario["description"] = described
    scenario["provider"] = provider
    if source is not None:
        scenario["source"] = source
    scenario["tags"] = ["converted"]
    model = _model(interaction, provider)
    if model is not None:
        scenario["match"] = {"model": model}
    if interaction.status != 200:
        scenario["status"] = interaction.status
    headers = _headers(interaction.response_headers, streaming=streaming)
    if headers:
        scenario["headers"] = headers
    if streaming:
        events = _stream(interaction, body, provider)
        scenario["description"] += events.described(interaction.complete)
        if events.delay is not None:
            scenario["delay_ms"] = events.delay
        if events.newline != "lf":
            scenario["newline"] = events.newline
        scenario["events"] = events.steps
    else:
        scenario["description"] += ", a whole body" + (
            "" if interaction.complete else " (cut by the upstream; the cut is not replayed)"
        )
        scenario["body"] = _body(body, interaction)
    if interaction.status >= 400:
        scenario["expect"] = {"error": {"status": interaction.status}}
    elif streaming:
        expect = _suggest_expect(provider, events.stream)
        if expect:
            scenario["expect"] = expect
    return scenario


@dataclass
class _Events:
    """A recorded stream as scenario steps.

    Attributes:
        steps: the steps, pauses and a final disconnect included.
        delay: the ``delay_ms`` (every gap equal), or ``None``.
        newline: the stream's line end (SSE).
        structured: how many steps are events.
        raw: how many are raw writes.
        left_out: how many recorded messages the steps do not hold (invoke streams).
        stream: the stream in the provider's own format, for the ``expect`` suggestion.
    """

    steps: list[dict[str, Any]]
    delay: float | None
    newline: Newline
    structured: int
    raw: int
    left_out: int
    stream: bytes

    def described(self, complete: bool) -> str:
        """The description's account of the stream."""
        raw, left_out = self.raw, self.left_out
        return (
            f", a stream of {self.structured} event{'s' if self.structured != 1 else ''}"
            + (f" and {raw} raw write{'s' if raw != 1 else ''}" if raw else "")
            + (
                f" ({left_out} recorded message{'s' if left_out != 1 else ''} that the "
                "invoke route cannot send left out)"
                if left_out
                else ""
            )
            + ("" if complete else ", cut by the upstream")
        )


def _stream(interaction: _Interaction, body: bytes, provider: Provider) -> _Events:
    """The steps of a recorded stream: SSE frames, Converse messages, or the Anthropic
    events inside an InvokeModelWithResponseStream stream."""
    newline: Newline = "lf"
    left_out = 0
    stream = body
    if provider == "bedrock-converse":
        pieces = _converse_pieces(interaction.chunks, body)
    elif _route(interaction, provider) == "bedrock-anthropic":
        pieces, left_out = _invoke_pieces(interaction.chunks, body)
        stream = b"".join(encode_step(Step.model_validate(step)) for step, _ in pieces)
    else:
        pieces, newline = _sse_pieces(interaction.chunks, body)
    steps, delay = _timed_steps(pieces, interaction.chunks, interaction.timed)
    if not interaction.complete:
        steps.append({"disconnect": True})
    structured = sum(1 for step, _ in pieces if "data" in step or "comment" in step)
    return _Events(steps, delay, newline, structured, len(pieces) - structured, left_out, stream)


def _body(body: bytes, interaction: _Interaction) -> str | dict[str, Any] | list[Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ConvertError(
            f"interaction {interaction.method} {interaction.uri}: the response body is not "
            "UTF-8 text, which a scenario's body cannot hold"
        ) from None
    parsed = _compact_json(text)
    return parsed if parsed is not None else text


class _Dumper(yaml.SafeDumper):
    """The safe dumper, with each stream step on one line (flow style), as in the library."""


class FlowStep(dict[str, Any]):
    """A stream step, written on one line by :func:`dump_yaml`."""


def _represent_step(dumper: yaml.SafeDumper, step: FlowStep) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", step.items(), flow_style=True)


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    # Line breaks as \n escapes in double quotes: one line per step, and no YAML line
    # folding to puzzle over.
    style = '"' if "\n" in text or "\r" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(FlowStep, _represent_step)
_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any) -> str:
    """``data`` as YAML the way the built-in library is written: keys in their order,
    UTF-8 as is, each :class:`FlowStep` on one line, text with line breaks in double
    quotes (``\\n`` escapes)."""
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
    return text


def _dump(scenario: dict[str, Any], *, tool: str = "harness convert") -> str:
    """The scenario as YAML text, after a comment saying ``tool`` generated it."""
    data = dict(scenario)
    if isinstance(data.get("events"), list):
        data["events"] = [FlowStep(step) for step in data["events"]]
    text = dump_yaml(data)
    where = re.sub(r"[\r\n]", " ", str(scenario.get("source", "a cassette")))
    header = f"# Generated by `{tool}` from {where}."
    return header + " The expect block is a suggestion: review it.\n" + text


def _replayed(text: str, target: Family) -> tuple[int, bytes, bool] | None:
    """What replaying ``text`` on ``target``'s route sends; ``None`` if it cannot."""
    try:
        scenario = parse_scenario(text, name="converted")
        plan = build_plan(scenario, scenario.answers[0], target=target, stream=True)
    except UsageError:
        return None
    return plan.status, b"".join(write.data for write in plan.writes), plan.abort


def _replays_invoke(text: str, interaction: _Interaction, body: bytes) -> bool:
    """Whether ``text`` on Bedrock's InvokeModel route sends the recorded stream's
    Anthropic events (each chunk's decoded bytes, each exception) and its cut."""
    replayed = _replayed(text, "bedrock-anthropic")
    if replayed is None:
        return False
    status, data, abort = replayed
    wanted = [event.key for event in _invoke_events(body)[0]]
    got = [event.key for event in _invoke_events(data)[0]]
    return (status, got, abort) == (interaction.status, wanted, not interaction.complete)


def scenario_yaml(
    interaction: _Interaction,
    *,
    name: str,
    provider: Provider | None = None,
    source: str | None = None,
) -> str:
    """:func:`interaction_to_scenario` as YAML text, checked to replay the recorded bytes
    (for a stream recorded from Bedrock's InvokeModel: its Anthropic events).

    Raises:
        ConvertError: ``name`` is not a valid scenario name, or as
            :func:`interaction_to_scenario`.
    """
    if not NAME_PATTERN.fullmatch(name):
        raise ConvertError(
            f"{name!r} is not a valid scenario name (letters, digits, '_', '.', '-' in "
            "segments joined by '/', none starting with '.')"
        )
    provider = provider or detect_provider(interaction)
    scenario = interaction_to_scenario(interaction, name=name, provider=provider, source=source)
    text = _dump(scenario)
    body = b"".join(chunk.data for chunk in interaction.chunks)
    route = _route(interaction, provider)
    if route == "bedrock-anthropic" and "events" in scenario:
        if _replays_invoke(text, interaction, body):
            return text
        raise ConvertError(
            f"interaction {interaction.method} {interaction.uri}: the Anthropic events of "
            "this InvokeModelWithResponseStream stream cannot be replayed as recorded (an "
            "event whose data has a CR, or an Anthropic error event inside a chunk)"
        )
    wanted = (interaction.status, body, "events" in scenario and not interaction.complete)
    # A whole error body on the invoke route goes in AWS's shape: checked as recorded.
    if any(_replayed(text, target) == wanted for target in dict.fromkeys((route, provider))):
        return text
    if "events" in scenario:  # a safety net: never reached unless the above has a bug
        steps = _raw_steps(interaction.chunks, interaction.timed)
        if not interaction.complete:
            steps.append({"disconnect": True})
        scenario.pop("delay_ms", None)
        scenario.pop("newline", None)
        scenario["events"] = steps
        text = _dump(scenario)
        if _replayed(text, provider) == wanted:
            return text
    raise ConvertError(  # pragma: no cover
        f"interaction {interaction.method} {interaction.uri}: the converted scenario does not "
        "replay the recorded bytes (please report this)"
    )


def convert(
    cassette_path: str | os.PathLike[str], *, interaction: int = 0, name: str | None = None
) -> str:
    """The YAML text of the scenario for one interaction of a cassette.

    Args:
        cassette_path: a cassette written by ``harness record`` or vcrpy.
        interaction: which interaction, counting from 0 in recording order.
        name: the scenario's name (default: the cassette's file name, with ``-N``
            for an interaction other than the first).

    Raises:
        CassetteError: the cassette cannot be read.
        ConvertError: no such interaction (naming how many there are), or it cannot
            be converted.
    """
    from harness.record.cassette import load_cassette

    interactions = load_cassette(Path(cassette_path))
    count = len(interactions)
    if not 0 <= interaction < count:
        have = f"0 to {count - 1}" if count > 1 else "only 0" if count == 1 else "none"
        raise ConvertError(
            f"{os.fspath(cassette_path)}: no interaction {interaction}: the cassette has "
            f"{count} interaction{'s' if count != 1 else ''} ({have})"
        )
    source = f"{os.fspath(cassette_path)}#{interaction}"
    if name is None:
        name = default_name(cassette_path) + (f"-{interaction}" if interaction else "")
    try:
        return scenario_yaml(interactions[interaction], name=name, source=source)
    except ConvertError as exc:
        raise ConvertError(f"{source}: {exc}") from None


def default_name(path: str | os.PathLike[str]) -> str:
    """A scenario name from a file name: without ``.yaml`` / ``.scenario``, made valid."""
    stem = Path(path).name
    for suffix in (".yaml", ".yml", ".scenario"):
        stem = stem.removesuffix(suffix)
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).lstrip(".-_") or "converted"
    return cleaned


# --- the command ------------------------------------------------------------------------


def run_convert(args: argparse.Namespace) -> int:
    """``harness convert``: 0 written; 1 bad cassette or interaction; 2 unusable arguments.

    Writes the scenario to ``args.output`` atomically (:mod:`harness.atomic`: a kill
    at any moment leaves the file old or new, whole, and no temporary file),
    refusing to replace an existing file unless ``args.force``; or to standard
    output.
    """
    output = Path(args.output) if args.output else None
    name = args.name
    if name is not None and not NAME_PATTERN.fullmatch(name):
        return _fail(
            f"--name {name!r} is not a valid scenario name (letters, digits, '_', '.', '-' "
            "in segments joined by '/', none starting with '.')",
            2,
        )
    if name is None and output is not None:
        name = default_name(output)
    if output is not None and os.path.lexists(output) and not args.force:
        return _fail(f"{output} exists; pass --force to overwrite it", 2)
    try:
        text = convert(args.cassette, interaction=args.interaction, name=name)
    except UsageError as exc:  # CassetteError and ConvertError
        return _fail(str(exc), 1)
    return emit(output, text, force=args.force, tool="harness convert")


def emit(path: Path | None, text: str, *, force: bool, tool: str) -> int:
    """Write a scenario's ``text`` to ``path`` (atomically, never over an existing file
    without ``force``), or to standard output for ``None``; say so on standard error.

    Returns the exit status: 0 written, 2 the file exists, 1 it cannot be written.
    """
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return 0
    try:
        _write(path, text.encode("utf-8"), force=force)
    except _Exists:
        return _fail(f"{path} exists; pass --force to overwrite it", 2, tool)
    except OSError as exc:
        return _fail(f"cannot write {path}: {exc.strerror or exc}", 1, tool)
    print(f"{tool}: wrote {path}", file=sys.stderr)
    return 0


def _fail(message: str, code: int, tool: str = "harness convert") -> int:
    print(f"{tool}: {message}", file=sys.stderr)
    return code


class _Exists(Exception):
    """The output file exists (or appeared while writing) and ``--force`` was not given."""


def _write(path: Path, data: bytes, *, force: bool) -> None:
    """Write atomically (:func:`harness.atomic.write_atomic`): a kill at any moment
    leaves ``path`` old or new, whole, and no temporary file.

    Without ``force`` an existing file is never replaced, even one that appears
    while writing (the new file is hard-linked into place, which fails if ``path``
    exists).

    Raises:
        _Exists: ``path`` exists and ``force`` is false.
        OSError: the file cannot be written.
    """
    try:
        write_atomic(path, data, overwrite=force)
    except FileExistsError:
        if force:
            raise
        raise _Exists(path) from None
