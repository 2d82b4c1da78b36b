"""The shipped client adapters (``harness.conformance.clients``) against the built-in library.

Every client runs on every scenario with ``expect`` that its family's route serves, and
what it concluded must conform (``compare`` finds nothing), apart from the fields it
declares it ``cannot`` expose. Where the library does not conform, the case asserts
exactly what it does instead (:data:`GAPS`): for the official SDKs the gap holds while
the row of ``tests/sdk_behaviour.py`` for the installed version says so, for the
optional libraries on the versions it was observed on. A client whose library is not
installed (the optional ones: litellm, langchain-openai, langchain-anthropic,
pydantic-ai) is skipped with the :class:`Unavailable` message, which names the package.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from harness.conformance import clients
from harness.conformance.clients import CLIENTS, OPTIONAL, Unavailable, load, names
from harness.conformance.clients.base import FIELDS, Call, Client, version_of
from harness.conformance.outcome import Outcome, compare
from harness.errors import UsageError
from harness.mock.families import get_family
from harness.mock.scenario import Expect, ExpectError, Scenario, load_scenarios
from harness.stream.provider_errors import error_status
from harness.stream.renderers.bedrock_converse import exception_for
from harness.testing import RunningServer, run_server
from tests import sdk_behaviour

SCENARIOS = [s for s in load_scenarios() if s.expect is not None]
#: Each client's family, known without importing its library (checked against the
#: client itself by test_a_client_speaks_its_family).
FAMILY = {
    "openai": "openai",
    "openai-responses": "openai-responses",
    "anthropic": "anthropic",
    "anthropic-stream": "anthropic",
    "google-genai": "gemini",
    "boto3-converse": "bedrock-converse",
    "openai-agents": "openai-responses",
    "litellm": "openai",
    "langchain-openai": "openai",
    "langchain-anthropic": "anthropic",
    "pydantic-ai": "openai",
}

NO_ERROR = "error: expected code 'connection_closed', got none (the client reported no error)"


@dataclass(frozen=True)
class Gap:
    """What a library does instead of conforming: the exact differences ``compare``
    reports, or the exception the adapter lets through (``raises``).

    The gap holds while ``row`` (``(sdk, key)`` of tests/sdk_behaviour.py) says the SDK
    raises ``when`` for the installed version, or, for a library outside that table,
    for the installed ``versions`` of ``distribution`` it was observed on.
    """

    diffs: tuple[str, ...] = ()
    raises: type[BaseException] | None = None
    row: tuple[str, str] | None = None
    when: str | None = None
    distribution: str = ""
    versions: str = ""

    def holds(self) -> bool:
        if self.row is not None:
            return sdk_behaviour.expected(*self.row).raises == self.when
        return SpecifierSet(self.versions).contains(version_of(self.distribution))


def _silent_cut(row: tuple[str, str]) -> Gap:
    """A clean cut the SDK ends silently: no error, everything else as expected."""
    return Gap((NO_ERROR,), row=row, when=None)


def _usage(distribution: str, versions: str, prompt: int, completion: int) -> Gap:
    return Gap(
        (
            "usage: expected none (the provider reported none), got "
            f"{{'prompt_tokens': {prompt}, 'completion_tokens': {completion}, "
            f"'total_tokens': {prompt + completion}}}",
        ),
        distribution=distribution,
        versions=versions,
    )


#: (client, scenario) -> what the library does instead of conforming.
GAPS: dict[tuple[str, str], Gap] = {
    ("openai", "openai/cut-clean"): _silent_cut(("openai", "clean_cut")),
    ("openai-responses", "openai-responses/cut-clean"): _silent_cut(
        ("openai", "responses_clean_cut")
    ),
    ("anthropic", "anthropic/cut-clean"): _silent_cut(("anthropic", "clean_cut")),
    ("anthropic-stream", "anthropic/cut-clean"): _silent_cut(("anthropic", "clean_cut")),
    ("anthropic-stream", "anthropic/usage-absent"): Gap(
        raises=AttributeError, row=("anthropic", "helper_without_usage"), when="AttributeError"
    ),
    ("google-genai", "gemini/cut-clean"): _silent_cut(("google-genai", "clean_cut")),
}

#: openai-agents turns response.incomplete (a length or content-filter stop) into an error.
_AGENTS_INCOMPLETE = Gap(
    ("error: expected none, got an error (type 'ModelBehaviorError')",),
    row=("openai-agents", "agents_incomplete"),
    when="agents.ModelBehaviorError",
)
for _scenario in SCENARIOS:
    _expect = _scenario.expect
    assert _expect is not None
    if _expect.error is None and _expect.finish_reason in ("length", "content_filter"):
        GAPS["openai-agents", _scenario.name] = _AGENTS_INCOMPLETE

# --- the optional libraries: what they were observed to do (docs/clients-adapters.md) ---

_LITELLM = "<=1.110.2"
_LITELLM_LOST = "got an error (status 500, code 'connection_closed')"
for _name, _code in [
    ("openai/error-midstream", "server_error"),
    ("anthropic/error-midstream", "overloaded_error"),
    ("anthropic/bedrock-error-first-frame", "overloaded_error"),
    ("gemini/error-midstream", "UNAVAILABLE"),
    ("bedrock-converse/error-first-frame", "modelStreamErrorException"),
    ("bedrock-converse/throttling-midstream", "throttlingException"),
    ("openai-responses/error-midstream", "server_error"),
    ("openai-responses/error-nested", "too_many_requests"),
    ("openai-responses/failed", "server_error"),
]:
    # Every in-band error becomes MidStreamFallbackError(APIConnectionError): code lost.
    GAPS["litellm", _name] = Gap(
        (f"error.code: expected {_code!r}, {_LITELLM_LOST}",),
        distribution="litellm",
        versions=_LITELLM,
    )
for _name, (_prompt, _completion) in {
    # No usage in the stream: litellm makes one up (tiktoken estimates).
    "openai/azure-content-filter": (8, 5),
    "openai/azure-content-filter-annotations": (8, 7),
    "openai/azure-content-filter-stop": (8, 6),
    "openai/keepalive-bare": (8, 8),
    "openai/keepalive-ping": (8, 7),
    "openai/no-done-marker": (8, 6),
    "openai/usage-absent": (8, 5),
    "openai/utf8-split": (8, 13),
}.items():
    GAPS["litellm", _name] = _usage("litellm", _LITELLM, _prompt, _completion)

GAPS["langchain-openai", "openai/cut-clean"] = Gap(
    (NO_ERROR,), distribution="langchain-openai", versions="<=1.8.1"
)
# A choice without delta (Azure's annotation) is dropped, its finish_reason with it.
GAPS["langchain-openai", "openai/azure-content-filter-stop"] = Gap(
    ("finish_reason: expected 'content_filter', got None",),
    distribution="langchain-openai",
    versions="<=1.8.1",
)
GAPS["langchain-anthropic", "anthropic/cut-clean"] = Gap(
    (NO_ERROR,), distribution="langchain-anthropic", versions="<=1.7.10"
)
GAPS["pydantic-ai", "openai/cut-clean"] = Gap(
    ("finish_reason: expected none (the provider sent none), got 'stop'", NO_ERROR),
    distribution="pydantic-ai-slim",
    versions="<=2.68.0",
)
GAPS["pydantic-ai", "openai/azure-content-filter-stop"] = Gap(
    ("finish_reason: expected 'content_filter', got None",),
    distribution="pydantic-ai-slim",
    versions="<=2.68.0",
)


def _langchain_anthropic_usage_gap(scenario: Scenario) -> Gap | None:
    """langchain-anthropic takes usage from message_delta only: the prompt tokens of
    message_start are lost (0) when message_delta carries only output_tokens, and a
    stream without usage gets a usage of zeros."""
    expect = scenario.expect
    assert expect is not None
    versions = "<=1.7.10"
    if expect.usage == "absent":
        zeros = "{'prompt_tokens': 0, 'completion_tokens': 0, 'total_tokens': 0}"
        diff = f"usage: expected none (the provider reported none), got {zeros}"
        return Gap((diff,), distribution="langchain-anthropic", versions=versions)
    if expect.usage is None or "input_tokens" in _message_delta_usage(scenario):
        return None
    want = expect.usage
    completion = want.completion_tokens or 0
    diffs = []
    if want.prompt_tokens:
        diffs.append(f"usage.prompt_tokens: expected {want.prompt_tokens}, got 0")
    if want.total_tokens is not None and want.total_tokens != completion:
        diffs.append(f"usage.total_tokens: expected {want.total_tokens}, got {completion}")
    return Gap(tuple(diffs), distribution="langchain-anthropic", versions=versions)


def _message_delta_usage(scenario: Scenario) -> dict[str, Any]:
    for step in scenario.answers[-1].events or []:
        data = step.data
        if isinstance(data, dict) and data.get("type") == "message_delta":
            return dict(data.get("usage") or {})
    return {}


def gap_for(client: str, scenario: Scenario) -> Gap | None:
    """The gap that holds for ``client`` on ``scenario`` with the installed library."""
    gap = GAPS.get((client, scenario.name))
    if gap is None and client == "langchain-anthropic":
        gap = _langchain_anthropic_usage_gap(scenario)
    return gap if gap is not None and gap.holds() else None


# --- what the route serves -------------------------------------------------------------


def served_expect(family: str, scenario: Scenario) -> Expect:
    """``expect`` as the family's route serves the scenario.

    A stream of another provider is rendered in the family's format, and the rendering
    has rules of its own: it always ends with a usage (an estimate when the provider
    sent none, docs/sdk-behaviour.md), and on the Bedrock Converse route a break becomes
    the ``ConverseStreamOutput`` exception of its code and an HTTP error the status of
    its Bedrock exception (a 529 is a ``ServiceUnavailableException``, 503).
    """
    expect = scenario.expect
    assert expect is not None
    if scenario.provider == family:
        return expect
    update: dict[str, Any] = {}
    if expect.usage == "absent":
        update["usage"] = None
    error = expect.error
    if family == "bedrock-converse" and error is not None:
        code = exception_for(error.code) if error.code is not None else None
        status = error_status("bedrock-converse", error.status) if error.status else None
        update["error"] = ExpectError(status=status, code=code)
    return expect.model_copy(update=update)


def without(expect: Expect, cannot: frozenset[str]) -> Expect:
    """``expect`` without the fields a client cannot expose."""
    update: dict[str, Any] = {name: None for name in cannot if "." not in name}
    if "error.code" in cannot and expect.error is not None:
        update["error"] = expect.error.model_copy(update={"code": None})
    return expect.model_copy(update=update)


def cases(names_: list[str]) -> list[Any]:
    return [
        pytest.param(name, scenario, id=f"{name}:{scenario.name}")
        for name in names_
        for scenario in SCENARIOS
        if get_family(FAMILY[name]).output.replays(scenario.provider)
    ]


SHIPPED = [name for name in names() if name not in OPTIONAL]


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with run_server() as running:
        yield running


def client_or_skip(name: str) -> Client:
    """The client, or a skip saying which package to install."""
    try:
        return load(name)
    except Unavailable as exc:
        pytest.skip(str(exc))


def run_case(server: RunningServer, name: str, scenario: Scenario) -> None:
    client = client_or_skip(name)
    call = Call(
        base_url=server.base_url(scenario.name, client.family, test_id=str(uuid.uuid4())),
        scenario=scenario,
        retries=len(scenario.answers) - 1,
        timeout=10,
    )
    expect = without(served_expect(client.family, scenario), client.cannot)
    gap = gap_for(name, scenario)
    if gap is not None and gap.raises is not None:
        with pytest.raises(gap.raises):
            client.run(call)
        return
    outcome = client.run(call)
    assert isinstance(outcome, Outcome)
    assert compare(outcome, expect) == list(gap.diffs if gap is not None else ())


@pytest.mark.parametrize(("name", "scenario"), cases(SHIPPED))
def test_shipped_client(server: RunningServer, name: str, scenario: Scenario) -> None:
    """Each official SDK conforms on its family's scenarios, or does what the table says."""
    run_case(server, name, scenario)


# The optional libraries warn as they stream (langchain-anthropic: "Received unexpected
# tool content block."; litellm: pydantic attributes deprecated since 2.11, TypedDicts with
# ReadOnly items), and litellm turns any exception raised while it builds a chunk, a
# warning made an error included, into its "connection error": warnings are not errors
# here.
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize(("name", "scenario"), cases(sorted(OPTIONAL)))
def test_optional_client(server: RunningServer, name: str, scenario: Scenario) -> None:
    """Each optional library, when installed, conforms or does what it was observed to."""
    run_case(server, name, scenario)


# --- the registry ------------------------------------------------------------------------


def test_the_registry_names_every_client() -> None:
    assert names() == list(CLIENTS)
    assert set(FAMILY) == set(CLIENTS)
    assert set(CLIENTS) >= OPTIONAL


@pytest.mark.parametrize("name", list(CLIENTS))
def test_a_client_speaks_its_family(name: str) -> None:
    client = client_or_skip(name)
    assert (client.name, client.family) == (name, FAMILY[name])
    assert client.cannot <= set(FIELDS)
    assert client.version  # its distribution is installed
    assert client.description


def test_an_unknown_client_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="unknown client 'opnai'") as info:
        load("opnai")
    assert "did you mean 'openai'" in str(info.value)
    for name in CLIENTS:
        assert name in str(info.value)


def test_importing_the_registry_imports_no_client_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, harness.conformance.clients as c; c.names(); "
        "print(sorted(m for m in ('openai', 'anthropic', 'google.genai', 'boto3', 'agents', "
        "'litellm', 'langchain_openai', 'pydantic_ai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "module", "package"),
    [
        ("openai", "openai", "openai"),
        ("litellm", "litellm", "litellm"),
        ("langchain-openai", "langchain_openai", "langchain-openai"),
        ("langchain-anthropic", "langchain_anthropic", "langchain-anthropic"),
        ("pydantic-ai", "pydantic_ai", "pydantic-ai-slim[openai]"),
        ("google-genai", "google", "google-genai"),
    ],
)
def test_a_missing_library_is_unavailable_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, name: str, module: str, package: str
) -> None:
    """With the library's import failing, load() raises Unavailable naming what to install."""
    import importlib

    real = importlib.import_module

    def import_module(target: str, package: str | None = None) -> Any:
        if target == module or target.startswith(module + "."):
            raise ModuleNotFoundError(f"No module named {target!r}", name=target)
        return real(target, package)

    monkeypatch.setattr(importlib, "import_module", import_module)
    with pytest.raises(Unavailable, match=re.escape(f"pip install {package}")) as info:
        load(name)
    assert repr(name) in str(info.value)


def test_gaps_name_served_scenarios() -> None:
    """Every gap is a (client, scenario) the tests run."""
    served = {(name, s.name) for name in CLIENTS for s in SCENARIOS if _serves(name, s)}
    assert set(GAPS) <= served


def _serves(name: str, scenario: Scenario) -> bool:
    return bool(get_family(FAMILY[name]).output.replays(scenario.provider))


def test_without_drops_what_a_client_cannot_expose() -> None:
    scenario = next(s for s in SCENARIOS if s.name == "openai/reasoning")
    assert scenario.expect is not None
    expect = without(scenario.expect, frozenset({"reasoning", "usage"}))
    assert (expect.reasoning, expect.usage) == (None, None)
    assert expect.text == scenario.expect.text
    outcome = Outcome(text=expect.text or "", finish_reason=expect.finish_reason)
    assert compare(outcome, expect) == []
    assert dataclasses.is_dataclass(outcome)
    assert clients.Call is Call
