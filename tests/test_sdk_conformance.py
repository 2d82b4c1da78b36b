"""The official SDKs, pointed at the running server through ``base_url``, conform to ``expect``.

Every built-in scenario is replayed by the session's ``builtin_server`` and read by an
unmodified SDK exactly as an application would:

* ``openai`` (sync and async) on the OpenAI route, for every scenario: OpenAI scenarios
  are replayed raw, Anthropic and Gemini scenarios are normalized by the server;
* ``anthropic`` (sync and async; raw events and the ``messages.stream`` helper) on the
  Anthropic route, for the Anthropic scenarios;
* ``google-genai`` (sync and async) on the Gemini route, for the Gemini scenarios.

Where the SDK conforms, the text, reasoning, tool calls, finish reason (mapped to OpenAI
vocabulary) and usage it yields are compared with the scenario's ``expect``, and an
HTTP error must raise the SDK's exception for that status. Where an SDK does not detect a
fault (a stream cut cleanly ends silently, say), the test pins what the SDK actually does,
so that a change in an SDK shows up here. ``tests/sdk_behaviour.py`` is the table of those
behaviours, per SDK and version range; ``docs/sdk-behaviour.md`` is generated from it.

Every test sends its own ``x-harness-test-id``: ``responses`` sequences and journal entries
are kept per test id, so tests never advance each other's sequences.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from harness.mock.scenario import Expect, Scenario, load_scenarios
from harness.testing import RunningServer
from tests import sdk_behaviour

TEST_ID_HEADER = "x-harness-test-id"
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-harness-test"  # not in the SDK's deprecated list: no warning
GEMINI_MODEL = "gemini-2.5-flash"
MESSAGES: Any = [{"role": "user", "content": "hi"}]

SCENARIOS = [s for s in load_scenarios() if s.expect is not None]

FaultKind = Literal["in_band", "clean_cut", "abrupt_cut"]


def _expect(scenario: Scenario) -> Expect:
    """The scenario's ``expect`` without its ``absent`` demands: these tests read the
    scenarios on other routes too (the OpenAI route estimates usage where the provider
    sent none); the conformance kit checks absence, per route
    (``tests/test_conformance_matrix.py``)."""
    assert scenario.expect is not None
    absent = {
        k: None for k in ("usage", "finish_reason") if getattr(scenario.expect, k) == "absent"
    }
    return scenario.expect.model_copy(update=absent)


def fault_kind(scenario: Scenario) -> FaultKind | None:
    """How the (last) answer breaks a 200 stream, if ``expect.error.code`` says it does."""
    error = _expect(scenario).error
    if error is None or error.code is None:
        return None
    events = scenario.answers[-1].events or []
    if events and events[-1].disconnect:
        return "abrupt_cut"  # the connection is dropped without the terminating chunk
    if error.code == "connection_closed":
        return "clean_cut"  # the body ends properly, but before the terminal event
    return "in_band"  # the provider's own error event inside the 200 stream


def _select(provider: str | None = None, kind: str = "any") -> list[Scenario]:
    out = []
    for scenario in SCENARIOS:
        if provider is not None and scenario.provider != provider:
            continue
        error = _expect(scenario).error
        if kind == "answer" and error is not None:
            continue
        if kind == "status" and (error is None or error.status is None):
            continue
        if kind == "fault" and fault_kind(scenario) is None:
            continue
        out.append(scenario)
    return out


def _params(scenarios: list[Scenario]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("scenario", scenarios, ids=[s.name for s in scenarios])


MODES = pytest.mark.parametrize("mode", ["sync", "async"])


def test_every_scenario_has_one_conformance_kind() -> None:
    """Each scenario with expect is a complete answer, an HTTP error or a stream fault."""
    kinds = ("answer", "status", "fault")
    chosen = {kind: {s.name for s in _select(kind=kind)} for kind in kinds}
    for scenario in SCENARIOS:
        assert sum(scenario.name in chosen[kind] for kind in kinds) == 1, scenario.name
    assert len(SCENARIOS) == len(load_scenarios())  # every built-in scenario has expect


# --- what each SDK does with each fault: tests/sdk_behaviour.py, per version -----------
# Each check below looks up the row for the installed SDK version (sdk_behaviour.check).


ANTHROPIC_STOP: dict[str | None, str | None] = {
    None: None,
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
GEMINI_FINISH: dict[Any, str] = {
    genai_types.FinishReason.STOP: "stop",
    genai_types.FinishReason.MAX_TOKENS: "length",
    genai_types.FinishReason.SAFETY: "content_filter",
}


# --- what a client assembled ---------------------------------------------------------------


@dataclass
class Seen:
    """What an SDK yielded, in OpenAI vocabulary, and the exception it raised if any."""

    text: str = ""
    reasoning: str = ""
    calls: dict[int, list[Any]] = field(default_factory=dict)  # index -> [name, arguments]
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: BaseException | None = None
    events: list[str] = field(default_factory=list)

    @property
    def tool_calls(self) -> list[tuple[str, Any]]:
        out = []
        for _, (name, arguments) in sorted(self.calls.items()):
            out.append((name, json.loads(arguments) if isinstance(arguments, str) else arguments))
        return out


def assert_answer(seen: Seen, expect: Expect) -> None:
    """A complete answer: everything ``expect`` lists, and no exception."""
    assert seen.error is None, repr(seen.error)
    assert seen.text == (expect.text or "")
    assert seen.reasoning == (expect.reasoning or "")
    assert seen.tool_calls == [(call.name, call.arguments) for call in expect.tool_calls or []]
    assert seen.finish_reason == expect.finish_reason
    if expect.usage is not None:
        wanted = expect.usage.model_dump(exclude_none=True)
        assert seen.usage is not None
        assert {key: seen.usage.get(key) for key in wanted} == wanted


def _headers(test_id: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {TEST_ID_HEADER: test_id, **(extra or {})}


def _retries(scenario: Scenario) -> int:
    """Two retries for a ``responses`` sequence (429/529 then 200), none otherwise."""
    return 2 if len(scenario.answers) > 1 else 0


def _journal_statuses(server: RunningServer, test_id: str) -> list[int | None]:
    return [entry["status"] for entry in server.requests(test_id)]


# --- openai -------------------------------------------------------------------------------


def _take_openai(seen: Seen, chunk: Any) -> None:
    if chunk.usage is not None:
        seen.usage = chunk.usage.model_dump()
    for choice in chunk.choices:
        seen.finish_reason = choice.finish_reason or seen.finish_reason
        delta = choice.delta
        if delta is None:  # an Azure content-filter annotation (tests/sdk_behaviour.py)
            continue
        seen.text += delta.content or ""
        seen.reasoning += (delta.model_extra or {}).get("reasoning_content") or ""
        for call in delta.tool_calls or []:
            slot = seen.calls.setdefault(call.index, ["", ""])
            if call.function is not None:
                slot[0] += call.function.name or ""
                slot[1] += call.function.arguments or ""


def stream_openai(
    base_url: str, mode: str, *, test_id: str, retries: int = 0, extra: dict[str, str] | None = None
) -> Seen:
    """Stream one chat completion with the openai SDK (``include_usage`` asked)."""
    seen = Seen()
    options: Any = {
        "base_url": base_url,
        "api_key": "sk-test",
        "max_retries": retries,
        "default_headers": _headers(test_id, extra),
    }
    request: Any = {
        "model": OPENAI_MODEL,
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if mode == "sync":
        with openai.OpenAI(**options) as client:
            try:
                for chunk in client.chat.completions.create(**request):
                    _take_openai(seen, chunk)
            except Exception as exc:
                seen.error = exc
        return seen

    async def main() -> None:
        async with openai.AsyncOpenAI(**options) as client:
            try:
                async for chunk in await client.chat.completions.create(**request):
                    _take_openai(seen, chunk)
            except Exception as exc:
                seen.error = exc

    asyncio.run(main())
    return seen


@MODES
@_params(_select(kind="answer"))
def test_openai_answers(builtin_server: RunningServer, scenario: Scenario, mode: str) -> None:
    """The openai SDK streams each complete answer on the OpenAI route as expect says."""
    test_id = str(uuid.uuid4())
    url = builtin_server.base_url(scenario.name, "openai")
    seen = stream_openai(url, mode, test_id=test_id, retries=_retries(scenario))
    assert_answer(seen, _expect(scenario))
    # A responses sequence is retried by the SDK: one request per answer, in order.
    assert _journal_statuses(builtin_server, test_id) == [a.status for a in scenario.answers]


@MODES
@_params(_select(kind="status"))
def test_openai_http_errors(builtin_server: RunningServer, scenario: Scenario, mode: str) -> None:
    """An HTTP error raises the openai SDK's exception for the status, with that status code."""
    status = _expect(scenario).error.status  # type: ignore[union-attr]
    assert status is not None
    test_id = str(uuid.uuid4())
    seen = stream_openai(builtin_server.base_url(scenario.name, "openai"), mode, test_id=test_id)
    sdk_behaviour.check("openai", f"http_{status}", f"{scenario.name} {mode}", seen.error)
    assert isinstance(seen.error, openai.APIStatusError)
    assert seen.error.status_code == status
    assert seen.text == ""
    assert _journal_statuses(builtin_server, test_id) == [status]  # max_retries=0: no retry


@MODES
@_params(_select(kind="fault"))
def test_openai_stream_faults(builtin_server: RunningServer, scenario: Scenario, mode: str) -> None:
    """A broken 200 stream: normalized ones raise APIError(code); raw ones as the table says."""
    expect = _expect(scenario)
    assert expect.error is not None
    kind = fault_kind(scenario)
    assert kind is not None
    url = builtin_server.base_url(scenario.name, "openai")
    seen = stream_openai(url, mode, test_id=str(uuid.uuid4()))
    assert seen.text == expect.text  # everything before the break reached the application
    assert seen.finish_reason is None
    assert seen.usage is None
    case = f"{scenario.name} {mode}"
    if scenario.provider != "openai":
        # Normalized by the server: any break ends in harness's top-level "error" chunk.
        sdk_behaviour.check("openai", "stream_error", case, seen.error)
        assert isinstance(seen.error, openai.APIError)
        assert seen.error.code == expect.error.code
        assert isinstance(seen.error.body, dict)
        assert seen.error.body["type"] == "stream_error"
        assert seen.error.body["provider"] == scenario.provider
        return
    sdk_behaviour.check("openai", kind, case, seen.error)
    if kind == "in_band":
        assert isinstance(seen.error, openai.APIError)
        event = scenario.answers[-1].events[-1]  # type: ignore[index]
        assert isinstance(event.data, dict)
        assert seen.error.body == event.data["error"]  # the chunk's error object, as sent
        assert seen.error.type == expect.error.code  # its error.type
        assert seen.error.code == event.data["error"]["code"]  # its error.code (may be null)


@MODES
@_params(_select("openai", kind="fault"))
def test_openai_normalized_faults(
    builtin_server: RunningServer, scenario: Scenario, mode: str
) -> None:
    """With x-harness-normalize, every raw OpenAI fault reaches the SDK as APIError(code)."""
    expect = _expect(scenario)
    assert expect.error is not None
    url = builtin_server.base_url(scenario.name, "openai")
    seen = stream_openai(url, mode, test_id=str(uuid.uuid4()), extra={"x-harness-normalize": "1"})
    assert seen.text == expect.text
    sdk_behaviour.check("openai", "stream_error", f"{scenario.name} {mode} normalized", seen.error)
    assert isinstance(seen.error, openai.APIError)
    assert seen.error.code == expect.error.code


NON_STREAMING_TEXT = [s for s in SCENARIOS if s.name.endswith("/text")]


@_params(NON_STREAMING_TEXT)
def test_openai_non_streaming(builtin_server: RunningServer, scenario: Scenario) -> None:
    """chat.completions.create without stream returns the whole answer of each family's text."""
    expect = _expect(scenario)
    options: Any = {
        "base_url": builtin_server.base_url(scenario.name, "openai"),
        "api_key": "sk-test",
        "max_retries": 0,
        "default_headers": _headers(str(uuid.uuid4())),
    }
    with openai.OpenAI(**options) as client:
        completion = client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    choice = completion.choices[0]
    seen = Seen(text=choice.message.content or "", finish_reason=choice.finish_reason)
    seen.usage = completion.usage.model_dump() if completion.usage is not None else None
    assert_answer(seen, expect)


# --- anthropic ----------------------------------------------------------------------------


def _anthropic_usage(usage: dict[str, Any]) -> dict[str, Any]:
    prompt = (
        (usage.get("input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
        + (usage.get("cache_read_input_tokens") or 0)
    )
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


class _AnthropicEvents:
    """Folds raw Messages stream events into a :class:`Seen`."""

    def __init__(self, seen: Seen) -> None:
        self.seen = seen
        self.usage: dict[str, Any] = {}
        self.blocks: dict[int, int] = {}  # content index -> tool-call index

    def take(self, event: Any) -> None:
        seen = self.seen
        seen.events.append(event.type)
        if event.type == "message_start":
            usage = event.message.usage  # None from a server that sends no usage
            self.usage = usage.model_dump(exclude_none=True) if usage is not None else {}
        elif event.type == "content_block_start" and event.content_block.type == "tool_use":
            self.blocks[event.index] = len(self.blocks)
            seen.calls[self.blocks[event.index]] = [event.content_block.name, ""]
        elif event.type == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                seen.text += delta.text
            elif delta.type == "thinking_delta":
                seen.reasoning += delta.thinking
            elif delta.type == "input_json_delta":
                seen.calls[self.blocks[event.index]][1] += delta.partial_json
        elif event.type == "message_delta":
            seen.finish_reason = ANTHROPIC_STOP[event.delta.stop_reason]
            if event.usage is not None:
                self.usage.update(event.usage.model_dump(exclude_none=True))
            seen.usage = _anthropic_usage(self.usage) if self.usage else None


def _take_final_message(seen: Seen, message: Any) -> None:
    """The helper's accumulated message: thinking, tool_use blocks, stop reason, usage."""
    seen.reasoning = "".join(b.thinking for b in message.content if b.type == "thinking")
    for index, block in enumerate(b for b in message.content if b.type == "tool_use"):
        seen.calls[index] = [block.name, block.input]
    final_text = "".join(b.text for b in message.content if b.type == "text")
    assert final_text == seen.text  # the helper's text events add up to its final message
    seen.finish_reason = ANTHROPIC_STOP[message.stop_reason]
    usage = message.usage
    seen.usage = _anthropic_usage(usage.model_dump(exclude_none=True)) if usage else None


def stream_anthropic(base_url: str, mode: str, api: str, *, test_id: str, retries: int) -> Seen:
    """Stream one message with the anthropic SDK: raw ``create(stream=True)`` or the helper."""
    options: Any = {
        "base_url": base_url,
        "api_key": "sk-test",
        "max_retries": retries,
        "default_headers": _headers(test_id),
    }
    return read_anthropic(
        lambda: anthropic.Anthropic(**options),
        lambda: anthropic.AsyncAnthropic(**options),
        ANTHROPIC_MODEL,
        mode,
        api,
    )


def read_anthropic(
    make: Callable[[], Any], make_async: Callable[[], Any], model: str, mode: str, api: str
) -> Seen:
    """One streamed message through an anthropic client class (``Anthropic``, or the
    Vertex and Bedrock ones): raw events (``api="events"``) or the ``messages.stream``
    helper and its final message, sync or async."""
    seen = Seen()
    request: Any = {"model": model, "max_tokens": 1024, "messages": MESSAGES}
    events = _AnthropicEvents(seen)

    if mode == "sync":
        with make() as client:
            try:
                if api == "events":
                    for event in client.messages.create(**request, stream=True):
                        events.take(event)
                else:
                    with client.messages.stream(**request) as stream:
                        for event in stream:
                            seen.events.append(event.type)
                            seen.text += event.text if event.type == "text" else ""
                        _take_final_message(seen, stream.get_final_message())
            except Exception as exc:
                seen.error = exc
        return seen

    async def main() -> None:
        async with make_async() as client:
            try:
                if api == "events":
                    async for event in await client.messages.create(**request, stream=True):
                        events.take(event)
                else:
                    async with client.messages.stream(**request) as stream:
                        async for event in stream:
                            seen.events.append(event.type)
                            seen.text += event.text if event.type == "text" else ""
                        _take_final_message(seen, await stream.get_final_message())
            except Exception as exc:
                seen.error = exc

    asyncio.run(main())
    return seen


ANTHROPIC_APIS = pytest.mark.parametrize("api", ["events", "helper"])

#: Complete answers the messages.stream helper fails on (raw events read them fine), and
#: the row of tests/sdk_behaviour.py that says how: a message_delta without usage (some
#: compatible servers) crashes its accumulator.
ANTHROPIC_HELPER_CRASHES: dict[str, str] = {"anthropic/usage-absent": "helper_without_usage"}


@ANTHROPIC_APIS
@MODES
@_params(_select("anthropic", kind="answer"))
def test_anthropic_answers(
    builtin_server: RunningServer, scenario: Scenario, mode: str, api: str
) -> None:
    """The anthropic SDK reads each complete answer on the Anthropic route as expect says."""
    test_id = str(uuid.uuid4())
    url = builtin_server.base_url(scenario.name, "anthropic")
    seen = stream_anthropic(url, mode, api, test_id=test_id, retries=_retries(scenario))
    crash = ANTHROPIC_HELPER_CRASHES.get(scenario.name) if api == "helper" else None
    if crash is not None:
        sdk_behaviour.check("anthropic", crash, f"{scenario.name} {mode}", seen.error)
        assert seen.text == _expect(scenario).text  # every text event arrived first
        return
    assert_answer(seen, _expect(scenario))
    assert "ping" not in seen.events  # the SDK drops ping keep-alives before the application
    assert _journal_statuses(builtin_server, test_id) == [a.status for a in scenario.answers]


@ANTHROPIC_APIS
@MODES
@_params(_select("anthropic", kind="status"))
def test_anthropic_http_errors(
    builtin_server: RunningServer, scenario: Scenario, mode: str, api: str
) -> None:
    """An HTTP error raises the anthropic SDK's exception for the status, with that code."""
    status = _expect(scenario).error.status  # type: ignore[union-attr]
    assert status is not None
    test_id = str(uuid.uuid4())
    url = builtin_server.base_url(scenario.name, "anthropic")
    seen = stream_anthropic(url, mode, api, test_id=test_id, retries=0)
    case = f"{scenario.name} {mode}-{api}"
    sdk_behaviour.check("anthropic", f"http_{status}", case, seen.error)
    assert isinstance(seen.error, anthropic.APIStatusError)
    assert seen.error.status_code == status
    assert seen.text == ""
    assert _journal_statuses(builtin_server, test_id) == [status]


@ANTHROPIC_APIS
@MODES
@_params(_select("anthropic", kind="fault"))
def test_anthropic_stream_faults(
    builtin_server: RunningServer, scenario: Scenario, mode: str, api: str
) -> None:
    """A broken 200 stream: the anthropic SDK does what the table says, text intact."""
    expect = _expect(scenario)
    assert expect.error is not None
    kind = fault_kind(scenario)
    assert kind is not None
    url = builtin_server.base_url(scenario.name, "anthropic")
    seen = stream_anthropic(url, mode, api, test_id=str(uuid.uuid4()), retries=0)
    assert seen.text == expect.text
    assert seen.finish_reason is None
    assert "message_stop" not in seen.events
    sdk_behaviour.check("anthropic", kind, f"{scenario.name} {mode}-{api}", seen.error)
    if kind == "in_band":
        assert isinstance(seen.error, anthropic.APIStatusError)
        assert seen.error.status_code == 200  # the status of the stream's response
        assert isinstance(seen.error.body, dict)
        assert seen.error.body["error"]["type"] == expect.error.code


def test_anthropic_non_streaming(builtin_server: RunningServer) -> None:
    """messages.create without stream returns anthropic/text as one whole message."""
    scenario = next(s for s in SCENARIOS if s.name == "anthropic/text")
    expect = _expect(scenario)
    options: Any = {
        "base_url": builtin_server.base_url(scenario.name, "anthropic"),
        "api_key": "sk-test",
        "max_retries": 0,
        "default_headers": _headers(str(uuid.uuid4())),
    }
    with anthropic.Anthropic(**options) as client:
        message = client.messages.create(model=ANTHROPIC_MODEL, max_tokens=1024, messages=MESSAGES)
    seen = Seen(text="".join(b.text for b in message.content if b.type == "text"))
    seen.finish_reason = ANTHROPIC_STOP[message.stop_reason]
    seen.usage = _anthropic_usage(message.usage.model_dump(exclude_none=True))
    assert_answer(seen, expect)


# --- google-genai -------------------------------------------------------------------------


def _take_gemini(seen: Seen, response: Any, finish: list[Any]) -> None:
    meta = response.usage_metadata
    if meta is not None:
        completion = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
        seen.usage = {
            "prompt_tokens": meta.prompt_token_count or 0,
            "completion_tokens": completion,
            "total_tokens": meta.total_token_count,
        }
    if response.prompt_feedback is not None and response.prompt_feedback.block_reason:
        finish.append("blocked")
    for candidate in response.candidates or []:
        parts = candidate.content.parts if candidate.content is not None else None
        for part in parts or []:
            if part.thought:
                seen.reasoning += part.text or ""
            elif part.text:
                seen.text += part.text
            if part.function_call is not None:
                call = part.function_call
                seen.calls[len(seen.calls)] = [call.name, dict(call.args or {})]
        if candidate.finish_reason is not None:
            finish.append(candidate.finish_reason)


def _gemini_finish(seen: Seen, finish: list[Any]) -> str | None:
    if not finish:
        return None
    last = finish[-1]
    if last == "blocked":
        return "content_filter"  # promptFeedback.blockReason: no candidates at all
    mapped = GEMINI_FINISH[last]
    return "tool_calls" if mapped == "stop" and seen.calls else mapped


def _gemini_client(base_url: str, test_id: str) -> genai.Client:
    # No retry_options: google-genai then makes one attempt (pinned by the HTTP error test).
    options = genai_types.HttpOptions(
        base_url=base_url, api_version="v1beta", headers=_headers(test_id)
    )
    return genai.Client(api_key="test-key", http_options=options)


def stream_gemini(base_url: str, mode: str, *, test_id: str) -> Seen:
    """Stream one generate_content_stream with google-genai."""
    seen = Seen()
    finish: list[Any] = []

    def take(response: Any) -> None:
        _take_gemini(seen, response, finish)

    if mode == "sync":
        with _gemini_client(base_url, test_id) as client:
            try:
                for response in client.models.generate_content_stream(
                    model=GEMINI_MODEL, contents="hi"
                ):
                    take(response)
            except Exception as exc:
                seen.error = exc
    else:

        async def main() -> None:
            async with _gemini_client(base_url, test_id).aio as client:
                try:
                    async for response in await client.models.generate_content_stream(
                        model=GEMINI_MODEL, contents="hi"
                    ):
                        take(response)
                except Exception as exc:
                    seen.error = exc

        asyncio.run(main())
    seen.finish_reason = _gemini_finish(seen, finish)
    return seen


@MODES
@_params(_select("gemini", kind="answer"))
def test_genai_answers(builtin_server: RunningServer, scenario: Scenario, mode: str) -> None:
    """google-genai streams each complete answer on the Gemini route as expect says."""
    test_id = str(uuid.uuid4())
    seen = stream_gemini(builtin_server.base_url(scenario.name, "gemini"), mode, test_id=test_id)
    assert_answer(seen, _expect(scenario))
    assert _journal_statuses(builtin_server, test_id) == [a.status for a in scenario.answers]


@MODES
@_params(_select("gemini", kind="status"))
def test_genai_http_errors(builtin_server: RunningServer, scenario: Scenario, mode: str) -> None:
    """An HTTP error raises ClientError (4xx) or ServerError (5xx) with .code, and no retry."""
    status = _expect(scenario).error.status  # type: ignore[union-attr]
    assert status is not None
    test_id = str(uuid.uuid4())
    seen = stream_gemini(builtin_server.base_url(scenario.name, "gemini"), mode, test_id=test_id)
    sdk_behaviour.check("google-genai", f"http_{status}", f"{scenario.name} {mode}", seen.error)
    wanted = genai_errors.ClientError if status < 500 else genai_errors.ServerError
    assert type(seen.error) is wanted  # the table and the SDK's own rule agree
    assert isinstance(seen.error, genai_errors.APIError)
    assert seen.error.code == status
    body = scenario.answers[-1].body
    assert isinstance(body, dict)
    assert seen.error.status == body["error"]["status"]
    assert seen.text == ""
    assert _journal_statuses(builtin_server, test_id) == [status]  # google-genai: no retry


@MODES
@_params(_select("gemini", kind="fault"))
def test_genai_stream_faults(builtin_server: RunningServer, scenario: Scenario, mode: str) -> None:
    """A broken 200 stream: google-genai does what the table says, text before it intact."""
    expect = _expect(scenario)
    assert expect.error is not None
    kind = fault_kind(scenario)
    assert kind is not None
    url = builtin_server.base_url(scenario.name, "gemini")
    seen = stream_gemini(url, mode, test_id=str(uuid.uuid4()))
    assert seen.text == expect.text
    assert seen.finish_reason is None
    sdk_behaviour.check("google-genai", kind, f"{scenario.name} {mode}", seen.error)
    if kind == "in_band":
        assert isinstance(seen.error, genai_errors.APIError)
        event = scenario.answers[-1].events[-1]  # type: ignore[index]
        assert isinstance(event.data, dict)
        assert seen.error.code == event.data["error"]["code"]
        assert seen.error.status == expect.error.code


def test_genai_non_streaming(builtin_server: RunningServer) -> None:
    """generate_content (non-streaming) returns gemini/text as one whole response."""
    scenario = next(s for s in SCENARIOS if s.name == "gemini/text")
    seen = Seen()
    finish: list[Any] = []
    url = builtin_server.base_url(scenario.name, "gemini")
    with _gemini_client(url, str(uuid.uuid4())) as client:
        _take_gemini(
            seen, client.models.generate_content(model=GEMINI_MODEL, contents="hi"), finish
        )
    seen.finish_reason = _gemini_finish(seen, finish)
    assert_answer(seen, _expect(scenario))
