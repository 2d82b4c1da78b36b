"""Scenario files: the YAML format (``version: 1``), its schema, and the loader.

A scenario is one recorded (or hand-written) provider answer: the stream as steps,
its timing, and what a correct client concludes from it. ``docs/scenarios.md`` is the
reference for every field; the pydantic models below are the single source of truth
for what is accepted, and every model forbids unknown fields, so a typo is an error
instead of a silently ignored setting.

Loading never trusts the file: a file over :data:`MAX_FILE_BYTES` is refused before it
is read, YAML is parsed with the safe loader, alias bombs and deep nesting are refused
before anything is built (``docs/security.md``), duplicate keys are errors, and every
problem is reported as ``file:line: field: what was expected``.
Loading a folder reports every broken file at once (:class:`ScenarioSetError`).

Scenario *names* are identifiers, never paths: a name is checked against
:data:`NAME_PATTERN` (no ``..``, no leading ``/``), and the server only looks names
up in the set loaded at start, so no request can make it read a file.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import fnmatch
import functools
import importlib
import os
import re
import typing
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness.errors import ScenarioError, ScenarioSetError
from harness.stream.bedrock import CONVERSE_EVENTS
from harness.stream.formats import Provider
from harness.stream.provider_errors import CONVERSE_EXCEPTIONS

if TYPE_CHECKING:
    import yaml
else:

    class _LazyModule:
        """A module imported when one of its names is first read: PyYAML is needed only
        to parse a scenario file, and a library read from the cache parses none."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attribute: str) -> Any:
            return getattr(importlib.import_module(self._name), attribute)

    yaml = _LazyModule("yaml")

__all__ = [
    "NAME_PATTERN",
    "Expect",
    "ExpectError",
    "ExpectToolCall",
    "ExpectUsage",
    "Faults",
    "Match",
    "Response",
    "Scenario",
    "ScenarioSet",
    "Step",
    "builtin_scenarios_dir",
    "combine_scenarios",
    "load_scenario",
    "load_scenarios",
    "parse_scenario",
]

#: What a scenario name may look like: path-like segments of letters, digits, ``_``,
#: ``.`` and ``-``, none starting with a dot (so never ``..``), joined by ``/``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)*")

#: The keep-alive styles a fault overlay can insert (see ``docs/scenarios.md``).
KeepaliveStyle = Literal["comment", "ping", "openrouter", "bare", "anthropic"]
#: How a fault overlay re-chunks the bytes on the wire.
Chunking = Literal["event", "byte", "random", "utf8", "crlf", "coalesce"]


class _Model(BaseModel):
    # strict: YAML already types its scalars; "200" is not a status code. No float may
    # be infinite or NaN: `delay_ms: .inf` would be a stream that never ends.
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, allow_inf_nan=False, defer_build=True
    )


class Step(_Model):
    """One step of a stream. Exactly one of the kinds below is set.

    * ``data`` (with optional ``event``, ``id``, ``retry``): one SSE event; a string is
      sent verbatim, a mapping or list as compact JSON.
    * ``id``, ``retry`` and/or ``event`` without ``data``: a block of those fields and a
      blank line, which dispatches no event (the SSE standard allows it: ``retry:``
      sets the reconnection time, ``id:`` the last event id) — kind ``meta``.
    * ``comment``: an SSE comment line (``: text``).
    * ``sleep_ms``: a pause before the next write (scaled by the speed factor).
    * ``raw`` / ``raw_b64``: exact bytes in one write (text, or base64 for bytes that
      are not UTF-8, such as half a multi-byte character).
    * ``disconnect: true``: close the connection abruptly; must be the last step.
    * ``file``: a capture beside the scenario file (a path relative to its folder,
      inside it), replayed event by event as raw bytes: an SSE capture cut at each
      blank line, an AWS event-stream capture (``bedrock-converse``) at each message.
      Read as it is sent, so a capture of any length replays in flat memory
      (``docs/scenarios.md#long-streams``).
    """

    data: str | dict[str, Any] | list[Any] | None = None
    event: str | None = None
    id: str | None = None
    retry: int | None = Field(default=None, ge=0)
    comment: str | None = None
    sleep_ms: float | None = Field(default=None, ge=0)
    raw: str | None = None
    raw_b64: str | None = None
    disconnect: Literal[True] | None = None
    file: str | None = None

    @property
    def kind(self) -> str:
        """The one kind of this step: data, comment, sleep_ms, raw, raw_b64, disconnect,
        or meta (``id`` / ``retry`` / ``event`` without data)."""
        for kind in _STEP_KINDS:
            if getattr(self, kind) is not None:
                return kind
        return "meta"

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [kind for kind in _STEP_KINDS if getattr(self, kind) is not None]
        meta = [f for f in ("event", "id", "retry") if getattr(self, f) is not None]
        if not kinds and meta:
            kinds = ["meta"]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"a step needs exactly one of {', '.join(_STEP_KINDS)}, or only id / retry / "
                f"event (found: {found})"
            )
        if kinds[0] not in ("data", "meta"):
            extra = [f for f in ("event", "id", "retry") if getattr(self, f) is not None]
            if extra:
                raise ValueError(
                    f"{', '.join(extra)} can only go with data (or alone, as a meta "
                    f"block), not {kinds[0]}"
                )
        for name in ("event", "id"):
            value = getattr(self, name)
            if value is not None and ("\r" in value or "\n" in value):
                raise ValueError(f"{name} cannot contain a line break (CR or LF)")
        if self.id is not None and "\0" in self.id:
            raise ValueError("id cannot contain NUL (clients ignore such an id)")
        if self.raw_b64 is not None:
            try:
                base64.b64decode(self.raw_b64, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"raw_b64 is not valid base64: {exc}") from None
        if self.file is not None:
            _check_capture_path(self.file)
        return self


def _check_capture_path(text: str) -> None:
    """A ``file`` step's path: relative, inside the scenario's folder (no ``..``)."""
    if not text or "\0" in text:
        raise ValueError("file must be a path relative to the scenario file's folder")
    path = PurePosixPath(text.replace("\\", "/"))
    if path.is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive:
        raise ValueError(
            f"file {text!r} is absolute: give a path relative to the scenario file's folder"
        )
    if ".." in path.parts:
        raise ValueError(f"file {text!r} leaves the scenario file's folder ('..')")


_STEP_KINDS = ("data", "comment", "sleep_ms", "raw", "raw_b64", "disconnect", "file")


class Faults(_Model):
    """A fault overlay: changes applied on top of any scenario's answer.

    Event counts (``disconnect_after``, ``error_after``, ``stall_after``) count the
    events written so far (data, raw and raw_b64 steps; comments and pauses do not
    count): ``disconnect_after: 3`` writes three events and then cuts the connection.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=False, allow_inf_nan=False, defer_build=True
    )

    disconnect_after: int | None = Field(default=None, ge=0)
    disconnect_after_bytes: int | None = Field(default=None, ge=0)
    disconnect_inside: int | None = Field(default=None, ge=0)
    error_after: int | None = Field(default=None, ge=0)
    error_type: str | None = None
    error_message: str | None = None
    stall_after: int | None = Field(default=None, ge=0)
    stall_ms: float | None = Field(default=None, ge=0)
    keepalive_every: int | None = Field(default=None, ge=1)
    keepalive_style: KeepaliveStyle = "comment"
    drop_usage: bool = False
    event_ids: bool = False
    chunking: Chunking = "event"
    seed: int = 0
    max_chunk: int = Field(default=16, ge=1)
    http_error: int | None = Field(default=None, ge=400, le=599)
    retry_after: float | None = Field(default=None, ge=0)
    fail_first: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _pairs(self) -> Faults:
        if (self.stall_after is None) != (self.stall_ms is None):
            raise ValueError("stall_after and stall_ms go together (stall T ms after N events)")
        if self.retry_after is not None and self.http_error is None:
            raise ValueError("retry_after needs http_error (the status it comes with)")
        if self.fail_first is not None and self.http_error is None:
            raise ValueError("fail_first needs http_error (what the first requests get)")
        return self

    def merged(self, other: Faults | None) -> Faults:
        """These faults with the fields that ``other`` sets explicitly taking precedence."""
        if other is None:
            return self
        return self.model_copy(update=other.model_dump(exclude_unset=True))

    @property
    def active(self) -> bool:
        """Whether any fault is set (the defaults change nothing)."""
        return bool(self.model_dump(exclude_defaults=True))

    def describe(self) -> str:
        """The faults set, as ``name=value`` pairs (``""``: none), for journals and views."""
        return ", ".join(f"{k}={v}" for k, v in self.model_dump(exclude_defaults=True).items())


class Match(_Model):
    """Request matchers; all that are given must hold. Globs use ``fnmatch`` syntax."""

    path: str | None = None
    model: str | None = None
    stream: bool | None = None
    body: dict[str, Any] | None = None
    headers: dict[str, str] | None = None

    def matches(
        self, *, path: str, model: str | None, stream: bool, body: Any, headers: Mapping[str, str]
    ) -> bool:
        """Whether a request with these properties matches (header names are case-blind)."""
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        if self.model is not None and (model is None or not fnmatch.fnmatchcase(model, self.model)):
            return False
        if self.stream is not None and self.stream != stream:
            return False
        if self.body is not None and not _subset(self.body, body):
            return False
        if self.headers is not None:
            lowered = {k.lower(): v for k, v in headers.items()}
            if any(lowered.get(k.lower()) != v for k, v in self.headers.items()):
                return False
        return True


def _subset(want: Any, got: Any) -> bool:
    """``want`` is contained in ``got``: mappings by key, lists item by item, scalars equal."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(
            k in got and _subset(v, got[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(want) == len(got)
            and all(_subset(w, g) for w, g in zip(want, got, strict=True))
        )
    return bool(want == got and type(want) is type(got))


class Response(_Model):
    """One answer: a stream (``events``) or a whole body (``body``), with status and headers."""

    status: int = Field(default=200, ge=100, le=599)
    headers: dict[str, str] = Field(default_factory=dict)
    delay_ms: float = Field(default=0, ge=0)
    newline: Literal["lf", "crlf", "cr"] = "lf"
    events: list[Step] | None = None
    body: str | dict[str, Any] | list[Any] | None = None
    faults: Faults | None = None

    @model_validator(mode="after")
    def _events_or_body(self) -> Response:
        if self.events is not None and self.body is not None:
            raise ValueError("give events (a stream) or body (a whole answer), not both")
        if self.events is None and self.body is None and not self._may_be_empty:
            raise _no_answer(self)
        # A disconnect that is not the last step is reported by the loader, which knows
        # the step's line (see _check_disconnects); replay stops at the first one anyway.
        return self

    @property
    def _may_be_empty(self) -> bool:
        """Whether this answer makes sense with neither events nor body.

        An HTTP error or a redirect (300-599) may come bare, as from a proxy; 204 and
        205 carry no content by definition; an ``http_error`` fault brings its own body.
        Anything else would be an empty 2xx that cannot be what the author meant.
        """
        return (
            self.status >= 300
            or self.status in (204, 205)
            or (self.faults is not None and self.faults.http_error is not None)
        )

    @property
    def streaming(self) -> bool:
        """Whether this answer is a stream."""
        return self.events is not None


def _no_answer(answer: Response) -> ValidationError:
    """The error for an answer with neither events nor body, located at the field.

    Raised from a validator, a :class:`ValidationError` keeps its own location under
    the caller's (``responses[1].events``), so the loader reports the ``events:`` or
    ``body:`` left without a value, or else the mapping that lacks both.
    """
    field = "body" if "body" in answer.model_fields_set else "events"
    empty = f"{field} has no value, so" if field in answer.model_fields_set else "without them"
    message = (
        "an answer needs events (a stream) or body (a whole answer); "
        f'{empty} it would be an empty {answer.status} (write body: "" if you mean that)'
    )
    detail = InitErrorDetails(
        type=PydanticCustomError("no_answer", message), loc=(field,), input=None
    )
    return ValidationError.from_exception_data("Response", [detail])


class ExpectToolCall(_Model):
    """A tool call a correct client assembles: its name and parsed arguments."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ExpectUsage(_Model):
    """Token counts a correct client reports; fields left out are not checked."""

    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)


class ExpectError(_Model):
    """The failure a correct client reports.

    ``status`` for an HTTP error; ``code`` for an error inside the stream (the
    provider's error type, or ``connection_closed`` for a stream cut before its end).
    """

    status: int | None = Field(default=None, ge=400, le=599)
    code: str | None = None


class Expect(_Model):
    """What a correct client concludes from the (last) answer of the scenario.

    A field left out is not checked. ``finish_reason: absent`` and ``usage: absent``
    demand that the client report none: the provider sent none, so one the client
    reports is invented (a cut stream is not a ``stop``; no usage is not zero usage).
    """

    text: str | None = None
    reasoning: str | None = None
    tool_calls: list[ExpectToolCall] | None = None
    finish_reason: Literal["stop", "length", "tool_calls", "content_filter", "absent"] | None = None
    usage: ExpectUsage | Literal["absent"] | None = None
    error: ExpectError | None = None


class Scenario(_Model):
    """A scenario file. Either one answer (the fields of :class:`Response` at the top
    level) or ``responses``, a sequence served in turn (the last one repeats)."""

    version: int
    name: str
    description: str = ""
    provider: Provider
    source: str | None = None
    tags: list[str] = Field(default_factory=list)
    match: Match | None = None
    status: int = Field(default=200, ge=100, le=599)
    headers: dict[str, str] = Field(default_factory=dict)
    delay_ms: float = Field(default=0, ge=0)
    newline: Literal["lf", "crlf", "cr"] = "lf"
    events: list[Step] | None = None
    body: str | dict[str, Any] | list[Any] | None = None
    faults: Faults | None = None
    responses: list[Response] | None = Field(default=None, min_length=1)
    expect: Expect | None = None

    _path: Path | None = PrivateAttr(default=None)
    _answers: tuple[Response, ...] = PrivateAttr(default=())

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != 1:
            raise ValueError(f"unsupported version {value}; this harness reads version 1")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid scenario name: use letters, digits, '_', '.', '-' "
                "in segments joined by '/', none starting with '.'"
            )
        return value

    @model_validator(mode="after")
    def _one_form(self) -> Scenario:
        single = {"status", "headers", "delay_ms", "newline", "events", "body", "faults"}
        if self.responses is not None:
            clash = sorted(single & self.model_fields_set)
            if clash:
                raise ValueError(
                    f"with responses, put {', '.join(clash)} inside each response, "
                    "not at the top level"
                )
            self._answers = tuple(self.responses)
        else:
            self._answers = (
                Response.model_validate(
                    {k: getattr(self, k) for k in single if k in self.model_fields_set}
                ),
            )
        return self

    @model_validator(mode="after")
    def _event_stream_steps(self) -> Scenario:
        if self.provider == "bedrock-converse":
            problems = [
                _step_problem(loc, message) for loc, message in _event_stream_problems(self)
            ]
            if problems:
                raise ValidationError.from_exception_data("Scenario", problems)
        return self

    @property
    def answers(self) -> tuple[Response, ...]:
        """The answers in the order they are served (one for a single-answer scenario)."""
        return self._answers

    @property
    def path(self) -> Path | None:
        """The file this scenario was loaded from, if any."""
        return self._path

    @property
    def streaming(self) -> bool:
        """Whether any answer is a stream."""
        return any(answer.streaming for answer in self._answers)


#: A Converse stream's event names: its events and the exceptions of its union.
_CONVERSE_NAMES = (*CONVERSE_EVENTS, *CONVERSE_EXCEPTIONS)


def _event_stream_problems(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """What a ``bedrock-converse`` scenario's steps may not hold: an AWS event stream
    is binary messages, each a named event with a payload; no SSE fields, comments or
    line ends. Each problem with its location."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for prefix, answer in _answer_forms(scenario):
        if answer.newline != "lf":
            problems.append(((*prefix, "newline"), "an event stream has no line ends to choose"))
        for index, step in enumerate(answer.events or []):
            loc = (*prefix, "events", index)
            problem = _event_stream_step(step)
            if problem is not None:
                problems.append(((*loc, problem[0]), problem[1]))
    return problems


def _event_stream_step(step: Step) -> tuple[str, str] | None:
    """The field and the problem of one step of an event stream, if any."""
    for field in ("id", "retry"):
        if getattr(step, field) is not None:
            return field, f"an event stream has no SSE {field} field"
    if step.comment is not None:
        return "comment", "an event stream has no comments (Bedrock sends no keep-alives)"
    if step.kind == "meta":
        return "event", "an event stream has no SSE blocks without data: give data"
    if step.raw is not None:
        return "raw", "an event stream is binary: give exact bytes as raw_b64"
    if step.data is None:
        return None
    if step.event is None:
        return "data", (
            "a message needs event: its :event-type (messageStart, contentBlockDelta...) "
            "or :exception-type (throttlingException...)"
        )
    if step.event not in _CONVERSE_NAMES:
        close = difflib.get_close_matches(step.event, _CONVERSE_NAMES, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"one of {', '.join(_CONVERSE_NAMES)}"
        return "event", (
            f"{step.event!r} is not an event or exception of a Converse stream ({hint}); "
            "give other messages as raw_b64"
        )
    return None


def _step_problem(loc: tuple[str | int, ...], message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("event_stream", message), loc=loc, input=None)


# --- loading --------------------------------------------------------------------


@functools.cache
def _loader_class() -> Any:
    """The safe loader, whose scalar constructors fail only with a YAML error.

    libyaml's safe loader when PyYAML was built with it (10x faster on long streams);
    both keep line marks and refuse arbitrary Python objects. PyYAML's safe
    constructors let plain Python errors out for some scalars that look typed but are
    not: ``2001-13-45`` (a timestamp with month 13), ``!!int abc``, ``!!bool x``, an
    integer of more than 4300 digits (Python's int limit). Each is turned into a
    :class:`yaml.constructor.ConstructorError` at the node's line. Made on first use:
    a server whose library comes from the cache never imports PyYAML.
    """
    import yaml as pyyaml

    base: type[pyyaml.SafeLoader] = getattr(pyyaml, "CSafeLoader", pyyaml.SafeLoader)

    class _Loader(base):  # type: ignore[valid-type,misc]
        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except pyyaml.YAMLError:
                raise
            except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as exc:
                kind = str(node.tag).rsplit(":", 1)[-1]
                shown = repr(node.value) if isinstance(node, pyyaml.ScalarNode) else f"this {kind}"
                shown = shown if len(shown) <= 60 else shown[:57] + "..."
                # ValueError says why (month 13, too many digits); the others say nothing.
                reason = str(exc).split(";")[0] if isinstance(exc, ValueError) else ""
                raise pyyaml.constructor.ConstructorError(
                    None,
                    None,
                    f"{shown} is not a valid {kind}"
                    + (f" ({reason})" if reason else "")
                    + ("; quote it if it is a string" if not getattr(node, "style", "x") else ""),
                    node.start_mark,
                ) from None

    return _Loader


def builtin_scenarios_dir() -> Path:
    """The folder of the built-in scenario library.

    An installed wheel carries it as ``harness/_scenarios``; a source checkout (and an
    editable install) uses the repository's top-level ``scenarios/`` folder.
    """
    package = Path(__file__).resolve().parents[1]  # harness/ (this file: harness/mock/)
    packaged = package / "_scenarios"
    if packaged.is_dir():
        return packaged
    return package.parent / "scenarios"


def parse_scenario(
    text: str,
    *,
    path: str | Path | None = None,
    name: str | None = None,
    max_bytes: int | None = None,
) -> Scenario:
    """Parse and validate one scenario from YAML text.

    Args:
        text: the YAML document.
        path: where it came from, for error messages.
        name: the name to use when the file has no ``name`` field.
        max_bytes: the largest document accepted, in UTF-8 bytes (default
            :data:`MAX_FILE_BYTES`), as for a file.

    Raises:
        ScenarioError: naming the file, line and field of the first problem, or
            :class:`ScenarioSetError` when there are several.
    """
    where = str(path) if path is not None else None
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    # A character is 1 to 4 bytes: only text near the limit needs encoding to count.
    if len(text) > limit or (4 * len(text) > limit and len(text.encode()) > limit):
        raise ScenarioError(_too_large(len(text.encode()), limit), path=where)
    try:
        # One parse gives both the node tree (for line numbers) and the data.
        loader = _loader_class()(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                # Counted on the node graph (aliases shared), before anything is built.
                _check_size(node, where)
            raw = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = f"not valid YAML: {exc.problem or exc}"
        raise ScenarioError(problem, path=where, line=line) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", path=where) from None
    except RecursionError:
        # PyYAML's composer recurses per nesting level: far past MAX_DEPTH.
        raise ScenarioError(f"nested deeper than {MAX_DEPTH} levels", path=where) from None
    if node is None or not isinstance(raw, dict):
        kind = "empty" if node is None else f"a {type(raw).__name__}"
        raise ScenarioError(
            f"a scenario must be a mapping, this file is {kind}", path=where, line=1
        )
    duplicate = _find_duplicate_key(node)
    if duplicate is not None:
        key, line, field = duplicate
        raise ScenarioError(f"duplicate key {key!r}", path=where, line=line, field=field)
    if "name" not in raw and name is not None:
        raw["name"] = name
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        errors = _translate(exc, node, where)
        raise errors[0] if len(errors) == 1 else ScenarioSetError(errors) from None
    _check_disconnects(scenario, node, where)
    _check_captures(scenario, node, where, Path(path).parent if path is not None else Path())
    if path is not None:
        scenario._path = Path(path)
    return scenario


def _answer_forms(scenario: Scenario) -> list[tuple[tuple[str | int, ...], Response]]:
    """Each answer with where it is written in the file: ``responses[i]``, or the top
    level of a single-answer scenario."""
    if scenario.responses is not None:
        return [(("responses", i), r) for i, r in enumerate(scenario.responses)]
    return [((), scenario.answers[0])]


def _check_captures(scenario: Scenario, node: yaml.Node, where: str | None, folder: Path) -> None:
    """Each ``file`` step names a readable regular file inside the scenario's folder."""
    for prefix, answer in _answer_forms(scenario):
        for index, step in enumerate(answer.events or []):
            if step.file is None:
                continue
            problem = capture_problem(folder, step.file)
            if problem is not None:
                loc = (*prefix, "events", index, "file")
                _, found = _locate(node, loc)
                raise ScenarioError(
                    problem, path=where, line=found.start_mark.line + 1, field=_dotted(loc)
                )


def capture_problem(folder: Path, name: str) -> str | None:
    """Why the capture ``name`` beside a scenario in ``folder`` cannot be replayed
    (``None``: it can): missing, not a regular file, unreadable, or, through a
    symbolic link, outside the folder."""
    path = folder / name
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return f"file {name!r}: no such file beside the scenario ({path})"
    if not real.is_relative_to(folder.resolve()):
        return f"file {name!r} leads outside the scenario file's folder (to {real})"
    if not real.is_file():
        return f"file {name!r} is not a regular file ({path})"
    if not os.access(real, os.R_OK):
        return f"file {name!r} cannot be read ({path})"
    return None


def _check_disconnects(scenario: Scenario, node: yaml.Node, where: str | None) -> None:
    """A ``disconnect`` step must be the last one: report the step's own line and field."""
    for prefix, answer in _answer_forms(scenario):
        for index, step in enumerate((answer.events or [])[:-1]):
            if step.disconnect:
                loc = (*prefix, "events", index)
                _, found = _locate(node, loc)
                raise ScenarioError(
                    "disconnect must be the last step (nothing can be sent after the cut)",
                    path=where,
                    line=found.start_mark.line + 1,
                    field=_dotted(loc),
                )


def load_scenario(
    path: str | Path, *, root: str | Path | None = None, max_bytes: int | None = None
) -> Scenario:
    """Load one scenario file; its default name is its path under ``root`` without extension.

    Args:
        path: the file.
        root: the folder whose relative path names the scenario.
        max_bytes: the largest file accepted (default :data:`MAX_FILE_BYTES`),
            checked before the file is read.

    Raises:
        ScenarioError: the file cannot be read, is too large, is not UTF-8, or is not
            a valid scenario.
    """
    path = Path(path)
    text = _read_text(path, max_bytes)
    default = path.with_suffix("").name
    if root is not None:
        default = path.relative_to(root).with_suffix("").as_posix()
    # The file was held to max_bytes as it was read; the same limit applies to its text.
    return parse_scenario(text, path=path, name=default, max_bytes=max_bytes)


#: The largest scenario file the loader reads (bytes). The built-in files are a few
#: KiB; a file past this is refused before it is read (``docs/security.md``).
MAX_FILE_BYTES = 16 * 1024 * 1024

# Byte-order marks of encodings a YAML file is sometimes saved in by mistake.
_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def _read_text(path: Path, max_bytes: int | None) -> str:
    """The file's text: at most ``max_bytes`` bytes, UTF-8 (a UTF-8 BOM is allowed).

    The size is checked on the file's metadata before anything is read, and the read
    itself is bounded too (a file may grow, or report no size).
    """
    limit = MAX_FILE_BYTES if max_bytes is None else max_bytes
    where = str(path)
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > limit:
                raise ScenarioError(_too_large(size, limit), path=where)
            data = file.read(limit + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file: {exc}", path=where) from None
    if len(data) > limit:
        raise ScenarioError(_too_large(limit, limit, more=True), path=where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start : exc.end].hex(" ")
        hint = "save it as UTF-8"
        for bom, encoding in _BOMS:
            if data.startswith(bom):
                hint = f"it starts with a {encoding} byte-order mark: save it as UTF-8"
                break
        raise ScenarioError(
            f"cannot read scenario file: not UTF-8: byte {bad} at offset {exc.start} "
            f"(line {line}, column {column}); {hint}",
            path=where,
            line=line,
        ) from None


def _too_large(size: int, limit: int, *, more: bool = False) -> str:
    at_least = "more than " if more else ""
    return (
        f"cannot read scenario file: it is {at_least}{size:,} bytes, over the limit of "
        f"{limit:,} bytes for a scenario file"
    )


#: The extensions of scenario files in a folder, compared lower-cased.
_SUFFIXES = (".yaml", ".yml")


def combine_scenarios(*sets: ScenarioSet) -> ScenarioSet:
    """One set of the scenarios of ``sets``, in order (user folders added to the
    built-ins).

    Raises:
        ScenarioError: a name is in two sets (naming both files).
    """
    seen: dict[str, Scenario] = {}
    for group in sets:
        for scenario in group:
            first = seen.get(scenario.name)
            if first is not None:
                raise ScenarioError(
                    f"scenario {scenario.name!r} is in {first.path or 'the first set'} and in "
                    f"{scenario.path or 'another set'}: rename one (names must be unique)",
                    path=str(scenario.path) if scenario.path else None,
                    field="name",
                )
            seen[scenario.name] = scenario
    return ScenarioSet(list(seen.values()))


def load_scenarios(directory: str | Path | None = None) -> ScenarioSet:
    """Load every ``*.yaml`` / ``*.yml`` under ``directory`` (the built-ins by default).

    The extension is matched in any case (``x.YAML`` loads, and so ``x.YAML`` next to
    ``x.yaml`` is a duplicate name); other files, such as a README, are skipped.

    Raises:
        ScenarioError: the folder does not exist.
        ScenarioSetError: listing every broken file and every duplicate name.
    """
    root = Path(directory) if directory is not None else builtin_scenarios_dir()
    if not root.is_dir():
        raise ScenarioError("no such scenarios folder", path=str(root))
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in _SUFFIXES and p.is_file())
    key = _content_key(root, files)
    if key is not None:
        known = _LOADED.get(key) or (_read_cache(key) if directory is None else None)
        if known is not None and _captures_still_there(known):
            _remember(key, known)
            return known
    loaded = _parse_folder(root, files)
    if key is not None:
        _remember(key, loaded)
        if directory is None:
            _write_cache(key, loaded)
    return loaded


# --- the parsed-library cache ----------------------------------------------------------
#
# Parsing YAML and validating it is most of what loading costs (~75 ms for the
# built-ins, against ~1 ms to read and hash their bytes). A folder whose files hold
# the same bytes gives the same scenarios, so a set is kept per process by a hash of
# its folder, its files' names and their bytes (any edit is a new key: reload and
# tests that rewrite a file see it at once), and the built-in library also on disk,
# as a pickle in the user's cache folder, keyed the same way plus the versions of
# harness, pydantic and Python. A cache that cannot be read or written is skipped.

#: Sets loaded in this process, most recent last (a few folders at most).
_LOADED: dict[str, ScenarioSet] = {}
_LOADED_MAX = 16
#: Parsed libraries kept on disk (checkouts and versions side by side), newest first.
_CACHE_FILES = 8


def _content_key(root: Path, files: list[Path]) -> str | None:
    """The hash of what decides a folder's scenarios, or ``None`` (a file is too large
    or unreadable: the loader then says so)."""
    import hashlib

    digest = hashlib.sha256(str(root.resolve()).encode("utf-8", "surrogatepass"))
    for file in files:
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                return None
            data = file.read_bytes()
        except OSError:
            return None
        name = file.relative_to(root).as_posix().encode("utf-8", "surrogatepass")
        digest.update(b"\0%d\0%s\0%d\0" % (len(name), name, len(data)))
        digest.update(data)
    return digest.hexdigest()


def _remember(key: str, scenarios: ScenarioSet) -> None:
    _LOADED.pop(key, None)
    _LOADED[key] = scenarios
    while len(_LOADED) > _LOADED_MAX:
        del _LOADED[next(iter(_LOADED))]


def _captures_still_there(scenarios: ScenarioSet) -> bool:
    """The capture files a kept set names are still replayable (else it is loaded
    again, and the loader says what is wrong)."""
    for scenario in scenarios:
        folder = scenario.path.parent if scenario.path is not None else Path()
        for answer in scenario.answers:
            for step in answer.events or ():
                if step.file is not None and capture_problem(folder, step.file) is not None:
                    return False
    return True


def cache_folder() -> Path | None:
    """Where the built-in library's parsed copy is kept: ``$HARNESS_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/harness``, else ``~/.cache/harness``; ``None`` when
    ``HARNESS_CACHE_DIR`` is ``off``."""
    given = os.environ.get("HARNESS_CACHE_DIR")
    if given is not None:
        return None if given.lower() in ("off", "0", "") else Path(given)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "harness")


def _cache_path(key: str) -> Path | None:
    import platform

    import pydantic

    folder = cache_folder()
    if folder is None:
        return None
    from harness import __version__

    versions = f"{__version__}-{pydantic.VERSION}-{platform.python_version()}"
    return folder / f"library-{versions}-{key[:32]}.pickle"


def _read_cache(key: str) -> ScenarioSet | None:
    import pickle

    path = _cache_path(key)
    try:
        if path is None:
            return None
        with path.open("rb") as file:
            info = os.fstat(file.fileno())
            # Only a file this user wrote, that no one else may write to, is unpickled.
            if info.st_uid != os.getuid() or info.st_mode & 0o022:
                return None
            loaded = pickle.load(file)
    except Exception:  # missing, unreadable, from another version: parse instead
        return None
    return loaded if isinstance(loaded, ScenarioSet) else None


def _write_cache(key: str, scenarios: ScenarioSet) -> None:
    import pickle

    from harness.atomic import write_atomic

    path = _cache_path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, pickle.dumps(scenarios, protocol=pickle.HIGHEST_PROTOCOL))
        # A few checkouts or versions side by side each keep theirs; older ones go.
        kept = sorted(
            path.parent.glob("library-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True
        )
        for old in kept[_CACHE_FILES:]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError):
        pass  # a cache that cannot be written is only slower next time


def _parse_folder(root: Path, files: list[Path]) -> ScenarioSet:
    scenarios: list[Scenario] = []
    errors: list[ScenarioError] = []
    seen: dict[str, Path] = {}
    for file in files:
        try:
            scenario = load_scenario(file, root=root)
        except ScenarioSetError as exc:
            errors.extend(exc.errors)
            continue
        except ScenarioError as exc:
            errors.append(exc)
            continue
        if scenario.name in seen:
            errors.append(
                ScenarioError(
                    f"duplicate scenario name {scenario.name!r} (also in {seen[scenario.name]})",
                    path=str(file),
                    field="name",
                )
            )
            continue
        seen[scenario.name] = file
        scenarios.append(scenario)
    if errors:
        raise ScenarioSetError(errors)
    return ScenarioSet(scenarios)


class ScenarioSet(Sequence[Scenario]):
    """Scenarios by name, in load order."""

    def __init__(self, scenarios: Sequence[Scenario] = ()) -> None:
        self._by_name: dict[str, Scenario] = {}
        for scenario in scenarios:
            if scenario.name in self._by_name:
                raise ScenarioError(f"duplicate scenario name {scenario.name!r}", field="name")
            self._by_name[scenario.name] = scenario
        self._order = list(self._by_name.values())
        self._longest = max((len(known) for known in self._by_name), default=0)

    def __getitem__(self, index: int) -> Scenario:  # type: ignore[override]
        return self._order[index]

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[Scenario]:
        return iter(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str) -> Scenario | None:
        """The scenario called ``name``, or ``None``."""
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        """All names, in load order."""
        return list(self._by_name)

    def closest(self, name: str, n: int = 3) -> list[str]:
        """Up to ``n`` names that look like ``name`` (for "did you mean" messages)."""
        # difflib's ratio is 2*matches/(len(a)+len(b)): a name over 4 times the longest
        # known one can never reach the 0.4 cutoff, and indexing it costs time and
        # memory in proportion to its length (a name can come from a request body).
        if len(name) <= 4 * self._longest:
            close = difflib.get_close_matches(name, self._by_name, n=n, cutoff=0.4)
            if close:
                return close
        tail = name.rsplit("/", 1)[-1]
        return [known for known in self._by_name if tail and tail in known][:n]


# --- error translation ----------------------------------------------------------------


_MODELS: tuple[type[BaseModel], ...] = (
    Scenario,
    Response,
    Step,
    Faults,
    Match,
    Expect,
    ExpectToolCall,
    ExpectUsage,
    ExpectError,
)


def _all_field_names() -> set[str]:
    names: set[str] = set()
    for model in _MODELS:
        names.update(model.model_fields)
    return names


_FIELD_NAMES = _all_field_names()


def _model_at(loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model whose fields a mapping at ``loc`` (from the top of a scenario) holds."""
    model: type[BaseModel] = Scenario
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the list's own field already named its model
        field = model.model_fields.get(part)
        inner = _inner_model(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The model inside ``X``, ``X | None``, ``list[X]`` and the like, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _translate(exc: ValidationError, node: yaml.Node, where: str | None) -> list[ScenarioError]:
    """One :class:`ScenarioError` per distinct field, with its line and a plain message."""
    grouped: dict[tuple[str | int, ...], tuple[int, list[str]]] = {}
    for error in exc.errors(include_url=False):
        clean, found = _locate(node, tuple(error["loc"]))
        _, messages = grouped.setdefault(clean, (found.start_mark.line + 1, []))
        message = _message(error, clean)
        if message not in messages:
            messages.append(message)
    out = [
        ScenarioError(_join(messages), path=where, line=line, field=_dotted(clean))
        for clean, (line, messages) in grouped.items()
    ]
    return sorted(out, key=lambda error: error.line or 0)


def _join(messages: list[str]) -> str:
    """Merge the per-member messages of a union into one "expected a, b or c"."""
    kinds = [m.removeprefix("input should be a valid ") for m in messages]
    if len(messages) > 1 and all(m.startswith("input should be a valid ") for m in messages):
        named = [_KIND_NAMES.get(k, k) for k in kinds]
        return "expected " + ", ".join(named[:-1]) + " or " + named[-1]
    return "; ".join(messages)


_KIND_NAMES = {"string": "a string", "dictionary": "a mapping", "list": "a list"}


def _message(error: Any, clean: tuple[str | int, ...]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(clean[-1]) if clean else "?"
        model = _model_at(clean[:-1])
        fields = set(model.model_fields) if model is not None else _FIELD_NAMES
        hint = difflib.get_close_matches(key, fields, n=1)
        if hint:
            return f"unknown field {key!r} (did you mean {hint[0]!r}?)"
        owners = [m.__name__ for m in _MODELS if key in m.model_fields]
        if model is not None and owners:
            return (
                f"unknown field {key!r} in a {model.__name__} (it is a field of "
                f"{' and '.join(owners)}; see docs/scenarios.md)"
            )
        return f"unknown field {key!r}"
    if kind == "missing":
        return "required field is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        message = message.replace("Input should be", "expected")
    return message[:1].lower() + message[1:]


def _locate(node: yaml.Node, loc: tuple[Any, ...]) -> tuple[tuple[str | int, ...], yaml.Node]:
    """Follow ``loc`` into the YAML node tree, skipping pydantic's union-member tags.

    Returns the cleaned location (real keys and indexes only) and the deepest node
    found, whose line is where the error is reported: a missing field is reported
    at the line of the mapping that lacks it.
    """
    clean: list[str | int] = []
    current = node
    for part in loc:
        if isinstance(current, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in current.value:
                if key_node.value == part:
                    clean.append(part)
                    current = value_node
                    break
            else:
                if part not in _UNION_TAGS:
                    clean.append(part)
                    return tuple(clean), current
        elif isinstance(current, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(current.value):
                break
            clean.append(part)
            current = current.value[part]
        # anything else is a union-member tag such as 'str' or 'list[any]': skip it
    return tuple(clean), current


_UNION_TAGS = {"str", "dict[str,any]", "list[any]", "bool", "int", "float", "none"}


def _dotted(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


#: Limits on a scenario's YAML: nodes once aliases are expanded, and nesting depth.
#: A "billion laughs" alias bomb is tiny on disk but exponential once expanded.
MAX_NODES = 1_000_000
MAX_DEPTH = 64


def _check_size(root: yaml.Node, where: str | None) -> None:
    """Refuse alias bombs and absurd nesting before anything walks the tree."""
    sizes: dict[int, int] = {}  # per node (shared by aliases), its expanded size
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, done = stack.pop()
        if depth > MAX_DEPTH:
            raise ScenarioError(
                f"nested deeper than {MAX_DEPTH} levels", path=where, line=node.start_mark.line + 1
            )
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if id(node) in sizes:
            continue
        if done or not children:
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
            if sizes[id(node)] > MAX_NODES:
                raise ScenarioError(
                    f"more than {MAX_NODES:,} values once YAML aliases are expanded "
                    "(an alias bomb?)",
                    path=where,
                    line=node.start_mark.line + 1,
                )
            continue
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)


def _find_duplicate_key(
    node: yaml.Node, loc: tuple[str | int, ...] = ()
) -> tuple[str, int, str] | None:
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                return str(key), key_node.start_mark.line + 1, _dotted(loc)
            seen.add(key)
            found = _find_duplicate_key(value_node, (*loc, str(key)))
            if found:
                return found
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found = _find_duplicate_key(item, (*loc, index))
            if found:
                return found
    return None
