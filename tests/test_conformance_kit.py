"""The conformance kit, used as users use it: adapters for the official SDKs.

Four adapters (``openai`` and ``anthropic``, sync and async) are written the way an
application would call the SDK: one streaming call, ``except <sdk>.APIError`` around it,
one retry (``max_retries=1``) whatever the scenario. ``conformance_tests`` runs each over
every scenario its route serves; the SDK deviations documented in
``tests/sdk_behaviour.py`` are declared as ``known_failures`` (strict xfails: if an SDK
release fixes one, this suite fails until the entry goes). A deviation that a release
fixed is a :class:`KnownFailure` whose ``when`` is the table's version range for it.
"""

from __future__ import annotations

import importlib.metadata
import json
from typing import Any

import anthropic
import openai
import pytest

from harness.conformance import (
    AdapterTypeError,
    KnownFailure,
    Outcome,
    OutcomeError,
    ToolCall,
    applies,
    compare,
    conformance_tests,
)
from harness.errors import UsageError
from harness.mock.scenario import Expect, Scenario, load_scenarios
from tests import sdk_behaviour

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-harness-test"  # not in the SDK's deprecated list: no warning
MESSAGES: Any = [{"role": "user", "content": "hi"}]

# --- openai -------------------------------------------------------------------------------


class _OpenAIStream:
    """Folds chat.completion.chunk objects into an Outcome."""

    def __init__(self) -> None:
        self.outcome = Outcome()
        self.calls: dict[int, list[str]] = {}

    def take(self, chunk: Any) -> None:
        if chunk.usage is not None:
            usage = chunk.usage
            self.outcome.usage = {
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }
        for choice in chunk.choices:
            self.outcome.finish_reason = choice.finish_reason or self.outcome.finish_reason
            delta = choice.delta
            if delta is None:  # Azure's content-filter annotations have no delta
                continue
            self.outcome.text += delta.content or ""
            self.outcome.reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
            for call in delta.tool_calls or []:
                slot = self.calls.setdefault(call.index, ["", ""])
                if call.function is not None:
                    slot[0] += call.function.name or ""
                    slot[1] += call.function.arguments or ""

    def fail(self, exc: openai.APIError) -> None:
        if isinstance(exc, openai.APIStatusError):
            error = OutcomeError(status=exc.status_code, code=exc.code, type=exc.type)
        elif isinstance(exc, openai.APIConnectionError):
            error = OutcomeError(code="connection_closed")  # the connection broke
        else:  # an error inside the stream
            error = OutcomeError(code=exc.code, type=exc.type)
        self.outcome.error = error

    def result(self) -> Outcome:
        self.outcome.tool_calls = [
            ToolCall(name, json.loads(arguments) if arguments else {})
            for _, (name, arguments) in sorted(self.calls.items())
        ]
        return self.outcome


OPENAI_REQUEST: Any = {
    "model": OPENAI_MODEL,
    "messages": MESSAGES,
    "stream": True,
    "stream_options": {"include_usage": True},
}


def run_openai(base_url: str, scenario: Scenario) -> Outcome:
    """The openai SDK (sync), streaming one chat completion as an application would."""
    stream = _OpenAIStream()
    with openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=1) as client:
        try:
            for chunk in client.chat.completions.create(**OPENAI_REQUEST):
                stream.take(chunk)
        except openai.APIError as exc:
            stream.fail(exc)
    return stream.result()


async def run_openai_async(base_url: str, scenario: Scenario) -> Outcome:
    """The openai SDK (async), streaming one chat completion as an application would."""
    stream = _OpenAIStream()
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-test", max_retries=1) as client:
        try:
            async for chunk in await client.chat.completions.create(**OPENAI_REQUEST):
                stream.take(chunk)
        except openai.APIError as exc:
            stream.fail(exc)
    return stream.result()


# --- anthropic ----------------------------------------------------------------------------

ANTHROPIC_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
ANTHROPIC_REQUEST: Any = {"model": ANTHROPIC_MODEL, "max_tokens": 1024, "messages": MESSAGES}


def _anthropic_error(exc: anthropic.APIError) -> OutcomeError:
    if isinstance(exc, anthropic.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        kind = (body.get("error") or {}).get("type")
        return OutcomeError(status=exc.status_code, type=kind)
    if isinstance(exc, anthropic.APIConnectionError):
        return OutcomeError(code="connection_closed")
    return OutcomeError()


def _anthropic_message(outcome: Outcome, message: Any) -> None:
    """The helper's final message: reasoning, tool calls, stop reason, usage."""
    outcome.reasoning = "".join(b.thinking for b in message.content if b.type == "thinking")
    outcome.tool_calls = [
        ToolCall(b.name, dict(b.input)) for b in message.content if b.type == "tool_use"
    ]
    outcome.finish_reason = ANTHROPIC_STOP.get(message.stop_reason)
    usage = message.usage
    prompt = (
        usage.input_tokens
        + (usage.cache_creation_input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
    )
    outcome.usage = {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
    }


def run_anthropic(base_url: str, scenario: Scenario) -> Outcome:
    """The anthropic SDK (sync): the messages.stream helper, as an application would."""
    outcome = Outcome()
    with anthropic.Anthropic(base_url=base_url, api_key="sk-test", max_retries=1) as client:
        try:
            with client.messages.stream(**ANTHROPIC_REQUEST) as stream:
                for event in stream:
                    outcome.text += event.text if event.type == "text" else ""
                _anthropic_message(outcome, stream.get_final_message())
        except anthropic.APIError as exc:
            outcome.error = _anthropic_error(exc)
    return outcome


async def run_anthropic_async(base_url: str, scenario: Scenario) -> Outcome:
    """The anthropic SDK (async): the messages.stream helper, as an application would."""
    outcome = Outcome()
    options: Any = {"base_url": base_url, "api_key": "sk-test", "max_retries": 1}
    async with anthropic.AsyncAnthropic(**options) as client:
        try:
            async with client.messages.stream(**ANTHROPIC_REQUEST) as stream:
                async for event in stream:
                    outcome.text += event.text if event.type == "text" else ""
                _anthropic_message(outcome, await stream.get_final_message())
        except anthropic.APIError as exc:
            outcome.error = _anthropic_error(exc)
    return outcome


# --- the conformance tests ------------------------------------------------------------------

#: Where the SDKs do not conform (observed; tests/sdk_behaviour.py has the details).
CLEAN_CUT = "a stream cut cleanly before its terminal event ends silently: no exception"
RAW_CUT = "httpx2.RemoteProtocolError from httpcore2.RemoteProtocolError"
OPENAI_KNOWN: dict[str, str | KnownFailure] = {
    "openai/cut-clean": f"openai SDK, raw OpenAI stream: {CLEAN_CUT}"
}
ANTHROPIC_KNOWN: dict[str, str | KnownFailure] = {
    "anthropic/cut-clean": f"anthropic SDK: {CLEAN_CUT}; the final message has stop_reason None",
    # Fixed in 2.17, which wraps the cut as anthropic.APIConnectionError.
    "anthropic/cut-abrupt": KnownFailure(
        "anthropic SDK: an abrupt cut raises a raw httpx2.RemoteProtocolError, "
        "which `except anthropic.APIError` does not catch",
        when=sdk_behaviour.versions_where("anthropic", "abrupt_cut", RAW_CUT),
    ),
    "anthropic/usage-absent": "anthropic SDK: the messages.stream helper crashes with "
    "AttributeError on a message_delta without usage",
}

test_openai_sdk = conformance_tests(run_openai, family="openai", known_failures=OPENAI_KNOWN)
test_anthropic_sdk = conformance_tests(
    run_anthropic, family="anthropic", known_failures=ANTHROPIC_KNOWN
)

#: The async clients share the sync ones' HTTP error handling; what differs is how the
#: stream is read. They run on everything but the plain HTTP errors, whose retry waits
#: (retry-after 2 s, back-off) would double this module's run time for nothing new.
ASYNC_SCENARIOS = [s.name for s in load_scenarios() if "/http-" not in s.name]

test_openai_sdk_async = conformance_tests(
    run_openai_async,
    family="openai",
    scenarios=ASYNC_SCENARIOS,
    known_failures=OPENAI_KNOWN,
)
test_anthropic_sdk_async = conformance_tests(
    run_anthropic_async,
    family="anthropic",
    scenarios=ASYNC_SCENARIOS,
    known_failures=ANTHROPIC_KNOWN,
)


#: With the silent end declared as what the client does, the openai SDK conforms.
test_openai_clean_cut_overridden = conformance_tests(
    run_openai,
    scenarios=["openai/cut-clean", "openai/cut-*"],
    overrides={
        "openai/cut-clean": {"error": None},
        "openai/cut-abrupt": Expect(text="Streaming can stop", error={"code": "connection_closed"}),
    },
)


# --- the kit's own parts --------------------------------------------------------------------


def _parameters(test: Any) -> list[Any]:
    return list(getattr(test, "_harness_parameters")(load_scenarios()))  # noqa: B009


def test_compare_conforming_outcome() -> None:
    """An outcome with every expected field gives no difference."""
    expect = Expect.model_validate(
        {
            "text": "Hi",
            "reasoning": "hmm",
            "tool_calls": [{"name": "f", "arguments": {"a": 1}}],
            "finish_reason": "tool_calls",
            "usage": {"prompt_tokens": 3, "total_tokens": 5},
        }
    )
    outcome = Outcome(
        text="Hi",
        reasoning="hmm",
        tool_calls=[ToolCall("f", {"a": 1})],
        finish_reason="tool_calls",
        usage={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    )
    assert compare(outcome, expect) == []
    assert compare(Outcome(text="anything"), Expect()) == []  # fields left out: not checked


def test_compare_lists_every_difference() -> None:
    """Each differing field gives one readable line."""
    expect = Expect.model_validate(
        {
            "text": "Hi",
            "reasoning": "hmm",
            "tool_calls": [{"name": "f", "arguments": {"a": 1}}],
            "finish_reason": "stop",
            "usage": {"prompt_tokens": 3, "completion_tokens": 2},
        }
    )
    outcome = Outcome(
        text="Hello",
        tool_calls=[ToolCall("f", {"a": 2})],
        usage={"prompt_tokens": 4, "completion_tokens": 2},
        error=OutcomeError(status=500),
    )
    assert compare(outcome, expect) == [
        "text: expected 'Hi', got 'Hello'",
        "reasoning: expected 'hmm', got ''",
        "tool_calls: expected [f({'a': 1})], got [f({'a': 2})]",
        "finish_reason: expected 'stop', got None",
        "usage.prompt_tokens: expected 3, got 4",
        "error: expected none, got an error (status 500)",
    ]
    assert compare(Outcome(), Expect.model_validate({"usage": {"total_tokens": 1}})) == [
        "usage: expected {'total_tokens': 1}, got none"
    ]


def test_compare_errors() -> None:
    """Status compares with status; an expected code matches the error's code or type."""
    by_code = Expect.model_validate({"error": {"code": "overloaded_error"}})
    assert compare(Outcome(error=OutcomeError(code="overloaded_error")), by_code) == []
    assert compare(Outcome(error=OutcomeError(type="overloaded_error")), by_code) == []
    assert compare(Outcome(error=OutcomeError(code="x", type="y")), by_code) == [
        "error.code: expected 'overloaded_error', got an error (code 'x', type 'y')"
    ]
    assert compare(Outcome(), by_code) == [
        "error: expected code 'overloaded_error', got none (the client reported no error)"
    ]
    by_status = Expect.model_validate({"error": {"status": 429}})
    assert compare(Outcome(error=OutcomeError(status=429, code="rate")), by_status) == []
    assert compare(Outcome(error=OutcomeError(status=500)), by_status) == [
        "error.status: expected 429, got 500"
    ]


def test_family_decides_the_scenarios() -> None:
    """openai runs every scenario with expect; anthropic and gemini only their own."""
    scenarios = load_scenarios()
    assert all(applies(s, "openai") for s in scenarios)
    assert [s.provider for s in scenarios if applies(s, "gemini")] == ["gemini"] * sum(
        s.provider == "gemini" for s in scenarios
    )
    ids = [p.id for p in _parameters(conformance_tests(run_anthropic, family="anthropic"))]
    assert ids == [s.name for s in scenarios if s.provider == "anthropic"]
    known = {"anthropic/cut-clean": "silent"}
    cases = _parameters(conformance_tests(run_anthropic, family="anthropic", known_failures=known))
    marked = [p.id for p in cases if p.marks]
    assert marked == ["anthropic/cut-clean"]
    assert cases[[p.id for p in cases].index("anthropic/cut-clean")].marks[0].kwargs == {
        "strict": True,
        "reason": "silent",
    }


def test_known_failure_applies_by_version() -> None:
    """A KnownFailure's `when` makes it a strict xfail only where the installed version
    matches: otherwise the case is a plain test (no XPASS(strict) once a release fixes it)."""
    version = importlib.metadata.version("anthropic")
    inside = KnownFailure("buggy here", when=f"anthropic=={version}")
    outside = KnownFailure("fixed here", when=f"anthropic!={version}")
    assert inside.applies()
    assert not outside.applies()
    assert not KnownFailure("not this python", when="anthropic; python_version<'3'").applies()
    assert KnownFailure("always").applies()
    assert not _clean_cut_case(outside).marks
    (mark,) = _clean_cut_case(inside).marks
    assert mark.kwargs == {"strict": True, "reason": f"buggy here (with anthropic=={version})"}


def _clean_cut_case(entry: KnownFailure) -> Any:
    """The anthropic/cut-clean case of a kit run with ``entry`` as its known failure."""
    test = conformance_tests(
        run_anthropic, family="anthropic", known_failures={"anthropic/cut-clean": entry}
    )
    return next(p for p in _parameters(test) if p.id == "anthropic/cut-clean")


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("anthropic <<< 2", "not a requirement like 'anthropic<2.17'"),
        ("no-such-package-xyz<1", "'no-such-package-xyz' is not installed"),
        ("anthropic[extra]<3", "give a name and versions only"),
    ],
)
def test_known_failure_bad_condition_is_a_usage_error(when: str, problem: str) -> None:
    """A malformed `when`, or one naming a package that is not installed, is a collection
    error that names the scenario and the condition."""
    test = conformance_tests(
        run_anthropic,
        family="anthropic",
        known_failures={"anthropic/cut-clean": KnownFailure("x", when=when)},
    )
    with pytest.raises(UsageError, match=r"known_failures\['anthropic/cut-clean'\]") as caught:
        _parameters(test)
    assert problem in str(caught.value)
    assert repr(when) in str(caught.value)


def test_bad_arguments_are_reported() -> None:
    """Unknown family, unknown names, and known failures the family does not run."""
    with pytest.raises(UsageError, match="unknown family 'claude'"):
        conformance_tests(run_openai, family="claude")  # type: ignore[arg-type]
    typo = conformance_tests(run_openai, known_failures={"openai/cut-clen": "x"})
    with pytest.raises(UsageError, match=r"no scenario named 'openai/cut-clen'.*cut-clean"):
        _parameters(typo)
    stray = conformance_tests(
        run_anthropic, family="anthropic", known_failures={"openai/cut-clean": "x"}
    )
    with pytest.raises(UsageError, match="openai/cut-clean not run by this test"):
        _parameters(stray)
    unknown = conformance_tests(run_openai, scenarios=["openai/txt"])
    with pytest.raises(UsageError, match="conformance_tests scenarios: no scenario named"):
        _parameters(unknown)
    nothing = conformance_tests(run_anthropic, family="anthropic", scenarios=["gemini/*"])
    with pytest.raises(UsageError, match="no scenario with expect for family 'anthropic'"):
        _parameters(nothing)


def test_adapter_must_return_an_outcome(harness_mock: Any) -> None:
    """An adapter that returns something else is an AdapterTypeError (a UsageError and a
    TypeError), not a silent pass."""
    harness_mock.scenario = load_scenarios().get("openai/text")
    test = conformance_tests(lambda base_url, scenario: "not an outcome")  # type: ignore[arg-type,return-value]
    with pytest.raises(AdapterTypeError, match="returned str, not an Outcome") as info:
        test(harness_mock, "none")
    assert isinstance(info.value, UsageError)
    assert isinstance(info.value, TypeError)
