"""``harness shrink``: reduce a scenario to a minimal one on which a command still fails.

Delta debugging (Zeller's *ddmin*, adapted to scenarios): the candidate scenarios are
served, one at a time, under the original's name by one mock server on a free loopback
port, and ``COMMAND`` runs against each (a subprocess, no shell) with the base URLs in
its environment. A non-zero exit means "still fails"; a run past ``--timeout`` is
killed (its whole process group) and counts as passing. See ``docs/shrink.md``.

The reductions, in order:

1. remove stream steps (data, raw, raw_b64, comment) with ddmin over chunks of steps,
   the provider's terminal event (``[DONE]``, ``message_stop``...) kept until last;
2. merge each run of consecutive raw / raw_b64 steps into one write;
3. drop faults (the whole block, then field by field), pauses (``sleep_ms`` steps,
   ``delay_ms``), headers, a ``disconnect`` step, extra ``responses`` answers;
4. remove single steps (any kind) until no single removal still fails: the result is
   1-minimal with respect to its steps.

Every candidate is written as YAML and served from that text (a file in a private
folder, swapped with ``POST /_harness/reload``), so the file written at the end is
exactly what was last seen failing. Results are cached by that text: a candidate is
never run twice, and the same input (and a deterministic command) gives the same runs
and the same output.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.atomic import write_atomic
from harness.errors import ScenarioError, UsageError

# The scenario model, the server and YAML are imported where they are used: `harness`
# builds every subcommand's parser at start, and importing them costs ~150 ms.
if TYPE_CHECKING:
    import urllib.request

    from harness.mock.scenario import Scenario
    from harness.testing import RunningServer

__all__ = [
    "DEFAULT_MAX_RUNS",
    "DEFAULT_TIMEOUT",
    "Shrinker",
    "add_shrink_arguments",
    "command_environment",
    "is_terminal",
    "run_shrink",
    "scenario_text",
]

#: The most runs of the command (the check of the original included) by default.
DEFAULT_MAX_RUNS = 500
#: Seconds a run may take before it is killed and counted as passing, by default.
DEFAULT_TIMEOUT = 30.0

#: The step kinds that stage 1 removes (events on the wire).
_EVENT_KINDS = ("data", "raw", "raw_b64", "comment", "meta")
_KINDS = ("data", "comment", "sleep_ms", "raw", "raw_b64", "disconnect", "meta")
_FILE_NAME = "candidate.yaml"

Doc = dict[str, Any]
Position = tuple[int, int]  # (answer, step)


class _OutOfRuns(Exception):
    """``--max-runs`` reached: the reduction stops with the best scenario so far."""


# --- the command line ---------------------------------------------------------------


def add_shrink_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``harness shrink`` to its (sub)parser."""
    parser.add_argument("scenario", metavar="SCENARIO", help="a scenario file, or a scenario name")
    _options(parser)
    parser.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- COMMAND ...",
        help="the command to run against each candidate (non-zero exit: still fails)",
    )


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", metavar="MINIMAL", help="the minimal scenario file to write"
    )
    parser.add_argument(
        "--max-runs",
        type=int,
        default=DEFAULT_MAX_RUNS,
        metavar="N",
        help=f"run the command at most N times (default {DEFAULT_MAX_RUNS})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds per run; a longer run counts as passing (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--scenarios",
        metavar="DIR",
        help="the folder to find a SCENARIO name in (default: the built-in library)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay speed for pauses (default 1: as written; 0: no pauses)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing MINIMAL")


def _finish_args(args: argparse.Namespace) -> list[str]:
    """The command, with options given after SCENARIO (argparse's remainder holds them)."""
    rest = argparse.ArgumentParser(prog="harness shrink", add_help=False)
    _options(rest)
    rest.add_argument("command", nargs=argparse.REMAINDER)
    rest.parse_args(list(args.command), namespace=args)
    command = list(args.command)
    return command[1:] if command[:1] == ["--"] else command


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run_shrink(args: argparse.Namespace) -> int:
    """``harness shrink``: 0 written; 1 unreadable scenario or unwritable output;
    2 unusable arguments, or the command passes on the original scenario."""
    command = _finish_args(args)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM ends the run as Ctrl-C does: the running command's group is killed.
        signal.signal(signal.SIGTERM, _terminate)
    problem = _usage_problem(args, command)
    if problem is not None:
        return _fail(problem, 2)
    output = Path(args.output)
    try:
        scenario = _load(args.scenario, args.scenarios)
    except (ScenarioError, UsageError) as exc:
        return _fail(str(exc), 1)
    shrinker = Shrinker(
        scenario,
        command,
        timeout=args.timeout,
        max_runs=args.max_runs,
        speed=args.speed,
        progress=_progress,
    )
    try:
        result = shrinker.run()
    except UsageError as exc:  # the command cannot be started at all
        return _fail(str(exc), 2)
    if result is None:
        return _fail(
            "the command passes on the original scenario (exit 0, or over --timeout): "
            "there is no failure to reduce",
            2,
        )
    text = header(shrinker, result, source=args.scenario) + scenario_text(result)
    try:
        write_atomic(output, text.encode("utf-8"), overwrite=args.force)
    except FileExistsError:
        return _fail(f"{output} exists; pass --force to overwrite it", 2)
    except OSError as exc:
        return _fail(f"cannot write {output}: {exc.strerror or exc}", 1)
    if shrinker.stopped:
        print(
            f"harness shrink: stopped at --max-runs {args.max_runs}: wrote the smallest "
            f"failing scenario so far to {output} (it may not be minimal)",
            file=sys.stderr,
        )
    else:
        print(
            f"harness shrink: wrote {output} ({_plural(_count(result), 'step')})", file=sys.stderr
        )
    return 0


def _usage_problem(args: argparse.Namespace, command: list[str]) -> str | None:
    if not command:
        return "give the command to run after --: harness shrink SCENARIO -o MINIMAL -- COMMAND"
    if not args.output:
        return "give the file to write: -o MINIMAL"
    if args.max_runs < 1:
        return "--max-runs must be at least 1"
    if not args.timeout > 0:
        return "--timeout must be positive"
    if not args.speed >= 0:
        return "--speed must be 0 or more"
    if os.path.lexists(args.output) and not args.force:
        return f"{args.output} exists; pass --force to overwrite it"
    return None


def _fail(message: str, code: int) -> int:
    print(f"harness shrink: {message}", file=sys.stderr)
    return code


def _progress(message: str) -> None:
    print(f"harness shrink: {message}", file=sys.stderr, flush=True)


def _load(spec: str, folder: str | None) -> Scenario:
    """A scenario file, or the scenario of that name in ``folder`` (or the built-ins)."""
    from harness.mock.scenario import load_scenario, load_scenarios
    from harness.testing import get_scenario

    path = Path(spec)
    if path.is_file():
        return load_scenario(path)
    where = folder if folder is not None else "the built-in library"
    return get_scenario(load_scenarios(folder), spec, where)


# --- scenarios as documents ---------------------------------------------------------


def scenario_doc(scenario: Scenario) -> Doc:
    """The scenario as a plain document (as written: unset fields left out).

    ``expect`` is dropped: it describes what a client concludes from the *original*
    stream, which the minimal one no longer is.
    """
    doc: Doc = scenario.model_dump(mode="json", exclude_unset=True)
    doc.pop("expect", None)
    return doc


def _answers(doc: Doc) -> list[Doc]:
    responses = doc.get("responses")
    return list(responses) if isinstance(responses, list) else [doc]


def _with_answers(doc: Doc, answers: list[Doc]) -> Doc:
    if "responses" in doc:
        return {**doc, "responses": answers}
    return answers[0]


def _steps(doc: Doc) -> list[list[Doc]]:
    return [list(answer.get("events") or []) for answer in _answers(doc)]


def _with_steps(doc: Doc, steps: list[list[Doc]]) -> Doc:
    answers = [
        {**answer, "events": events} if "events" in answer else answer
        for answer, events in zip(_answers(doc), steps, strict=True)
    ]
    return _with_answers(doc, answers)


def _keep(doc: Doc, keep: set[Position]) -> Doc:
    """``doc`` with only the steps at ``keep``."""
    steps = _steps(doc)
    kept = [[s for i, s in enumerate(events) if (a, i) in keep] for a, events in enumerate(steps)]
    return _with_steps(doc, kept)


def _positions(doc: Doc) -> list[Position]:
    return [(a, i) for a, events in enumerate(_steps(doc)) for i in range(len(events))]


def _kind(step: Doc) -> str:
    """A step's kind; one of only id / retry / event (no data) is a ``meta`` block."""
    return next((kind for kind in _KINDS if step.get(kind) is not None), "meta")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _count(doc: Doc) -> int:
    return sum(len(events) for events in _steps(doc))


def is_terminal(provider: str, step: Doc, last_finish: bool = True) -> bool:
    """Whether ``step`` is the provider's end-of-stream event.

    OpenAI chat ``[DONE]``, Anthropic ``message_stop``, Responses
    ``response.completed`` (or ``.incomplete``/``.failed``), Converse ``metadata``,
    Gemini the last chunk with a ``finishReason`` (``last_finish`` says it is the last).
    """
    kind = _kind(step)
    if kind == "raw":
        markers = {"openai": "[DONE]", "anthropic": "message_stop"}
        marker = markers.get(provider, "response.completed")
        return provider != "gemini" and marker in step["raw"]
    if kind != "data":
        return False
    data, event = step["data"], step.get("event")
    kind_of = data.get("type") if isinstance(data, dict) else None
    if provider == "openai":
        return isinstance(data, str) and data.strip() == "[DONE]"
    if provider == "anthropic":
        return "message_stop" in (event, kind_of)
    if provider == "openai-responses":
        ends = ("response.completed", "response.incomplete", "response.failed")
        return event in ends or kind_of in ends
    if provider == "bedrock-converse":
        return event == "metadata"
    return last_finish and _has_finish(data)


def _has_finish(data: Any) -> bool:
    if not isinstance(data, dict):
        return False
    candidates = data.get("candidates")
    return isinstance(candidates, list) and any(
        isinstance(c, dict) and c.get("finishReason") for c in candidates
    )


def _terminals(doc: Doc) -> list[Position]:
    provider = str(doc.get("provider"))
    found: list[Position] = []
    for a, events in enumerate(_steps(doc)):
        finishes = [
            i for i, s in enumerate(events) if _kind(s) == "data" and _has_finish(s["data"])
        ]
        last = finishes[-1] if finishes else -1
        found.extend(
            (a, i) for i, s in enumerate(events) if is_terminal(provider, s, last_finish=i == last)
        )
    return found


# --- YAML ---------------------------------------------------------------------------


_STEP_ORDER = ("event", "id", "retry", "data", "comment", "sleep_ms", "raw", "raw_b64")


def _flow(step: Doc) -> Doc:
    from harness.record.convert import FlowStep

    ordered = {key: step[key] for key in _STEP_ORDER if key in step}
    ordered.update((key, value) for key, value in step.items() if key not in ordered)
    return FlowStep(ordered)


def scenario_text(doc: Doc) -> str:
    """The scenario document as YAML, one line per step."""
    answers = [
        {**answer, "events": [_flow(s) for s in answer["events"]]} if "events" in answer else answer
        for answer in _answers(doc)
    ]
    from harness.record.convert import dump_yaml

    return dump_yaml(_with_answers(doc, answers))


# --- running the command ------------------------------------------------------------


def command_environment(server: RunningServer, name: str) -> dict[str, str]:
    """The variables a run gets: the base URLs of scenario ``name`` on ``server``."""
    from harness.mock.families import FAMILIES

    env = {"HARNESS_BASE_URL": f"{server.url}/s/{name}", "HARNESS_SCENARIO": name}
    for family in FAMILIES:
        key = "HARNESS_BASE_URL_" + re.sub(r"[^A-Z0-9]", "_", family.name.upper())
        env[key] = server.base_url(name, family.name)
    return env


def run_command(command: Sequence[str], env: dict[str, str], timeout: float) -> bool:
    """Run ``command``; whether it failed (non-zero exit) within ``timeout`` seconds.

    The command runs in its own process group (session), which is killed on timeout
    (and after the run, so that nothing it started keeps the server busy).
    """
    try:
        process = subprocess.Popen(
            list(command),
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        raise UsageError(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    finally:  # on a timeout, after the run, and on Ctrl-C: nothing it started survives
        _kill_group(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
    return code != 0


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# --- the reduction ------------------------------------------------------------------


@dataclass
class Shrinker:
    """One reduction of ``scenario`` against ``command`` (see the module docstring)."""

    scenario: Scenario
    command: Sequence[str]
    timeout: float = DEFAULT_TIMEOUT
    max_runs: int = DEFAULT_MAX_RUNS
    speed: float = 1.0
    progress: Callable[[str], None] = field(default=lambda message: None)
    runs: int = 0
    timeouts: int = 0
    stopped: bool = False
    original: Doc = field(default_factory=dict)
    best: Doc = field(default_factory=dict)
    _cache: dict[str, bool] = field(default_factory=dict)
    _serve: Callable[[str], None] | None = None
    _env: dict[str, str] = field(default_factory=dict)

    def run(self) -> Doc | None:
        """The smallest failing scenario found; ``None`` if the original passes."""
        import tempfile

        from harness.testing import run_server

        self.original = self.best = scenario_doc(self.scenario)
        with tempfile.TemporaryDirectory(prefix="harness-shrink-") as folder:
            path = Path(folder) / _FILE_NAME
            path.write_text(scenario_text(self.original), encoding="utf-8")
            with run_server(folder, speed=self.speed) as server:
                self._serve = lambda text: _reload(server, path, text)
                self._env = command_environment(server, self.scenario.name)
                return self._reduce()

    def _reduce(self) -> Doc | None:
        try:
            if not self.fails(self.original):
                return None
            self.progress(f"the original fails; {_plural(_count(self.original), 'step')}")
            for stage in (_remove_events, _merge_raw, _drop_extras, _one_minimal):
                stage(self)
        except _OutOfRuns:
            self.stopped = True
        return self.best

    def fails(self, doc: Doc) -> bool:
        """Whether the command fails on ``doc`` (cached; an invalid scenario passes).

        Raises:
            _OutOfRuns: the command would run more than ``max_runs`` times.
        """
        text = scenario_text(doc)
        known = self._cache.get(text)
        if known is None:
            known = self._cache[text] = self._run(text, _count(doc))
        if known:
            self.best = doc
        return known

    def _run(self, text: str, steps: int) -> bool:
        from harness.mock.scenario import parse_scenario

        try:
            parse_scenario(text, name=self.scenario.name)
        except ScenarioError:
            return False
        if self.runs >= self.max_runs:
            raise _OutOfRuns
        self.runs += 1
        assert self._serve is not None
        self._serve(text)
        failed = run_command(self.command, self._env, self.timeout)
        verdict = "still fails" if failed else "passes"
        best = steps if failed else _count(self.best)
        self.progress(
            f"run {self.runs}/{self.max_runs}: {_plural(steps, 'step')}: {verdict} "
            f"(smallest failing: {best})"
        )
        return failed


@cache
def _direct() -> urllib.request.OpenerDirector:
    """An opener that never goes through a proxy (the server is on loopback)."""
    import urllib.request

    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _reload(server: RunningServer, path: Path, text: str) -> None:
    """Serve ``text``: write it to the server's folder and ask the server to reload."""
    import urllib.error
    import urllib.request

    path.write_text(text, encoding="utf-8")
    request = urllib.request.Request(f"{server.url}/_harness/reload", data=b"", method="POST")
    try:
        with _direct().open(request, timeout=30) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:  # pragma: no cover - validated before serving
        raise UsageError(f"the server refused a candidate: {exc.read()!r}") from None
    server.journal.reset(None)  # fresh `responses` sequences for the next run


# --- stage 1: remove events (ddmin) -------------------------------------------------


def ddmin(items: list[Position], test: Callable[[list[Position]], bool]) -> list[Position]:
    """Zeller's ddmin: a 1-minimal sublist of ``items`` on which ``test`` holds.

    ``test(items)`` is assumed to hold. Subsets are tried before complements; the
    granularity doubles when neither reduces, and the result is 1-minimal (no single
    item can be removed) when it ends without running out of runs.
    """
    n = 2
    while len(items) >= 2:
        chunks = _split(items, n)
        reduced = next((c for c in chunks if len(chunks) > 2 and test(c)), None)
        if reduced is not None:
            items, n = reduced, 2
            continue
        for index in range(len(chunks)):
            complement = [x for j, c in enumerate(chunks) if j != index for x in c]
            if test(complement):
                items, n = complement, max(n - 1, 2)
                break
        else:
            if n >= len(items):
                break
            n = min(len(items), 2 * n)
    if len(items) == 1 and test([]):
        return []
    return items


def _split(items: list[Position], n: int) -> list[list[Position]]:
    size, extra = divmod(len(items), n)
    chunks, start = [], 0
    for index in range(n):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return chunks


def _remove_events(shrinker: Shrinker) -> None:
    """Stage 1: ddmin over the event steps; then each terminal event, last."""
    doc = shrinker.best
    steps = _steps(doc)
    terminals = _terminals(doc)
    removable = [
        (a, i)
        for a, i in _positions(doc)
        if _kind(steps[a][i]) in _EVENT_KINDS and (a, i) not in terminals
    ]
    fixed = set(_positions(doc)) - set(removable)
    shrinker.progress(f"removing events: ddmin over {len(removable)} steps")
    kept = ddmin(removable, lambda subset: shrinker.fails(_keep(doc, fixed | set(subset))))
    keep = fixed | set(kept)
    for terminal in terminals:
        if shrinker.fails(_keep(doc, keep - {terminal})):
            keep -= {terminal}
    shrinker.fails(_keep(doc, keep))  # cached: makes it the best


# --- stage 2: merge raw writes ------------------------------------------------------


def _merge_raw(shrinker: Shrinker) -> None:
    """Stage 2: each run of consecutive raw / raw_b64 steps tried as one write."""
    for a in range(len(_steps(shrinker.best))):
        start = 0
        while True:
            events = _steps(shrinker.best)[a]
            found = _raw_run(events, start)
            if found is None:
                break
            begin, end = found
            merged = [*events[:begin], _merged(events[begin:end]), *events[end:]]
            steps = _steps(shrinker.best)
            steps[a] = merged
            start = begin + 1 if shrinker.fails(_with_steps(shrinker.best, steps)) else end


def _raw_run(events: list[Doc], start: int) -> tuple[int, int] | None:
    """The first run of two or more raw / raw_b64 steps at or after ``start``."""
    index = start
    while index < len(events):
        end = index
        while end < len(events) and _kind(events[end]) in ("raw", "raw_b64"):
            end += 1
        if end - index >= 2:
            return index, end
        index = end + 1
    return None


def _merged(steps: list[Doc]) -> Doc:
    if all(_kind(step) == "raw" for step in steps):
        return {"raw": "".join(step["raw"] for step in steps)}
    data = b"".join(
        step["raw"].encode("utf-8") if "raw" in step else base64.b64decode(step["raw_b64"])
        for step in steps
    )
    return {"raw_b64": base64.b64encode(data).decode("ascii")}


# --- stage 3: faults, pauses, headers, answers --------------------------------------


def _drop_extras(shrinker: Shrinker) -> None:
    """Stage 3: faults, pauses, delay_ms, headers, a disconnect, extra answers."""
    for a in range(len(_answers(shrinker.best))):
        _drop_mapping(shrinker, a, "faults")
    _drop_steps(shrinker, "sleep_ms")
    for a in range(len(_answers(shrinker.best))):
        _attempt(shrinker, a, lambda answer: _without(answer, "delay_ms"))
        _drop_mapping(shrinker, a, "headers")
    _drop_steps(shrinker, "disconnect")
    responses = shrinker.best.get("responses")
    if isinstance(responses, list):
        for index in reversed(range(len(responses))):
            answers = _answers(shrinker.best)
            if len(answers) > 1:
                shrinker.fails(_with_answers(shrinker.best, answers[:index] + answers[index + 1 :]))


def _attempt(shrinker: Shrinker, a: int, change: Callable[[Doc], Doc | None]) -> bool:
    """Try the best scenario with answer ``a`` changed (``None``: nothing to change)."""
    answers = _answers(shrinker.best)
    changed = change(answers[a])
    if changed is None:
        return False
    answers[a] = changed
    return shrinker.fails(_with_answers(shrinker.best, answers))


def _without(answer: Doc, key: str) -> Doc | None:
    if key not in answer:
        return None
    return {k: v for k, v in answer.items() if k != key}


def _drop_mapping(shrinker: Shrinker, a: int, key: str) -> None:
    """Drop ``key`` (faults, headers) of answer ``a`` whole, else field by field."""
    if _attempt(shrinker, a, lambda answer: _without(answer, key)):
        return
    for name in sorted(_answers(shrinker.best)[a].get(key) or {}):

        def change(answer: Doc, name: str = name) -> Doc | None:
            mapping = {k: v for k, v in (answer.get(key) or {}).items() if k != name}
            return {**answer, key: mapping} if mapping else _without(answer, key)

        _attempt(shrinker, a, change)


def _drop_steps(shrinker: Shrinker, kind: str) -> None:
    """Drop every step of ``kind`` at once, else one by one (last first)."""
    doc = shrinker.best
    of_kind = {p for p in _positions(doc) if _kind(_steps(doc)[p[0]][p[1]]) == kind}
    if not of_kind or shrinker.fails(_keep(doc, set(_positions(doc)) - of_kind)):
        return
    for position in sorted(of_kind, reverse=True):
        shrinker.fails(_keep(shrinker.best, set(_positions(shrinker.best)) - {position}))


# --- stage 4: 1-minimal -------------------------------------------------------------


def _one_minimal(shrinker: Shrinker) -> None:
    """Stage 4: remove single steps (any kind) until no single removal still fails."""
    changed = True
    while changed:
        changed = False
        every = _positions(shrinker.best)
        for position in every:
            if shrinker.fails(_keep(shrinker.best, set(every) - {position})):
                changed = True
                break


# --- the result ---------------------------------------------------------------------


def header(shrinker: Shrinker, result: Doc, *, source: str) -> str:
    """The comment block at the top of the minimal scenario: what was removed, and how."""
    before, after = shrinker.original, result
    lines = [
        f"Minimized by `harness shrink` from {source} in {shrinker.runs} runs: "
        f"{_count(after)} of {_count(before)} steps kept.",
        "Removed: " + (", ".join(_removed(before, after)) or "nothing") + ".",
        f"The command still fails on it: {shlex.join(shrinker.command)}",
    ]
    if shrinker.stopped:
        lines.append(
            f"Stopped at --max-runs {shrinker.max_runs}: the smallest failing scenario "
            "found so far, which may not be minimal."
        )
    return "".join("# " + re.sub(r"[\r\n]", " ", line) + "\n" for line in lines)


def _removed(before: Doc, after: Doc) -> list[str]:
    """What ``after`` lacks of ``before``, counted (steps by kind, fields, answers)."""
    out: list[str] = []
    kinds_before = Counter(_kind(s) for events in _steps(before) for s in events)
    kinds_after = Counter(_kind(s) for events in _steps(after) for s in events)
    for kind in _KINDS:
        gone = kinds_before[kind] - kinds_after[kind]
        if gone > 0:
            out.append(f"{_plural(gone, kind + ' step')}")
        elif gone < 0:
            out.append(f"{-gone} {kind} step(s) added by merging writes")
    gone_answers = len(_answers(before)) - len(_answers(after))
    if gone_answers:
        out.append(f"{gone_answers} answer(s) of responses")
    for key in ("faults", "headers"):
        n = sum(len(x.get(key) or {}) for x in _answers(before))
        m = sum(len(x.get(key) or {}) for x in _answers(after))
        if n > m:
            out.append(f"{n - m} {key} field(s)")
    delays = sum(1 for x in _answers(before) if x.get("delay_ms"))
    if delays > sum(1 for x in _answers(after) if x.get("delay_ms")):
        out.append("delay_ms")
    return out
