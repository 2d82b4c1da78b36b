"""What the official SDKs do on each fault, per SDK and version range: the one table.

The SDK tests (``tests/test_sdk_conformance.py``, ``tests/test_sdk_timeouts.py``,
``tests/test_sdk_responses.py``, ``tests/test_agents.py``) look up the row for the
installed version with :func:`expected` and assert what it says;
``tests/test_conformance_kit.py`` derives its version-conditioned known failures from
it; ``docs/sdk-behaviour.md`` is generated from it (``python -m tests.sdk_behaviour
--write``, run by ``make lock``; ``tests/test_sdk_behaviour.py`` fails when the page is
stale); ``make test-latest`` compares what the newest SDK releases do with it.

A row with a ``key`` is checked by a test: ``raises`` is what :func:`describe` gives
for the exception the SDK raised (``None``: iteration ends with no exception), and
``versions`` is the PEP 440 range of the SDK it holds for. The rows of one ``(sdk,
key)`` must cover every version between them (an open range last). A row without a
key is documentation of behaviour the tests pin directly (the answer they compare).

An SDK release that changes a row makes the locked suite fail only when the lock is
refreshed (``make lock``); then add a row for the new range, keep the old one, and
regenerate the page. ``make test-latest`` reports such changes before that.

Observations: with ``HARNESS_SDK_OBSERVATIONS=FILE`` set, every check of a keyed row
appends what it saw to FILE as one JSON line (``make test-latest`` reads them back).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import sys
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "sdk-behaviour.md"
LOCK = ROOT / "uv.lock"
OBSERVATIONS_ENV = "HARNESS_SDK_OBSERVATIONS"

#: The SDKs the table is about, and the distribution whose version decides the rows.
SDKS = ("openai", "anthropic", "google-genai", "openai-agents", "boto3")
#: The packages whose locked versions docs/sdk-behaviour.md lists: the SDKs and their
#: HTTP stack.
DOC_PACKAGES = (*SDKS, "botocore", "httpx2")


@dataclass(frozen=True)
class Row:
    """One behaviour of one SDK, for one range of its versions."""

    sdk: str
    fault: str  # the doc's first column
    scenarios: str  # the doc's second column (markdown)
    text: str  # what the SDK does (markdown)
    key: str | None = None  # the name the tests look the row up by
    raises: str | None = None  # describe() of the exception; None: no exception
    versions: str = ""  # PEP 440 specifiers of the SDK; "" = every version
    seen_on: tuple[str, ...] = ()  # versions outside the lock this row was observed on
    section: str = ""  # the doc's section (a key of SECTIONS); "" = the SDK's own

    @property
    def where(self) -> str:
        """The key of the doc section this row goes in."""
        return self.section or self.sdk

    def holds_for(self, version: str) -> bool:
        """Whether this row's range contains ``version``."""
        return SpecifierSet(self.versions).contains(Version(version), prereleases=True)


STATUS_500_UP = "every status >= 500 maps to it"

ROWS: tuple[Row, ...] = (
    # --- openai --------------------------------------------------------------------------
    Row(
        "openai",
        'In-band error after 200 (raw `data: {"error": …}`)',
        "`openai/error-midstream`",
        "**detected**: raises `openai.APIError` (that class exactly: not an `APIStatusError`, "
        "no `status_code`). `.body` is the chunk's `error` object, `.type` its `type` "
        "(`server_error`), `.code` its `code` (`None` here), `.message` its `message`.",
        key="in_band",
        raises="openai.APIError",
    ),
    Row(
        "openai",
        "Event ids and comment keep-alives (`event_ids=true` on a stream with `: ping`)",
        "`openai/keepalive-ping` with `x-harness-faults: event_ids=true`",
        "**crash**: after an event that carried `id:`, a `: ping` comment block makes the "
        "SDK's SSE decoder yield an event with empty data, and `json.loads` raises "
        "`json.JSONDecodeError` out of the iteration (openai-python #2722).",
        key="ids_then_comment",
        raises="json.JSONDecodeError",
    ),
    Row(
        "openai",
        "Clean cut (no `finish_reason`, no `[DONE]`)",
        "`openai/cut-clean`",
        "**silent**: no exception, last `finish_reason` is `None`, no usage chunk.",
        key="clean_cut",
        raises=None,
    ),
    Row(
        "openai",
        "Abrupt cut (connection dropped mid-line)",
        "`openai/cut-abrupt`",
        '**detected**: raises `openai.APIConnectionError` ("Connection error."), '
        "`__cause__` is `httpx2.RemoteProtocolError` (incomplete chunked read).",
        key="abrupt_cut",
        raises="openai.APIConnectionError from httpx2.RemoteProtocolError",
    ),
    Row(
        "openai",
        "Normalized `stream_error` (any break in an Anthropic/Gemini stream, or any OpenAI "
        "scenario with `x-harness-normalize: 1`)",
        "`anthropic/error-midstream`, `anthropic/cut-clean`, `anthropic/cut-abrupt`, "
        "`gemini/error-midstream`, `gemini/cut-clean`, `gemini/cut-abrupt`; "
        "`openai/error-midstream`, `openai/cut-clean`, `openai/cut-abrupt` with the header",
        "**detected**, clean cuts included: raises `openai.APIError` with `.code` = the "
        "provider's error type (`overloaded_error`, `UNAVAILABLE`, `server_error`) or "
        '`connection_closed`, and `.body` = `{"type": "stream_error", "code", '
        '"message", "provider"}`.',
        key="stream_error",
        raises="openai.APIError",
    ),
    Row(
        "openai",
        "HTTP 429",
        "`openai/http-429`, `anthropic/http-429`, `gemini/http-429`",
        "raises `openai.RateLimitError`, `.status_code` 429.",
        key="http_429",
        raises="openai.RateLimitError",
    ),
    Row(
        "openai",
        "HTTP 500",
        "`openai/http-500`, `anthropic/http-500`, `gemini/http-500`",
        "raises `openai.InternalServerError`, `.status_code` 500.",
        key="http_500",
        raises="openai.InternalServerError",
    ),
    Row(
        "openai",
        "HTTP 529",
        "`anthropic/http-529`",
        f"raises `openai.InternalServerError` ({STATUS_500_UP}), `.status_code` 529.",
        key="http_529",
        raises="openai.InternalServerError",
    ),
    Row(
        "openai",
        "HTTP 503",
        "`gemini/http-503`",
        "raises `openai.InternalServerError`, `.status_code` 503.",
        key="http_503",
        raises="openai.InternalServerError",
    ),
    Row(
        "openai",
        "HTTP 400 (Azure's content filter refusing the prompt)",
        "`openai/azure-content-filter-400`",
        "raises `openai.BadRequestError`, `.status_code` 400, `.code` `content_filter`; `.body` "
        "keeps Azure's `innererror` (`code` `ResponsibleAIPolicyViolation`, "
        "`content_filter_result` per category).",
        key="http_400",
        raises="openai.BadRequestError",
    ),
    Row(
        "openai",
        "429 / 529, then 200 (`max_retries=2`)",
        "`openai/429-then-200`, `anthropic/529-then-200`",
        "retries after `retry-after` (1 s) and returns the full answer; the journal shows two "
        "requests (429 or 529, then 200).",
    ),
    Row(
        "openai",
        "Keep-alive comments (`:`, `: ping`, `: OPENROUTER PROCESSING`; Anthropic `ping` "
        "events normalized to `: keep-alive`)",
        "`openai/keepalive-bare`, `openai/keepalive-ping`, `openai/keepalive-openrouter`, "
        "`anthropic/text`",
        "ignored: the answer is complete and correct.",
    ),
    Row(
        "openai",
        "UTF-8 character split across writes",
        "`openai/utf8-split`, `anthropic/utf8-split`",
        "decoded correctly.",
    ),
    Row(
        "openai",
        "CRLF / lone CR line ends",
        "`openai/crlf` (raw CRLF), `anthropic/cr-only` (normalized)",
        "parsed correctly.",
    ),
    Row(
        "openai",
        "Azure empty first chunk (`choices: []`, empty id/model, `prompt_filter_results`)",
        "`openai/azure-content-filter`",
        "yielded as a chunk with empty `choices`, which the application must skip; the text "
        "is correct.",
    ),
    Row(
        "openai",
        "Azure content-filter annotation: a choice without `delta` (`content_filter_results`, "
        "`content_filter_offsets`), mid-text, after the `stop` chunk, or carrying "
        "`finish_reason: content_filter`",
        "`openai/azure-content-filter-annotations`, `openai/azure-content-filter-stop`",
        "yielded with `choice.delta` **`None`** (the filter results in `choice.model_extra`): "
        "`chunk.choices[0].delta.content` raises `AttributeError`, so the application must "
        "check `delta` first "
        "(`tests/test_sdk_responses.py::test_azure_annotation_choice_has_no_delta`). The "
        "finish reason (`content_filter`) is read from such a choice.",
    ),
    Row(
        "openai",
        "Usage-only final chunk (`choices: []` + `usage`)",
        "`openai/usage-only-final-chunk`",
        "yielded as a chunk with empty `choices` and `usage` set (cached tokens under "
        "`prompt_tokens_details`). Usage on the finish chunk (`openai/usage-in-choice-chunk`) "
        "is read too.",
    ),
    Row(
        "openai",
        "No usage in the stream",
        "`openai/usage-absent`, `openai/keepalive-bare`, `openai/keepalive-ping`, "
        "`openai/no-done-marker`, `openai/utf8-split`, `openai/azure-content-filter`",
        "`chunk.usage` stays `None` although `include_usage` was asked: raw replay sends what "
        "was recorded. Normalized streams always end with a usage chunk (estimated when the "
        "provider sent none, e.g. `gemini/usage-absent`).",
    ),
    Row(
        "openai",
        "No `[DONE]` after the finish chunk",
        "`openai/no-done-marker`",
        "the stream ends normally; the answer is complete.",
    ),
    Row(
        "openai",
        "Slow first byte / stall",
        "`openai/slow-first-byte`, `anthropic/stall`",
        "complete answer at speed 0 (the recorded pauses scale to 0 s).",
    ),
    Row(
        "openai",
        "Stall fault longer than the read timeout (`x-harness-faults: stall_after=2; "
        "stall_ms=3000`, read timeout 0.5 s)",
        "`openai/text`",
        "**detected**: raises `openai.APITimeoutError` after the two chunks before the stall "
        "(`tests/test_sdk_timeouts.py::test_openai_read_timeout_on_a_stall`).",
        key="stall",
        raises="openai.APITimeoutError from httpx2.ReadTimeout",
    ),
    # --- openai: the Responses API (and Azure) ------------------------------------------
    Row(
        "openai",
        "Top-level `error` event after 200 (`{type, code, message, param, sequence_number}`, "
        "the documented shape)",
        "`openai-responses/error-midstream`",
        "**silent**: no exception (the SDK raises only for an `error` *key*, "
        "openai-python#2487): the event is yielded as a `ResponseErrorEvent` (`.code` "
        "`server_error`, `.message`), then iteration ends. The application must look for "
        '`event.type == "error"`.',
        key="responses_error_event",
        raises=None,
        section="openai-responses",
    ),
    Row(
        "openai",
        "Nested `error` event after 200 (`{type: error, error: {type, code, message, param}}`, "
        "as reported in openai-dotnet#881)",
        "`openai-responses/error-nested`",
        "**detected**: raises `openai.APIError` (not an `APIStatusError`), `.body` the nested "
        "object, `.code` and `.type` its `code` and `type` (`too_many_requests`), `.message` "
        "its `message`.",
        key="responses_error_nested",
        raises="openai.APIError",
        section="openai-responses",
    ),
    Row(
        "openai",
        "`response.failed` after some text",
        "`openai-responses/failed`",
        "**silent**: no exception; the `response.failed` event's `response.status` is "
        "`failed` and `response.error.code` the error's code (`server_error`); no usage.",
        key="responses_failed",
        raises=None,
        section="openai-responses",
    ),
    Row(
        "openai",
        "Clean cut (no terminal event)",
        "`openai-responses/cut-clean`",
        "**silent**: no exception; no `response.completed`, `response.incomplete` or "
        "`response.failed` arrives.",
        key="responses_clean_cut",
        raises=None,
        section="openai-responses",
    ),
    Row(
        "openai",
        "Abrupt cut (connection dropped mid-event)",
        "`openai-responses/cut-abrupt`",
        '**detected**: raises `openai.APIConnectionError` ("Connection error."), '
        "`__cause__` is `httpx2.RemoteProtocolError`.",
        key="responses_abrupt_cut",
        raises="openai.APIConnectionError from httpx2.RemoteProtocolError",
        section="openai-responses",
    ),
    Row(
        "openai",
        "Rendered break: any break in an OpenAI chat, Anthropic or Gemini stream (abrupt cuts "
        "included), sent as one top-level `error` event and a clean end",
        "`openai/error-midstream`, `openai/cut-clean`, `openai/cut-abrupt`, "
        "`anthropic/error-midstream`, `anthropic/cut-clean`, `anthropic/cut-abrupt`, "
        "`gemini/error-midstream`, `gemini/cut-clean`, `gemini/cut-abrupt`",
        "**silent**, as for `openai-responses/error-midstream`: the `error` event is yielded "
        "with `.code` = the provider's error type (`server_error`, `overloaded_error`, "
        "`UNAVAILABLE`) or `connection_closed`; no exception.",
        key="responses_stream_error",
        raises=None,
        section="openai-responses",
    ),
    Row(
        "openai",
        "`responses.stream()` helper on a stream without `response.completed` "
        "(`response.incomplete`, `response.failed`, an `error` event, a clean cut)",
        "`openai-responses/length`, `openai-responses/failed`, "
        "`openai-responses/error-midstream`, `openai-responses/cut-clean`, and every "
        "rendered break or length / content-filter stop",
        "iteration ends quietly, then `get_final_response()` raises `RuntimeError` "
        '("Didn\'t receive a `response.completed` event."): an answer cut by '
        "`max_output_tokens` or a content filter is only in the events.",
        key="responses_helper_without_completed",
        raises="RuntimeError",
        section="openai-responses",
    ),
    Row(
        "openai",
        "Non-streaming `responses.create()` on a stream that breaks",
        "every scenario above",
        "harness answers the break as a 5xx error in OpenAI's shape (500 `server_error`, 529 "
        "`overloaded_error`, 503 `UNAVAILABLE`, 502 `connection_closed` for a cut; a "
        "rate-limit code: next row): raises "
        "`openai.InternalServerError`, `.type` the break's code.",
        key="responses_whole_fault",
        raises="openai.InternalServerError",
        section="openai-responses",
    ),
    Row(
        "openai",
        "Non-streaming `responses.create()` on a stream that breaks with a rate-limit code",
        "`openai-responses/error-nested`",
        "harness answers the break as a 429 in OpenAI's shape (`too_many_requests`, "
        "`rate_limit_exceeded`, Bedrock's `throttlingException`): raises "
        "`openai.RateLimitError`, `.type` the break's code "
        "(with `max_retries`, the SDK retries it).",
        key="responses_whole_rate_limit",
        raises="openai.RateLimitError",
        section="openai-responses",
    ),
    Row(
        "openai",
        "HTTP errors (400, 429, 500, 503, 529)",
        "`openai-responses/http-500`, `openai/azure-content-filter-400`, and every other "
        "provider's",
        "the same exceptions as chat (the table above: `BadRequestError`, `RateLimitError`, "
        "`InternalServerError`), in each of the three ways to call; no event.",
        section="openai-responses",
    ),
    Row(
        "openai",
        "429 / 529, then 200 (`max_retries=2`)",
        "`openai-responses/429-then-200`, `openai/429-then-200`, `anthropic/529-then-200`",
        "retries after `retry-after` (1 s) and returns the full answer.",
        section="openai-responses",
    ),
    Row(
        "openai",
        "Keep-alive comments (`: OPENROUTER PROCESSING` before and between events)",
        "`openai-responses/keepalive`",
        "ignored: the answer is complete and correct.",
        section="openai-responses",
    ),
    Row(
        "openai",
        "Reasoning summary, cached and reasoning tokens, parallel function calls split mid-token",
        "`openai-responses/reasoning`, `openai-responses/usage-cache`, "
        "`openai-responses/tool-calls-parallel`",
        "read correctly: `reasoning_summary_text` deltas add up to the summary, `usage` "
        "details carry the counts, each call's `call_id` is the source's and its arguments "
        "parse.",
        section="openai-responses",
    ),
    # --- anthropic -----------------------------------------------------------------------
    Row(
        "anthropic",
        "In-band `event: error` after 200",
        "`anthropic/error-midstream`",
        "**detected**: raises `anthropic.APIStatusError` (that class exactly: **not** "
        "`OverloadedError` or `InternalServerError`, although the error is "
        "`overloaded_error`) with `.status_code` **200** (the stream's status) and `.body` = "
        'the event\'s JSON (`{"type": "error", "error": {"type": "overloaded_error", '
        "…}}`). `str(exc)` is that dict's repr.",
        key="in_band",
        raises="anthropic.APIStatusError",
    ),
    Row(
        "anthropic",
        "Clean cut (no `content_block_stop`, `message_delta`, `message_stop`)",
        "`anthropic/cut-clean`",
        "**silent**: no exception. Raw events just stop (no `message_delta`, no "
        "`message_stop`). The helper's `get_final_message()` returns the partial message "
        "with `stop_reason` `None`.",
        key="clean_cut",
        raises=None,
    ),
    Row(
        "anthropic",
        "Abrupt cut",
        "`anthropic/cut-abrupt`",
        '**detected, but not as an SDK error**: raises `httpx2.RemoteProtocolError` ("peer '
        'closed connection without sending complete message body"), which is **not** an '
        "`anthropic.APIError` (or `APIConnectionError`).",
        key="abrupt_cut",
        raises="httpx2.RemoteProtocolError from httpcore2.RemoteProtocolError",
        versions="<2.17",
        seen_on=("2.14.0",),
    ),
    Row(
        "anthropic",
        "Abrupt cut",
        "`anthropic/cut-abrupt`",
        '**detected**: raises `anthropic.APIConnectionError` ("Connection error."), '
        "`__cause__` is `httpx2.RemoteProtocolError`: `except anthropic.APIError` catches it.",
        key="abrupt_cut",
        raises="anthropic.APIConnectionError from httpx2.RemoteProtocolError",
        versions=">=2.17",
    ),
    Row(
        "anthropic",
        "HTTP 429",
        "`anthropic/http-429`",
        "raises `anthropic.RateLimitError`, `.status_code` 429, `.body` the error JSON.",
        key="http_429",
        raises="anthropic.RateLimitError",
    ),
    Row(
        "anthropic",
        "HTTP 500",
        "`anthropic/http-500`",
        "raises `anthropic.InternalServerError`, `.status_code` 500.",
        key="http_500",
        raises="anthropic.InternalServerError",
    ),
    Row(
        "anthropic",
        "HTTP 529",
        "`anthropic/http-529`",
        "raises `anthropic.OverloadedError` (a subclass of `InternalServerError`), "
        "`.status_code` 529.",
        key="http_529",
        raises="anthropic.OverloadedError",
    ),
    Row("anthropic", "HTTP 503", "(no Anthropic scenario)", "not exercised."),
    Row(
        "anthropic",
        "Bedrock: an exception frame in a 200 stream (first or later)",
        "`anthropic/bedrock-error-first-frame`, `anthropic/error-midstream` (Bedrock route)",
        "**detected**: `AnthropicBedrock` turns the `:message-type exception` frame into an "
        "`event: error` and raises `anthropic.APIStatusError` with `.status_code` 200 and "
        '`.body` `{"type": "error", "error": {"type": "serviceUnavailableException", '
        '"message": …}}` (the exception type, not Anthropic\'s error type); as the first '
        "frame, before any event (the #1472 fix).",
        key="bedrock_exception_frame",
        raises="anthropic.APIStatusError",
        versions=">=2.17",
    ),
    Row(
        "anthropic",
        "Bedrock: an exception frame in a 200 stream (first or later)",
        "`anthropic/bedrock-error-first-frame` (Bedrock route)",
        "**not checked by harness** (the lock holds a later release): anthropic-sdk-python "
        "#1472 reports that `AnthropicBedrock` skipped the exception frame and yielded a "
        "`message_start` whose `message` was `None`; which release fixed it is not pinned "
        "here (the row's lower bound is the first release checked).",
        key="bedrock_exception_frame",
        raises=None,
        versions="<2.17",
    ),
    Row(
        "anthropic",
        "529, then 200 (`max_retries=2`)",
        "`anthropic/529-then-200`",
        "retries after `retry-after` (1 s) and returns the full answer; the journal shows two "
        "requests (529, then 200).",
    ),
    Row(
        "anthropic",
        "Keep-alive (`event: ping`)",
        "`anthropic/text` and most others",
        "dropped by the SDK: raw iteration never yields a `ping` event.",
    ),
    Row(
        "anthropic",
        "UTF-8 character split across writes",
        "`anthropic/utf8-split`",
        "decoded correctly.",
    ),
    Row("anthropic", "Lone CR line ends", "`anthropic/cr-only`", "parsed correctly."),
    Row(
        "anthropic",
        "No usage at all (a compatible server: `message_start` and `message_delta` without "
        "`usage`)",
        "`anthropic/usage-absent`",
        "raw events (`create(stream=True)`): read fine, `event.usage` is `None`. **The "
        "`messages.stream()` helper crashes** with `AttributeError: 'NoneType' object has no "
        "attribute 'output_tokens'` at `message_delta`, after every text event was delivered.",
        key="helper_without_usage",
        raises="AttributeError",
    ),
    Row(
        "anthropic",
        "Azure empty first chunk / usage-only chunk / normalized `stream_error`",
        "—",
        "not applicable to this API.",
    ),
    Row("anthropic", "Stall (65 s recorded)", "`anthropic/stall`", "complete answer at speed 0."),
    Row(
        "anthropic",
        "Stall fault longer than the read timeout (`x-harness-faults: stall_after=2; "
        "stall_ms=3000`, read timeout 0.5 s)",
        "`anthropic/text`",
        "raises a raw `httpx2.ReadTimeout` mid-stream, **not** `anthropic.APITimeoutError` "
        "(`tests/test_sdk_timeouts.py::test_anthropic_read_timeout_on_a_stall`).",
        key="stall",
        raises="httpx2.ReadTimeout from httpcore2.ReadTimeout",
        versions="<2.17",
        seen_on=("2.14.0",),
    ),
    Row(
        "anthropic",
        "Stall fault longer than the read timeout (`x-harness-faults: stall_after=2; "
        "stall_ms=3000`, read timeout 0.5 s)",
        "`anthropic/text`",
        "**detected**: raises `anthropic.APITimeoutError` (a subclass of "
        "`APIConnectionError`) mid-stream, `__cause__` is `httpx2.ReadTimeout` "
        "(`tests/test_sdk_timeouts.py::test_anthropic_read_timeout_on_a_stall`).",
        key="stall",
        raises="anthropic.APITimeoutError from httpx2.ReadTimeout",
        versions=">=2.17",
    ),
    # --- google-genai --------------------------------------------------------------------
    Row(
        "google-genai",
        'In-band error after 200 (`data: {"error": {code 503, status UNAVAILABLE}}`)',
        "`gemini/error-midstream`",
        "**detected**: raises `google.genai.errors.ServerError` with `.code` 503 (the error's "
        "`code`) and `.status` `UNAVAILABLE`. The async client also leaves an HTTP async "
        'generator unclosed: asyncio logs "aclose(): asynchronous generator is already '
        'running" when the loop shuts down (observed; not pinned by a test).',
        key="in_band",
        raises="google.genai.errors.ServerError",
    ),
    Row(
        "google-genai",
        "Clean cut (no `finishReason`)",
        "`gemini/cut-clean`",
        "**silent**: no exception; every candidate's `finish_reason` is `None`.",
        key="clean_cut",
        raises=None,
    ),
    Row(
        "google-genai",
        "Abrupt cut",
        "`gemini/cut-abrupt`",
        "**detected, but not as an SDK error**: raises `httpx2.RemoteProtocolError`, which is "
        "**not** a `google.genai.errors.APIError`.",
        key="abrupt_cut",
        raises="httpx2.RemoteProtocolError from httpcore2.RemoteProtocolError",
    ),
    Row(
        "google-genai",
        "HTTP 429",
        "`gemini/http-429`",
        "raises `google.genai.errors.ClientError`, `.code` 429, `.status` `RESOURCE_EXHAUSTED`.",
        key="http_429",
        raises="google.genai.errors.ClientError",
    ),
    Row(
        "google-genai",
        "HTTP 503",
        "`gemini/http-503`",
        "raises `google.genai.errors.ServerError`, `.code` 503, `.status` `UNAVAILABLE`.",
        key="http_503",
        raises="google.genai.errors.ServerError",
    ),
    Row(
        "google-genai",
        "HTTP 500",
        "`gemini/http-500`",
        "raises `google.genai.errors.ServerError`, `.code` 500, `.status` `INTERNAL`.",
        key="http_500",
        raises="google.genai.errors.ServerError",
    ),
    Row("google-genai", "HTTP 529", "(no Gemini scenario)", "not exercised."),
    Row(
        "google-genai",
        "Retries",
        "`gemini/http-429`, `gemini/http-503`",
        "none by default: without `http_options.retry_options` the client makes one attempt "
        "(the journal shows one request).",
    ),
    Row(
        "google-genai",
        "Prompt blocked",
        "`gemini/prompt-blocked`",
        "no exception and no candidates, so no `finish_reason` at all. The only signal is "
        "`response.prompt_feedback.block_reason` (`SAFETY`).",
    ),
    Row(
        "google-genai",
        "Safety stop after some text",
        "`gemini/safety`",
        "partial text, then `finish_reason` `SAFETY`.",
    ),
    Row(
        "google-genai",
        "No usage in the stream",
        "`gemini/usage-absent`",
        "`usage_metadata` is `None`.",
    ),
    Row("google-genai", "CRLF line ends", "every Gemini scenario", "parsed correctly."),
    Row(
        "google-genai",
        "Keep-alive comments / Azure / usage-only chunk / normalized `stream_error`",
        "—",
        "not applicable (Gemini sends only `data:` lines).",
    ),
    # --- openai-agents ---------------------------------------------------------------------
    Row(
        "openai-agents",
        "Top-level `error` event after 200",
        "`openai-responses/error-midstream`",
        "**detected** (unlike the `openai` SDK under it): raises `agents.ModelBehaviorError` "
        '("Responses stream ended with terminal event `error`. code=server_error; '
        'message=…"), after the text deltas were streamed.',
        key="agents_error_event",
        raises="agents.ModelBehaviorError",
    ),
    Row(
        "openai-agents",
        "Nested `error` event after 200",
        "`openai-responses/error-nested`",
        '**detected** by the `openai` SDK: its `openai.APIError` ("Too Many Requests") '
        "propagates out of `stream_events()` unchanged.",
        key="agents_error_nested",
        raises="openai.APIError",
    ),
    Row(
        "openai-agents",
        "`response.failed`",
        "`openai-responses/failed`",
        '**detected**: raises `agents.ModelBehaviorError` ("Responses stream ended with '
        "terminal event `response.failed`. status=failed; error=ResponseError(code="
        "'server_error', …)\").",
        key="agents_failed",
        raises="agents.ModelBehaviorError",
    ),
    Row(
        "openai-agents",
        "`response.incomplete` (answer cut by `max_output_tokens`)",
        "`openai-responses/length`",
        '**an error, not a short answer**: raises `agents.ModelBehaviorError` ("… terminal '
        "event `response.incomplete`. status=incomplete; incomplete_details=IncompleteDetails("
        "reason='max_output_tokens')\"); no `final_output`, although every text delta was "
        "streamed.",
        key="agents_incomplete",
        raises="agents.ModelBehaviorError",
    ),
    Row(
        "openai-agents",
        "Clean cut (no terminal event)",
        "`openai-responses/cut-clean`",
        '**detected**, unlike the `openai` SDK: raises `agents.ModelBehaviorError` ("Model '
        'did not produce a final response!").',
        key="agents_clean_cut",
        raises="agents.ModelBehaviorError",
    ),
    Row(
        "openai-agents",
        "Abrupt cut",
        "`openai-responses/cut-abrupt`",
        "**detected** by the `openai` SDK: `openai.APIConnectionError` (`__cause__` "
        "`httpx2.RemoteProtocolError`) propagates.",
        key="agents_abrupt_cut",
        raises="openai.APIConnectionError from httpx2.RemoteProtocolError",
    ),
    Row(
        "openai-agents",
        "HTTP 500 (client `max_retries=0`; no runner retry settings)",
        "`openai-responses/http-500`",
        "raises `openai.InternalServerError` from `stream_events()`; one request.",
        key="agents_http_500",
        raises="openai.InternalServerError",
    ),
    # --- boto3 (bedrock-runtime Converse) -------------------------------------------------
    Row(
        "boto3",
        "Exception message in a 200 stream (`:message-type exception`), first or later",
        "`bedrock-converse/throttling-midstream`, `bedrock-converse/error-first-frame`; every "
        "rendered break (`anthropic/error-midstream`, `openai/cut-clean`, …); "
        "`x-harness-faults: error_after=N`",
        '**detected**: iterating `response["stream"]` raises '
        "`botocore.exceptions.EventStreamError` after the events before it; "
        '`.response["Error"]` is `{"Code": <the :exception-type, e.g. throttlingException>, '
        '"Message": <the payload\'s message>}`. As the first message: before any event (no '
        "`messageStart`).",
        key="converse_exception_frame",
        raises="botocore.exceptions.EventStreamError",
        versions="",
    ),
    Row(
        "boto3",
        "Abrupt cut inside an event-stream message",
        "`bedrock-converse/cut-in-frame`; `disconnect_after_bytes=N` inside a frame",
        "**detected, not wrapped**: the events before the cut, then "
        '`urllib3.exceptions.ProtocolError` ("Response ended prematurely") leaks out of the '
        "iteration: `except botocore.exceptions.BotoCoreError` or `ClientError` misses it.",
        key="converse_abrupt_cut",
        raises="urllib3.exceptions.ProtocolError",
        versions="",
    ),
    Row(
        "boto3",
        "Connection dropped between messages (no terminating chunk)",
        "`bedrock-converse/tool-use`, `openai/tool-calls-parallel` with `disconnect_after=3`",
        "**detected, not wrapped**: the same `urllib3.exceptions.ProtocolError` "
        '("Response ended prematurely") after the complete messages.',
        key="converse_cut_between_frames",
        raises="urllib3.exceptions.ProtocolError",
        versions="",
    ),
    Row(
        "boto3",
        "Clean cut (the body ends properly before `messageStop` and `metadata`)",
        "a `bedrock-converse` scenario whose events stop after a `contentBlockDelta` "
        "(`tests/test_bedrock_converse.py`)",
        "**silent**: iteration just ends; the missing `messageStop` (no `stopReason`) and "
        "`metadata` (no usage) are the only sign. `converse` on the same stream gets "
        "HTTP 500 `InternalServerException` from harness.",
        key="converse_clean_cut",
        raises=None,
        versions="",
    ),
    Row(
        "boto3",
        "`converse` (whole answer) on a stream that breaks",
        "`bedrock-converse/throttling-midstream`; `error_after=2; error_type=throttlingException`",
        "harness answers the HTTP error of the exception (`throttlingException` → 429 "
        "`ThrottlingException`, `serviceUnavailableException` → 503, "
        "`internalServerException` → 500, `validationException` → 400, "
        "`modelStreamErrorException` → 424 `ModelErrorException`; a raw cut → 500 "
        "`InternalServerException`); boto3 raises the modelled `ClientError` subclass "
        '(`client.exceptions.ThrottlingException`, `.response["Error"]["Code"]` '
        "`ThrottlingException`).",
        key="converse_in_stream_error",
        raises="botocore.errorfactory.ThrottlingException",
        versions="",
    ),
    Row(
        "boto3",
        "HTTP 429",
        "`bedrock-converse/http-429`, `anthropic/http-429`, `openai/http-429`, "
        "`gemini/http-429`; `http_error=429`",
        "raises `client.exceptions.ThrottlingException` (a `ClientError`), "
        "`HTTPStatusCode` 429, from `converse_stream` (before any event) and `converse`.",
        key="http_429",
        raises="botocore.errorfactory.ThrottlingException",
        versions="",
    ),
    Row(
        "boto3",
        "Retries",
        "`openai/429-then-200`, `openai-responses/429-then-200`",
        '`Config(retries={"max_attempts": 1})` is one *retry* (two requests); '
        "`total_max_attempts` counts the first request. A 429 (`ThrottlingException`) is "
        "retried (standard mode); a 529 is not (not a Bedrock status: `anthropic/529-then-200`).",
    ),
)


class TableError(LookupError):
    """The table has no row, or more than one, for a behaviour and version."""


def installed(sdk: str) -> str:
    """The installed version of ``sdk`` (a distribution name in :data:`SDKS`)."""
    return importlib.metadata.version(sdk)


def rows_for(sdk: str, key: str) -> list[Row]:
    """Every row of ``(sdk, key)``, whatever their versions."""
    rows = [row for row in ROWS if row.sdk == sdk and row.key == key]
    if not rows:
        raise TableError(f"tests/sdk_behaviour.py has no row {sdk}/{key}")
    return rows


def expected(sdk: str, key: str, version: str | None = None) -> Row:
    """The row of ``(sdk, key)`` that holds for ``version`` (default: the installed one).

    Raises:
        TableError: no row, or two rows, cover that version.
    """
    version = version or installed(sdk)
    rows = [row for row in rows_for(sdk, key) if row.holds_for(version)]
    if len(rows) != 1:
        raise TableError(
            f"tests/sdk_behaviour.py has {len(rows)} rows {sdk}/{key} for version {version}; "
            "the ranges of one behaviour must cover every version exactly once"
        )
    return rows[0]


def versions_where(sdk: str, key: str, raises: str | None) -> str:
    """A requirement (``anthropic<2.17``) for the versions where ``(sdk, key)`` raises
    ``raises``; for a version-conditioned known failure of the conformance kit."""
    ranges = [row.versions for row in rows_for(sdk, key) if row.raises == raises]
    if len(ranges) != 1:
        raise TableError(f"{sdk}/{key} raises {raises!r} in {len(ranges)} ranges, not one")
    return f"{sdk}{ranges[0]}"


def _public_name(cls: type) -> str:
    """``package.Class`` where the package exports the class, else its full module path
    without private segments (``google.genai.errors.ServerError``)."""
    parts = cls.__module__.split(".")
    public = []
    for part in parts:
        if part.startswith("_"):
            break
        public.append(part)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    for depth in range(1, len(public) + 1):
        module = importlib.import_module(".".join(public[:depth]))
        if getattr(module, cls.__qualname__, None) is cls:
            return f"{'.'.join(public[:depth])}.{cls.__qualname__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def describe(exc: BaseException | None) -> str | None:
    """What the table's ``raises`` says of ``exc``: its public class name and, when it
    wraps another exception, ``from`` that one's (``None`` for no exception)."""
    if exc is None:
        return None
    name = _public_name(type(exc))
    if exc.__cause__ is not None:
        name += f" from {_public_name(type(exc.__cause__))}"
    return name


def check(sdk: str, key: str, case: str, error: BaseException | None) -> Row:
    """Assert that ``error`` is what the row of ``(sdk, key)`` for the installed version
    says, recording the observation first when ``HARNESS_SDK_OBSERVATIONS`` is set.

    Returns the row, for the caller's further assertions.
    """
    row = expected(sdk, key)
    observed = describe(error)
    path = os.environ.get(OBSERVATIONS_ENV)
    if path:
        record = {
            "sdk": sdk,
            "version": installed(sdk),
            "key": key,
            "case": case,
            "observed": observed,
        }
        # One short line per append: whole lines even with xdist workers appending at once.
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
    assert observed == row.raises, (
        f"{sdk} {installed(sdk)}, {key} ({case}): the table says {row.raises or 'no exception'}"
        f", the SDK gave {observed or 'no exception'} ({error!r})"
    )
    return row


# --- the drift report (make test-latest) ----------------------------------------------------


def locked_versions(lock: Path = LOCK, packages: Iterable[str] = SDKS) -> dict[str, str]:
    """The version of each of ``packages`` (default: the SDKs) in ``uv.lock``."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    versions = {p["name"]: p["version"] for p in data.get("package", [])}
    return {name: versions[name] for name in packages if name in versions}


def drift(observations: Iterable[Mapping[str, object]], locked: Mapping[str, str]) -> list[str]:
    """The lines of the drift report: each checked behaviour whose observation differs
    from the table's row for the locked version (before -> after), and each that the
    table does not yet say for the observed version. ``[]``: nothing changed."""

    def show(value: object) -> str:
        return str(value) if value is not None else "no exception"

    changed: dict[tuple[str, str, str, object, object], list[str]] = {}
    untabled: dict[tuple[str, str, str, object], list[str]] = {}
    for item in observations:
        sdk, key, version = str(item["sdk"]), str(item["key"]), str(item["version"])
        before = expected(sdk, key, locked[sdk]).raises if sdk in locked else None
        after = item["observed"]
        if after != before:
            changed.setdefault((sdk, key, version, before, after), []).append(str(item["case"]))
        try:
            said = expected(sdk, key, version).raises
        except TableError:
            said = "(no row)"
        if after != said:
            untabled.setdefault((sdk, key, version, after), []).append(str(item["case"]))
    lines = []
    for (sdk, key, version, before, after), cases in sorted(changed.items(), key=str):
        lines.append(
            f"CHANGED  {sdk} {locked.get(sdk, '?')} -> {version}  {key}: "
            f"{show(before)} -> {show(after)}  [{', '.join(sorted(set(cases)))}]"
        )
    for (sdk, key, version, after), cases in sorted(untabled.items(), key=str):
        lines.append(
            f"UNTABLED {sdk} {version}  {key}: {show(after)} is not what tests/sdk_behaviour.py "
            f"says for {version}; add a row  [{', '.join(sorted(set(cases)))}]"
        )
    return lines


def read_observations(path: Path) -> list[dict[str, object]]:
    """The JSON lines that :func:`check` appended to ``path``."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# --- docs/sdk-behaviour.md ------------------------------------------------------------------

SECTIONS: dict[str, tuple[str, str, str]] = {
    # section (an SDK, or an SDK's other API): (heading, what precedes the table, what
    # follows it), in the order of the page
    "openai": (
        'openai (`chat.completions.create(stream=True, stream_options={"include_usage": True})`)',
        "On the OpenAI route, OpenAI scenarios are replayed byte for byte (raw) and Anthropic "
        "and Gemini scenarios are normalized by the server.",
        "Reasoning text (DeepSeek `reasoning_content`, and thinking from normalized streams) "
        'is not a\ntyped field: it is in `delta.model_extra["reasoning_content"]`.\n\n'
        "Non-streaming `chat.completions.create` on `openai/text`, `anthropic/text` and\n"
        "`gemini/text` returns the whole answer, finish reason and usage that `expect` lists.",
    ),
    "openai-responses": (
        "openai: the Responses API (`responses.create(stream=True)`, `responses.stream()`, "
        "`responses.create()`)",
        "On `POST /v1/responses`, `openai-responses` scenarios are replayed byte for byte (raw) "
        "and every other scenario is rendered in the Responses format by the server, a break "
        "as one top-level `error` event. Raw events are read from `responses.create(..., "
        "stream=True)`; the helper is `responses.stream(...)`, iterated, then "
        "`get_final_response()` (`tests/test_sdk_responses.py`).",
        "Finish in OpenAI chat terms: `response.completed` → `stop` (`tool_calls` with "
        "function calls),\n`response.incomplete` with `incomplete_details.reason` "
        "`max_output_tokens` → `length`, `content_filter`\n→ `content_filter`. Usage: "
        "`input_tokens` (cached ones in `input_tokens_details.cached_tokens`) = prompt\n"
        "tokens, `output_tokens` (reasoning ones in `output_tokens_details.reasoning_tokens`) "
        "= completion\ntokens. Every event of every built-in stream, raw or rendered, "
        "validates as the SDK's\n`ResponseStreamEvent` except the nested error event, which "
        "lacks the top-level `message`.\n\n"
        "Azure: `AzureOpenAI(azure_endpoint=..., api_version=...)` calls "
        "`/openai/deployments/{deployment}/chat/completions`\nfor chat and "
        "`/openai/responses` for Responses; `OpenAI(base_url=.../openai/v1/)` calls "
        "`/openai/v1/...`.\nBoth read every scenario they are given as the plain client does.",
    ),
    "anthropic": (
        "anthropic (`messages.create(stream=True)` and `messages.stream()`)",
        "Anthropic scenarios on the Anthropic route (replayed raw).",
        "Usage in OpenAI terms: `input_tokens + cache_creation_input_tokens +\n"
        "cache_read_input_tokens` = prompt tokens (`anthropic/usage-cache`), `output_tokens` "
        "(from\n`message_delta`) = completion tokens. Stop reasons: `end_turn` → `stop`, "
        "`max_tokens` →\n`length`, `tool_use` → `tool_calls`, `refusal` → `content_filter`.\n\n"
        "Non-streaming `messages.create` on `anthropic/text` returns the whole message.",
    ),
    "google-genai": (
        "google-genai (`models.generate_content_stream` / `aio.models.generate_content_stream`)",
        "Gemini scenarios on the Gemini route (replayed raw; all use CRLF line ends).",
        "Usage in OpenAI terms: `prompt_token_count` = prompt tokens, "
        "`candidates_token_count +\nthoughts_token_count` = completion tokens "
        "(`gemini/reasoning`). Parts with `thought: true`\ncarry the reasoning text and are "
        "left out of the answer text. Finish reasons: `STOP` →\n`stop` (`tool_calls` when the "
        "answer has function calls), `MAX_TOKENS` → `length`,\n`SAFETY` → `content_filter`.\n\n"
        "Non-streaming `generate_content` on `gemini/text` returns the whole response.",
    ),
    "openai-agents": (
        "openai-agents (`Runner.run_streamed` with the default `OpenAIResponsesModel`)",
        "An `Agent` run by `Runner.run_streamed(...)` and its `stream_events()`, with an "
        "`AsyncOpenAI` client on harness (`set_default_openai_client`, tracing disabled), on "
        "`openai-responses` scenarios replayed on `/v1/responses` (`tests/test_agents.py`).",
        "A text answer is the run's `final_output`. A function call runs the `@function_tool` "
        "it names\n(both parallel calls), and the next request carries each call's "
        "`function_call_output` with\nthe scenario's `call_id`.",
    ),
    "boto3": (
        "boto3 (`bedrock-runtime` `converse_stream` / `converse`)",
        "boto3's client with `endpoint_url` on harness (dummy keys; SigV4 is not checked) on "
        "`POST /model/{modelId}/converse-stream` and `/converse`: `bedrock-converse` "
        "scenarios are replayed byte for byte, every other scenario is rendered as a "
        "Converse event stream (`tests/test_bedrock_converse.py`).",
        "Stop reasons in OpenAI terms: `end_turn`/`stop_sequence` → `stop`, `max_tokens` → "
        "`length`,\n`tool_use` → `tool_calls`, `content_filtered`/`guardrail_intervened` → "
        "`content_filter`. Usage: `inputTokens +\ncacheReadInputTokens + "
        "cacheWriteInputTokens` = prompt tokens (`bedrock-converse/usage-cache`).",
    ),
}

INTRO = """\
# What the official SDKs do on each fault

<!-- Generated by `python -m tests.sdk_behaviour --write` from tests/sdk_behaviour.py
     (make lock runs it). Edit the table there, not this page. -->

The built-in scenarios replayed by harness and read by the unmodified official SDKs, as an
application would read them. Every row with a fault the SDK detects or misses is checked by
`tests/test_sdk_conformance.py`, `tests/test_sdk_timeouts.py`, `tests/test_sdk_responses.py`
or `tests/test_agents.py` against the table in `tests/sdk_behaviour.py`, for the installed
version: where a release changed what an SDK does, the table has a row per version range and
the **Versions** column says which.

Versions in the lock (`uv.lock`, what `make test` installs; Python 3.11):

| Package | Locked | Also observed | Note |
|---|---|---|---|
{versions}

Sync and async clients behave the same in every row (both are tested; one async-only
log line is noted under google-genai). For `anthropic`,
iterating raw events from `messages.create(..., stream=True)` and the
`messages.stream(...)` helper (+ `get_final_message()`) also behave the same.

**In short:** on a stream that breaks after HTTP 200, no provider SDK reports a **clean cut** (the
body ends properly but before the terminal event): iteration just stops, and the only
sign is a missing finish reason. An **abrupt cut** surfaces as a raw
`httpx2.RemoteProtocolError` in `google-genai` (and in `anthropic` before 2.17), so
`except google.genai.errors.APIError` does not catch it. `openai` wraps it as
`openai.APIConnectionError`, and `anthropic` from 2.17 on as `anthropic.APIConnectionError`.
On the Responses API, `openai` raises for neither the documented top-level `error` event
nor `response.failed` (both arrive as events), and its `responses.stream()` helper's
`get_final_response()` raises `RuntimeError` on any stream without `response.completed`,
`max_output_tokens` included. `openai-agents` turns each of these, and a clean cut, into
`agents.ModelBehaviorError`.

Legend: **detected** = the SDK raises; **silent** = iteration ends normally and the
application has to notice that the finish reason is missing. In every row about a broken
200 stream, the text sent before the break reaches the application unchanged (it equals
the scenario's `expect.text`).

**SDK drift.** `make test-latest` installs the newest releases of the SDKs in a venv of its
own (`.venv-latest`), runs the SDK suites there, and prints each checked behaviour that
differs from the locked version's row (`CHANGED sdk locked -> newest key: before -> after
[cases]`) and each the table does not yet say (`UNTABLED`). It never fails `make test`.
"""

OUTRO = """\
## How to reproduce

Start the server (`.venv/bin/harness serve --speed 0`, default `http://127.0.0.1:8080`) and
select a scenario with the `/s/{scenario}` prefix in the SDK's base URL:

```python
import anthropic, openai
from google import genai

root = "http://127.0.0.1:8080/s/anthropic/cut-clean"   # any scenario name

openai.OpenAI(base_url=f"{root}/v1", api_key="sk-test", max_retries=0)  # any scenario
anthropic.Anthropic(base_url=root, api_key="sk-test", max_retries=0)  # Anthropic scenarios
genai.Client(  # Gemini scenarios only
    api_key="test-key",
    http_options={"base_url": "http://127.0.0.1:8080/s/gemini/cut-clean", "api_version": "v1beta"},
)
```

The OpenAI SDKs need `/v1` in the base URL; the Anthropic and google-genai SDKs add their
version segment themselves. In tests, `harness.testing.run_server()` (or the `builtin_server`
fixture) gives the same URLs with `server.base_url(name, family)`. Add a unique
`x-harness-test-id` header (`default_headers=` for openai/anthropic, `http_options.headers`
for google-genai) so that `responses` sequences and `server.requests(test_id)` are per test.
`x-harness-normalize: 1` makes the OpenAI route normalize an OpenAI scenario too.

```sh
.venv/bin/pytest -q -p no:cacheprovider tests/test_sdk_conformance.py tests/test_sdk_timeouts.py
make test-latest    # the same suites on the newest SDK releases, and the drift report
```
"""

NOTES = {
    "google-genai": "httpx transport (no `aiohttp` installed)",
    "httpx2": "the HTTP stack of the SDKs; its exceptions are what leaks out",
    "openai-agents": "runs on the `openai` SDK above",
    "boto3": "`bedrock-runtime` Converse; its HTTP stack is urllib3, not httpx",
    "botocore": "boto3's core: event-stream parser and service model",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _range(versions: str) -> str:
    return ", ".join(part.strip() for part in versions.split(",")) if versions else "all"


def render(locked: Mapping[str, str]) -> str:
    """The whole of ``docs/sdk-behaviour.md`` for the locked versions."""
    seen: dict[str, set[str]] = {}
    for row in ROWS:
        seen.setdefault(row.sdk, set()).update(row.seen_on)
    lines = []
    for package in DOC_PACKAGES:
        also = ", ".join(sorted(seen.get(package, ()), key=Version)) or "—"
        version = locked.get(package, "(not locked)")
        lines.append(f"| `{package}` | {version} | {also} | {NOTES.get(package, '')} |")
    out = [INTRO.format(versions="\n".join(lines))]
    for section, (heading, before, after) in SECTIONS.items():
        out.append(f"## {heading}\n\n{before}\n")
        out.append("| Fault | Scenario | Versions | What the SDK does |")
        out.append("|---|---|---|---|")
        out.extend(
            f"| {_cell(row.fault)} | {_cell(row.scenarios)} | {_range(row.versions)} "
            f"| {_cell(row.text)} |"
            for row in ROWS
            if row.where == section
        )
        out.append(f"\n{after}\n")
    out.append(OUTRO)
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tests.sdk_behaviour --write`` (the page) or ``--drift FILE`` (the report)."""
    parser = argparse.ArgumentParser(prog="python -m tests.sdk_behaviour", description=__doc__)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true", help=f"write {DOC.relative_to(ROOT)}")
    what.add_argument("--drift", metavar="FILE", help="report the observations in FILE")
    parser.add_argument(
        "--lock", metavar="PATH", default=str(LOCK), help="the lock to compare with (uv.lock)"
    )
    args = parser.parse_args(argv)
    if args.write:
        from harness.atomic import write_atomic

        page = render(locked_versions(packages=DOC_PACKAGES))
        write_atomic(DOC, page.encode("utf-8"), overwrite=True)
        print(f"wrote {DOC.relative_to(ROOT)}")
        return 0
    observations = read_observations(Path(args.drift))
    if not observations:
        print(f"sdk drift: no observations in {args.drift} (did the SDK suites run?)")
        return 1
    locked = locked_versions(Path(args.lock))
    newest = sorted({f"{o['sdk']} {o['version']}" for o in observations})
    print(f"sdk drift: locked {', '.join(f'{k} {v}' for k, v in locked.items())}")
    print(f"sdk drift: checked {', '.join(newest)} ({len(observations)} observations)")
    lines = drift(observations, locked)
    for line in lines:
        print(line)
    print(f"sdk drift: {len(lines) or 'no'} difference{'s' if len(lines) != 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
