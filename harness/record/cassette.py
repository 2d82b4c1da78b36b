"""Cassettes: vcrpy's YAML format, plus the chunk boundaries and timing vcrpy drops.

A cassette written here is a plain vcrpy cassette (``version: 1``, ``interactions``
of ``request``/``response``), written with vcrpy's own serializer, so vcrpy and
pytest-recording load and replay it. What vcrpy does not keep goes under each
interaction's ``response``, in a ``harness`` key that vcrpy ignores::

    response:
      status: {code: 200, message: OK}
      headers: {content-type: [text/event-stream]}
      body: {string: "data: ...\\n\\ndata: ...\\n\\n"}
      harness:
        version: 1
        chunks: [[120, 0.2113], [98, 0.2521]]   # [size in bytes, seconds since sent]
        complete: true                          # false: the upstream cut the body

The body is stored once (vcrpy's ``body.string``); the chunks are its successive
slices. :func:`load_cassette` also reads cassettes vcrpy or pytest-recording wrote
(any HTTP library): without the ``harness`` key, the body is one chunk at ``t=0``.

Secrets never reach the disk: :func:`save_cassette` drops secret headers and query
parameters (:mod:`harness.secrets`) from everything it writes, whatever the caller
filtered already.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from vcr.request import Request as _VcrRequest  # type: ignore[import-untyped]
from vcr.serialize import serialize as _vcr_serialize  # type: ignore[import-untyped]
from vcr.serializers import yamlserializer as _yamlserializer  # type: ignore[import-untyped]

from harness.atomic import write_atomic
from harness.errors import UsageError
from harness.secrets import filter_headers, filter_uri

__all__ = [
    "CASSETTE_VERSION",
    "HARNESS_KEY_VERSION",
    "RECORD_MODES",
    "CassetteError",
    "Chunk",
    "Interaction",
    "RecordMode",
    "RecordStart",
    "load_cassette",
    "save_cassette",
    "start_recording",
]

#: vcrpy's cassette format version (the top-level ``version``).
CASSETTE_VERSION = 1
#: The version of the ``harness`` key under each response.
HARNESS_KEY_VERSION = 1

#: vcrpy's record modes, as ``save_cassette`` and ``harness record`` apply them.
RecordMode = Literal["none", "once", "new_episodes", "all"]
RECORD_MODES: tuple[str, ...] = get_args(RecordMode)


class CassetteError(UsageError):
    """A cassette cannot be read or written. The message names the file, the
    interaction (counting from 0) when there is one, and what is wrong.

    Attributes:
        path: the cassette file.
        index: the interaction, or ``None`` for the file as a whole.
        problem: what is wrong.
    """

    def __init__(self, path: str | Path, problem: str, *, index: int | None = None) -> None:
        self.path = str(path)
        self.index = index
        self.problem = problem
        where = self.path if index is None else f"{self.path}: interaction {index}"
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Chunk:
    """One piece of a response body as it arrived.

    Attributes:
        data: the bytes, exactly as read (not decoded, not decompressed).
        t: seconds from the request being sent upstream to this chunk's arrival.
    """

    data: bytes
    t: float


@dataclass(frozen=True)
class Interaction:
    """One request and the response it got.

    Attributes:
        method: the HTTP method, upper case.
        uri: the full URL the request went to (secret query parameters dropped).
        request_headers: name -> values (secret headers dropped).
        request_body: the request body (``b""`` for none).
        status: the HTTP status.
        reason: the reason phrase (may be ``""``).
        response_headers: name -> values, as the upstream sent them (secrets dropped).
        chunks: the body in the pieces it arrived in, with arrival times.
        complete: ``False`` when the upstream cut the body (an error mid-body), or the
            recording stopped before it ended.
    """

    method: str
    uri: str
    request_headers: dict[str, list[str]]
    request_body: bytes
    status: int
    reason: str
    response_headers: dict[str, list[str]]
    chunks: tuple[Chunk, ...] = ()
    complete: bool = True

    @property
    def body(self) -> bytes:
        """The whole response body: every chunk, joined."""
        return b"".join(chunk.data for chunk in self.chunks)

    @property
    def timed(self) -> bool:
        """Whether chunk arrival times were recorded (a plain vcrpy cassette has none)."""
        return any(chunk.t > 0 for chunk in self.chunks)


# --------------------------------------------------------------------------- loading


def load_cassette(path: str | Path) -> list[Interaction]:
    """The interactions of a cassette, in recording order.

    Reads what ``harness record`` writes and plain vcrpy / pytest-recording cassettes
    (recorded through httpx, httpx2, requests, aiohttp...). An interaction without
    the ``harness`` key has its body as one chunk at ``t=0.0`` (no chunk for an
    empty body) and ``complete=True``.

    Raises:
        CassetteError: the file is missing or unreadable, not YAML, not a version 1
            vcrpy cassette, or an interaction lacks a field or has a wrong one.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CassetteError(path, "no such cassette file") from None
    except IsADirectoryError:
        raise CassetteError(path, "is a folder, not a cassette file") from None
    except UnicodeDecodeError as exc:
        raise CassetteError(path, f"not UTF-8 text (at byte offset {exc.start})") from None
    except OSError as exc:
        raise CassetteError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = _yamlserializer.deserialize(text)
    except yaml.YAMLError as exc:
        raise CassetteError(path, f"not valid YAML: {_yaml_problem(exc)}") from None
    if isinstance(data, list):
        raise CassetteError(
            path, "a list at the top level: not a vcrpy cassette (or one from before vcrpy 1.0)"
        )
    if not isinstance(data, dict):
        raise CassetteError(
            path, f"expected a mapping with 'version' and 'interactions', got {_kind(data)}"
        )
    if "version" not in data:
        raise CassetteError(path, "version: missing (a vcrpy cassette has 'version: 1')")
    if data["version"] != CASSETTE_VERSION:
        raise CassetteError(
            path, f"version: unsupported cassette version {data['version']!r} (expected 1)"
        )
    raw = data.get("interactions")
    if not isinstance(raw, list):
        problem = "missing" if raw is None else f"expected a list, got {_kind(raw)}"
        raise CassetteError(path, f"interactions: {problem}")
    return [_interaction(path, index, item) for index, item in enumerate(raw)]


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1} column {mark.column + 1}: {problem}"
    return str(problem)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string", bytes: "bytes"}
    return names.get(type(value), type(value).__name__)


class _Fields:
    """Reads the fields of one interaction, raising CassetteError naming the field."""

    def __init__(self, path: Path, index: int) -> None:
        self.path = path
        self.index = index

    def fail(self, field: str, problem: str) -> CassetteError:
        return CassetteError(self.path, f"{field}: {problem}", index=self.index)

    def mapping(self, parent: Mapping[str, Any], key: str, field: str) -> dict[str, Any]:
        if key not in parent:
            raise self.fail(field, "missing")
        value = parent[key]
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a mapping, got {_kind(value)}")
        return value

    def string(self, parent: Mapping[str, Any], key: str, field: str) -> str:
        if key not in parent:
            raise self.fail(field, "missing")
        value = parent[key]
        if not isinstance(value, str):
            raise self.fail(field, f"expected a string, got {_kind(value)}")
        return value

    def status(self, value: object, field: str) -> int:
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
            raise self.fail(field, f"expected an HTTP status (100-599), got {value!r}")
        return value

    def headers(self, parent: Mapping[str, Any], key: str, field: str) -> dict[str, list[str]]:
        value = parent.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(field, f"expected a mapping of names to values, got {_kind(value)}")
        out: dict[str, list[str]] = {}
        for name, values in value.items():
            items = values if isinstance(values, list) else [values]
            if not isinstance(name, str) or not all(
                isinstance(v, str | int | float) and not isinstance(v, bool) for v in items
            ):
                raise self.fail(f"{field}.{name}", "expected a string or a list of strings")
            out[name] = [str(v) for v in items]
        return out

    def body(self, value: object, field: str) -> bytes:
        if value is None:
            return b""
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            try:
                return value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise self.fail(field, f"a lone surrogate at character {exc.start}") from None
        if isinstance(value, io.BytesIO):  # vcrpy's file-like request bodies
            return value.getvalue()
        if isinstance(value, list) and all(isinstance(v, bytes | str) for v in value):
            return b"".join(v.encode() if isinstance(v, str) else v for v in value)
        raise self.fail(field, f"expected a string or binary, got {_kind(value)}")


def _interaction(path: Path, index: int, raw: object) -> Interaction:
    f = _Fields(path, index)
    if not isinstance(raw, dict):
        raise CassetteError(path, f"expected a mapping, got {_kind(raw)}", index=index)
    request = f.mapping(raw, "request", "request")
    response = f.mapping(raw, "response", "response")
    method = f.string(request, "method", "request.method").upper()
    uri = f.string(request, "uri", "request.uri")
    request_headers = f.headers(request, "headers", "request.headers")
    request_body = f.body(request.get("body"), "request.body")

    if "status_code" in response:  # httpx cassettes of vcrpy before 4.x
        status = f.status(response["status_code"], "response.status_code")
        reason = ""
        body = f.body(response.get("content"), "response.content")
    else:
        status_map = f.mapping(response, "status", "response.status")
        if "code" not in status_map:
            raise f.fail("response.status.code", "missing")
        status = f.status(status_map["code"], "response.status.code")
        message = status_map.get("message")
        reason = "" if message is None else str(message)
        body_map = f.mapping(response, "body", "response.body")
        if "string" not in body_map:
            raise f.fail("response.body.string", "missing")
        body = f.body(body_map["string"], "response.body.string")
    response_headers = f.headers(response, "headers", "response.headers")

    chunks: tuple[Chunk, ...] = (Chunk(body, 0.0),) if body else ()
    complete = True
    extra = response.get("harness")
    if extra is not None:
        chunks, complete = _harness_key(f, extra, body)
    return Interaction(
        method=method,
        uri=uri,
        request_headers=request_headers,
        request_body=request_body,
        status=status,
        reason=reason,
        response_headers=response_headers,
        chunks=chunks,
        complete=complete,
    )


def _harness_key(f: _Fields, extra: object, body: bytes) -> tuple[tuple[Chunk, ...], bool]:
    field = "response.harness"
    if not isinstance(extra, dict):
        raise f.fail(field, f"expected a mapping, got {_kind(extra)}")
    version = extra.get("version")
    if version != HARNESS_KEY_VERSION:
        raise f.fail(f"{field}.version", f"unsupported version {version!r} (expected 1)")
    complete = extra.get("complete", True)
    if not isinstance(complete, bool):
        raise f.fail(f"{field}.complete", f"expected true or false, got {complete!r}")
    raw_chunks = extra.get("chunks")
    if raw_chunks is None:
        return ((Chunk(body, 0.0),) if body else ()), complete
    if not isinstance(raw_chunks, list):
        raise f.fail(f"{field}.chunks", f"expected a list, got {_kind(raw_chunks)}")
    chunks = []
    offset = 0
    for number, item in enumerate(raw_chunks):
        where = f"{field}.chunks[{number}]"
        if not (
            isinstance(item, list)
            and len(item) == 2
            and isinstance(item[0], int)
            and not isinstance(item[0], bool)
            and item[0] >= 0
            and isinstance(item[1], int | float)
            and not isinstance(item[1], bool)
            and math.isfinite(item[1])
            and item[1] >= 0
        ):
            raise f.fail(where, f"expected [size in bytes >= 0, seconds >= 0], got {item!r}")
        size, t = item
        chunks.append(Chunk(body[offset : offset + size], float(t)))
        offset += size
    if offset != len(body):
        raise f.fail(
            f"{field}.chunks",
            f"the chunk sizes add up to {offset} bytes but the body has {len(body)}",
        )
    return tuple(chunks), complete


# --------------------------------------------------------------------------- saving


class _Request(_VcrRequest):  # type: ignore[misc]
    """vcrpy's request, keeping every value of a repeated header (vcrpy keeps the first)."""

    def __init__(self, method: str, uri: str, body: bytes, headers: dict[str, list[str]]) -> None:
        super().__init__(method, uri, body, {name: values[0] for name, values in headers.items()})
        self._all_headers = headers

    def _to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = super()._to_dict()
        data["headers"] = {name: list(values) for name, values in self._all_headers.items()}
        return data


def _response(interaction: Interaction, headers: dict[str, list[str]]) -> dict[str, Any]:
    body = interaction.body
    response: dict[str, Any] = {
        "status": {"code": interaction.status, "message": interaction.reason},
        "headers": headers,
        "body": {"string": body},
    }
    chunks = interaction.chunks
    # Plain vcrpy already says everything about a complete body that arrived at once.
    if not interaction.complete or len(chunks) > 1 or interaction.timed:
        response["harness"] = {
            "version": HARNESS_KEY_VERSION,
            "chunks": [[len(c.data), round(c.t, 6)] for c in chunks],
            "complete": interaction.complete,
        }
    return response


def _render(interactions: Sequence[Interaction]) -> str:
    requests = []
    responses = []
    for interaction in interactions:
        requests.append(
            _Request(
                interaction.method,
                filter_uri(interaction.uri),
                interaction.request_body,
                filter_headers(interaction.request_headers),
            )
        )
        responses.append(_response(interaction, filter_headers(interaction.response_headers)))
    text: str = _vcr_serialize({"requests": requests, "responses": responses}, _yamlserializer)
    return text


# --------------------------------------------------------------------------- record modes


@dataclass(frozen=True)
class RecordStart:
    """What a record mode allows with one cassette, decided once, before recording.

    Attributes:
        records: whether anything is recorded and written (``False`` for ``none``).
        base: the interactions already in the cassette that new ones follow
            (``new_episodes`` over an existing cassette; else none).
        overwrite: whether a write may replace the file: ``all``, or ``new_episodes``
            over the cassette it read. Otherwise a write creates the file and never
            replaces one that appeared meanwhile.
    """

    records: bool
    base: tuple[Interaction, ...] = ()
    overwrite: bool = False


def start_recording(path: Path | None, mode: str, *, option: str = "") -> RecordStart:
    """Apply record mode ``mode`` to the cassette at ``path``: vcrpy's rules, in one place.

    ``once`` refuses an existing cassette, ``new_episodes`` reads it to append to it
    (or creates it), ``all`` overwrites it, ``none`` records nothing. ``path=None``
    records in memory only: nothing to refuse or read.

    Args:
        path: the cassette, or ``None``.
        mode: one of :data:`RECORD_MODES`.
        option: how the caller's user names a mode, put before it in the hint of a
            refusal (``"--record-mode "`` on the command line).

    Raises:
        UsageError: ``mode`` is unknown (a :class:`CassetteError` naming the file when
            there is one).
        CassetteError: ``once`` and the cassette exists; ``new_episodes`` and the
            existing cassette cannot be read.
    """
    if mode not in RECORD_MODES:
        problem = f"unknown record mode {mode!r} (one of {', '.join(RECORD_MODES)})"
        raise UsageError(problem) if path is None else CassetteError(path, problem)
    if mode == "none":
        return RecordStart(records=False)
    if mode == "all" or path is None or not path.exists():
        return RecordStart(records=True, overwrite=mode == "all")
    if mode == "once":
        raise CassetteError(
            path,
            "already exists; record mode 'once' never overwrites a cassette "
            f"({option}new_episodes appends, all overwrites)",
        )
    return RecordStart(records=True, base=tuple(load_cassette(path)), overwrite=True)


def save_cassette(
    path: str | Path, interactions: Sequence[Interaction], *, mode: RecordMode = "once"
) -> None:
    """Write ``interactions`` to the cassette at ``path``, vcrpy-compatible.

    ``mode`` follows vcrpy's record modes (:func:`start_recording`): ``once`` refuses
    an existing file, ``new_episodes`` appends to the interactions already there (or
    creates the file), ``all`` overwrites, ``none`` writes nothing (and says so).
    Secret headers and query parameters are dropped from everything written. The
    write is atomic (:func:`harness.atomic.write_atomic`): a reader, or a kill at any
    moment, sees the old cassette or the new one, never half of one, and no temporary
    file is left behind. Only ``all`` (and ``new_episodes`` over the cassette it just
    read) replaces a file; a cassette that appears while ``once`` or ``new_episodes``
    writes a new one is left alone. Missing parent folders are created.

    Raises:
        CassetteError: the mode is unknown or forbids the write, the existing
            cassette (for ``new_episodes``) cannot be read, or the file cannot be
            written.
    """
    path = Path(path)
    start = start_recording(path, mode)
    if not start.records:
        raise CassetteError(path, "record mode 'none' writes nothing")
    _write(path, _render([*start.base, *interactions]), overwrite=start.overwrite)


def _write(path: Path, text: str, *, overwrite: bool) -> None:
    try:
        write_atomic(path, text.encode("utf-8"), overwrite=overwrite)
    except FileExistsError:
        raise CassetteError(
            path,
            "appeared while it was being written; not overwritten "
            "(record mode 'all' overwrites a cassette)",
        ) from None
    except OSError as exc:
        raise CassetteError(path, f"cannot write: {exc.strerror or exc}") from None
