"""SSE fields as steps (a block of ``id`` / ``retry`` / ``event`` without data) and the
``event_ids`` fault, on the wire and with the openai SDK (openai-python #2722)."""

from __future__ import annotations

import openai
import pytest

from harness.errors import FaultSpecError, ScenarioError
from harness.mock.replay import build_plan, encode_step, parse_faults
from harness.mock.scenario import Step, load_scenarios, parse_scenario
from harness.stream.pipeline import normalize
from harness.stream.sse import SSEDecoder
from harness.testing import run_server
from tests import sdk_behaviour

META = """version: 1
name: meta
provider: openai
events:
  - {retry: 3000}
  - {id: "7", event: ignored}
  - data: {id: c, object: chat.completion.chunk, created: 1, model: m,
           choices: [{index: 0, delta: {content: hi}, finish_reason: stop}]}
  - {data: "[DONE]"}
"""


def test_a_meta_step_is_a_block_of_fields_that_dispatches_nothing() -> None:
    assert encode_step(Step(retry=3000)) == b"retry: 3000\n\n"
    assert encode_step(Step(id="7", event="x"), "crlf") == b"event: x\r\nid: 7\r\n\r\n"
    assert Step(retry=1).kind == "meta"
    scenario = parse_scenario(META)
    plan = build_plan(scenario, scenario.answers[0], target="openai", stream=True)
    body = b"".join(write.data for write in plan.writes)
    assert body.startswith(b"retry: 3000\n\nevent: ignored\nid: 7\n\ndata: ")
    [event, done] = SSEDecoder().feed(body)
    assert (event.id, event.event) == ("7", "message")  # the id persists, the event does not
    assert done.data == "[DONE]"
    normalized = b"".join(normalize("openai", [body]))
    assert b'"content":"hi"' in normalized
    assert normalized.endswith(b"data: [DONE]\n\n")
    # Meta blocks are not events: fault counts skip them.
    cut = build_plan(
        scenario, scenario.answers[0], target="openai", stream=True,
        faults=parse_faults("disconnect_after=1"),
    )  # fmt: skip
    assert b"".join(w.data for w in cut.writes).endswith(b"}\n\n")


def test_steps_that_mix_kinds_or_carry_no_kind_are_refused() -> None:
    with pytest.raises(ScenarioError, match="a step needs exactly one of"):
        parse_scenario("version: 1\nname: x\nprovider: openai\nevents:\n  - {}\n")
    with pytest.raises(ScenarioError, match="can only go with data"):
        parse_scenario(
            "version: 1\nname: x\nprovider: openai\nevents:\n  - {comment: a, id: '1'}\n"
        )
    with pytest.raises(ScenarioError, match="no SSE blocks without data"):
        parse_scenario(
            "version: 1\nname: x\nprovider: bedrock-converse\nevents:\n  - {event: metadata}\n"
        )


def test_event_ids_stamp_every_event_once_and_never_a_comment() -> None:
    scenario = load_scenarios().get("openai/utf8-split")  # an event split over raw steps
    assert scenario is not None
    plan = build_plan(
        scenario, scenario.answers[0], target="openai", stream=True,
        faults=parse_faults("event_ids=true; keepalive_every=1"),
    )  # fmt: skip
    body = b"".join(write.data for write in plan.writes)
    events = SSEDecoder().feed(body)
    assert [event.id for event in events] == [str(n) for n in range(1, len(events) + 1)]
    assert body.count(b"id: ") == len(events)
    assert b": keep-alive\n\n" in body
    assert b"id: 1\n: keep-alive" not in body
    converse = load_scenarios().get("bedrock-converse/text")
    assert converse is not None
    with pytest.raises(FaultSpecError, match="no event ids"):
        build_plan(
            converse, converse.answers[0], target="bedrock-converse", stream=True,
            faults=parse_faults("event_ids=true"),
        )  # fmt: skip


def test_the_openai_sdk_on_ids_followed_by_a_ping() -> None:
    """openai-python #2722, reproduced: what the SDK raises is pinned per version."""
    with run_server() as server:
        url = server.base_url("openai/keepalive-ping", faults="event_ids=true")
        client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        error: BaseException | None = None
        try:
            for _ in client.chat.completions.create(model="m", messages=[], stream=True):
                pass
        except Exception as exc:  # the SDK's behaviour is the table's to judge
            error = exc
        finally:
            client.close()
        sdk_behaviour.check("openai", "ids_then_comment", "openai/keepalive-ping ids", error)
        plain = openai.OpenAI(base_url=server.base_url("openai/keepalive-ping"), api_key="x")
        text = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in plain.chat.completions.create(model="m", messages=[], stream=True)
            if chunk.choices
        )
        plain.close()
        assert text  # without the ids, the same keep-alives are fine


def test_show_marks_where_each_fault_lands(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    overlay = "error_after=3; keepalive_every=2; disconnect_after=4; event_ids=true"
    assert main(["show", "openai/text", "--faults", overlay]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    marks = [(i, line.split("──▶ ", 1)[1]) for i, line in enumerate(lines) if "──▶" in line]
    texts = [text for _, text in marks]
    assert texts[0] == "event_ids: every event starts with id: 1, 2, ..."
    assert "error_after=3: the provider's error event, then the end" in texts
    assert "disconnect_after=4: the connection is cut here" in texts
    events = sum(" ms  data: " in line for line in lines)
    assert texts.count("keep-alive (comment)") == (events - 1) // 2  # every 2nd, not the last
    error_line = next(i for i, text in marks if text.startswith("error_after"))
    events_before = [line for line in lines[:error_line] if " ms  data: " in line]
    assert len(events_before) == 3
    assert main(["show", "openai/text", "--faults", "nope=1"]) == 2
    assert "unknown fault 'nope'" in capsys.readouterr().err
