"""The conformance matrix: scenarios x fault overlays, with derived expectations.

harness decides every byte it sends (:func:`harness.mock.replay.build_plan`), so for
any scenario, route and fault overlay it can say what a correct client concludes:
it plans the answer, reads the bytes the client would receive with its own reference
reader (the normalization pipeline, whose adapters are checked against every
provider's documented stream and every built-in ``expect``) and writes the result as
``expect`` fields. No hand-written copy of a scenario per fault.

What a derived expectation says (:func:`expected_outcome`):

* ``text``: the text the wire carries up to the break (``""``: none);
  ``reasoning`` when there is some;
* ``tool_calls``: the complete tool calls (``[]``: the client must report none; not
  checked when a cut leaves a call's arguments unparsable);
* ``finish_reason``: the one the wire carries, or ``absent`` (a client must not report
  one the provider never sent: a cut stream is not a ``stop``);
* ``usage``: the usage the wire reports, or ``absent`` (a client must not invent
  usage); not checked when the stream breaks;
* ``error``: ``{code}`` for a stream that breaks (the provider's error type, or
  ``connection_closed`` for a cut), ``{status}`` for an HTTP error.

A fault (:class:`Fault`) is a named overlay in the ``x-harness-faults`` syntax. The
default set (:data:`FAULT_SETS`) is the issue's matrix: none, ``error_after``,
``disconnect_after``, ``disconnect_inside`` (a cut halfway through the third event),
``keepalive_every`` in each style, ``drop_usage``, ``chunking`` byte / random / utf8 /
crlf, and a 429 with ``retry-after`` on the first request, then the answer. A fault
that cannot apply to a cell is a skipped cell with the reason (keep-alives on Gemini
or Bedrock routes, stream faults on an HTTP error answer, an ``anthropic`` ping on
another route).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.errors import UsageError
from harness.mock.families import get_family
from harness.mock.replay import build_plan, completes_event, parse_faults
from harness.mock.scenario import Expect, Faults, Scenario
from harness.record.convert import expected_outcome
from harness.stream.bedrock import unframe
from harness.stream.provider_errors import Family

__all__ = [
    "FAULTS",
    "FAULT_SETS",
    "RETRY_AFTER",
    "Cell",
    "Fault",
    "cells",
    "derive",
    "expected_outcome",
    "fault_set",
]

#: The ``retry-after`` of the retry fault, in seconds: long enough that a client that
#: ignores it shows (its own backoff is shorter), short enough for a fast matrix.
RETRY_AFTER = 1.0


@dataclass(frozen=True)
class Fault:
    """A named fault overlay.

    Attributes:
        name: its name in reports (``none``, ``error_after``, ``chunking=byte``...).
        overlay: the overlay in the ``x-harness-faults`` syntax.
        stream: whether it acts on a stream (and so skips HTTP error answers).
        keepalive: whether it inserts keep-alives (skipped where a route has none).
        retry: whether the client is expected to retry through it (one more attempt,
            no sooner than :data:`RETRY_AFTER`).
    """

    name: str
    overlay: str
    stream: bool = True
    keepalive: bool = False
    retry: bool = False


#: Every fault the kit knows, by name.
FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault("none", "", stream=False),
        Fault("error_after", "error_after=2"),
        Fault("disconnect_after", "disconnect_after=2"),
        Fault("disconnect_inside", "disconnect_inside=2"),
        *(
            Fault(
                f"keepalive={style}", f"keepalive_every=1; keepalive_style={style}", keepalive=True
            )
            for style in ("comment", "ping", "openrouter", "bare", "anthropic")
        ),
        Fault("drop_usage", "drop_usage=true"),
        *(Fault(f"chunking={mode}", f"chunking={mode}") for mode in ("byte", "utf8", "crlf")),
        Fault("chunking=random", "chunking=random; seed=7; max_chunk=5"),
        Fault(
            "retry-429",
            f"http_error=429; retry_after={RETRY_AFTER:g}; fail_first=1",
            stream=False,
            retry=True,
        ),
    )
}

#: Named sets of faults (``--faults NAME``).
FAULT_SETS: dict[str, tuple[str, ...]] = {
    "none": ("none",),
    "default": tuple(FAULTS),
    "stream": tuple(name for name, fault in FAULTS.items() if fault.stream),
}


def fault_set(spec: str) -> list[Fault]:
    """The faults a ``--faults`` value names: a set name, or fault names joined by ``,``.

    Raises:
        UsageError: an unknown name (listing the known sets and faults).
    """
    names = FAULT_SETS.get(spec) or tuple(part.strip() for part in spec.split(",") if part.strip())
    unknown = [name for name in names if name not in FAULTS]
    if unknown or not names:
        raise UsageError(
            f"unknown fault {', '.join(unknown) or spec!r}; sets: {', '.join(FAULT_SETS)}; "
            f"faults: {', '.join(FAULTS)}"
        )
    return [FAULTS[name] for name in names]


@dataclass(frozen=True)
class Cell:
    """One scenario under one fault on one route, and what a correct client concludes.

    Attributes:
        scenario: the scenario.
        fault: the fault.
        family: the route.
        overlay: the fault's overlay for this cell.
        expect: the derived expectation (``None`` for a skipped cell).
        skip: why the cell cannot apply (``""``: it runs).
        attempts: the requests a correct client makes (a retry adds one).
    """

    scenario: Scenario
    fault: Fault
    family: Family
    overlay: str
    expect: Expect | None
    skip: str = ""
    attempts: int = 1


def cells(scenarios: list[Scenario], faults: list[Fault], family: Family) -> list[Cell]:
    """The matrix for ``family``'s route: every scenario it serves, under every fault."""
    output = get_family(family).output
    return [
        _cell(scenario, fault, family)
        for scenario in scenarios
        if output.replays(scenario.provider)
        for fault in faults
    ]


def _cell(scenario: Scenario, fault: Fault, family: Family) -> Cell:
    output = get_family(family).output
    answer = scenario.answers[-1]
    attempts = len(scenario.answers) + (1 if fault.retry else 0)
    why = ""
    if fault.stream and not answer.streaming:
        why = "a stream fault; this answer is not a stream"
    elif fault.keepalive and output.no_keepalive:
        why = output.no_keepalive
    elif fault.keepalive and "anthropic" in fault.overlay and output.provider != "anthropic":
        why = "an Anthropic ping needs the Anthropic route"
    elif fault.retry and len(scenario.answers) > 1:
        why = "the scenario already answers a sequence; the retry fault is for single answers"
    elif fault.name == "drop_usage" and output.provider != scenario.provider:
        why = (
            "this route renders another provider's stream and estimates usage the provider "
            "did not send (what its clients get): nothing for a client to invent"
        )
    elif fault.name in ("error_after", "disconnect_after", "disconnect_inside"):
        why = _past_the_end(scenario, family, fault)
    if why:
        return Cell(scenario, fault, family, fault.overlay, None, why, attempts)
    overlay = fault.overlay
    if fault.retry and family.startswith("bedrock"):
        # AWS sends no retry-after and its SDKs back off on their own: the retry counts.
        overlay = overlay.replace(f"retry_after={RETRY_AFTER:g}; ", "")
    expect, cut_after_the_end = _derive(scenario, family, overlay)
    if cut_after_the_end:
        why = "the cut falls after the whole answer: only the transport breaks (either is right)"
        return Cell(scenario, fault, family, fault.overlay, None, why, attempts)
    return Cell(scenario, fault, family, overlay, expect, "", attempts)


def _past_the_end(scenario: Scenario, family: Family, fault: Fault) -> str:
    """Why an event-counting fault would fall after the stream's end (``""``: it does not).

    ``error_after`` counts the scenario's own events (a content fault, applied before
    any rendering); the disconnects count the events the route writes.
    """
    count = int(fault.overlay.rpartition("=")[2])
    if fault.name == "error_after":
        steps = scenario.answers[-1].events or []
        events = sum(completes_event(step, scenario.provider) for step in steps)
        where = "in the scenario"
    else:
        plan = build_plan(scenario, scenario.answers[-1], target=family, stream=True)
        events = sum(1 for w in plan.writes if w.data and not w.data.startswith(b":"))
        where = "on this route"
    if events > count:
        return ""
    return f"the stream has {events} events {where}: {fault.overlay} falls after its end"


def derive(scenario: Scenario, family: Family, overlay: str = "") -> Expect:
    """What a correct client on ``family``'s route concludes from the last answer of
    ``scenario`` under ``overlay`` (``fail_first`` errors are retried through).

    Raises:
        FaultSpecError, ReplayError: the overlay cannot apply to this answer.
    """
    return _derive(scenario, family, overlay)[0]


def _derive(scenario: Scenario, family: Family, overlay: str) -> tuple[Expect, bool]:
    """The expectation, and whether a cut falls after a complete answer."""
    answer = scenario.answers[-1]
    faults = (answer.faults or Faults()).merged(parse_faults(overlay) if overlay else None)
    if faults.fail_first is not None:  # the client retries through the first errors
        faults = faults.model_copy(
            update={"http_error": None, "retry_after": None, "fail_first": None}
        )
    plan = build_plan(scenario, answer, target=family, stream=True, faults=faults)
    if plan.status >= 400:
        return Expect.model_validate({"error": {"status": plan.status}}), False
    wire = b"".join(write.data for write in plan.writes)
    output = get_family(family).output
    if not plan.streaming:
        return Expect(), False  # a whole 2xx body: only that no error is expected
    if output.framer is not None:  # Bedrock's InvokeModel: Anthropic events in frames
        wire = unframe(wire)
    fields = expected_outcome(output.provider, wire)
    return Expect.model_validate(fields), plan.abort and "error" not in fields
