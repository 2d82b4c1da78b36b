"""The official openai SDK's Responses API, and its Azure clients, against the running server.

Every built-in scenario with ``expect`` is replayed by the session's ``builtin_server`` on
``POST /v1/responses`` and read by the unmodified SDK as an application would:
``openai-responses`` scenarios byte for byte, every other provider's rendered in the
Responses format by the server. Three ways to read, sync and async:

* ``events``: ``client.responses.create(..., stream=True)``, iterating the raw events;
* ``helper``: ``client.responses.stream(...)``, iterating its events, then
  ``get_final_response()``;
* ``whole``: ``client.responses.create(...)`` without streaming (one ``Response``).

Where the SDK conforms, the text, reasoning, tool calls (name, parsed arguments, and the
source's call ids), finish (``completed`` / ``incomplete``, mapped to ``expect``'s OpenAI
chat vocabulary) and usage (cached and reasoning tokens included) are compared with the
scenario's ``expect``; an HTTP error must raise the SDK's exception for its status. Where
the SDK does not report a fault (the documented top-level ``error`` event, a clean cut,
``response.failed``), the test pins what it does through ``tests/sdk_behaviour.py``.

Every event of every stream, raw or rendered, must also be accepted by the SDK's own
pydantic models (``ResponseStreamEvent`` through ``pydantic.TypeAdapter``, strict about
required fields where the SDK's stream reader is not), with ``event:`` equal to the data's
``type`` and ``sequence_number`` counting 0, 1, 2... .

The Azure clients: ``AzureOpenAI`` (``chat.completions`` on the deployment route,
``responses`` on ``/openai/responses``) and ``OpenAI(base_url=.../openai/v1/)``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import openai
import pytest
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter, ValidationError

from harness import SSEDecoder
from harness.mock.scenario import Expect, Scenario, Step, load_scenarios
from harness.testing import RunningServer
from tests import sdk_behaviour
from tests.test_sdk_conformance import _expect  # expect without its absent demands

TEST_ID_HEADER = "x-harness-test-id"
MODEL = "gpt-4.1-mini"
INPUT = "hi"
AZURE_API_VERSION = "2024-10-21"
AZURE_DEPLOYMENT = "my-gpt-deployment"

LIBRARY = load_scenarios()
SCENARIOS = [s for s in LIBRARY if s.expect is not None]
RESPONSES = [s for s in SCENARIOS if s.provider == "openai-responses"]
STREAMS = [s for s in SCENARIOS if s.answers[-1].streaming]

EVENT = TypeAdapter(ResponseStreamEvent)

Api = Literal["events", "helper"]
Mode = Literal["sync", "async"]
FaultKind = Literal["error_event", "error_nested", "failed", "clean_cut", "abrupt_cut"]

#: Responses' incomplete reasons in expect's vocabulary.
INCOMPLETE: dict[str | None, str] = {
    "max_output_tokens": "length",
    "content_filter": "content_filter",
}


def _last_data(scenario: Scenario) -> Step:
    """The last data step of the scenario's last answer."""
    return [step for step in scenario.answers[-1].events or [] if step.data is not None][-1]


def fault_kind(scenario: Scenario) -> FaultKind | None:
    """How the (last) answer breaks a 200 stream, if ``expect.error.code`` says it does."""
    error = _expect(scenario).error
    if error is None or error.code is None:
        return None
    events = scenario.answers[-1].events or []
    if events and events[-1].disconnect:
        return "abrupt_cut"
    if error.code == "connection_closed":
        return "clean_cut"
    if scenario.provider != "openai-responses":
        return "error_event"  # rendered: the renderer's top-level error event
    data = _last_data(scenario).data
    assert isinstance(data, dict)
    if data.get("type") == "response.failed":
        return "failed"
    return "error_nested" if isinstance(data.get("error"), dict) else "error_event"


def _select(kind: str, *, raw: bool | None = None) -> list[Scenario]:
    out = []
    for scenario in SCENARIOS:
        if raw is not None and (scenario.provider == "openai-responses") != raw:
            continue
        error = _expect(scenario).error
        status = error is not None and error.status is not None
        fault = fault_kind(scenario) is not None
        chosen = {"answer": error is None, "status": status, "fault": fault}[kind]
        if chosen:
            out.append(scenario)
    return out


def _params(scenarios: list[Scenario]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("scenario", scenarios, ids=[s.name for s in scenarios])


MODES = pytest.mark.parametrize("mode", ["sync", "async"])
APIS = pytest.mark.parametrize("api", ["events", "helper"])


# --- what a client assembled ---------------------------------------------------------------


@dataclass
class Seen:
    """What the SDK gave, folded; ``error`` from iterating, ``final_error`` from
    ``get_final_response()``."""

    text: str = ""
    reasoning: str = ""
    calls: dict[int, list[str]] = field(default_factory=dict)  # output index -> name, args, id
    status: str | None = None  # of the terminal event's (or the whole) response
    incomplete_reason: str | None = None
    usage: dict[str, Any] | None = None
    response: Any = None  # the terminal event's response, or the final / whole one
    error_events: list[Any] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    error: BaseException | None = None
    final_error: BaseException | None = None

    @property
    def tool_calls(self) -> list[tuple[str, Any]]:
        return [(name, json.loads(args)) for _, (name, args, _) in sorted(self.calls.items())]

    @property
    def call_ids(self) -> list[str]:
        return [call_id for _, (_, _, call_id) in sorted(self.calls.items())]

    @property
    def finish_reason(self) -> str | None:
        """The finish in expect's vocabulary: completed is stop (tool_calls with calls)."""
        if self.status == "completed":
            return "tool_calls" if self.calls else "stop"
        if self.status == "incomplete":
            return INCOMPLETE[self.incomplete_reason]
        return None

    @property
    def chat_usage(self) -> dict[str, int] | None:
        if self.usage is None:
            return None
        return {
            "prompt_tokens": self.usage["input_tokens"],
            "completion_tokens": self.usage["output_tokens"],
            "total_tokens": self.usage["total_tokens"],
        }

    def take(self, event: Any) -> None:
        """One streamed event (raw, or the helper's richer version of it)."""
        kind = event.type
        self.types.append(kind)
        if kind == "response.output_text.delta":
            self.text += event.delta
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            self.reasoning += event.delta
        elif kind == "response.output_item.added" and event.item.type == "function_call":
            self.calls[event.output_index] = [event.item.name, "", event.item.call_id]
        elif kind == "response.function_call_arguments.delta":
            self.calls[event.output_index][1] += event.delta
        elif kind == "error":
            self.error_events.append(event)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self._terminal(event.response)

    def _terminal(self, response: Any) -> None:
        self.response = response
        self.status = response.status
        details = response.incomplete_details
        self.incomplete_reason = details.reason if details is not None else None
        self.usage = response.usage.model_dump() if response.usage is not None else None

    def take_whole(self, response: Any) -> None:
        """A whole ``Response`` (non-streaming, or the helper's final one)."""
        self._terminal(response)
        self.text = response.output_text
        self.reasoning = "".join(
            part.text
            for item in response.output
            if item.type == "reasoning"
            for part in [*item.summary, *(item.content or [])]
        )
        self.calls = {
            n: [item.name, item.arguments, item.call_id]
            for n, item in enumerate(i for i in response.output if i.type == "function_call")
        }


def _expected_usage(seen_usage: dict[str, int] | None, expect: Expect) -> None:
    if expect.usage is None:
        return
    wanted = expect.usage.model_dump(exclude_none=True)
    assert seen_usage is not None
    assert {key: seen_usage.get(key) for key in wanted} == wanted


def assert_answer(seen: Seen, expect: Expect) -> None:
    """A complete answer: everything ``expect`` lists, and no exception."""
    assert seen.error is None, repr(seen.error)
    assert seen.error_events == []
    assert seen.text == (expect.text or "")
    assert seen.reasoning == (expect.reasoning or "")
    assert seen.tool_calls == [(call.name, call.arguments) for call in expect.tool_calls or []]
    assert seen.finish_reason == expect.finish_reason
    _expected_usage(seen.chat_usage, expect)


# --- the source: call ids and usage details as the scenario (or the chat route) has them ----


@dataclass(frozen=True)
class Source:
    """What the answer must carry over from its source: the tool-call ids, in order, and
    the cached and reasoning token counts."""

    call_ids: tuple[str, ...]
    cached_tokens: int
    reasoning_tokens: int


_SOURCES: dict[str, Source] = {}


def source_of(server: RunningServer, scenario: Scenario) -> Source:
    """A Responses scenario's own ids and usage details; for another provider's, what the
    chat route sends for it (the same normalized stream, rendered as chat chunks)."""
    if scenario.name in _SOURCES:
        return _SOURCES[scenario.name]
    if scenario.provider == "openai-responses":
        ids = []
        usage: dict[str, Any] = {}
        for step in scenario.answers[-1].events or []:
            data = step.data if isinstance(step.data, dict) else {}
            item = data.get("item") or {}
            if data.get("type") == "response.output_item.added" and item["type"] == "function_call":
                ids.append(item["call_id"])
            if data.get("type") in ("response.completed", "response.incomplete"):
                usage = data["response"]["usage"] or {}
        cached = (usage.get("input_tokens_details") or {}).get("cached_tokens", 0)
        reasoning = (usage.get("output_tokens_details") or {}).get("reasoning_tokens", 0)
        source = Source(tuple(ids), cached, reasoning)
    else:
        calls: dict[int, str] = {}
        details = ({}, {})
        options: Any = {"base_url": server.base_url(scenario.name, "openai"), "api_key": "sk-x"}
        with openai.OpenAI(**options, max_retries=2) as client:
            stream = client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": INPUT}],
                stream=True,
                stream_options={"include_usage": True},
                extra_headers={TEST_ID_HEADER: str(uuid.uuid4())},
            )
            for chunk in stream:
                if chunk.usage is not None:
                    details = (
                        chunk.usage.prompt_tokens_details or {},
                        chunk.usage.completion_tokens_details or {},
                    )
                for choice in chunk.choices:
                    for call in (choice.delta.tool_calls if choice.delta else None) or []:
                        if call.id:
                            calls.setdefault(call.index, call.id)

        def count(obj: Any, name: str) -> int:
            value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
            return value or 0

        source = Source(
            tuple(calls[n] for n in sorted(calls)),
            count(details[0], "cached_tokens"),
            count(details[1], "reasoning_tokens"),
        )
    _SOURCES[scenario.name] = source
    return source


def assert_carried_over(seen: Seen, source: Source) -> None:
    """The call ids are the source's; the usage details count what the source counted."""
    assert tuple(seen.call_ids) == source.call_ids
    assert all(call_id for call_id in seen.call_ids)
    assert seen.usage is not None
    assert seen.usage["input_tokens_details"]["cached_tokens"] == source.cached_tokens
    assert seen.usage["output_tokens_details"]["reasoning_tokens"] == source.reasoning_tokens


# --- the SDK calls ----------------------------------------------------------------------------


def _options(base_url: str, test_id: str, retries: int) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "api_key": "sk-test",
        "max_retries": retries,
        "default_headers": {TEST_ID_HEADER: test_id},
    }


def _retries(scenario: Scenario) -> int:
    """Two retries for a ``responses`` sequence (429/529 then 200), none otherwise."""
    return 2 if len(scenario.answers) > 1 else 0


REQUEST: Any = {"model": MODEL, "input": INPUT}


def read_responses(base_url: str, mode: Mode, api: Api, *, test_id: str, retries: int = 0) -> Seen:
    """Stream one response with the SDK: raw events, or the helper and its final response."""
    seen = Seen()
    options = _options(base_url, test_id, retries)
    if mode == "sync":
        with openai.OpenAI(**options) as client:
            try:
                if api == "events":
                    for event in client.responses.create(**REQUEST, stream=True):
                        seen.take(event)
                else:
                    with client.responses.stream(**REQUEST) as stream:
                        for event in stream:
                            seen.take(event)
                        try:
                            final = stream.get_final_response()
                        except Exception as exc:
                            seen.final_error = exc
                        else:
                            _take_final(seen, final)
            except Exception as exc:
                seen.error = exc
        return seen

    async def main() -> None:
        async with openai.AsyncOpenAI(**options) as client:
            try:
                if api == "events":
                    async for event in await client.responses.create(**REQUEST, stream=True):
                        seen.take(event)
                else:
                    async with client.responses.stream(**REQUEST) as stream:
                        async for event in stream:
                            seen.take(event)
                        try:
                            final = await stream.get_final_response()
                        except Exception as exc:
                            seen.final_error = exc
                        else:
                            _take_final(seen, final)
            except Exception as exc:
                seen.error = exc

    asyncio.run(main())
    return seen


def _take_final(seen: Seen, final: Any) -> None:
    """The helper's final response must add up to the events it delivered."""
    streamed = Seen()
    streamed.take_whole(final)
    assert streamed.text == seen.text
    assert streamed.reasoning == seen.reasoning
    assert [call for _, call in sorted(streamed.calls.items())] == [
        call for _, call in sorted(seen.calls.items())
    ]
    assert final.status == seen.status
    seen.response = final


def read_whole(base_url: str, mode: Mode, *, test_id: str, retries: int = 0) -> Seen:
    """``responses.create()`` without streaming: one whole Response."""
    seen = Seen()
    options = _options(base_url, test_id, retries)
    if mode == "sync":
        with openai.OpenAI(**options) as client:
            try:
                seen.take_whole(client.responses.create(**REQUEST))
            except Exception as exc:
                seen.error = exc
        return seen

    async def main() -> None:
        async with openai.AsyncOpenAI(**options) as client:
            try:
                seen.take_whole(await client.responses.create(**REQUEST))
            except Exception as exc:
                seen.error = exc

    asyncio.run(main())
    return seen


def _url(server: RunningServer, scenario: Scenario) -> str:
    return server.base_url(scenario.name, "openai-responses")


def _journal(server: RunningServer, test_id: str) -> list[tuple[str | None, int | None]]:
    return [(entry["path"], entry["status"]) for entry in server.requests(test_id)]


# --- the events themselves: what the SDK's models accept -----------------------------------


def _check_event(name: str | None, data: Any, sequence: int) -> None:
    """One Responses event: named as its type, numbered in order, a valid SDK model."""
    assert isinstance(data, dict), data
    assert name == data.get("type"), (name, data)
    assert data.get("sequence_number") == sequence, (sequence, data)
    EVENT.validate_python(data)


#: The scenarios whose recorded stream has an event the SDK's models reject on purpose:
#: the nested error shape reported in openai-dotnet#881 has no top-level ``message``.
NESTED_ERROR = "openai-responses/error-nested"


@_params([s for s in RESPONSES if any(a.streaming for a in s.answers)])
def test_every_recorded_event_is_a_valid_sdk_model(scenario: Scenario) -> None:
    """Each data step of a Responses scenario validates as ``ResponseStreamEvent``, with
    ``event:`` = ``type`` and ``sequence_number`` 0, 1, 2... per answer; the one exception,
    the nested error event, is rejected for its missing top-level ``message``."""
    for answer in scenario.answers:
        steps = [step for step in answer.events or [] if step.data is not None]
        for sequence, step in enumerate(steps):
            if scenario.name == NESTED_ERROR and step.event == "error":
                assert isinstance(step.data, dict)
                assert step.data["sequence_number"] == sequence
                with pytest.raises(ValidationError, match="message"):
                    EVENT.validate_python(step.data)
                continue
            _check_event(step.event, step.data, sequence)


def _sse(server: RunningServer, scenario: Scenario, path: str = "/v1/responses") -> list[Any]:
    """The events the route sends for ``scenario`` (its last answer), read with httpx."""
    test_id = str(uuid.uuid4())
    url = f"{server.url}/s/{scenario.name}{path}"
    events: list[Any] = []
    body = {"model": MODEL, "input": INPUT, "stream": True}
    for _ in scenario.answers:  # a sequence: the last answer is the stream
        with httpx.stream(
            "POST", url, json=body, headers={TEST_ID_HEADER: test_id}, timeout=10
        ) as answer:
            decoder = SSEDecoder()
            events = []
            try:
                for data in answer.iter_bytes():
                    events += decoder.feed(data)
            except httpx.RemoteProtocolError:
                pass  # a planned cut
            events += decoder.flush()
    return events


@_params([s for s in STREAMS if s.provider != "openai-responses"])
def test_every_rendered_event_is_a_valid_sdk_model(
    builtin_server: RunningServer, scenario: Scenario
) -> None:
    """Another provider's stream rendered on /v1/responses: every event validates as the
    SDK's ``ResponseStreamEvent``, numbered 0, 1, 2..., starts with response.created and
    response.in_progress, and ends in exactly one terminal event or one ``error``."""
    events = _sse(builtin_server, scenario)
    assert events, "no event"
    for sequence, event in enumerate(events):
        _check_event(event.event, json.loads(event.data), sequence)
    names = [event.event for event in events]
    assert names[:2] == ["response.created", "response.in_progress"]
    terminal = {"response.completed", "response.incomplete", "response.failed", "error"}
    assert [name for name in names if name in terminal] == [names[-1]]
    assert (names[-1] == "error") == (_expect(scenario).error is not None)


# --- complete answers -------------------------------------------------------------------------


def _helper_incomplete(seen: Seen, scenario: Scenario, case: str) -> bool:
    """The helper on a stream that ends in response.incomplete: get_final_response()
    raises (the table's row); the streamed events still carry the whole answer."""
    if seen.status != "incomplete":
        return False
    sdk_behaviour.check("openai", "responses_helper_without_completed", case, seen.final_error)
    assert "response.incomplete" in seen.types
    return True


@MODES
@APIS
@_params(_select("answer"))
def test_responses_stream_answers(
    builtin_server: RunningServer, scenario: Scenario, mode: Mode, api: Api
) -> None:
    """The SDK streams each complete answer on /v1/responses as expect says, with the
    source's call ids and token details; a sequence is retried through, in order."""
    test_id = str(uuid.uuid4())
    url = _url(builtin_server, scenario)
    seen = read_responses(url, mode, api, test_id=test_id, retries=_retries(scenario))
    assert_answer(seen, _expect(scenario))
    assert_carried_over(seen, source_of(builtin_server, scenario))
    if api == "helper" and not _helper_incomplete(seen, scenario, f"{scenario.name} {mode}"):
        assert seen.final_error is None, repr(seen.final_error)
        assert seen.response is not None
    statuses = [a.status for a in scenario.answers]
    assert _journal(builtin_server, test_id) == [("/v1/responses", s) for s in statuses]


@MODES
@_params(_select("answer"))
def test_responses_whole_answers(
    builtin_server: RunningServer, scenario: Scenario, mode: Mode
) -> None:
    """``responses.create()`` without streaming returns the Response the stream adds up to."""
    test_id = str(uuid.uuid4())
    url = _url(builtin_server, scenario)
    seen = read_whole(url, mode, test_id=test_id, retries=_retries(scenario))
    assert_answer(seen, _expect(scenario))
    assert_carried_over(seen, source_of(builtin_server, scenario))
    assert seen.response.object == "response"


# --- HTTP errors ------------------------------------------------------------------------------


@MODES
@pytest.mark.parametrize("api", ["events", "helper", "whole"])
@_params(_select("status"))
def test_responses_http_errors(
    builtin_server: RunningServer, scenario: Scenario, mode: Mode, api: str
) -> None:
    """An HTTP error raises the SDK's exception for the status (the chat table's row), no
    retry with max_retries=0, whichever way the response is read."""
    status = _expect(scenario).error.status  # type: ignore[union-attr]
    assert status is not None
    test_id = str(uuid.uuid4())
    url = _url(builtin_server, scenario)
    if api == "whole":
        seen = read_whole(url, mode, test_id=test_id)
    else:
        seen = read_responses(url, mode, api, test_id=test_id)  # type: ignore[arg-type]
    case = f"{scenario.name} responses {mode}-{api}"
    sdk_behaviour.check("openai", f"http_{status}", case, seen.error)
    assert isinstance(seen.error, openai.APIStatusError)
    assert seen.error.status_code == status
    assert seen.types == []
    assert _journal(builtin_server, test_id) == [("/v1/responses", status)]


# --- broken 200 streams -----------------------------------------------------------------------

#: The table's row for each way a stream breaks, as raw ``events`` iteration meets it.
EVENTS_KEYS: dict[FaultKind, str] = {
    "error_event": "responses_error_event",
    "error_nested": "responses_error_nested",
    "failed": "responses_failed",
    "clean_cut": "responses_clean_cut",
    "abrupt_cut": "responses_abrupt_cut",
}


def _fault_key(scenario: Scenario, kind: FaultKind) -> str:
    if scenario.provider == "openai-responses":
        return EVENTS_KEYS[kind]
    return "responses_stream_error"  # rendered: one error event, whatever the break


@MODES
@APIS
@_params(_select("fault"))
def test_responses_stream_faults(
    builtin_server: RunningServer, scenario: Scenario, mode: Mode, api: Api
) -> None:
    """A broken 200 stream on /v1/responses: the SDK does what the table says, and the
    text before the break reaches the application unchanged."""
    expect = _expect(scenario)
    assert expect.error is not None
    kind = fault_kind(scenario)
    assert kind is not None
    seen = read_responses(_url(builtin_server, scenario), mode, api, test_id=str(uuid.uuid4()))
    assert seen.text == expect.text
    assert seen.finish_reason is None
    assert "response.completed" not in seen.types
    case = f"{scenario.name} {mode}-{api}"
    sdk_behaviour.check("openai", _fault_key(scenario, kind), case, seen.error)
    if api == "helper" and seen.error is None:
        # Iteration ended quietly: only get_final_response() says something is missing.
        sdk_behaviour.check("openai", "responses_helper_without_completed", case, seen.final_error)
        assert "response.completed" in str(seen.final_error)
    code = expect.error.code
    if scenario.provider != "openai-responses" or kind == "error_event":
        # The documented top-level error event (a rendered break is one too): the SDK
        # yields it as an event (openai-python#2487), whatever the break was.
        [event] = seen.error_events
        assert (event.code, event.sequence_number) == (code, seen.types.index("error"))
        assert event.message
        assert seen.types[-1] == "error"
    elif kind == "error_nested":
        assert isinstance(seen.error, openai.APIError)
        data = _last_data(scenario).data
        assert isinstance(data, dict)
        assert seen.error.body == data["error"]  # the nested object, as sent
        assert (seen.error.code, seen.error.type) == (code, code)
        assert seen.error.message == data["error"]["message"]
    elif kind == "failed":
        assert seen.status == "failed"
        assert seen.types[-1] == "response.failed"
        assert seen.response.error.code == code
        assert seen.usage is None
    else:  # a raw cut, clean or abrupt
        assert seen.error_events == []
        assert seen.status is None


@pytest.mark.parametrize("mode", ["sync", "async"])
@_params(_select("fault"))
def test_responses_whole_faults(
    builtin_server: RunningServer, scenario: Scenario, mode: Mode
) -> None:
    """Without streaming, a stream that breaks is answered as an HTTP error in OpenAI's
    shape (what the table says the SDK raises), its ``type`` the break's code: a 429 for
    a rate-limit code, else a 5xx."""
    test_id = str(uuid.uuid4())
    seen = read_whole(_url(builtin_server, scenario), mode, test_id=test_id)
    code = _expect(scenario).error.code  # type: ignore[union-attr]
    limited = code in RATE_LIMIT_CODES
    key = "responses_whole_rate_limit" if limited else "responses_whole_fault"
    sdk_behaviour.check("openai", key, f"{scenario.name} {mode}", seen.error)
    assert isinstance(seen.error, openai.APIStatusError)
    assert seen.error.status_code == 429 if limited else seen.error.status_code >= 500
    assert seen.error.type == _expect(scenario).error.code  # type: ignore[union-attr]
    assert _journal(builtin_server, test_id) == [("/v1/responses", seen.error.status_code)]


#: Break codes harness answers with a 429 when the answer is not streamed
#: (harness/stream/aggregate.py, _OPENAI_STATUS).
RATE_LIMIT_CODES = {
    "rate_limit_error",
    "rate_limit_exceeded",
    "too_many_requests",
    "throttlingException",  # Bedrock Converse's in-stream throttling
}


# --- Azure ------------------------------------------------------------------------------------

AZURE_CHAT = [
    "openai/text",
    "openai/tool-calls-parallel",
    "openai/azure-content-filter",
    "openai/azure-content-filter-annotations",
    "openai/azure-content-filter-stop",
    "anthropic/text",
    "openai-responses/tool-calls-parallel",
]


@dataclass
class ChatSeen:
    """A chat stream folded: text, calls, finish reason; chunks whose choice had no delta."""

    text: str = ""
    calls: dict[int, list[str]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Any = None
    without_delta: list[Any] = field(default_factory=list)
    error: BaseException | None = None

    def take(self, chunk: Any) -> None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            self.finish_reason = choice.finish_reason or self.finish_reason
            if choice.delta is None:  # an Azure content-filter annotation
                self.without_delta.append(choice)
                continue
            self.text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                slot = self.calls.setdefault(call.index, ["", ""])
                slot[0] += (call.function.name if call.function else None) or ""
                slot[1] += (call.function.arguments if call.function else None) or ""

    @property
    def tool_calls(self) -> list[tuple[str, Any]]:
        return [(name, json.loads(args)) for _, (name, args) in sorted(self.calls.items())]


def _azure_endpoint(server: RunningServer, scenario: str, test_id: str) -> str:
    return f"{server.url}/t/{test_id}/s/{scenario}"


def azure_chat(server: RunningServer, scenario: str, mode: Mode, test_id: str) -> ChatSeen:
    """``AzureOpenAI.chat.completions.create(stream=True)`` with the deployment as model."""
    seen = ChatSeen()
    options: Any = {
        "azure_endpoint": _azure_endpoint(server, scenario, test_id),
        "api_key": "azure-key-x",
        "api_version": AZURE_API_VERSION,
        "max_retries": 0,
    }
    request: Any = {
        "model": AZURE_DEPLOYMENT,
        "messages": [{"role": "user", "content": INPUT}],
        "stream": True,
    }
    if mode == "sync":
        with openai.AzureOpenAI(**options) as client:
            try:
                for chunk in client.chat.completions.create(**request):
                    seen.take(chunk)
            except Exception as exc:
                seen.error = exc
        return seen

    async def main() -> None:
        async with openai.AsyncAzureOpenAI(**options) as client:
            try:
                async for chunk in await client.chat.completions.create(**request):
                    seen.take(chunk)
            except Exception as exc:
                seen.error = exc

    asyncio.run(main())
    return seen


@MODES
@pytest.mark.parametrize("name", AZURE_CHAT)
def test_azure_chat_deployment_route(builtin_server: RunningServer, name: str, mode: Mode) -> None:
    """AzureOpenAI streams chat on /openai/deployments/{deployment}/chat/completions with
    ?api-version, and reads each answer as expect says (other providers normalized)."""
    scenario = LIBRARY.get(name)
    assert scenario is not None
    expect = _expect(scenario)
    test_id = str(uuid.uuid4())
    seen = azure_chat(builtin_server, name, mode, test_id)
    assert seen.error is None, repr(seen.error)
    assert seen.text == (expect.text or "")
    assert seen.tool_calls == [(c.name, c.arguments) for c in expect.tool_calls or []]
    assert seen.finish_reason == expect.finish_reason
    [entry] = builtin_server.requests(test_id)
    assert entry["path"] == f"/openai/deployments/{AZURE_DEPLOYMENT}/chat/completions"
    assert entry["query"] == {"api-version": AZURE_API_VERSION}
    assert entry["family"] == "azure"
    assert entry["headers"]["api-key"] != "azure-key-x"  # masked in the journal
    annotations = [
        step
        for step in scenario.answers[-1].events or []
        if isinstance(step.data, dict)
        for choice in step.data.get("choices", [])
        if "delta" not in choice
    ]
    assert len(seen.without_delta) == len(annotations)


def test_azure_annotation_choice_has_no_delta(builtin_server: RunningServer) -> None:
    """The SDK yields Azure's content-filter annotation with ``choice.delta`` None (the
    filter results as extra fields): ``chunk.choices[0].delta.content`` raises
    AttributeError, so an application must check ``delta`` first."""
    seen = azure_chat(builtin_server, "openai/azure-content-filter-stop", "sync", str(uuid.uuid4()))
    [choice] = seen.without_delta
    assert choice.delta is None
    assert choice.finish_reason == "content_filter"
    results = (choice.model_extra or {})["content_filter_results"]
    assert results["protected_material_text"] == {"detected": True, "filtered": True}
    with pytest.raises(AttributeError):
        choice.delta.content  # noqa: B018 - what an unguarded application does


@MODES
def test_azure_content_filter_400(builtin_server: RunningServer, mode: Mode) -> None:
    """Azure's prompt filter: BadRequestError 400 whose body keeps ``innererror``
    (ResponsibleAIPolicyViolation and the per-category results)."""
    seen = azure_chat(builtin_server, "openai/azure-content-filter-400", mode, str(uuid.uuid4()))
    sdk_behaviour.check(
        "openai", "http_400", f"openai/azure-content-filter-400 azure {mode}", seen.error
    )
    assert isinstance(seen.error, openai.BadRequestError)
    assert seen.error.status_code == 400
    assert seen.error.code == "content_filter"
    assert isinstance(seen.error.body, dict)
    inner = seen.error.body["innererror"]
    assert inner["code"] == "ResponsibleAIPolicyViolation"
    assert inner["content_filter_result"]["violence"] == {"filtered": True, "severity": "medium"}


AZURE_RESPONSES = ["openai-responses/text", "openai-responses/tool-calls-parallel", "openai/text"]


@MODES
@pytest.mark.parametrize("name", AZURE_RESPONSES)
def test_azure_responses_route(builtin_server: RunningServer, name: str, mode: Mode) -> None:
    """AzureOpenAI.responses.create(stream=True) calls /openai/responses?api-version=...;
    the stream reads as expect says."""
    scenario = LIBRARY.get(name)
    assert scenario is not None
    test_id = str(uuid.uuid4())
    seen = Seen()
    options: Any = {
        "azure_endpoint": _azure_endpoint(builtin_server, name, test_id),
        "api_key": "azure-key-x",
        "api_version": AZURE_API_VERSION,
        "max_retries": 0,
    }
    request: Any = {"model": AZURE_DEPLOYMENT, "input": INPUT, "stream": True}
    if mode == "sync":
        with openai.AzureOpenAI(**options) as client:
            for event in client.responses.create(**request):
                seen.take(event)
    else:

        async def main() -> None:
            async with openai.AsyncAzureOpenAI(**options) as client:
                async for event in await client.responses.create(**request):
                    seen.take(event)

        asyncio.run(main())
    assert_answer(seen, _expect(scenario))
    [entry] = builtin_server.requests(test_id)
    assert entry["path"] == "/openai/responses"
    assert entry["query"] == {"api-version": AZURE_API_VERSION}
    assert entry["family"] == "azure-responses"


V1_CALLS: dict[str, Callable[[openai.OpenAI], Any]] = {
    "chat/completions": lambda client: client.chat.completions.create(
        model=AZURE_DEPLOYMENT, messages=[{"role": "user", "content": INPUT}], stream=True
    ),
    "responses": lambda client: client.responses.create(
        model=AZURE_DEPLOYMENT, input=INPUT, stream=True
    ),
}


@pytest.mark.parametrize(
    ("endpoint", "family"), [("chat/completions", "azure"), ("responses", "azure-responses")]
)
def test_azure_v1_routes_with_the_plain_client(
    builtin_server: RunningServer, endpoint: str, family: str
) -> None:
    """Azure's v1 API: ``OpenAI(base_url=.../openai/v1/)`` streams chat and Responses
    (openai/text) from /openai/v1/chat/completions and /openai/v1/responses."""
    test_id = str(uuid.uuid4())
    base_url = f"{_azure_endpoint(builtin_server, 'openai/text', test_id)}/openai/v1/"
    chat, responses = ChatSeen(), Seen()
    with openai.OpenAI(base_url=base_url, api_key="azure-key-x", max_retries=0) as client:
        for item in V1_CALLS[endpoint](client):
            (chat if endpoint == "chat/completions" else responses).take(item)
    seen: Any = chat if endpoint == "chat/completions" else responses
    assert seen.text == _expect(LIBRARY.get("openai/text")).text  # type: ignore[arg-type]
    assert seen.finish_reason == "stop"
    [entry] = builtin_server.requests(test_id)
    assert (entry["path"], entry["family"]) == (f"/openai/v1/{endpoint}", family)
