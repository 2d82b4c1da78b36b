"""What one run of the conformance kit found: one :class:`CaseResult` per cell.

A *cell* is one scenario, under one fault overlay, on one route (API family), for one
client (at one version). The runner (:mod:`harness.conformance.runner`, the pytest
plugin's ``--harness-report``) produces the results; the report writers
(:mod:`harness.conformance.report`) turn a :class:`Run` into JSON, JUnit XML and an
HTML page. Plain data, JSON-ready: no behaviour beyond (de)serialisation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["VERDICTS", "CaseResult", "Run", "Verdict"]

#: How a cell ended:
#:
#: * ``pass``: the client's outcome is what harness derived for the cell;
#: * ``fail``: it is not (``differences`` says how);
#: * ``known``: it is not, and a known failure of this client and version says so;
#: * ``fixed``: a known failure was declared, and the client conforms (the entry is stale);
#: * ``error``: the client (or its adapter) raised something the adapter does not map
#:   (``traceback`` holds it);
#: * ``timeout``: the client did not finish within the per-case timeout;
#: * ``skipped``: the cell cannot apply (a fault the route cannot carry, a scenario the
#:   route cannot serve, a client library that is not installed); ``differences`` holds
#:   the reason.
Verdict = Literal["pass", "fail", "known", "fixed", "error", "timeout", "skipped"]
VERDICTS: tuple[Verdict, ...] = ("pass", "fail", "known", "fixed", "error", "timeout", "skipped")


@dataclass
class CaseResult:
    """One cell of the matrix and how the client did on it.

    Attributes:
        scenario: the scenario's name (``anthropic/text``).
        fault: the fault overlay's name in its set (``none``, ``error_after``,
            ``chunking=byte``...).
        overlay: the overlay itself, as the ``x-harness-faults`` header takes it
            (``""`` for none).
        route: the API family the client spoke (``openai``, ``anthropic``...).
        client: the client's name (``openai``, ``anthropic-stream``, ``litellm``...).
        version: the client library's version (``""`` when unknown).
        expected: what harness derived for the cell (the ``expect`` fields, JSON).
        observed: what the client reported (the ``Outcome`` fields, JSON; ``None`` when
            it raised or timed out).
        verdict: see :data:`Verdict`.
        differences: one readable line per difference (or the reason of a skip, error
            or timeout).
        duration: seconds the client took.
        reproduction: one line that reproduces the cell by hand: the base URL, the
            fault header, and the client call.
        traceback: for ``error``, the traceback of what the client raised.
        known: for ``known`` and ``fixed``, the declared reason.
    """

    scenario: str
    fault: str
    overlay: str
    route: str
    client: str
    version: str
    expected: dict[str, Any]
    observed: dict[str, Any] | None
    verdict: Verdict
    differences: list[str] = field(default_factory=list)
    duration: float = 0.0
    reproduction: str = ""
    traceback: str = ""
    known: str = ""

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object (field names as above)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaseResult:
        """The result a :meth:`to_json` object holds."""
        return cls(**data)


@dataclass
class Run:
    """A whole run: its results and how it was made.

    Attributes:
        results: every cell, in the order they were run.
        started: when the run started, ISO 8601 UTC (``2026-12-04T19:00:00Z``).
        harness: harness's version.
        python: the Python version.
        command: how the run was started (the CLI line, or ``pytest ...``).
        duration: seconds the whole run took.
    """

    results: list[CaseResult]
    started: str = ""
    harness: str = ""
    python: str = ""
    command: str = ""
    duration: float = 0.0

    def counts(self) -> dict[str, int]:
        """How many cells ended with each verdict (every verdict present, zeros too)."""
        counts: dict[str, int] = dict.fromkeys(VERDICTS, 0)
        for result in self.results:
            counts[result.verdict] += 1
        return counts

    def to_json(self) -> dict[str, Any]:
        """The run as a JSON object: its fields, ``counts`` and ``results``."""
        return {
            "started": self.started,
            "harness": self.harness,
            "python": self.python,
            "command": self.command,
            "duration": self.duration,
            "counts": self.counts(),
            "results": [result.to_json() for result in self.results],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        """The run a :meth:`to_json` object holds (``counts`` is recomputed)."""
        return cls(
            results=[CaseResult.from_json(item) for item in data.get("results", [])],
            started=data.get("started", ""),
            harness=data.get("harness", ""),
            python=data.get("python", ""),
            command=data.get("command", ""),
            duration=data.get("duration", 0.0),
        )
