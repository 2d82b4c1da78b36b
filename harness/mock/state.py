"""What one mock provider app holds: its options, journal, counters, and what it serves.

:class:`MockState` is the one object the app's handlers, its admin Blueprint and its
ASGI layer share. What is served (the scenarios and the plans built from them) is one
:class:`Served` value, swapped whole by ``POST /_harness/reload``: a request sees the
old set or the new one, never a mix, and a stream in progress keeps its plan.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from harness.mock.journal import Journal
from harness.mock.options import ServerOptions
from harness.mock.replay import MEMO_BYTES, Plan, build_plan
from harness.mock.scenario import Faults, Scenario, ScenarioSet
from harness.stream.provider_errors import Family

__all__ = ["MockState", "PlanCache", "Served", "Stats"]


class PlanCache:
    """The last plans built, by everything that decides their bytes.

    A plan is frozen and deterministic (faults are seeded), so requests that ask for
    the same replay share one; building it is most of the per-request cost
    (``bench/serve.py``). Bounded by count and by the bytes the plans hold.
    """

    def __init__(self, max_plans: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._plans: OrderedDict[tuple[Any, ...], tuple[Plan, int]] = OrderedDict()
        self._bytes = 0
        self._max_plans = max_plans
        self._max_bytes = max_bytes

    def __len__(self) -> int:
        return len(self._plans)

    def get(
        self,
        scenario: Scenario,
        index: int,
        family: Family,
        stream: bool,
        normalize: bool,
        faults: Faults,
        model: str | None,
    ) -> Plan:
        """The plan of answer ``index`` of ``scenario`` for this request (built once)."""
        # Faults are frozen and hashable, and compare field by field.
        key = (id(scenario), index, family, stream, normalize, faults, model)
        hit = self._plans.get(key)
        if hit is not None:
            self._plans.move_to_end(key)
            return hit[0]
        plan = build_plan(
            scenario,
            scenario.answers[index],
            target=family,
            stream=stream,
            normalize=normalize,
            faults=faults,
            options={"model": model},
        )
        # A lazy plan (a long stream) makes its writes as they go, and keeps at most
        # MEMO_BYTES of them: counted as that much.
        size = MEMO_BYTES if plan.lazy else sum(len(write.data) for write in plan.writes)
        self._plans[key] = (plan, size)
        self._bytes += size
        while self._plans and (len(self._plans) > self._max_plans or self._bytes > self._max_bytes):
            _, (_, dropped) = self._plans.popitem(last=False)
            self._bytes -= dropped
        return plan


@dataclass(frozen=True)
class Served:
    """The scenarios being served and the plans built from them (cached by scenario
    object, so they go together)."""

    scenarios: ScenarioSet
    plans: PlanCache = field(default_factory=PlanCache)


@dataclass
class Stats:
    """What ``GET /_harness/stats`` reports besides the task count and memory.

    Counted in the ASGI layer, around everything the app does, so a request that ends
    in a crash, a cut or a client hanging up is counted as surely as a clean one.
    """

    open_requests: int = 0
    open_streams: int = 0
    #: Answers by status class ("2xx", "4xx", ...), counted when their head is sent;
    #: an app error before any head counts as "5xx" (Hypercorn answers 500 for it).
    by_status: dict[str, int] = field(default_factory=dict)
    #: How streams ended: "completed", "cut" (a planned disconnect), "client_gone"
    #: (cancelled: the client hung up), "error".
    streams: dict[str, int] = field(default_factory=dict)

    def count(self, table: dict[str, int], key: str) -> None:
        """Add one to ``table[key]``."""
        table[key] = table.get(key, 0) + 1


@dataclass
class MockState:
    """Everything one app shares between its handlers, admin endpoints and ASGI layer."""

    served: Served
    options: ServerOptions = field(default_factory=ServerOptions)
    journal: Journal = field(default_factory=Journal)
    stats: Stats = field(default_factory=Stats)

    @property
    def scenarios(self) -> ScenarioSet:
        """The scenarios served now."""
        return self.served.scenarios
