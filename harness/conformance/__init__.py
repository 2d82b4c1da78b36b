"""The conformance kit: run your client on every scenario, under every fault.

You write one adapter, ``run(base_url, scenario) -> Outcome`` (sync or ``async``),
that points your client at ``base_url``, makes one call as your application would, and
returns what the client concluded: the text, reasoning, tool calls, finish reason,
usage, and the error it reported. :func:`conformance_tests` turns it into a pytest
test parametrized over the matrix: every scenario that has an ``expect`` and that the
family's route can serve, under every fault overlay of ``faults`` (ids: the scenario
name, then ``@fault`` for a fault other than ``none``)::

    from harness.conformance import Outcome, conformance_tests

    def run(base_url: str, scenario: Scenario) -> Outcome:
        ...

    test_my_client = conformance_tests(run, family="openai", faults="default")

What the client must conclude in each cell is derived by harness
(:mod:`harness.conformance.matrix`): the text before a fault, the error it causes,
usage and finish reason absent where the provider sent none, an unchanged answer
under re-chunking, a retry that waits for ``retry-after``. The shipped adapters of
widely used clients are in :mod:`harness.conformance.clients`; ``harness conformance``
runs them without pytest and writes reports (:mod:`harness.conformance.report`).

Each case runs on the ``harness_mock`` fixture of the pytest plugin with its own test
id (its own ``responses`` sequence and journal) and a per-case timeout.
``docs/pytest.md`` is the guide.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.requirements import InvalidRequirement, Requirement

from harness.conformance.clients.base import version_of
from harness.conformance.matrix import FAULTS, Fault, cells, fault_set
from harness.conformance.outcome import Outcome, OutcomeError, ToolCall, compare
from harness.conformance.runner import Known, expectation, matching, record, run_case
from harness.errors import UsageError
from harness.mock import families
from harness.mock.families import get_family
from harness.mock.scenario import Expect, Scenario, ScenarioSet
from harness.stream.provider_errors import Family
from harness.testing import PARAMETERS_ATTR, Harness, get_scenario, is_glob, select_scenarios

if TYPE_CHECKING:
    from harness.conformance.results import CaseResult

__all__ = [
    "Adapter",
    "AdapterTypeError",
    "KnownFailure",
    "Outcome",
    "OutcomeError",
    "ToolCall",
    "applies",
    "compare",
    "conformance_tests",
]

#: The API families a client can be tested against (the served ones).
FAMILIES: tuple[str, ...] = tuple(family.name for family in families.FAMILIES)


class AdapterTypeError(UsageError, TypeError):
    """A conformance adapter returned something other than an :class:`Outcome`.

    The adapter is the caller's code, so this is a usage error; also a ``TypeError``,
    as Python code expects of a value of the wrong type.
    """


@dataclass(frozen=True)
class KnownFailure:
    """Why a client does not conform on a scenario, and for which versions of what.

    Attributes:
        reason: why the client does not conform (shown by pytest).
        when: a requirement the installed packages must meet for the failure to be
            expected, as in ``pip``: ``"anthropic<2.17"``, ``"openai>=3,<3.61"``, with an
            optional environment marker (``"anthropic<2.17; python_version<'3.13'"``).
            ``None``: always. Outside the condition the case runs as a plain test, so an
            SDK release that fixes the bug does not fail the suite with XPASS(strict).
    """

    reason: str
    when: str | None = None

    def applies(self) -> bool:
        """Whether the failure is expected with the packages installed now.

        Raises:
            UsageError: ``when`` is not a requirement, or names a package that is not
                installed.
        """
        if self.when is None:
            return True
        try:
            requirement = Requirement(self.when)
        except InvalidRequirement as exc:
            raise UsageError(
                f"KnownFailure when={self.when!r}: not a requirement like 'anthropic<2.17' ({exc})"
            ) from None
        if requirement.url or requirement.extras:
            raise UsageError(f"KnownFailure when={self.when!r}: give a name and versions only")
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            raise UsageError(
                f"KnownFailure when={self.when!r}: {requirement.name!r} is not installed"
            ) from None
        if requirement.marker is not None and not requirement.marker.evaluate():
            return False
        return requirement.specifier.contains(installed, prereleases=True)


#: ``run(base_url, scenario)``: runs the client against ``base_url`` and returns what
#: it saw; may be a coroutine function.
Adapter = Callable[[str, Scenario], "Outcome | Awaitable[Outcome]"]


def applies(scenario: Scenario, family: Family) -> bool:
    """Whether the route of ``family`` can replay ``scenario``.

    The OpenAI route replays every scenario (other providers' normalized); the
    Anthropic and Gemini routes replay their own provider's scenarios.
    """
    return get_family(family).output.replays(scenario.provider)


def conformance_tests(
    adapter: Adapter,
    *,
    family: Family = "openai",
    scenarios: Iterable[str] | None = None,
    faults: str | Iterable[str] = "none",
    overrides: Mapping[str, Expect | Mapping[str, Any]] | None = None,
    known_failures: Mapping[str, str | KnownFailure] | None = None,
    cannot: Iterable[str] = (),
    timeout: float = 5.0,
    client: str | None = None,
    distribution: str | None = None,
) -> Callable[[Harness, str], None]:
    """A pytest test function that checks ``adapter``'s client on the matrix.

    Assign it to a name starting with ``test`` in a test module. It is parametrized
    over the loaded scenarios that have an ``expect`` (after ``overrides``) and that
    ``family``'s route serves (see :func:`applies`), under each fault of ``faults``.

    Args:
        adapter: ``run(base_url, scenario) -> Outcome``, sync or async. ``base_url`` is
            the one for ``family``'s SDKs (with ``/v1`` for openai), with the cell's
            fault overlay in it.
        family: the API the client speaks (a served family: ``openai``, ``anthropic``...).
        scenarios: names or ``fnmatch`` globs to restrict the run to (default: all).
        faults: a fault set (``none``, the default; ``default``, the whole matrix;
            ``stream``) or fault names (:data:`harness.conformance.matrix.FAULTS`),
            as one ``,``-separated string or an iterable.
        overrides: per scenario name, a replacement ``Expect``, or a mapping of
            ``expect`` fields that replace those fields (``{"error": None}``); it
            applies to the scenario under every fault.
        known_failures: why the client does not conform, per key: a scenario name or
            glob (under every fault) or ``name@fault`` (globs in both parts); a reason,
            or a :class:`KnownFailure` whose ``when`` limits it to the versions of a
            package that have the bug. Such a case is an ``xfail`` where the failure
            applies; once the client conforms it fails ("known failure fixed") until the
            entry is removed; where ``when`` does not hold it runs as a plain case.
        cannot: the fields the client cannot expose (``usage``, ``reasoning``,
            ``finish_reason``, ``tool_calls``, ``text``, ``error.code``): not checked.
        timeout: seconds one case may take before it fails as a timeout (the client is
            left to finish in its thread; the run goes on).
        client: the client's name in ``--harness-report`` (default: the adapter's name).
        distribution: the package whose version the report shows (``"openai"``).

    Raises:
        UsageError: an unknown family or fault (at once); at collection, an unknown
            scenario name in ``scenarios`` or ``overrides``, or a known failure that
            matches no case.
        AdapterTypeError: (from the test) the adapter returned no :class:`Outcome`.
    """
    get_family(family)  # an unknown family fails here, at once
    names = faults if isinstance(faults, str) else ",".join(faults)
    suite = _Suite(
        adapter,
        family,
        patterns=list(scenarios) if scenarios is not None else None,
        faults=tuple(fault_set(names)),
        changes=dict(overrides or {}),
        known={
            key: entry if isinstance(entry, KnownFailure) else KnownFailure(entry)
            for key, entry in (known_failures or {}).items()
        },
        cannot=frozenset(cannot),
        timeout=timeout,
        client=client or str(getattr(adapter, "__name__", "client")),
        distribution=distribution,
    )

    def test_conformance(harness_mock: Harness, harness_fault: str) -> None:
        """The client's outcome in this cell is what harness derives for it."""
        __tracebackhide__ = True
        suite.check(harness_mock, harness_fault)

    setattr(test_conformance, PARAMETERS_ATTR, suite.parameters)
    return test_conformance


@dataclass(frozen=True)
class _Suite:
    """The arguments of one :func:`conformance_tests` call, and what it does with them."""

    adapter: Adapter
    family: Family
    patterns: list[str] | None
    faults: tuple[Fault, ...]
    changes: dict[str, Expect | Mapping[str, Any]]
    known: dict[str, KnownFailure]
    cannot: frozenset[str]
    timeout: float
    client: str
    distribution: str | None

    def expect_of(self, scenario: Scenario) -> Expect | None:
        """The scenario's ``expect``, after ``overrides`` (``None``: not in the matrix)."""
        change = self.changes.get(scenario.name)
        if change is None:
            return scenario.expect
        if isinstance(change, Expect):
            return change
        base = scenario.expect.model_dump() if scenario.expect is not None else {}
        return Expect.model_validate({**base, **change})

    def parameters(self, loaded: ScenarioSet) -> list[Any]:
        """The cases (``harness_scenario``, ``harness_fault``) to run on ``loaded``."""
        import pytest

        for name in self.changes:
            try:
                get_scenario(loaded, name)
            except UsageError as exc:
                raise UsageError(f"conformance_tests overrides: {exc}") from None
        chosen: set[str] = set()
        if self.patterns is not None:
            try:
                chosen.update(select_scenarios(loaded, self.patterns, "the loaded scenarios"))
            except UsageError as exc:
                raise UsageError(f"conformance_tests scenarios: {exc}") from None
        picked = [
            scenario
            for scenario in loaded
            if (self.patterns is None or scenario.name in chosen)
            and applies(scenario, self.family)
            and self.expect_of(scenario) is not None
        ]
        if not picked:
            raise UsageError(
                f"conformance_tests: no scenario with expect for family {self.family!r}"
            )
        for key in self.known:
            name = key.partition("@")[0]
            if not is_glob(name):
                try:
                    get_scenario(loaded, name)
                except UsageError as exc:
                    raise UsageError(f"conformance_tests known_failures: {exc}") from None
        matrix = [(s, f) for s in picked for f in self.faults]
        unused = [key for key in self.known if not any(_matches(key, s, f) for s, f in matrix)]
        if unused:
            raise UsageError(
                f"conformance_tests known_failures: {', '.join(sorted(unused))} not run by "
                f"this test (family {self.family!r} runs the scenarios with expect that its "
                "route serves, under the faults given)"
            )
        params = []
        for scenario, fault in matrix:
            known = self.known_for(scenario, fault)
            marks = [pytest.mark.xfail(strict=True, reason=known.reason)] if known else []
            case = _case_id(scenario.name, fault.name)
            params.append(pytest.param(scenario.name, fault.name, id=case, marks=marks))
        return params

    def known_for(self, scenario: Scenario, fault: Fault) -> Known | None:
        """The known failure that applies to a cell, if any (its ``when`` evaluated)."""
        for key, failure in self.known.items():
            if _matches(key, scenario, fault) and _applies(key, failure):
                reason = failure.reason + (f" (with {failure.when})" if failure.when else "")
                return Known(reason)
        return None

    def check(self, harness_mock: Harness, fault_name: str) -> None:
        """Run the adapter in the cell and fail the test where it does not conform."""
        __tracebackhide__ = True
        scenario = harness_mock.scenario
        assert scenario is not None, "conformance_tests parametrizes harness_scenario"
        [cell] = cells([scenario], [FAULTS[fault_name]], self.family)
        expect = None
        if not cell.skip:
            expect = expectation(cell, self.changes.get(scenario.name), self.cannot)
        result = run_case(
            cell,
            lambda base_url, cell: _run(self.adapter, base_url, cell.scenario),
            harness_mock.server,
            client=self.client,
            version=version_of(self.distribution or ""),
            timeout=self.timeout,
            expect=expect,
            known=self.known_for(scenario, cell.fault),
            describe_call=f"{self.client}(base_url, scenario)",
        )
        record(result)
        _report(result)


def _case_id(scenario: str, fault: str) -> str:
    return scenario if fault == "none" else f"{scenario}@{fault}"


def _matches(key: str, scenario: Scenario, fault: Fault) -> bool:
    """A known-failure key (``name`` or ``name@fault``, globs) against one cell."""
    return matching([key], scenario.name, fault.name)


def _report(result: CaseResult) -> None:
    """Turn a verdict into the pytest outcome of the case."""
    import pytest

    __tracebackhide__ = True
    where = f"{result.scenario} [{result.fault}]"
    if result.verdict == "skipped":
        pytest.skip(f"{where}: {result.differences[0]}")
    # A known failure's case carries a strict xfail mark: it fails as the client does
    # (xfailed), and a fixed one passes (XPASS(strict): the entry must go).
    if result.verdict in ("pass", "fixed"):
        return
    if (
        result.verdict == "error"
        and result.differences
        and "not an Outcome" in result.differences[0]
    ):
        raise AdapterTypeError(
            f"{result.differences[0]}: make run(base_url, scenario) return a "
            "harness.conformance.Outcome"
        )
    lines = "\n  ".join(result.differences)
    detail = f"\n{result.traceback}" if result.traceback else ""
    pytest.fail(
        f"{where}: the client does not conform ({result.verdict}):\n  {lines}\n"
        f"  reproduce: {result.reproduction}{detail}",
        pytrace=False,
    )


def _applies(name: str, failure: KnownFailure) -> bool:
    try:
        return failure.applies()
    except UsageError as exc:
        raise UsageError(f"conformance_tests known_failures[{name!r}]: {exc}") from None


def _run(adapter: Adapter, base_url: str, scenario: Scenario) -> Outcome:
    result = adapter(base_url, scenario)
    if inspect.isawaitable(result):
        result = asyncio.run(_wait(result))
    if not isinstance(result, Outcome):
        raise AdapterTypeError(
            f"the adapter returned {type(result).__name__}, not an Outcome: make "
            "run(base_url, scenario) return a harness.conformance.Outcome"
        )
    return result


async def _wait(awaitable: Awaitable[Outcome]) -> Outcome:
    return await awaitable
