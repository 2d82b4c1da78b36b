"""The schema of a scenario file: pydantic models made from :mod:`harness.mock.model`.

Each record class of :mod:`harness.mock.model` declares its fields once (type,
default, bounds); the models here are made from those declarations when something is
first checked, with the same names, so that pydantic's messages name ``Step`` or
``Faults`` as the file's reader knows them. Every model forbids unknown fields, so a
typo is an error instead of a silently ignored setting; reads strictly (YAML types its
own scalars: ``"200"`` is not a status code) except a fault overlay, which comes from
header text; and refuses infinite and NaN floats (``delay_ms: .inf`` would be a stream
that never ends). The rules that span fields (a step has one kind, a scenario one
form, ...) are the checks below, run on the record each model makes.

A checked value comes out as the record, not as a pydantic model: only what checks
imports this module (parsing a scenario, a fault overlay, a record built directly),
and a server whose library comes from the cache never does.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import threading
import typing
from collections.abc import Callable
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness.mock import model as records
from harness.mock.model import (
    NAME_PATTERN,
    RECORDS,
    SINGLE_ANSWER_FIELDS,
    STEP_KINDS,
    Faults,
    FieldSpec,
    Record,
    Response,
    Scenario,
    Step,
    answer_forms,
    record_named,
)
from harness.stream.bedrock import CONVERSE_EVENTS
from harness.stream.provider_errors import CONVERSE_EXCEPTIONS

__all__ = ["validate"]

_R = TypeVar("_R", bound=Record)


def validate(cls: type[_R], data: Any) -> _R:
    """``data`` checked against ``cls``'s schema, as a ``cls``.

    Raises:
        ValidationError: every problem, each with its location.
    """
    models = _models()
    model = models.get(cls)
    if model is not None:
        made: Any = model.model_validate(data)
        return typing.cast(_R, _as_record(made))
    # A subclass of a record that adds no field is checked as its record.
    base = next((b for b in cls.__mro__ if b in models), None)
    if base is None or list(cls.model_fields) != list(base.model_fields):
        raise TypeError(
            f"{cls.__name__}: harness's schema checks its own records, and subclasses of "
            "them that add no field"
        )
    record = _as_record(models[base].model_validate(data))
    return cls._make(record._given, record.__dict__)


_MODELS: dict[type[Record], type[BaseModel]] = {}
_MAKING = threading.Lock()


def _models() -> dict[type[Record], type[BaseModel]]:
    """One pydantic model per record class, made once, on first use (about 15 ms; the
    first threads to check something at once wait for one to make them)."""
    if not _MODELS:
        with _MAKING:
            if not _MODELS:
                _MODELS.update(_make_models())
    return _MODELS


def _make_models() -> dict[type[Record], type[BaseModel]]:
    # The annotations are the model module's source text, evaluated in its namespace
    # with each record's name standing for the model made for it just before.
    namespace = dict(vars(records))
    made: dict[type[Record], type[BaseModel]] = {}
    for cls in RECORDS:
        fields: dict[str, Any] = {
            name: (eval(spec.annotation, namespace), _field_info(spec))
            for name, spec in cls.model_fields.items()
        }
        validators: dict[str, Any] = {
            "_given_record": model_validator(mode="before")(_record_as_input(cls)),
        }
        if cls in _MODEL_CHECKS:
            # A record with checks is made as soon as its model is (the checks read
            # it); one without is made by whatever holds it (_record_values), so that
            # pydantic still names it as itself ("ExpectUsage", not the validator)
            # where it is one member of a union.
            validators["_to_record"] = model_validator(mode="after")(_to_record(cls))  # type: ignore[misc]
        for name, check in _FIELD_CHECKS.get(cls, {}).items():
            validators[f"_check_{name}"] = field_validator(name)(check)
        model = create_model(
            cls.__name__,
            __config__=ConfigDict(
                extra="forbid", frozen=True, strict=cls.strict, allow_inf_nan=False
            ),
            __doc__=cls.__doc__,
            __module__=__name__,
            __validators__=validators,
            **fields,
        )
        namespace[cls.__name__] = made[cls] = model
        _RECORD_OF[model] = cls
        _HOLDING[cls] = tuple(
            name for name, spec in cls.model_fields.items() if record_named(spec.annotation)
        )
    return made


#: Each model's record; each record's fields whose type names a record.
_RECORD_OF: dict[type[BaseModel], type[Record]] = {}
_HOLDING: dict[type[Record], tuple[str, ...]] = {}


def _as_record(value: Any) -> Any:
    """A checked model as its record (the records it holds too); anything else as is."""
    if isinstance(value, BaseModel):
        cls = _RECORD_OF[type(value)]
        return cls._make(frozenset(value.model_fields_set), _record_values(cls, value))
    if isinstance(value, list):
        return [_as_record(item) for item in value]
    return value


def _record_values(cls: type[Record], model: BaseModel) -> dict[str, Any]:
    """The model's values, the records among them made (the fields whose type names a
    record: a data field's lists and mappings are not walked)."""
    values = dict(model.__dict__)
    for name in _HOLDING[cls]:
        values[name] = _as_record(values[name])
    return values


def _field_info(spec: FieldSpec) -> Any:
    options: dict[str, Any] = dict(spec.bounds)
    if spec.default_factory is not None:
        options["default_factory"] = spec.default_factory
    elif not spec.required:
        options["default"] = spec.default
    return Field(**options)


def _record_as_input(cls: type[Record]) -> Callable[[Any, Any], Any]:
    """A record given where its kind is expected (``Response(faults=Faults(...))``) is
    checked again as the fields it was given."""

    def given_record(model: Any, data: Any) -> Any:
        if type(data) is cls:
            return {name: data.__dict__[name] for name in cls.model_fields if name in data._given}
        return data

    return classmethod(given_record)  # type: ignore[return-value]


def _to_record(cls: type[Record]) -> Callable[[BaseModel], Record]:
    """The checked model as its record, after the checks that span its fields."""
    checks = _MODEL_CHECKS.get(cls, ())

    def to_record(model: BaseModel) -> Record:
        record = cls._make(frozenset(model.model_fields_set), _record_values(cls, model))
        for check in checks:
            check(record)
        return record

    return to_record


# --- the rules that span fields ----------------------------------------------------------


def _one_kind(step: Step) -> None:
    kinds = [kind for kind in STEP_KINDS if getattr(step, kind) is not None]
    meta = [f for f in ("event", "id", "retry") if getattr(step, f) is not None]
    if not kinds and meta:
        kinds = ["meta"]
    if len(kinds) != 1:
        found = ", ".join(kinds) if kinds else "none"
        raise ValueError(
            f"a step needs exactly one of {', '.join(STEP_KINDS)}, or only id / retry / "
            f"event (found: {found})"
        )
    if kinds[0] not in ("data", "meta") and meta:
        raise ValueError(
            f"{', '.join(meta)} can only go with data (or alone, as a meta block), not {kinds[0]}"
        )
    for name in ("event", "id"):
        value = getattr(step, name)
        if value is not None and ("\r" in value or "\n" in value):
            raise ValueError(f"{name} cannot contain a line break (CR or LF)")
    if step.id is not None and "\0" in step.id:
        raise ValueError("id cannot contain NUL (clients ignore such an id)")
    if step.raw_b64 is not None:
        try:
            base64.b64decode(step.raw_b64, validate=True)
        except binascii.Error as exc:
            raise ValueError(f"raw_b64 is not valid base64: {exc}") from None
    if step.file is not None:
        _check_capture_path(step.file)


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


def _pairs(faults: Faults) -> None:
    if (faults.stall_after is None) != (faults.stall_ms is None):
        raise ValueError("stall_after and stall_ms go together (stall T ms after N events)")
    if faults.retry_after is not None and faults.http_error is None:
        raise ValueError("retry_after needs http_error (the status it comes with)")
    if faults.fail_first is not None and faults.http_error is None:
        raise ValueError("fail_first needs http_error (what the first requests get)")


def _events_or_body(answer: Response) -> None:
    if answer.events is not None and answer.body is not None:
        raise ValueError("give events (a stream) or body (a whole answer), not both")
    if answer.events is None and answer.body is None and not answer.may_be_empty:
        raise _no_answer(answer)
    # A disconnect that is not the last step is reported by the loader, which knows
    # the step's line (harness.mock.scenario); replay stops at the first one anyway.


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


def _version(cls: Any, value: int) -> int:
    if value != 1:
        raise ValueError(f"unsupported version {value}; this harness reads version 1")
    return value


def _name(cls: Any, value: str) -> str:
    if not NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid scenario name: use letters, digits, '_', '.', '-' "
            "in segments joined by '/', none starting with '.'"
        )
    return value


def _one_form(scenario: Scenario) -> None:
    if scenario.responses is not None:
        clash = sorted(set(SINGLE_ANSWER_FIELDS) & scenario.model_fields_set)
        if clash:
            raise ValueError(
                f"with responses, put {', '.join(clash)} inside each response, not at the top level"
            )
    else:
        _events_or_body(scenario.answers[0])


def _event_stream_steps(scenario: Scenario) -> None:
    if scenario.provider == "bedrock-converse":
        problems = [
            _step_problem(loc, message) for loc, message in _event_stream_problems(scenario)
        ]
        if problems:
            raise ValidationError.from_exception_data("Scenario", problems)


#: A Converse stream's event names: its events and the exceptions of its union.
_CONVERSE_NAMES = (*CONVERSE_EVENTS, *CONVERSE_EXCEPTIONS)


def _event_stream_problems(scenario: Scenario) -> list[tuple[tuple[str | int, ...], str]]:
    """What a ``bedrock-converse`` scenario's steps may not hold: an AWS event stream
    is binary messages, each a named event with a payload; no SSE fields, comments or
    line ends. Each problem with its location."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for prefix, answer in answer_forms(scenario):
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


#: Checks of one field (their errors are located at the field).
_FIELD_CHECKS: dict[type[Record], dict[str, Callable[[Any, Any], Any]]] = {
    Scenario: {"version": _version, "name": _name},
}
#: Checks of a whole record, in order (their errors are located at the record).
_MODEL_CHECKS: dict[type[Record], tuple[Callable[[Any], None], ...]] = {
    Step: (_one_kind,),
    Faults: (_pairs,),
    Response: (_events_or_body,),
    Scenario: (_one_form, _event_stream_steps),
}
