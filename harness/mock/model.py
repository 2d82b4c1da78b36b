"""A scenario as the server holds it: frozen values, built without pydantic.

Each class below declares its fields once, with their types, defaults and bounds;
:mod:`harness.mock.schema` makes the pydantic models that check a scenario file
against those declarations, and every value checked comes out as an instance of these
classes. So a server whose library comes from the cache (``harness serve``,
``run_server()``) never imports pydantic: it costs about 55 ms at start, a quarter of
``harness serve``'s time to its first answer (``docs/performance.md``).

The classes keep the part of pydantic's model interface that harness and its users
call: ``model_validate`` (checks, with the same errors as before), ``model_dump``
(``exclude_none``, ``exclude_defaults``, ``exclude_unset``), ``model_copy(update=...)``
(no checks, as pydantic's), ``model_fields`` and ``model_fields_set``. Building one
directly (``Faults(seed=3)``) checks its arguments as ``model_validate`` does; only
values already checked, or harness's own, are built without (:meth:`Record.unchecked`,
the pickle of the library cache, ``model_copy``). Values are frozen, compare by their
fields and hash when their fields do.

Where they differ from the pydantic models they replace (harness 0.2): equality is the
declared fields' (two scenarios loaded from different files compare equal when they
say the same); a record given for a field of another (``Response(faults=Faults(...))``)
is checked again, as data; setting an attribute raises :class:`AttributeError`;
``model_fields`` maps names to :class:`FieldSpec` (annotation as text, default,
bounds); a subclass that adds no field is checked as its record, one that adds fields
cannot be checked; and there is no JSON schema or serializer (``model_dump`` gives
JSON data already).

Standard library only (the layer contract ``runtime-model`` holds it to that).
"""

from __future__ import annotations

import fnmatch
import operator
import re
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from harness.stream.formats import Provider

__all__ = [
    "NAME_PATTERN",
    "RECORDS",
    "STEP_KINDS",
    "Chunking",
    "Expect",
    "ExpectError",
    "ExpectToolCall",
    "ExpectUsage",
    "Faults",
    "FieldSpec",
    "KeepaliveStyle",
    "Match",
    "Record",
    "Response",
    "Scenario",
    "Step",
    "answer_forms",
    "field",
    "record_named",
]

# Read by harness.mock.schema, which evaluates the field annotations in this module's
# namespace: they must be importable names here, not only under TYPE_CHECKING.
_ANNOTATION_NAMES = (Any, Literal, Provider)

#: What a scenario name may look like: path-like segments of letters, digits, ``_``,
#: ``.`` and ``-``, none starting with a dot (so never ``..``), joined by ``/``.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(?:/[A-Za-z0-9][A-Za-z0-9_.-]*)*")

#: The keep-alive styles a fault overlay can insert (see ``docs/scenarios.md``).
KeepaliveStyle = Literal["comment", "ping", "openrouter", "bare", "anthropic"]
#: How a fault overlay re-chunks the bytes on the wire.
Chunking = Literal["event", "byte", "random", "utf8", "crlf", "coalesce"]

#: A step's kinds, in the order :attr:`Step.kind` tests them (``meta`` when none is set).
STEP_KINDS = ("data", "comment", "sleep_ms", "raw", "raw_b64", "disconnect", "file")

_R = TypeVar("_R", bound="Record")
_MISSING: Any = type("_Missing", (), {"__repr__": lambda self: "<required>"})()


class FieldSpec:
    """One declared field: its annotation (text, evaluated by the schema), its default
    (or factory) and its bounds (``ge``, ``le``, ``min_length``, as pydantic's)."""

    __slots__ = ("annotation", "bounds", "default", "default_factory", "name")

    def __init__(
        self,
        default: Any = _MISSING,
        default_factory: Callable[[], Any] | None = None,
        bounds: Mapping[str, int] | None = None,
    ) -> None:
        self.name = ""
        self.annotation = ""
        self.default = default
        self.default_factory = default_factory
        self.bounds = dict(bounds or {})

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.default_factory is None

    def make_default(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default

    def __repr__(self) -> str:
        return f"FieldSpec({self.name}: {self.annotation})"


def field(
    default: Any = _MISSING,
    *,
    default_factory: Callable[[], Any] | None = None,
    ge: int | None = None,
    le: int | None = None,
    min_length: int | None = None,
) -> Any:
    """A field's default and bounds, where the annotation alone does not say them."""
    bounds = {"ge": ge, "le": le, "min_length": min_length}
    return FieldSpec(default, default_factory, {k: v for k, v in bounds.items() if v is not None})


@typing.dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class Record:
    """A frozen value with declared fields (see the module's docstring)."""

    #: The declared fields, in order (set for each subclass).
    model_fields: ClassVar[dict[str, FieldSpec]] = {}
    #: Whether the schema reads this record strictly (YAML types its own scalars; a
    #: fault overlay comes from header text, read leniently).
    strict: ClassVar[bool] = True

    #: The declared fields' values of a record, as one value (equality and hashing).
    _values: ClassVar[operator.itemgetter[Any]]

    # The instance's __dict__ holds every field, then "_given", the fields given
    # explicitly (pydantic's fields set); nothing else but a Scenario's answers and
    # path. Pickling keeps that dict as it is (no code runs per record to read it
    # back: the library cache holds ~1,000 records).
    _given: frozenset[str]

    def __init_subclass__(cls, strict: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.strict = strict
        specs: dict[str, FieldSpec] = dict(cls.model_fields)  # a subclass keeps its base's
        # This class's own annotations (text: `from __future__ import annotations`);
        # inspect.get_annotations would import inspect on the serve path for the same.
        own = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        for name, annotation in own.items():
            if name.startswith("_") or str(annotation).startswith("ClassVar"):
                continue
            declared = cls.__dict__.get(name, _MISSING)
            spec = declared if isinstance(declared, FieldSpec) else FieldSpec(declared)
            spec.name, spec.annotation = name, str(annotation)
            specs[name] = spec
            if name in cls.__dict__:
                delattr(cls, name)  # the instance holds every field
        cls.model_fields = specs
        cls._values = operator.itemgetter(*specs)  # a TypeError for a record of no field

    def __init__(self, /, **values: Any) -> None:
        built = type(self).model_validate(values)
        self.__dict__.update(built.__dict__)

    @classmethod
    def _make(cls: type[_R], given: frozenset[str], values: Mapping[str, Any]) -> _R:
        """A record of values already checked: every declared field, in order."""
        record = cls.__new__(cls)
        record.__dict__.update(values)
        record.__dict__["_given"] = given
        return record

    @classmethod
    def unchecked(cls: type[_R], **values: Any) -> _R:
        """A record of harness's own values, known good, with the defaults of the
        fields not given: built without the schema (so without importing pydantic),
        as the server does for its own steps and empty fault overlays."""
        unknown = values.keys() - cls.model_fields.keys()
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
        full = {
            name: values[name] if name in values else spec.make_default()
            for name, spec in cls.model_fields.items()
        }
        return cls._make(frozenset(values), full)

    @classmethod
    def model_validate(cls: type[_R], data: Any) -> _R:
        """Check ``data`` (a mapping, as read from YAML or JSON) and build the record.

        Raises:
            pydantic.ValidationError: what is wrong, and where.
        """
        if isinstance(data, cls):
            return data
        from harness.mock.schema import validate

        return validate(cls, data)

    @property
    def model_fields_set(self) -> set[str]:
        """The fields given explicitly (the others hold their defaults)."""
        return set(self._given)

    def model_copy(self: _R, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> _R:
        """A copy with ``update``'s fields replaced, unchecked (as pydantic's); ``deep``:
        the values copied too (``copy.deepcopy``), not shared."""
        values = dict(self.__dict__)
        if deep:
            import copy

            values = copy.deepcopy(values)
        values.update(update or {})
        return self._make(self._given | frozenset(update or ()), values)

    def model_dump(
        self,
        *,
        mode: str = "python",
        exclude_none: bool = False,
        exclude_defaults: bool = False,
        exclude_unset: bool = False,
    ) -> dict[str, Any]:
        """The fields as plain data (records as mappings, containers copied); ``mode``
        is accepted for pydantic's sake: every value is already JSON data."""
        out: dict[str, Any] = {}
        for name, spec in self.model_fields.items():
            value = self.__dict__[name]
            if exclude_unset and name not in self._given:
                continue
            if exclude_none and value is None:
                continue
            if exclude_defaults and not spec.required and value == spec.make_default():
                continue
            out[name] = _dump(value, (exclude_none, exclude_defaults, exclude_unset))
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{type(self).__name__} is frozen: make a changed copy with model_copy(update=...)"
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return bool(self._values(self.__dict__) == self._values(other.__dict__))

    def __hash__(self) -> int:
        return hash((type(self), self._values(self.__dict__)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={self.__dict__[name]!r}" for name in self.model_fields)
        return f"{type(self).__name__}({fields})"


def _dump(value: Any, flags: tuple[bool, bool, bool]) -> Any:
    if isinstance(value, Record):
        none, defaults, unset = flags
        return value.model_dump(exclude_none=none, exclude_defaults=defaults, exclude_unset=unset)
    if isinstance(value, dict):
        return {k: _dump(v, flags) for k, v in value.items()}
    if isinstance(value, list):
        return [_dump(v, flags) for v in value]
    if isinstance(value, tuple):
        return tuple(_dump(v, flags) for v in value)
    return value


class Step(Record):
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
    retry: int | None = field(default=None, ge=0)
    comment: str | None = None
    sleep_ms: float | None = field(default=None, ge=0)
    raw: str | None = None
    raw_b64: str | None = None
    disconnect: Literal[True] | None = None
    file: str | None = None

    @property
    def kind(self) -> str:
        """The one kind of this step: data, comment, sleep_ms, raw, raw_b64, disconnect,
        file, or meta (``id`` / ``retry`` / ``event`` without data)."""
        values = self.__dict__
        for kind in STEP_KINDS:
            if values[kind] is not None:
                return kind
        return "meta"


class Faults(Record, strict=False):
    """A fault overlay: changes applied on top of any scenario's answer.

    Event counts (``disconnect_after``, ``error_after``, ``stall_after``) count the
    events written so far (data, raw and raw_b64 steps; comments and pauses do not
    count): ``disconnect_after: 3`` writes three events and then cuts the connection.
    """

    disconnect_after: int | None = field(default=None, ge=0)
    disconnect_after_bytes: int | None = field(default=None, ge=0)
    disconnect_inside: int | None = field(default=None, ge=0)
    error_after: int | None = field(default=None, ge=0)
    error_type: str | None = None
    error_message: str | None = None
    stall_after: int | None = field(default=None, ge=0)
    stall_ms: float | None = field(default=None, ge=0)
    keepalive_every: int | None = field(default=None, ge=1)
    keepalive_style: KeepaliveStyle = "comment"
    drop_usage: bool = False
    event_ids: bool = False
    chunking: Chunking = "event"
    seed: int = 0
    max_chunk: int = field(default=16, ge=1)
    http_error: int | None = field(default=None, ge=400, le=599)
    retry_after: float | None = field(default=None, ge=0)
    fail_first: int | None = field(default=None, ge=1)

    def merged(self, other: Faults | None) -> Faults:
        """These faults with the fields that ``other`` sets explicitly taking precedence."""
        if other is None:
            return self
        return self.model_copy(update={name: other.__dict__[name] for name in other._given})

    @property
    def active(self) -> bool:
        """Whether any fault is set (the defaults change nothing)."""
        return bool(self.model_dump(exclude_defaults=True))

    def describe(self) -> str:
        """The faults set, as ``name=value`` pairs (``""``: none), for journals and views."""
        return ", ".join(f"{k}={v}" for k, v in self.model_dump(exclude_defaults=True).items())


class Match(Record):
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


class Response(Record):
    """One answer: a stream (``events``) or a whole body (``body``), with status and headers."""

    status: int = field(default=200, ge=100, le=599)
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: float = field(default=0, ge=0)
    newline: Literal["lf", "crlf", "cr"] = "lf"
    events: list[Step] | None = None
    body: str | dict[str, Any] | list[Any] | None = None
    faults: Faults | None = None

    @property
    def may_be_empty(self) -> bool:
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


class ExpectToolCall(Record):
    """A tool call a correct client assembles: its name and parsed arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


class ExpectUsage(Record):
    """Token counts a correct client reports; fields left out are not checked."""

    prompt_tokens: int | None = field(default=None, ge=0)
    completion_tokens: int | None = field(default=None, ge=0)
    total_tokens: int | None = field(default=None, ge=0)


class ExpectError(Record):
    """The failure a correct client reports.

    ``status`` for an HTTP error; ``code`` for an error inside the stream (the
    provider's error type, or ``connection_closed`` for a stream cut before its end).
    """

    status: int | None = field(default=None, ge=400, le=599)
    code: str | None = None


class Expect(Record):
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


#: The fields of a single-answer scenario that are its one :class:`Response`'s.
SINGLE_ANSWER_FIELDS = tuple(Response.model_fields)


class Scenario(Record):
    """A scenario file. Either one answer (the fields of :class:`Response` at the top
    level) or ``responses``, a sequence served in turn (the last one repeats)."""

    version: int
    name: str
    description: str = ""
    provider: Provider
    source: str | None = None
    tags: list[str] = field(default_factory=list)
    match: Match | None = None
    status: int = field(default=200, ge=100, le=599)
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: float = field(default=0, ge=0)
    newline: Literal["lf", "crlf", "cr"] = "lf"
    events: list[Step] | None = None
    body: str | dict[str, Any] | list[Any] | None = None
    faults: Faults | None = None
    responses: list[Response] | None = field(default=None, min_length=1)
    expect: Expect | None = None

    @classmethod
    def _make(cls, given: frozenset[str], values: Mapping[str, Any]) -> Scenario:
        scenario = super()._make(given, values)
        if "_answers" not in values:
            scenario.__dict__["_answers"] = scenario._own_answers()
            scenario.__dict__["_path"] = None
        return scenario

    def _own_answers(self) -> tuple[Response, ...]:
        if self.responses is not None:
            return tuple(self.responses)
        given = frozenset(SINGLE_ANSWER_FIELDS) & self._given
        # Its own containers, as a validated Response would have: one changed by
        # mistake would not change the other.
        values = {k: _shallow_copy(self.__dict__[k]) for k in Response.model_fields}
        return (Response._make(given, values),)

    def _located(self, path: Path | None) -> Scenario:
        """This scenario, noted as loaded from ``path`` (set once, by the loader)."""
        self.__dict__["_path"] = path
        return self

    @property
    def answers(self) -> tuple[Response, ...]:
        """The answers in the order they are served (one for a single-answer scenario)."""
        answers: tuple[Response, ...] = self.__dict__["_answers"]
        return answers

    @property
    def path(self) -> Path | None:
        """The file this scenario was loaded from, if any."""
        path: Path | None = self.__dict__["_path"]
        return path

    @property
    def streaming(self) -> bool:
        """Whether any answer is a stream."""
        return any(answer.streaming for answer in self.answers)


def _shallow_copy(value: Any) -> Any:
    return value.copy() if isinstance(value, dict | list) else value


def answer_forms(scenario: Scenario) -> list[tuple[tuple[str | int, ...], Response]]:
    """Each answer with where it is written in the file: ``responses[i]``, or the top
    level of a single-answer scenario."""
    if scenario.responses is not None:
        return [(("responses", i), r) for i, r in enumerate(scenario.responses)]
    return [((), scenario.answers[0])]


#: Every record class, each after the ones its fields hold (the schema is made in
#: this order).
RECORDS: tuple[type[Record], ...] = (
    Step,
    Faults,
    Match,
    Response,
    ExpectToolCall,
    ExpectUsage,
    ExpectError,
    Expect,
    Scenario,
)


def record_named(annotation: str) -> type[Record] | None:
    """The record a field's annotation names (``list[Step] | None``: Step), if any."""
    words = set(re.findall(r"\w+", annotation))
    return next((record for record in RECORDS if record.__name__ in words), None)
