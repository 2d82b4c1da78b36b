"""Turn a capture pasted in an issue or saved by a tool into a scenario (``harness import``).

The contract is :mod:`harness.record.convert`'s: replaying the scenario on its
provider's own route sends **exactly the captured body**, byte for byte. A capture is
made into the interaction :func:`~harness.record.convert.interaction_to_scenario`
reads (status, response headers, body, timing, whether it was cut), so SSE frames,
Bedrock Converse messages, raw steps, header filtering and the suggested ``expect``
are convert's; the YAML is parsed back and replayed before it is returned.

Formats, told apart by their first bytes (:func:`detect_format`), in this order:

* ``aws-eventstream``: a binary AWS event-stream body (a valid 12-byte prelude):
  ``bedrock-converse``.
* ``har``: a HAR file (JSON, ``log.entries[]``). Each entry whose response is a
  stream (content type ``text/event-stream`` or ``application/vnd.amazon.eventstream``,
  or a body that starts like SSE) is one capture; ``--entry N`` picks any entry. The
  body is ``response.content.text`` (base64 when ``encoding: base64``). HAR has no
  per-chunk timing: ``timings.wait`` becomes a ``sleep_ms`` before the first event and
  ``timings.receive`` is spread evenly between the events (``delay_ms`` =
  receive / (events - 1), rounded to the millisecond).
* ``curl-v``: ``curl -v`` output (``< `` lines the response's status and headers, ``> ``
  the request's, ``* `` curl's own; the body follows the response headers).
* ``curl-i``: ``curl -i`` output (a status line, headers, a blank line, the body; an
  interim ``1xx`` or a proxy's ``Connection established`` block is skipped).
* ``sse``: raw SSE text (``event:`` / ``data:`` blocks, as pasted or as ``curl -N``
  prints it).

A stream whose last event has no blank line after it ends mid-event: the scenario
sends the captured bytes, then cuts the connection (``{disconnect: true}``), and says
so. Response headers are filtered (:func:`harness.secrets.filter_headers`, then
convert's dropped headers); request headers are never kept (the request's path,
headers and body only help tell the provider and the model).

The provider is ``--provider``, else told from the events (Anthropic's
``message_start``..., OpenAI's ``chat.completion.chunk`` or ``[DONE]``, Responses'
``response.*``, Gemini's ``candidates``, an event-stream: ``bedrock-converse``), else
from the request when the capture has one (:func:`~harness.record.convert.detect_provider`).

This module imports only the standard library at load time (``harness`` builds its
argument parser from :func:`add_import_arguments`); the rest comes when it runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UsageError
from harness.stream.formats import PROVIDERS, Provider

if TYPE_CHECKING:
    import argparse

__all__ = [
    "FORMATS",
    "Capture",
    "ImportCaptureError",
    "add_import_arguments",
    "detect_format",
    "detect_provider_from_body",
    "import_capture",
    "read_captures",
    "run_import",
]

#: The formats :func:`detect_format` tries, in order, and how errors describe them.
FORMATS: dict[str, str] = {
    "aws-eventstream": "a binary AWS event-stream (Bedrock Converse)",
    "har": "a HAR file (JSON with log.entries)",
    "curl-v": "curl -v output ('< HTTP/...' and '< name: value' lines, then the body)",
    "curl-i": "curl -i output (an HTTP status line, headers, a blank line, the body)",
    "sse": "raw SSE text or curl -N output ('event:' / 'data:' / ':' lines)",
}

#: How a description names each format.
_LABELS: dict[str, str] = {
    "aws-eventstream": "an AWS event-stream capture",
    "har": "a HAR file",
    "curl-v": "curl -v output",
    "curl-i": "curl -i output",
    "sse": "pasted SSE text",
}
_EVENTSTREAM = "application/vnd.amazon.eventstream"
_SSE_START = re.compile(rb"(?:data|event|id|retry)[:\r\n]|:")
_LINE_END = re.compile(rb"\r\n|\r|\n")
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})[^\r\n]*(?:\r\n|\r|\n)")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_ANTHROPIC_TYPES = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
    }
)


class ImportCaptureError(UsageError):
    """A capture cannot be imported (no known format, no provider, a bad HAR entry)."""


@dataclass(frozen=True)
class _Chunk:
    data: bytes
    t: float = 0.0


@dataclass
class Capture:
    """One captured response, in the shape :mod:`harness.record.convert` reads.

    Attributes:
        format: which of :data:`FORMATS` it came from.
        body: the response body, exactly as captured.
        status: the HTTP status (200 when the capture has none).
        response_headers: as captured (filtered when converted).
        method, uri, request_headers, request_body: the request, when the capture has
            it (curl -v, HAR): only used to tell the provider and the model.
        entry: the HAR entry's index.
        wait_ms, receive_ms: HAR's ``timings.wait`` and ``timings.receive``.
        chunks, complete, timed: set by :func:`import_capture` from the above.
    """

    format: str
    body: bytes
    status: int = 200
    response_headers: dict[str, list[str]] = field(default_factory=dict)
    method: str = "POST"
    uri: str = ""
    request_headers: dict[str, list[str]] = field(default_factory=dict)
    request_body: bytes = b""
    entry: int | None = None
    wait_ms: float | None = None
    receive_ms: float | None = None
    chunks: list[_Chunk] = field(default_factory=list)
    complete: bool = True
    timed: bool = False


# --- formats ------------------------------------------------------------------------------


def _is_eventstream(data: bytes) -> bool:
    """Whether ``data`` starts with a valid AWS event-stream prelude."""
    if len(data) < 16:
        return False
    total, headers, crc = struct.unpack_from("!III", data)
    return bool(crc == zlib.crc32(data[:8]) and total >= 16 and headers <= total - 16)


def _looks_sse(body: bytes) -> bool:
    return bool(_SSE_START.match(body.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")))


def _har_log(data: bytes) -> dict[str, Any] | None:
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{"):
        return None
    try:
        value = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None
    log = value.get("log") if isinstance(value, dict) else None
    return log if isinstance(log, dict) and isinstance(log.get("entries"), list) else None


def detect_format(data: bytes) -> str | None:
    """Which of :data:`FORMATS` ``data`` is, or ``None``."""
    if _is_eventstream(data):
        return "aws-eventstream"
    if _har_log(data) is not None:
        return "har"
    if re.search(rb"^< HTTP/\d", data, re.MULTILINE):
        return "curl-v"
    if _STATUS_LINE.match(data.lstrip(b"\r\n")):
        return "curl-i"
    if _looks_sse(data):
        return "sse"
    return None


def read_captures(data: bytes, *, entry: int | None = None) -> list[Capture]:
    """The captures ``data`` holds: one, or a HAR's streamed entries (``entry``: just
    that entry of ``log.entries``, counting from 0).

    Raises:
        ImportCaptureError: no format fits (naming those tried), or a bad HAR.
    """
    kind = detect_format(data)
    if kind is None:
        tried = "; ".join(FORMATS.values())
        raise ImportCaptureError(
            f"not a capture harness can import ({len(data)} bytes); tried: {tried}"
        )
    if entry is not None and kind != "har":
        raise ImportCaptureError(f"--entry is for HAR files; this is {FORMATS[kind]}")
    if kind == "har":
        log = _har_log(data)
        assert log is not None
        return _har_captures(log["entries"], entry)
    if kind == "curl-v":
        return [_curl_v(data)]
    if kind == "curl-i":
        return [_curl_i(data)]
    media = "text/event-stream" if kind == "sse" else _EVENTSTREAM
    return [Capture(kind, data, response_headers={"content-type": [media]})]


def _header_lines(lines: list[bytes]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, colon, value = line.decode("latin-1").partition(":")
        if colon and name.strip() and not name.startswith(":"):
            headers.setdefault(name.strip(), []).append(value.strip())
    return headers


def _curl_i(data: bytes) -> Capture:
    """``curl -i``: status line, headers, blank line, body; interim blocks skipped."""
    position = len(data) - len(data.lstrip(b"\r\n"))
    while True:
        status = _STATUS_LINE.match(data, position)
        assert status is not None
        blank = _BLANK_LINE.search(data, status.start())
        head_end = blank.start() if blank else len(data)
        body_start = blank.end() if blank else len(data)
        code = int(status.group(1))
        following = _STATUS_LINE.match(data, body_start)
        if following is None or not (code < 200 or b"established" in status.group(0).lower()):
            break
        position = body_start
    lines = _LINE_END.split(data[status.end() : head_end])
    return Capture("curl-i", data[body_start:], status=code, response_headers=_header_lines(lines))


_CURL_NOISE = re.compile(rb"(?:^(?:\* |[{}] \[)[^\r\n]*(?:\r\n|\r|\n|\Z))+", re.MULTILINE)
_CURL_LEFT_INTACT = re.compile(rb"\* Connection #\d+ to host \S+ left intact\r?\n?\Z")


def _curl_v(data: bytes) -> Capture:
    """``curl -v`` (with ``2>&1``): the last ``< `` block is the response's head."""
    lines = data.splitlines(keepends=True)
    starts = [index for index, line in enumerate(lines) if line.startswith(b"< HTTP/")]
    first = starts[-1]
    head: list[bytes] = []
    index = first + 1
    while index < len(lines) and lines[index].rstrip(b"\r\n") not in (b"<", b"< "):
        if lines[index].startswith(b"< "):
            head.append(lines[index][2:].rstrip(b"\r\n"))
        index += 1
    body = b"".join(lines[index + 1 :])
    body = _CURL_LEFT_INTACT.sub(b"", body)
    lead = _CURL_NOISE.match(body)
    body = body[lead.end() :] if lead else body
    tail = re.search(rb"(?:(?:^|(?<=\n))(?:\* |[{}] \[)[^\r\n]*(?:\r\n|\r|\n|\Z))+\Z", body)
    body = body[: tail.start()] if tail else body
    status = _STATUS_LINE.match(lines[first][2:] + b"\n")
    assert status is not None
    request = [line[2:].rstrip(b"\r\n") for line in lines[:first] if line.startswith(b"> ")]
    capture = Capture("curl-v", body, status=int(status.group(1)))
    capture.response_headers = _header_lines(head)
    if request:
        capture.request_headers = _header_lines(request[1:])
        parts = request[0].decode("latin-1").split()
        host = next(iter(capture.request_headers.get("Host", ["localhost"])), "localhost")
        if len(parts) >= 2:
            capture.method, capture.uri = parts[0], f"https://{host}{parts[1]}"
    return capture


# --- HAR --------------------------------------------------------------------------------


def _har_headers(value: object) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            name = item["name"]
            if name and not name.startswith(":"):  # HTTP/2 pseudo-headers
                headers.setdefault(name, []).append(str(item.get("value", "")))
    return headers


def _har_body(content: dict[str, Any], where: str) -> bytes:
    text = content.get("text")
    if not isinstance(text, str):
        return b""
    if content.get("encoding") == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except binascii.Error:
            raise ImportCaptureError(f"{where}: response.content.text is not base64") from None
    return text.encode("utf-8", "surrogatepass")


def _har_capture(entry: object, index: int) -> Capture:
    where = f"HAR entry {index}"
    if not isinstance(entry, dict) or not isinstance(entry.get("response"), dict):
        raise ImportCaptureError(f"{where}: not an entry with a response")
    response, request = entry["response"], entry.get("request")
    request = request if isinstance(request, dict) else {}
    content = response.get("content")
    content = content if isinstance(content, dict) else {}
    headers = _har_headers(response.get("headers"))
    mime = content.get("mimeType")
    if isinstance(mime, str) and mime and not any(n.lower() == "content-type" for n in headers):
        headers["content-type"] = [mime]
    status = response.get("status")
    post = request.get("postData")
    post_text = post.get("text") if isinstance(post, dict) else None
    timings = entry.get("timings")
    timings = timings if isinstance(timings, dict) else {}
    return Capture(
        "har",
        _har_body(content, where),
        status=status if isinstance(status, int) and 100 <= status <= 599 else 200,
        response_headers=headers,
        method=str(request.get("method") or "POST"),
        uri=str(request.get("url") or ""),
        request_headers=_har_headers(request.get("headers")),
        request_body=post_text.encode("utf-8") if isinstance(post_text, str) else b"",
        entry=index,
        wait_ms=_timing(timings.get("wait")),
        receive_ms=_timing(timings.get("receive")),
    )


def _timing(value: object) -> float | None:
    """A HAR timing in milliseconds; ``None`` when absent or ``-1`` (does not apply)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return float(value) if 0 <= value < 86_400_000 else None


def _har_captures(entries: list[Any], entry: int | None) -> list[Capture]:
    if entry is not None:
        if not 0 <= entry < len(entries):
            have = f"0 to {len(entries) - 1}" if entries else "none"
            raise ImportCaptureError(
                f"no HAR entry {entry}: the file has {len(entries)} entries ({have})"
            )
        return [_har_capture(entries[entry], entry)]
    captures = [_har_capture(item, index) for index, item in enumerate(entries)]
    streams = [capture for capture in captures if _streaming(capture)]
    if not streams:
        raise ImportCaptureError(
            f"none of the HAR's {len(entries)} entries is a stream (text/event-stream, "
            f"{_EVENTSTREAM}, or a body that starts like SSE); pick one with --entry N"
        )
    return streams


# --- the scenario -----------------------------------------------------------------------


def _content_type(capture: Capture) -> str | None:
    for name, values in capture.response_headers.items():
        if name.lower() == "content-type" and values:
            return values[0].lower()
    return None


def _streaming(capture: Capture) -> bool:
    media = _content_type(capture)
    if media is not None:
        return "event-stream" in media or _EVENTSTREAM in media
    return _looks_sse(capture.body) or _is_eventstream(capture.body)


def _ends_with_blank_line(body: bytes) -> bool:
    line_start, blank_at_end = 0, False
    for found in _LINE_END.finditer(body):
        blank_at_end = found.start() == line_start and found.end() == len(body)
        line_start = found.end()
    return blank_at_end


def detect_provider_from_body(body: bytes) -> Provider | None:
    """The provider whose stream (or whole JSON body) ``body`` is, or ``None``."""
    if _is_eventstream(body):
        return "bedrock-converse"
    text = body.decode("utf-8", "replace")
    done = False
    for line in re.split(r"\r\n|\r|\n", text):
        if line.startswith("event:"):
            name = line[6:].strip()
            if name in _ANTHROPIC_TYPES:
                return "anthropic"
            if name.startswith("response."):
                return "openai-responses"
        elif line.startswith("data:"):
            payload = line[5:].strip()
            done = done or payload == "[DONE]"
            found = _json_provider(payload)
            if found is not None:
                return found
    return "openai" if done else _json_provider(text.strip())


def _json_provider(text: str) -> Provider | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and value:  # Gemini's streamed JSON array
        value = value[0]
    if not isinstance(value, dict):
        return None
    kind, kind_of = value.get("type"), value.get("object")
    if kind_of in ("chat.completion.chunk", "chat.completion"):
        return "openai"
    if (isinstance(kind, str) and kind.startswith("response.")) or kind_of == "response":
        return "openai-responses"
    if kind in _ANTHROPIC_TYPES or (kind == "error" and isinstance(value.get("error"), dict)):
        return "anthropic"
    if "candidates" in value or "usageMetadata" in value:
        return "gemini"
    return None


def _provider(capture: Capture, given: str | None) -> Provider:
    for provider in PROVIDERS:
        if provider == given:
            return provider
    found = detect_provider_from_body(capture.body)
    if found is not None:
        return found
    if capture.uri or capture.request_headers or capture.request_body:
        from harness.record.convert import ConvertError, detect_provider

        try:
            return detect_provider(capture)
        except ConvertError:
            pass
    raise ImportCaptureError(
        "cannot tell the provider from the capture (no Anthropic message_start/ping..., "
        "OpenAI chat.completion.chunk or [DONE], Responses response.*, Gemini candidates, "
        f"AWS event-stream): pass --provider ({', '.join(PROVIDERS)})"
    )


#: The last event of a whole stream, per provider, as it shows in SSE text.
_TERMINAL = re.compile(
    rb"data: \[DONE\]|\"type\": ?\"(?:message_stop|response\.(?:completed|incomplete|failed))\""
    rb"|\"finishReason\""
)


def _ends_in_terminal(body: bytes) -> bool:
    """Whether the last event of SSE text is a provider's terminal event."""
    last = body.rstrip(b"\r\n").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return bool(_TERMINAL.search(last.rpartition(b"\n\n")[2]))


def _prepare(capture: Capture) -> list[str]:
    """Set the capture's chunks, completeness and timing; the notes to tell about them."""
    from harness.record.convert import _frames, _message_spans

    body, notes = capture.body, []
    streaming = _streaming(capture)
    if streaming and _content_type(capture) is None:  # as convert will see it
        media = _EVENTSTREAM if _is_eventstream(body) else "text/event-stream"
        capture.response_headers["content-type"] = [media]
    binary = streaming and _EVENTSTREAM in (_content_type(capture) or "")
    trimmed = body and not _ends_with_blank_line(body) and _ends_in_terminal(body)
    if streaming and not binary and trimmed:
        # An editor trims the blank line after a pasted stream's last event; when that
        # event is the stream's terminal one, the stream was whole.
        end = b"\r\n" if b"\r\n" in body else b"\n"
        body = capture.body = body + (end if body.endswith(end) else end + end)
        notes.append(
            "The capture ended without the blank line after its last event, the stream's "
            "terminal event: the blank line was added (the stream was whole)."
        )
    spans = (_message_spans(body) if binary else _frames(body)) if streaming else [(0, len(body))]
    if streaming and body:
        capture.complete = _whole_messages(body) if binary else _ends_with_blank_line(body)
    if not capture.complete:
        notes.append(
            "The capture ends mid-event (no blank line after its last event"
            + (", or a message cut off" if binary else "")
            + "): the replay sends the captured bytes, then cuts the connection."
        )
    capture.chunks = [_Chunk(body[start:end]) for start, end in spans]
    wait, receive = capture.wait_ms, capture.receive_ms
    if streaming and capture.format == "har" and (wait or receive):
        first = round(wait or 0)
        gap = round((receive or 0) / (len(spans) - 1)) if len(spans) > 1 else 0
        capture.chunks = [
            _Chunk(body[start:end], (first + number * gap) / 1000)
            for number, (start, end) in enumerate(spans)
        ]
        capture.timed = True
        notes.append(
            f"HAR has no per-chunk timing: the first event comes after timings.wait "
            f"({first} ms), then timings.receive ({round(receive or 0)} ms) is spread evenly "
            f"between the {len(spans)} events: delay_ms {gap}."
        )
    return notes


def _whole_messages(body: bytes) -> bool:
    from harness.stream.eventstream import EventStreamDecoder, EventStreamError

    decoder = EventStreamDecoder()
    try:
        decoder.feed(body)
    except EventStreamError:
        return False
    return not decoder.pending


def import_capture(
    capture: Capture, *, name: str, provider: str | None = None, source: str = "a capture"
) -> str:
    """The YAML text of the scenario for ``capture``, checked to replay its exact body.

    Args:
        capture: from :func:`read_captures`.
        name: the scenario's name.
        provider: the provider (default: told from the capture).
        source: where the capture comes from, for ``source`` and the description.

    Raises:
        ImportCaptureError: an empty body, no provider, or a scenario that does not
            replay the capture (please report it).
        ConvertError: as :func:`harness.record.convert.interaction_to_scenario`.
    """
    from harness.mock.scenario import NAME_PATTERN
    from harness.record.convert import _dump, interaction_to_scenario

    if not NAME_PATTERN.fullmatch(name):
        raise ImportCaptureError(f"{name!r} is not a valid scenario name")
    if not capture.body:
        raise ImportCaptureError(f"{source}: the captured body is empty")
    chosen = _provider(capture, provider)
    notes = _prepare(capture)
    scenario = interaction_to_scenario(capture, name=name, provider=chosen, source=source)
    scenario["description"] = _description(scenario["description"], capture, source)
    scenario["tags"] = ["imported"]
    text = _dump(scenario, tool="harness import")
    if notes:
        first, rest = text.split("\n", 1)
        text = "\n".join([first, *(f"# {note}" for note in notes), rest])
    _check(text, capture, chosen, name)
    return text


def _description(converted: str, capture: Capture, source: str) -> str:
    """Convert's description, said of an import: its account of the events kept."""
    from urllib.parse import urlsplit

    path = urlsplit(capture.uri).path
    prefix = f"Converted from {source}: {capture.method} {path}, HTTP {capture.status}"
    account = converted.removeprefix(prefix).removesuffix(", cut by the upstream")
    request = f": {capture.method} {path}" if path else ""
    described = f"Imported from {source} ({_LABELS[capture.format]}){request}"
    described += f", HTTP {capture.status}{account}"
    if not capture.complete:
        described += ", ending mid-event (the replay then cuts the connection)"
    return described


def _check(text: str, capture: Capture, provider: Provider, name: str) -> None:
    """Raise unless ``text`` replays the captured status, body and cut."""
    from harness.mock.replay import build_plan
    from harness.mock.scenario import parse_scenario

    scenario = parse_scenario(text, name=name)
    plan = build_plan(scenario, scenario.answers[-1], target=provider, stream=True)
    sent = (plan.status, b"".join(write.data for write in plan.writes), plan.abort)
    if sent != (capture.status, capture.body, not capture.complete):
        raise ImportCaptureError(
            f"the scenario made of this capture does not replay its exact bytes on the "
            f"{provider} route (please report this)"
        )


# --- the command ------------------------------------------------------------------------


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``harness import``."""
    parser.add_argument("file", metavar="FILE", help="the capture ('-': standard input)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="scenario file to write, or a folder (ending in '/', or existing) for one file "
        "per streamed HAR entry (default: standard output)",
    )
    parser.add_argument(
        "--provider", choices=PROVIDERS, help="the provider (default: told from the events)"
    )
    parser.add_argument(
        "--name", help="the scenario's name (default: from the output path, else 'imported')"
    )
    parser.add_argument(
        "--entry",
        type=int,
        metavar="N",
        help="HAR: import log.entries[N] (counting from 0) instead of every streamed entry",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing scenario files")


def run_import(args: argparse.Namespace) -> int:
    """``harness import``: 0 written; 1 unreadable or unusable capture; 2 unusable arguments.

    Writes atomically, never replacing an existing file without ``args.force``
    (convert's ``_write``); nothing is written unless every scenario could be made.
    """
    from harness.mock.scenario import NAME_PATTERN

    name = getattr(args, "name", None)
    if name is not None and not NAME_PATTERN.fullmatch(name):
        return _fail(
            f"--name {name!r} is not a valid scenario name (letters, digits, "
            "'_', '.', '-' in segments joined by '/', none starting with '.')",
            2,
        )
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        captures = read_captures(data, entry=getattr(args, "entry", None))
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}", 1)
    except UsageError as exc:
        return _fail(f"{'stdin' if args.file == '-' else args.file}: {exc}", 1)
    targets = _targets(args, captures)
    if isinstance(targets, str):
        return _fail(targets, 2)
    texts: list[tuple[Path | None, str]] = []
    source = "standard input" if args.file == "-" else os.fspath(args.file)
    for (path, scenario_name), capture in zip(targets, captures, strict=True):
        where = source if capture.entry is None else f"{source}#{capture.entry}"
        try:
            text = import_capture(capture, name=scenario_name, provider=args.provider, source=where)
        except UsageError as exc:
            return _fail(f"{where}: {exc}", 1)
        texts.append((path, text))
    return _emit(texts, force=bool(args.force))


def _is_folder(output: str) -> bool:
    return output.endswith(("/", os.sep)) or Path(output).is_dir()


def _targets(
    args: argparse.Namespace, captures: list[Capture]
) -> list[tuple[Path | None, str]] | str:
    """Where each scenario goes and its name, or why the arguments cannot do."""
    from harness.record.convert import default_name

    output: str | None = args.output
    targets: list[tuple[Path | None, str]]
    if output is not None and _is_folder(output):
        base = args.name or "imported"
        several = len(captures) > 1
        names = [f"{base}-{c.entry}" if several else base for c in captures]
        targets = [(Path(output) / f"{n.replace('/', '-')}.yaml", n) for n in names]
    elif len(captures) > 1:
        listed = ", ".join(f"{c.entry}: {c.method} {c.uri}" for c in captures)
        return (
            f"the HAR has {len(captures)} streamed entries ({listed}): pass --entry N, or "
            "-o FOLDER/ for one scenario file each"
        )
    else:
        path = Path(output) if output is not None else None
        fallback = default_name(path) if path is not None else "imported"
        targets = [(path, args.name or fallback)]
    if not args.force:
        for path, _ in targets:
            if path is not None and os.path.lexists(path):
                return f"{path} exists; pass --force to overwrite it"
    return targets


def _emit(texts: list[tuple[Path | None, str]], *, force: bool) -> int:
    from harness.record.convert import emit

    for path, text in texts:
        code = emit(path, text, force=force, tool="harness import")
        if code:
            return code
    return 0


def _fail(message: str, code: int) -> int:
    print(f"harness import: {message}", file=sys.stderr)
    return code
