"""Scenario files: the YAML format (``version: 1``), its schema, and the loader.

A scenario is one recorded (or hand-written) provider answer: the stream as steps,
its timing, and what a correct client concludes from it. ``docs/scenarios.md`` is the
reference for every field; :mod:`harness.mock.model` declares them (the values the
server holds) and :mod:`harness.mock.schema` checks a file against them: every field
is typed, and an unknown one is an error instead of a silently ignored setting.

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

import difflib
import functools
import importlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ScenarioError, ScenarioSetError
from harness.mock.model import (
    NAME_PATTERN,
    RECORDS,
    Expect,
    ExpectError,
    ExpectToolCall,
    ExpectUsage,
    Faults,
    Match,
    Record,
    Response,
    Scenario,
    Step,
    answer_forms,
    record_named,
)

if TYPE_CHECKING:
    import yaml
    from pydantic import ValidationError
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
    from pydantic import ValidationError

    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        errors = _translate(exc, node, where)
        raise errors[0] if len(errors) == 1 else ScenarioSetError(errors) from None
    _check_disconnects(scenario, node, where)
    _check_captures(scenario, node, where, Path(path).parent if path is not None else Path())
    return scenario._located(Path(path) if path is not None else None)


def _check_captures(scenario: Scenario, node: yaml.Node, where: str | None, folder: Path) -> None:
    """Each ``file`` step names a readable regular file inside the scenario's folder."""
    for prefix, answer in answer_forms(scenario):
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
    for prefix, answer in answer_forms(scenario):
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
# harness, of the records' form and of Python. The pickle holds records
# (harness.mock.model), so reading it imports no pydantic. A cache that cannot be read
# or written is skipped.

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


#: The form of the pickle the cache holds: raised when records are pickled otherwise
#: (what they declare is in the key too: _records_form), so that a cache of an older
#: form is parsed again, not misread.
_CACHE_FORM = 3


@functools.cache
def _records_form() -> str:
    """A short hash of the records' declarations (names, fields, types, defaults,
    bounds): a record that gains, loses or changes a field makes a new cache key, so a
    pickle of the old form is never read as the new one."""
    import hashlib

    declared = [
        (
            record.__name__,
            record.strict,
            [
                (
                    name,
                    spec.annotation,
                    repr(spec.default),
                    repr(spec.default_factory),
                    sorted(spec.bounds.items()),
                )
                for name, spec in record.model_fields.items()
            ],
        )
        for record in RECORDS
    ]
    return hashlib.sha256(repr(declared).encode()).hexdigest()[:8]


def _cache_path(key: str) -> Path | None:
    import sys

    folder = cache_folder()
    if folder is None:
        return None
    from harness import __version__

    # Python's version as platform.python_version() spells it ("3.11.7", "3.14.0rc1"),
    # without importing platform (a millisecond at every start).
    python = sys.version.split()[0]
    versions = f"{__version__}-r{_CACHE_FORM}.{_records_form()}-{python}"
    return folder / f"library-{versions}-{key[:32]}.pickle"


def _read_cache(key: str) -> ScenarioSet | None:
    import gc
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
            # Unpickling makes ~1,000 records and their data in a burst, which sets off
            # the cyclic collector over everything the imports made: 15 ms instead of
            # 3.5 ms (the library holds no cycles; the collector resumes after).
            collecting = gc.isenabled()
            gc.disable()
            try:
                loaded = pickle.load(file)
            finally:
                if collecting:
                    gc.enable()
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


#: The records, from the top of a file down (the order in which messages name them).
_FILE_ORDER = (
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
    for record in _FILE_ORDER:
        names.update(record.model_fields)
    return names


_FIELD_NAMES = _all_field_names()


def _model_at(loc: tuple[str | int, ...]) -> type[Record] | None:
    """The record whose fields a mapping at ``loc`` (from the top of a scenario) holds."""
    model: type[Record] = Scenario
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list: the list's own field already named its record
        field = model.model_fields.get(part)
        inner = record_named(field.annotation) if field is not None else None
        if inner is None:
            return None
        model = inner
    return model


def _translate(exc: ValidationError, node: yaml.Node, where: str | None) -> list[ScenarioError]:
    """One :class:`ScenarioError` per distinct field, with its line and a plain message."""
    grouped: dict[tuple[str | int, ...], tuple[int, list[str]]] = {}
    errors = exc.errors(include_url=False)
    # A mapping given where a record or a plain value may go (usage: a mapping, or
    # absent) was meant as the record: once the record's own fields are in question,
    # the other members' complaints ("expected 'absent'") are noise.
    into_records = {
        loc[:i]
        for loc in (tuple(e["loc"]) for e in errors)
        for i, part in enumerate(loc[:-1])
        if isinstance(part, str) and _is_record_tag(part)
    }
    for error in errors:
        loc = tuple(error["loc"])
        if any(
            isinstance(part, str)
            and loc[:i] in into_records
            and not _is_record_tag(part)
            and _is_union_tag(part)
            for i, part in enumerate(loc)
        ):
            continue
        clean, found = _locate(node, loc)
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
        owners = [m.__name__ for m in _FILE_ORDER if key in m.model_fields]
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
                if not _is_union_tag(part):
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
_RECORD_NAMES = frozenset(record.__name__ for record in RECORDS)


def _is_record_tag(part: str) -> bool:
    """Whether a union-member tag names a record (see :func:`_is_union_tag`)."""
    return part in _RECORD_NAMES or part.startswith(("function-after[", "function-wrap["))


def _is_union_tag(part: str) -> bool:
    """Whether a location part is pydantic's name for one member of a union, not a key:
    a plain type (``str``), a literal (``literal['absent']``) or a record, which the
    schema names by the validator that makes it (``function-after[to_record(),
    ExpectUsage]``) or by its own name."""
    return part in _UNION_TAGS or part.startswith("literal[") or _is_record_tag(part)


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
