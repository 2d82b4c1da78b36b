"""Running the cells of the matrix: one client call each, with a timeout, and a verdict.

Shared by the pytest kit (:func:`harness.conformance.conformance_tests`) and the
``harness conformance`` command. Each cell gets its own test id, so its requests have
their own journal and ``responses`` sequence; the fault overlay goes in the base URL
(``/f/{overlay}/``), so any client runs unmodified. A client that does not finish
within the timeout fails its cell (``timeout``), never the run: its thread is left to
end on its own, and the next cell runs.

The verdict compares the client's :class:`~harness.conformance.outcome.Outcome` with
the cell's expectation (:func:`expectation`): the derived one, the scenario's own
``expect`` on its own route without a fault, then the caller's overrides, without the
fields the client cannot expose. A retry cell also checks the journal: one more
request than the answers, the second no sooner than the ``retry-after``.
"""

from __future__ import annotations

import fnmatch
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from harness.conformance.matrix import RETRY_AFTER, Cell
from harness.conformance.outcome import Outcome, compare
from harness.conformance.results import CaseResult
from harness.mock.scenario import Expect
from harness.testing import RunningServer

__all__ = [
    "RESULTS",
    "SERVE_URL",
    "Invoke",
    "Known",
    "expectation",
    "matching",
    "record",
    "run_case",
]

#: ``invoke(base_url, cell) -> Outcome``: one call of the client under test.
Invoke = Callable[[str, Cell], Outcome]

#: Every result the pytest kit produced in this process, for ``--harness-report``.
RESULTS: list[CaseResult] = []
_LOCK = threading.Lock()


def record(result: CaseResult) -> None:
    """Keep ``result`` for this process's report."""
    with _LOCK:
        RESULTS.append(result)


@dataclass(frozen=True)
class Known:
    """A declared known failure that applies to a cell: its reason."""

    reason: str


def expectation(
    cell: Cell,
    change: Expect | Mapping[str, Any] | None = None,
    cannot: Collection[str] = (),
) -> Expect:
    """What the client must conclude in ``cell``.

    The derived expectation; on the scenario's own route without a fault, the fields
    its ``expect`` states win; then ``change`` (an ``Expect`` replaces it, a mapping
    replaces the fields it names); the fields in ``cannot`` are dropped
    (``error.code`` keeps the error's presence and status).
    """
    assert cell.expect is not None, "a skipped cell has no expectation"
    fields = cell.expect.model_dump(exclude_none=True)
    own = cell.scenario.expect
    if own is not None and cell.fault.name == "none" and cell.family == cell.scenario.provider:
        fields.update(own.model_dump(exclude_none=True))
    if isinstance(change, Expect):
        fields = change.model_dump(exclude_none=True)
    elif change is not None:
        fields.update(change)
    for name in cannot:
        if name == "error.code" and isinstance(fields.get("error"), dict):
            fields["error"] = {k: v for k, v in fields["error"].items() if k != "code"}
        else:
            fields.pop(name, None)
    return Expect.model_validate({k: v for k, v in fields.items() if v is not None})


def run_case(
    cell: Cell,
    invoke: Invoke,
    server: RunningServer,
    *,
    client: str,
    version: str = "",
    timeout: float = 5.0,
    expect: Expect | None = None,
    known: Known | None = None,
    describe_call: str = "",
) -> CaseResult:
    """Run ``cell`` once with ``invoke`` against ``server`` and judge it."""
    result = CaseResult(
        scenario=cell.scenario.name,
        fault=cell.fault.name,
        overlay=cell.overlay,
        route=cell.family,
        client=client,
        version=version,
        expected={},
        observed=None,
        verdict="skipped",
    )
    if cell.skip:
        result.differences = [cell.skip]
        return result
    expect = expect if expect is not None else expectation(cell)
    result.expected = expect.model_dump(exclude_none=True)
    test_id = f"conformance-{uuid.uuid4().hex[:12]}"
    name, family = cell.scenario.name, cell.family
    base_url = server.base_url(name, family, test_id=test_id, faults=cell.overlay)
    result.reproduction = _reproduction(server, cell, describe_call)
    outcome, failure, took = _call(lambda: invoke(base_url, cell), timeout)
    result.duration = round(took, 3)
    if failure is not None:
        kind, text = failure
        result.verdict = "timeout" if kind == "timeout" else "error"
        result.differences = [text.strip().splitlines()[-1] if kind == "error" else text]
        result.traceback = text if kind == "error" else ""
        return _known(result, known)
    assert outcome is not None
    result.observed = _observed(outcome)
    result.differences = compare(outcome, expect) + _retries(cell, server, test_id)
    result.verdict = "fail" if result.differences else "pass"
    return _known(result, known)


def _known(result: CaseResult, known: Known | None) -> CaseResult:
    if known is None:
        return result
    result.known = known.reason
    if result.verdict == "pass":
        result.verdict = "fixed"
        result.differences = [f"declared a known failure ({known.reason}), but it conforms"]
    elif result.verdict in ("fail", "error", "timeout"):
        result.verdict = "known"
    return result


def _call(
    work: Callable[[], Outcome], timeout: float
) -> tuple[Outcome | None, tuple[str, str] | None, float]:
    """Run ``work`` in a thread for at most ``timeout`` seconds."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["outcome"] = work()
        except BaseException:  # the client's own failure: reported, never raised here
            box["error"] = traceback.format_exc()

    started = time.monotonic()
    thread = threading.Thread(target=target, name="harness-conformance-case", daemon=True)
    thread.start()
    thread.join(timeout)
    took = time.monotonic() - started
    if thread.is_alive():
        return None, ("timeout", f"the client did not finish within {timeout:g} s"), took
    if "error" in box:
        return None, ("error", box["error"]), took
    outcome = box.get("outcome")
    if not isinstance(outcome, Outcome):
        text = f"the adapter returned {type(outcome).__name__}, not an Outcome"
        return None, ("error", text), took
    return outcome, None, took


def _observed(outcome: Outcome) -> dict[str, Any]:
    return asdict(outcome)


def _retries(cell: Cell, server: RunningServer, test_id: str) -> list[str]:
    """A retry cell: the client retried once, no sooner than the ``retry-after``."""
    if not cell.fault.retry:
        return []
    entries = server.entries(test_id)
    times = [entry.time for entry in entries]
    if len(entries) != cell.attempts:
        return [
            f"retry: expected {cell.attempts} requests (a 429 with retry-after "
            f"{RETRY_AFTER:g} s, then the answer), got {len(entries)}"
        ]
    gap = times[1] - times[0]
    if cell.family.startswith("bedrock"):
        return []  # no retry-after on AWS: the SDK's own backoff decides when
    if gap < RETRY_AFTER * 0.9:
        return [f"retry: the retry came {gap:.2f} s after the 429, before its retry-after "
                f"of {RETRY_AFTER:g} s"]  # fmt: skip
    return []


#: Where ``harness serve`` listens by default, for reproduction lines.
SERVE_URL = "http://127.0.0.1:8080"


def _reproduction(server: RunningServer, cell: Cell, describe_call: str) -> str:
    """One line that replays the cell by hand against ``harness serve``: the base URL
    (the fault overlay in it, as ``x-harness-faults`` would carry it) and the call."""
    url = server.base_url(cell.scenario.name, cell.family, faults=cell.overlay)
    url = SERVE_URL + url.removeprefix(server.url)
    call = f"; {describe_call}" if describe_call else ""
    return f"harness serve, then base_url={url}{call}"


def matching(patterns: Iterable[str], scenario: str, fault: str) -> bool:
    """Whether a known-failure key matches a cell: ``scenario`` (under any fault) or
    ``scenario@fault``, each part a glob."""
    for pattern in patterns:
        name, _, faults = pattern.partition("@")
        if fnmatch.fnmatchcase(scenario, name) and fnmatch.fnmatchcase(fault, faults or "*"):
            return True
    return False
