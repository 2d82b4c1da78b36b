"""Properties of the pipeline that must hold for every input, checked with Hypothesis."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import normalize
from tests.output_rules import check_output, split
from tests.streams import (
    GM_USAGE,
    an_end,
    an_event,
    an_start,
    an_text_block,
    an_thinking_block,
    an_tool_block,
    gemini_stream,
    gm_chunk,
    openai_text,
    responses_stream,
    rs_args,
    rs_call_added,
    rs_call_done,
    rs_completed,
    rs_message,
    rs_reasoning,
    rs_start,
    sse,
)

SAMPLES: list[tuple[str, bytes]] = [
    ("openai", openai_text("Hé", "llo 🙂", usage={"prompt_tokens": 1, "completion_tokens": 2})),
    ("openai", b": ping\r\n\r\n" + openai_text("crlf").replace(b"\n", b"\r\n")),
    (
        "anthropic",
        an_start()
        + an_thinking_block(0, "why")
        + an_event("ping")
        + an_tool_block(1, "toolu_1", "f", '{"k":', ' "日本"}')
        + an_end("tool_use"),
    ),
    ("anthropic", (an_start() + an_text_block(0, "cut here")).replace(b"\n", b"\r")),
    (
        "gemini",
        gemini_stream(
            gm_chunk({"text": "ça"}), gm_chunk({"text": "!"}, finish="STOP", usage=GM_USAGE)
        ),
    ),
    (
        "openai-responses",
        responses_stream(
            rs_start(),
            rs_reasoning(0, ["pour", "quoi"], ["ensuite"]),
            rs_message(1, "Hé", "llo 🙂"),
            rs_call_added(2, "fc_1", "call_1", "f"),
            rs_call_added(3, "fc_2", "call_2", "g"),
            rs_args(2, "fc_1", '{"k":'),
            rs_args(3, "fc_2", '{"日'),
            rs_args(2, "fc_1", ' "本"}'),
            rs_args(3, "fc_2", '":1}'),
            rs_call_done(2, "fc_1", "call_1", "f", '{"k": "本"}'),
            rs_call_done(3, "fc_2", "call_2", "g", '{"日":1}'),
            rs_completed(),
        ),
    ),
    ("openai-responses", b": ping\r\n\r\n" + responses_stream(rs_start(), rs_message(0, "cut"))),
]


@settings(max_examples=300, deadline=None)
@given(sample=st.sampled_from(SAMPLES), cuts=st.lists(st.integers(min_value=0), max_size=40))
def test_any_split_gives_the_same_output(sample: tuple[str, bytes], cuts: list[int]) -> None:
    """Where the upstream bytes are split (inside UTF-8, between CR and LF) never matters."""
    provider, stream = sample
    whole = b"".join(normalize(provider, [stream]))
    check_output(whole, provider)
    assert b"".join(normalize(provider, split(stream, cuts))) == whole


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

# Plausible-looking events: the right field names with arbitrary values, so the
# adapters' shape checks are exercised, not just their JSON parsing.
EVENT_TYPES = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
    "unknown",
    "response.created",
    "response.output_text.delta",
    "response.output_item.added",
    "response.function_call_arguments.delta",
    "response.completed",
    "response.incomplete",
    "response.failed",
]
FIELDS = [
    "message",
    "index",
    "delta",
    "content_block",
    "usage",
    "error",
    "choices",
    "candidates",
    "usageMetadata",
    "id",
    "model",
    "created",
    "promptFeedback",
    "response",
    "item",
    "item_id",
    "output_index",
    "code",
]


@st.composite
def provider_event(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(EVENT_TYPES))
    body: dict[str, Any] = {"type": kind}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4)):
        body[name] = draw(json_values)
    choice = draw(st.integers(0, 4))
    if choice == 0:
        return sse("[DONE]")
    if choice == 1:
        return draw(st.binary(max_size=20)) + b"\n\n"
    return sse(body, draw(st.sampled_from([None, kind])))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    provider=st.sampled_from(["openai", "anthropic", "gemini", "openai-responses"]),
    events=st.lists(provider_event(), max_size=12),
)
def test_arbitrary_events_never_raise_and_end_once(provider: str, events: list[bytes]) -> None:
    """Whatever the events, normalize does not raise and keeps the output rules."""
    check_output(b"".join(normalize(provider, events)), provider)


_TEXT = st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["\ud800", "é 漢字 🙂", '"\\']))
_IDENTITY = st.one_of(
    st.none(), st.text(max_size=6), st.sampled_from(["harness-fragment-hole", "id\udc00"])
)


@settings(max_examples=300, deadline=None)
@given(
    identity=st.tuples(_IDENTITY, _IDENTITY, st.integers(0, 2**40)),
    deltas=st.lists(
        st.tuples(
            st.one_of(st.integers(0, 2), st.just(True)),
            st.sampled_from([None, "assistant"]),
            _TEXT,
            _TEXT,
            _TEXT,
            st.sampled_from([None, "stop"]),
        ),
        max_size=8,
    ),
)
def test_chat_fragment_frames_are_the_general_paths_bytes(
    identity: tuple[str | None, str | None, int],
    deltas: list[tuple[Any, str | None, str | None, str | None, str | None, str | None]],
) -> None:
    """The chat renderer writes a one-fragment delta from a template made once per
    choice and field (the hot path): every frame must be byte for byte what encoding
    its chunk whole gives, whatever the identity (a lone surrogate, the template's own
    placeholder) and the fragment."""
    from harness.stream.events import Delta, Done, Metadata
    from harness.stream.renderers.openai_chat import OpenAIRenderer

    class General(OpenAIRenderer):
        def _text_frame(self, delta: Delta) -> bytes | None:
            return None

    fast, general = OpenAIRenderer(), General()
    events = [Metadata(id=identity[0], model=identity[1], created=identity[2])]
    events += [Delta(i, role, c, r, f, finish_reason=end) for i, role, c, r, f, end in deltas]
    events.append(Done())
    for event in events:
        assert fast.render(event) == general.render(event), event


@settings(max_examples=300, deadline=None)
@given(
    deltas=st.lists(
        st.tuples(
            st.sampled_from([0, 0, 0, 1]),
            _TEXT,
            _TEXT,
            _TEXT,
            st.sampled_from([None, None, "stop"]),
            st.booleans(),
        ),
        max_size=10,
    ),
)
def test_responses_text_frames_are_the_general_paths_bytes(
    deltas: list[tuple[int, str | None, str | None, str | None, str | None, bool]],
) -> None:
    """The Responses renderer writes a delta that only adds output text through a short
    path (the hot path): the frames must be byte for byte the general path's, between
    reasoning, refusals, tool calls, other choices and the end."""
    from harness.stream.events import Delta, Done, Metadata, ToolCallDelta
    from harness.stream.renderers.openai_responses import ResponsesRenderer

    class General(ResponsesRenderer):
        def _more_text(self, delta: Delta) -> bytes | None:
            return None

    fast, general = ResponsesRenderer(), General()
    events: list[Any] = [Metadata(id="resp_1", model="m", created=1)]
    for index, content, reasoning, refusal, end, call in deltas:
        calls = (ToolCallDelta(0, id="c", type="function", name="f", arguments="{}"),)
        events.append(Delta(index, None, content, reasoning, refusal, calls if call else (), end))
    events.append(Done())
    for event in events:
        assert fast.render(event) == general.render(event), event
