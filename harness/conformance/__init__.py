"""The conformance kit: run your client on every scenario and compare with ``expect``.

You write one adapter, ``run(base_url, scenario) -> Outcome`` (sync or ``async``),
that points your client at ``base_url``, makes one call as your application would, and
returns what the client concluded: the text, reasoning, tool calls, finish reason,
usage, and the error it reported. :func:`conformance_tests` turns it into a pytest
test parametrized over every scenario that has an ``expect`` and that the family's
route can serve (ids are the scenario names)::

    from harness.conformance import Outcome, conformance_tests

    def run(base_url: str, scenario: Scenario) -> Outcome:
        ...

    test_my_client = conformance_tests(run, family="openai")

Each case runs on the ``harness_mock`` fixture of the pytest plugin (a
:class:`harness.testing.Harness`), so it has its own test id (its own ``responses``
sequence and journal) and the strict teardown.
For a ``responses`` scenario (an error first, then the answer) the client is expected
to retry: ``expect`` describes the last answer. ``docs/pytest.md`` is the guide.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from packaging.requirements import InvalidRequirement, Requirement

from harness.errors import UsageError
from harness.mock import families
from harness.mock.families import get_family
from harness.mock.scenario import Expect, Scenario, ScenarioSet
from harness.stream.provider_errors import Family
from harness.testing import PARAMETERS_ATTR, Harness, get_scenario, select_scenarios

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
class ToolCall:
    """A tool call the client assembled: its name and its parsed JSON arguments."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OutcomeError:
    """The error the client reported.

    Attributes:
        status: the HTTP status, for an HTTP error.
        code: the error's code (for a stream that broke: the provider's error type,
            or ``connection_closed`` for a connection that ended before the answer).
        type: the error's type, when the provider gives one apart from the code.
    """

    status: int | None = None
    code: str | None = None
    type: str | None = None


@dataclass
class Outcome:
    """What the client concluded from one call, in OpenAI vocabulary.

    ``finish_reason`` is one of ``stop``, ``length``, ``tool_calls``,
    ``content_filter`` (or ``None`` when the client saw none); ``usage`` has
    ``prompt_tokens``, ``completion_tokens`` and ``total_tokens``.
    """

    text: str = ""
    reasoning: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None
    error: OutcomeError | None = None


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


def compare(outcome: Outcome, expect: Expect) -> list[str]:
    """The differences between what a client concluded and what it should have.

    Fields that ``expect`` leaves out are not checked, except the error: without
    ``expect.error`` the client must report none. ``expect.error.status`` is compared
    with the outcome's status; ``expect.error.code`` with its ``code`` or its ``type``
    (providers put the error's kind in one or the other). Returns ``[]`` when the
    outcome conforms, else one readable line per difference.
    """
    out: list[str] = []
    if expect.text is not None and outcome.text != expect.text:
        out.append(f"text: expected {expect.text!r}, got {outcome.text!r}")
    if expect.reasoning is not None and outcome.reasoning != expect.reasoning:
        out.append(f"reasoning: expected {expect.reasoning!r}, got {outcome.reasoning!r}")
    if expect.tool_calls is not None:
        want = [(call.name, call.arguments) for call in expect.tool_calls]
        got = [(call.name, call.arguments) for call in outcome.tool_calls]
        if want != got:
            out.append(f"tool_calls: expected {_calls(want)}, got {_calls(got)}")
    if expect.finish_reason is not None and outcome.finish_reason != expect.finish_reason:
        out.append(
            f"finish_reason: expected {expect.finish_reason!r}, got {outcome.finish_reason!r}"
        )
    if expect.usage is not None:
        wanted = expect.usage.model_dump(exclude_none=True)
        if outcome.usage is None:
            out.append(f"usage: expected {wanted}, got none")
        else:
            out.extend(
                f"usage.{key}: expected {value}, got {outcome.usage.get(key)}"
                for key, value in wanted.items()
                if outcome.usage.get(key) != value
            )
    out.extend(_compare_error(outcome.error, expect))
    return out


def _compare_error(error: OutcomeError | None, expect: Expect) -> list[str]:
    want = expect.error
    if want is None:
        return [] if error is None else [f"error: expected none, got {_error(error)}"]
    wanted = ", ".join(f"{k} {v!r}" for k, v in want.model_dump(exclude_none=True).items())
    if error is None:
        return [f"error: expected {wanted}, got none (the client reported no error)"]
    out = []
    if want.status is not None and error.status != want.status:
        out.append(f"error.status: expected {want.status}, got {error.status}")
    if want.code is not None and want.code not in (error.code, error.type):
        out.append(f"error.code: expected {want.code!r}, got {_error(error)}")
    return out


def _error(error: OutcomeError) -> str:
    parts = [f"{name} {value!r}" for name, value in vars(error).items() if value is not None]
    return f"an error ({', '.join(parts) or 'no details'})"


def _calls(calls: list[tuple[str, dict[str, Any]]]) -> str:
    return "[" + ", ".join(f"{name}({arguments})" for name, arguments in calls) + "]"


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
    overrides: Mapping[str, Expect | Mapping[str, Any]] | None = None,
    known_failures: Mapping[str, str | KnownFailure] | None = None,
) -> Callable[[Harness], None]:
    """A pytest test function that checks ``adapter``'s client on every scenario.

    Assign it to a name starting with ``test`` in a test module. It is parametrized
    (ids = scenario names) over the loaded scenarios that have an ``expect`` (after
    ``overrides``) and that ``family``'s route serves (see :func:`applies`).

    Args:
        adapter: ``run(base_url, scenario) -> Outcome``, sync or async. ``base_url`` is
            the one for ``family``'s SDKs (with ``/v1`` for openai).
        family: the API the client speaks: ``openai``, ``anthropic`` or ``gemini``.
        scenarios: names or ``fnmatch`` globs to restrict the run to (default: all).
        overrides: per scenario name, a replacement ``Expect``, or a mapping of
            ``expect`` fields that replace those fields (``{"error": None}``).
        known_failures: per scenario name, why the client does not conform: a reason,
            or a :class:`KnownFailure` whose ``when`` limits it to the versions of a
            package that have the bug. Those cases are ``xfail(strict=True)`` where the
            failure applies: once the client conforms, the run fails until the entry is
            removed (or its ``when`` excludes the fixed version); elsewhere they run as
            plain cases.

    Raises:
        UsageError: an unknown family (at once); at collection, an unknown scenario
            name in any argument (naming the closest), or a known failure that is not
            run with this family.
        AdapterTypeError: (from the test) the adapter returned no :class:`Outcome`.
    """
    get_family(family)  # an unknown family fails here, at once
    suite = _Suite(
        adapter,
        family,
        patterns=list(scenarios) if scenarios is not None else None,
        changes=dict(overrides or {}),
        known={
            name: entry if isinstance(entry, KnownFailure) else KnownFailure(entry)
            for name, entry in (known_failures or {}).items()
        },
    )

    def test_conformance(harness_mock: Harness) -> None:
        """The client's outcome on this scenario is what the scenario's expect says."""
        __tracebackhide__ = True
        suite.check(harness_mock)

    setattr(test_conformance, PARAMETERS_ATTR, suite.parameters)
    return test_conformance


@dataclass(frozen=True)
class _Suite:
    """The arguments of one :func:`conformance_tests` call, and what it does with them."""

    adapter: Adapter
    family: Family
    patterns: list[str] | None
    changes: dict[str, Expect | Mapping[str, Any]]
    known: dict[str, KnownFailure]

    def expect_of(self, scenario: Scenario) -> Expect | None:
        """The scenario's ``expect``, after ``overrides``."""
        change = self.changes.get(scenario.name)
        if change is None:
            return scenario.expect
        if isinstance(change, Expect):
            return change
        base = scenario.expect.model_dump() if scenario.expect is not None else {}
        return Expect.model_validate({**base, **change})

    def parameters(self, loaded: ScenarioSet) -> list[Any]:
        """The cases (``harness_scenario`` parameters) to run on ``loaded``, at collection."""
        for what, names in (("overrides", self.changes), ("known_failures", self.known)):
            for name in names:
                try:
                    get_scenario(loaded, name)
                except UsageError as exc:
                    raise UsageError(f"conformance_tests {what}: {exc}") from None
        chosen: set[str] = set()
        if self.patterns is not None:
            try:
                chosen.update(select_scenarios(loaded, self.patterns, "the loaded scenarios"))
            except UsageError as exc:
                raise UsageError(f"conformance_tests scenarios: {exc}") from None
        cases = [
            self._case(scenario)
            for scenario in loaded
            if (self.patterns is None or scenario.name in chosen)
            and applies(scenario, self.family)
            and self.expect_of(scenario) is not None
        ]
        stray = sorted(set(self.known) - {case.values[0] for case in cases})
        if stray:
            raise UsageError(
                f"conformance_tests known_failures: {', '.join(stray)} not run by this test "
                f"(family {self.family!r} runs the scenarios with expect that its route serves)"
            )
        if not cases:
            raise UsageError(
                f"conformance_tests: no scenario with expect for family {self.family!r}"
            )
        return cases

    def _case(self, scenario: Scenario) -> Any:
        marks = []
        failure = self.known.get(scenario.name)
        if failure is not None and _applies(scenario.name, failure):
            reason = failure.reason + (f" (with {failure.when})" if failure.when else "")
            marks.append(pytest.mark.xfail(strict=True, reason=reason))
        return pytest.param(scenario.name, id=scenario.name, marks=marks)

    def check(self, harness_mock: Harness) -> None:
        """Run the adapter on the test's scenario and fail the test where it does not conform."""
        __tracebackhide__ = True
        scenario = harness_mock.scenario
        assert scenario is not None, "conformance_tests parametrizes harness_scenario"
        expect = self.expect_of(scenario)
        assert expect is not None
        outcome = _run(self.adapter, harness_mock.base_url(family=self.family), scenario)
        differences = compare(outcome, expect)
        if differences:
            pytest.fail(
                f"{scenario.name}: the client does not conform to expect:\n  "
                + "\n  ".join(differences),
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
