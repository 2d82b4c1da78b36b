"""``harness conformance``: a shipped client on the whole matrix, with reports.

Runs without pytest: starts the mock server on a free loopback port (no pauses), builds
the matrix (:mod:`harness.conformance.matrix`) for the client's route, runs every cell
in a small pool of threads (each with its own test id and timeout), prints a summary
and, with ``--report DIR``, writes ``results.json``, ``junit.xml`` and ``report.html``
(:mod:`harness.conformance.report`).

Exit status: 0 when no cell failed (``pass``, ``known`` and ``skipped`` only), 1 when a
cell failed, errored, timed out or a known failure is fixed, 2 for a usage error (an
unknown client, fault or route, a client whose library is not installed, a scenario
folder that does not load).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from harness.conformance.clients import load, names
from harness.conformance.clients.base import Call, Client, Unavailable
from harness.conformance.matrix import Cell, Fault, cells, fault_set
from harness.conformance.outcome import Outcome
from harness.conformance.report import write_reports
from harness.conformance.results import CaseResult, Run
from harness.conformance.runner import Known, expectation, matching, run_case
from harness.errors import HarnessError, UsageError
from harness.mock.families import get_family
from harness.mock.scenario import ScenarioSet, combine_scenarios, load_scenarios
from harness.stream.provider_errors import Family
from harness.testing import RunningServer, run_server

__all__ = ["list_clients", "run_command", "run_matrix"]


def run_command(args: argparse.Namespace, command: str = "harness conformance") -> int:
    """Run the command; the exit status (see the module docstring)."""
    if not args.client:
        print("harness conformance: --client NAME is required (see --list)", file=sys.stderr)
        return 2
    try:
        client = load(args.client)
        family: Family = args.route or client.family
        get_family(family)
        faults = fault_set(args.faults)
        scenarios = _scenarios(args.scenarios, args.no_builtins, args.select)
        known = _known(Path(args.known), client) if args.known else {}
    except (Unavailable, UsageError, HarnessError) as exc:
        print(f"harness conformance: {exc}", file=sys.stderr)
        return 2
    run = run_matrix(
        client, scenarios, faults, family, timeout=args.timeout, workers=args.workers, known=known
    )
    run.command = command
    _summary(run)
    if args.report:
        paths = write_reports(run, Path(args.report))
        print("reports: " + ", ".join(str(path) for path in paths))
    bad = ("fail", "error", "timeout", "fixed")
    return 1 if any(result.verdict in bad for result in run.results) else 0


def list_clients() -> int:
    """Print every shipped client: its route and version, or what to install."""
    for name in names():
        try:
            client = load(name)
        except Unavailable as exc:
            print(f"{name:<22} unavailable: {exc}")
            continue
        print(f"{name:<22} {client.family:<18} {client.distribution} {client.version}")
    return 0


def run_matrix(
    client: Client,
    scenarios: ScenarioSet,
    faults: list[Fault],
    family: Family,
    *,
    timeout: float = 5.0,
    workers: int = 4,
    known: Mapping[str, str] | None = None,
) -> Run:
    """Every cell of the matrix for ``client`` on ``family``'s route, run and judged."""
    started = time.time()
    chosen = [scenario for scenario in scenarios if scenario.expect is not None]
    matrix = cells(chosen, faults, family)
    with run_server(scenarios) as server, ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(
            pool.map(lambda cell: _one(cell, client, server, timeout, known or {}), matrix)
        )
    from harness import __version__

    return Run(
        results=results,
        started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        harness=__version__,
        python=platform.python_version(),
        duration=round(time.time() - started, 3),
    )


def _one(
    cell: Cell, client: Client, server: RunningServer, timeout: float, known: Mapping[str, str]
) -> CaseResult:
    reason = next(
        (why for key, why in known.items() if matching([key], cell.scenario.name, cell.fault.name)),
        None,
    )

    def invoke(base_url: str, cell: Cell) -> Outcome:
        call = Call(base_url, cell.scenario, retries=cell.attempts - 1, timeout=timeout)
        return client.run(call)

    return run_case(
        cell,
        invoke,
        server,
        client=client.name,
        version=client.version,
        timeout=timeout,
        expect=None if cell.skip else expectation(cell, cannot=client.cannot),
        known=Known(reason) if reason else None,
        describe_call=client.description,
    )


def _scenarios(folders: list[str], no_builtins: bool, select: list[str]) -> ScenarioSet:
    sets = [] if no_builtins else [load_scenarios()]
    sets.extend(load_scenarios(folder) for folder in folders)
    if not sets:
        raise UsageError("--no-builtins needs at least one --scenarios folder")
    combined = combine_scenarios(*sets)
    if not select:
        return combined
    import fnmatch

    picked = [s for s in combined if any(fnmatch.fnmatchcase(s.name, g) for g in select)]
    if not picked:
        raise UsageError(f"--select {' '.join(select)}: no scenario matches")
    return ScenarioSet(picked)


def _known(path: Path, client: Client) -> dict[str, str]:
    """The known failures of ``client`` in a YAML file: ``{client: {key: reason}}``, a key
    being ``scenario`` or ``scenario@fault`` (globs); a reason may be ``{reason, when}``
    (``when``: a requirement such as ``openai<3.61``; the entry counts only where the
    installed packages meet it)."""
    from harness.conformance import KnownFailure

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"--known {path}: {exc}") from None
    entries = data.get(client.name, {}) if isinstance(data, dict) else None
    if not isinstance(entries, dict):
        raise UsageError(f"--known {path}: expected {{client: {{scenario[@fault]: reason}}}}")
    out: dict[str, str] = {}
    for key, value in entries.items():
        failure = (
            KnownFailure(str(value["reason"]), value.get("when"))
            if isinstance(value, dict)
            else KnownFailure(str(value))
        )
        if failure.applies():
            out[str(key)] = failure.reason
    return out


def _summary(run: Run) -> None:
    counts = run.counts()
    shown = ", ".join(f"{counts[v]} {v}" for v in counts if counts[v])
    print(f"{len(run.results)} cases in {run.duration:.1f} s: {shown}")
    for result in run.results:
        if result.verdict in ("fail", "error", "timeout", "fixed"):
            first = result.differences[0] if result.differences else ""
            print(f"  {result.verdict.upper():<7} {result.scenario} [{result.fault}]: {first}")
