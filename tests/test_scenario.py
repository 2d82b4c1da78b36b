"""The scenario schema and loader: the built-in library, errors as file:line: field, names.

Every YAML text here is built line by line with :func:`yml`, so the line numbers the
tests expect can be read off the list (the first string is line 1).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ScenarioError, ScenarioSetError
from harness.mock.replay import build_plan
from harness.mock.scenario import (
    Faults,
    Match,
    Scenario,
    ScenarioSet,
    builtin_scenarios_dir,
    load_scenario,
    load_scenarios,
    parse_scenario,
)

PROVIDERS = ("openai", "anthropic", "gemini")
REQUIRED_KINDS = (
    "text",
    "tool-calls-parallel",
    "reasoning",
    "length",
    "error-midstream",
    "cut-clean",
    "cut-abrupt",
)


def yml(*lines: str) -> str:
    """YAML text whose line N is ``lines[N - 1]``."""
    return "\n".join(lines) + "\n"


def fails(text: str, path: str = "s.yaml") -> ScenarioError:
    """The single ScenarioError that parsing ``text`` raises."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, path=path, name="t/x")
    assert not isinstance(info.value, ScenarioSetError), str(info.value)
    return info.value


GOOD = yml("version: 1", "provider: openai", "events:", "  - data: hello")


# --- the built-in library ------------------------------------------------------------


@pytest.fixture(scope="module")
def builtins() -> ScenarioSet:
    return load_scenarios()


def test_builtin_library_loads_with_at_least_30(builtins: ScenarioSet) -> None:
    """The built-in library loads without error and holds at least 30 scenarios."""
    assert len(builtins) >= 30
    assert len(builtins.names) == len(builtins)


def test_every_builtin_has_expect(builtins: ScenarioSet) -> None:
    """Every built-in scenario says what a correct client concludes (``expect``)."""
    assert [s.name for s in builtins if s.expect is None] == []


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", REQUIRED_KINDS)
def test_every_provider_has_the_core_scenarios(
    builtins: ScenarioSet, provider: str, kind: str
) -> None:
    """Each provider has the text, tools, reasoning, length, error and cut scenarios."""
    scenario = builtins.get(f"{provider}/{kind}")
    assert scenario is not None
    assert scenario.provider == provider


def test_builtin_names_are_their_paths(builtins: ScenarioSet) -> None:
    """A built-in's name is its path under scenarios/ without ``.yaml``."""
    root = builtin_scenarios_dir()
    for scenario in builtins:
        assert scenario.path is not None
        assert scenario.path.suffix == ".yaml"
        assert scenario.name == scenario.path.relative_to(root).with_suffix("").as_posix()


def test_builtin_provider_is_the_folder(builtins: ScenarioSet) -> None:
    """A built-in's provider is its top-level folder."""
    assert [s.name for s in builtins if s.name.split("/")[0] != s.provider] == []


def test_gemini_builtins_have_no_comment_or_done(builtins: ScenarioSet) -> None:
    """No Gemini scenario has a comment step or a ``[DONE]`` data (Gemini sends neither)."""
    offenders = [
        (scenario.name, index)
        for scenario in builtins
        if scenario.provider == "gemini"
        for answer in scenario.answers
        for index, step in enumerate(answer.events or [])
        if step.comment is not None or step.data == "[DONE]" or "[DONE]" in (step.raw or "")
    ]
    assert offenders == []
    assert sum(s.provider == "gemini" for s in builtins) >= len(REQUIRED_KINDS)


def test_gemini_builtin_streams_use_crlf(builtins: ScenarioSet) -> None:
    """Gemini stream answers use CRLF line ends, as Gemini sends them."""
    assert [
        s.name
        for s in builtins
        if s.provider == "gemini"
        for a in s.answers
        if a.streaming and a.newline != "crlf"
    ] == []


def test_anthropic_builtin_event_names_match_type(builtins: ScenarioSet) -> None:
    """Anthropic data steps carry an ``event:`` equal to the data's ``type``."""
    assert [
        (s.name, step.event)
        for s in builtins
        if s.provider == "anthropic"
        for a in s.answers
        for step in a.events or []
        if isinstance(step.data, dict) and step.event != step.data.get("type")
    ] == []


# --- errors name file, line and field --------------------------------------------------


# (id, yaml, line, field, text the problem contains)
ERRORS = [
    (
        "unknown-field",
        yml("version: 1", "provider: openai", "evnts: []"),
        3,
        "evnts",
        "unknown field 'evnts' (did you mean 'events'?)",
    ),
    (
        "unknown-nested-field",
        yml("version: 1", "provider: openai", "events:", "  - data: x", "    evnt: y"),
        5,
        "events[0].evnt",
        "unknown field 'evnt' (did you mean 'event'?)",
    ),
    (
        "hint-from-the-right-model",  # `modle` under match: `model`, not a step's field
        yml("version: 1", "provider: openai", "match: {modle: gpt-4o}", "events: []"),
        3,
        "match.modle",
        "unknown field 'modle' (did you mean 'model'?)",
    ),
    # A mapping where a record or "absent" may go is read as the record: the error is
    # its field's, not the union's (before: "expect.usage.ExpectUsage: unknown field
    # 'ExpectUsage'", a pydantic label taken for a key).
    (
        "unknown-field-in-a-union-record",
        yml("version: 1", "provider: openai", 'body: ""', "expect:", "  usage: {prompt_tokns: 1}"),
        5,
        "expect.usage.prompt_tokns",
        "unknown field 'prompt_tokns' (did you mean 'prompt_tokens'?)",
    ),
    (
        "bound-in-a-union-record",
        yml("version: 1", "provider: openai", 'body: ""', "expect:", "  usage: {total_tokens: -1}"),
        5,
        "expect.usage.total_tokens",
        "input should be greater than or equal to 0",
    ),
    (
        "neither-member-of-a-union",
        yml("version: 1", "provider: openai", 'body: ""', "expect:", "  usage: 3"),
        5,
        "expect.usage",
        "input should be a valid dictionary or instance of ExpectUsage; expected 'absent'",
    ),
    (
        "field-of-another-model",
        yml("version: 1", "provider: openai", "events:", "  - data: x", "    delay_ms: 5"),
        5,
        "events[0].delay_ms",
        "unknown field 'delay_ms' in a Step (it is a field of Scenario and Response;",
    ),
    (
        "infinite-pause",
        yml("version: 1", "provider: openai", "events:", "  - sleep_ms: .inf"),
        4,
        "events[0].sleep_ms",
        "input should be a finite number",
    ),
    (
        "nan-delay",
        yml("version: 1", "provider: openai", "delay_ms: .nan", "events: []"),
        3,
        "delay_ms",
        "input should be a finite number",
    ),
    (
        "missing-provider",
        yml("version: 1", "events: []"),
        1,
        "provider",
        "required field is missing",
    ),
    (
        "unknown-provider",
        yml("version: 1", "provider: mistral", "events: []"),
        2,
        "provider",
        "expected 'openai', 'anthropic', 'gemini', 'openai-responses' or 'bedrock-converse'",
    ),
    (
        "version-2",
        yml("provider: openai", "version: 2", "events: []"),
        2,
        "version",
        "unsupported version 2",
    ),
    (
        "missing-version",
        yml("provider: openai", "events: []"),
        1,
        "version",
        "required field is missing",
    ),
    (
        "status-as-string",
        yml("version: 1", "provider: openai", 'status: "200"', "events: []"),
        3,
        "status",
        "valid integer",
    ),
    (
        "version-as-string",
        yml('version: "1"', "provider: openai", "events: []"),
        1,
        "version",
        "valid integer",
    ),
    (
        "data-as-int",
        yml("version: 1", "provider: openai", "events:", "  - data: 5"),
        4,
        "events[0].data",
        "expected a string, a mapping or a list",
    ),
    (
        "retry-negative",
        yml("version: 1", "provider: openai", "events:", "  - data: x", "    retry: -1"),
        5,
        "events[0].retry",
        "greater than or equal to 0",
    ),
    (
        "step-with-two-kinds",
        yml(
            "version: 1",
            "provider: openai",
            "events:",
            "  - data: x",
            "  - data: y",
            "    comment: z",
        ),
        5,
        "events[1]",
        "a step needs exactly one of data, comment, sleep_ms, raw, raw_b64, disconnect, "
        "file, or only id / retry / event (found: data, comment)",
    ),
    (
        "step-with-no-kind",
        yml("version: 1", "provider: openai", "events:", "  - data: x", "  - {}"),
        5,
        "events[1]",
        "(found: none)",
    ),
    (
        "event-with-comment",
        yml("version: 1", "provider: openai", "events:", "  - comment: hi", "    event: foo"),
        4,
        "events[0]",
        "event can only go with data (or alone, as a meta block), not comment",
    ),
    (
        "bad-raw-b64",
        yml("version: 1", "provider: openai", "events:", "  - data: x", "  - raw_b64: 'no pe!'"),
        5,
        "events[1]",
        "raw_b64 is not valid base64",
    ),
    (
        "id-with-newline",
        yml("version: 1", "provider: openai", "events:", "  - data: x", '    id: "a\\nb"'),
        4,
        "events[0]",
        "id cannot contain a line break",
    ),
    (
        "event-with-cr",
        yml("version: 1", "provider: openai", "events:", "  - data: x", '    event: "a\\rb"'),
        4,
        "events[0]",
        "event cannot contain a line break",
    ),
    (
        "id-with-nul",
        yml("version: 1", "provider: openai", "events:", "  - data: x", '    id: "a\\0b"'),
        4,
        "events[0]",
        "id cannot contain NUL",
    ),
    (
        "stall-after-without-stall-ms",
        yml("version: 1", "provider: openai", "events: []", "faults:", "  stall_after: 2"),
        5,
        "faults",
        "stall_after and stall_ms go together",
    ),
    (
        "events-and-body-in-a-response",
        yml("version: 1", "provider: openai", "responses:", "  - body: {}", "    events: []"),
        4,
        "responses[0]",
        "give events (a stream) or body (a whole answer), not both",
    ),
    (
        "bad-finish-reason",
        yml("version: 1", "provider: openai", "events: []", "expect:", "  finish_reason: end"),
        5,
        "expect.finish_reason",
        "expected 'stop', 'length', 'tool_calls', 'content_filter' or 'absent'",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "problem"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_error_names_file_line_and_field(text: str, line: int, field: str, problem: str) -> None:
    """Each schema error names the file, the offending line and the dotted field."""
    error = fails(text)
    assert (error.path, error.line, error.field) == ("s.yaml", line, field)
    assert problem in error.problem
    assert str(error) == f"s.yaml:{line}: {field}: {error.problem}"


def test_unknown_field_without_close_match_has_no_hint() -> None:
    """An unknown field unlike any known one gets no "did you mean"."""
    error = fails(yml("version: 1", "provider: openai", "zzzzqqq: 1", "events: []"))
    assert (error.line, error.field, error.problem) == (3, "zzzzqqq", "unknown field 'zzzzqqq'")


def test_events_and_body_together_rejected() -> None:
    """Top-level ``events`` and ``body`` together are rejected, naming both."""
    error = fails(yml("version: 1", "provider: openai", "events: []", "body: {}"))
    assert (error.path, error.line) == ("s.yaml", 1)
    assert error.problem == "give events (a stream) or body (a whole answer), not both"


def test_responses_with_top_level_events_rejected() -> None:
    """``responses`` with a top-level ``events`` is rejected, naming the clashing field."""
    text = yml("version: 1", "provider: openai", "events: []", "responses:", "  - body: {}")
    error = fails(text)
    assert (error.path, error.line) == ("s.yaml", 1)
    assert error.problem == "with responses, put events inside each response, not at the top level"


def test_disconnect_not_last_rejected() -> None:
    """A ``disconnect`` step followed by another step is rejected."""
    text = yml(
        "version: 1",
        "provider: openai",
        "events:",
        "  - data: x",
        "  - disconnect: true",
        "  - data: y",
    )
    error = fails(text)
    assert "events[1]" in str(error)
    assert "disconnect must be the last step" in error.problem


DISCONNECT_NOT_LAST = [
    (
        yml(
            "version: 1",
            "provider: openai",
            "events:",
            "  - data: x",
            "  - disconnect: true",
            "  - data: y",
        ),
        5,
        "events[1]",
    ),
    (
        yml(
            "version: 1",
            "provider: openai",
            "responses:",
            "  - body: {}",
            "  - events:",
            "      - data: x",
            "      - disconnect: true",
            "      - data: y",
        ),
        7,
        "responses[1].events[1]",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field"), DISCONNECT_NOT_LAST, ids=["top-level", "in-responses"]
)
def test_disconnect_not_last_names_the_step_line_and_field(
    text: str, line: int, field: str
) -> None:
    """A misplaced ``disconnect`` is reported at its own line, with the step as the field."""
    error = fails(text)
    assert (error.line, error.field) == (line, field)


@pytest.mark.parametrize(
    ("text", "line", "field", "key"),
    [
        (
            yml("version: 1", "provider: openai", "events: []", "provider: gemini"),
            4,
            "",
            "provider",
        ),
        (
            yml("version: 1", "provider: openai", "events:", "  - data: x", "    data: y"),
            5,
            "events[0]",
            "data",
        ),
        (
            yml(
                "version: 1",
                "provider: openai",
                "events: []",
                "match:",
                "  model: a",
                "  path: b",
                "  model: c",
            ),
            7,
            "match",
            "model",
        ),
    ],
    ids=["top-level", "in-a-step", "in-match"],
)
def test_duplicate_key_reported_with_its_line(text: str, line: int, field: str, key: str) -> None:
    """A duplicate YAML key is an error at the line of its second occurrence."""
    error = fails(text)
    assert (error.line, error.field, error.problem) == (line, field, f"duplicate key {key!r}")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (yml("version: 1", "provider: openai", "events: [", "  - data: x"), 4),
        (yml("version: 1", "provider: openai", "  bad: : x"), 3),
        (yml("version: 1", "provider: 'openai", "events: []"), 4),
    ],
    ids=["unclosed-flow", "mapping-value", "unclosed-quote"],
)
def test_invalid_yaml_reports_line(text: str, line: int) -> None:
    """Invalid YAML syntax is a ScenarioError with the line where the parser stopped."""
    error = fails(text)
    assert (error.path, error.line, error.field) == ("s.yaml", line, "")
    assert error.problem.startswith("not valid YAML: ")


def test_yaml_reader_error_has_no_line() -> None:
    """A character YAML refuses (a control character) is a ScenarioError without a line."""
    error = fails(yml("version: 1", "provider: openai", "description: a\x07b"))
    assert (error.path, error.line, error.field) == ("s.yaml", None, "")
    assert error.problem.startswith("not valid YAML: unacceptable character #x0007")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("- a\n- b\n", "a list"),
        ("hello\n", "a str"),
    ],
    ids=["empty", "comment-only", "list", "scalar"],
)
def test_top_level_must_be_a_mapping(text: str, kind: str) -> None:
    """An empty file or a non-mapping document is rejected at line 1."""
    error = fails(text)
    assert (error.line, error.problem) == (1, f"a scenario must be a mapping, this file is {kind}")


def test_several_errors_in_one_file_reported_together() -> None:
    """Several bad fields in one file give a ScenarioSetError, one error per field, by line."""
    text = yml("version: 1", "provider: mistral", 'status: "x"', "events: []")
    with pytest.raises(ScenarioSetError) as info:
        parse_scenario(text, path="s.yaml", name="t/x")
    assert [(e.line, e.field) for e in info.value.errors] == [(2, "provider"), (3, "status")]
    assert str(info.value).startswith("2 problems in scenarios:\n  s.yaml:2: provider: ")


def test_error_without_path_says_scenario() -> None:
    """An in-memory scenario's errors name ``<scenario>`` instead of a file."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(yml("version: 1", "provider: x"), name="t/x")
    assert (
        str(info.value) == "<scenario>:2: provider: expected 'openai', 'anthropic', 'gemini', "
        "'openai-responses' or 'bedrock-converse'"
    )


def test_non_utf8_file_is_a_scenario_error(tmp_path: Path) -> None:
    """A file that is not UTF-8 is a ScenarioError naming the file."""
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"version: 1\nprovider: openai\ndescription: caf\xe9\n")
    with pytest.raises(ScenarioError) as info:
        load_scenario(bad)
    assert info.value.path == str(bad)
    assert info.value.problem.startswith("cannot read scenario file: ")


def test_missing_file_is_a_scenario_error(tmp_path: Path) -> None:
    """A file that does not exist is a ScenarioError naming the file."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.yaml")
    assert info.value.path == str(tmp_path / "nope.yaml")


# --- names are never paths -------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../x", "/abs", "a/../b", ".hidden", "a//b", "a\\b", "a/", "a/.b", "", "a b"]
)
def test_path_like_names_rejected(name: str) -> None:
    """A name that could be read as a path (or is not an identifier) is rejected."""
    text = yml("version: 1", f"name: {json.dumps(name)}", "provider: openai", "events: []")
    error = fails(text)
    assert (error.line, error.field) == (2, "name")
    assert error.problem == (
        f"{name!r} is not a valid scenario name: use letters, digits, '_', '.', '-' "
        "in segments joined by '/', none starting with '.'"
    )


@pytest.mark.parametrize("name", ["openai/text-2.v1", "a", "A_b/c-d/e.f", "0/1"])
def test_valid_names_accepted(name: str) -> None:
    """Names of identifier segments joined by '/' are accepted as given."""
    text = yml("version: 1", f"name: {name}", "provider: openai", "events: []")
    assert parse_scenario(text, name="t/default").name == name


def test_default_name_used_only_when_file_has_none() -> None:
    """``name=`` is the default; a ``name`` in the file wins."""
    assert parse_scenario(GOOD, name="t/default").name == "t/default"
    named = yml("version: 1", "name: own", "provider: openai", "events: []")
    assert parse_scenario(named, name="t/default").name == "own"


def test_default_name_is_validated_too() -> None:
    """A path-like default name is rejected like one written in the file."""
    with pytest.raises(ScenarioError) as info:
        parse_scenario(GOOD, name="../etc/passwd")
    assert info.value.field == "name"


# --- parsing: the two forms ------------------------------------------------------------


def test_single_answer_form() -> None:
    """Top-level response fields make one answer with those values."""
    text = yml(
        "version: 1",
        "provider: anthropic",
        "status: 201",
        "headers: {X-A: b}",
        "delay_ms: 5",
        "newline: cr",
        "events:",
        "  - {event: ping, data: {type: ping}}",
        "  - sleep_ms: 10",
    )
    scenario = parse_scenario(text, path="p/q.yaml", name="t/x")
    (answer,) = scenario.answers
    assert (answer.status, answer.headers, answer.delay_ms, answer.newline) == (
        201,
        {"X-A": "b"},
        5,
        "cr",
    )
    assert [step.kind for step in answer.events or []] == ["data", "sleep_ms"]
    assert scenario.streaming is True
    assert scenario.path == Path("p/q.yaml")


def test_responses_form_keeps_order() -> None:
    """``responses`` gives the answers in order; a body answer is not a stream."""
    text = yml(
        "version: 1",
        "provider: openai",
        "responses:",
        "  - {status: 429, body: {error: {message: slow}}}",
        "  - events: [{data: hi}]",
    )
    scenario = parse_scenario(text, name="t/x")
    assert [a.status for a in scenario.answers] == [429, 200]
    assert [a.streaming for a in scenario.answers] == [False, True]
    assert scenario.streaming is True
    assert scenario.path is None


def test_body_only_scenario_is_not_streaming() -> None:
    """A scenario with only a body is not a stream."""
    text = yml("version: 1", "provider: openai", "status: 500", "body: {error: {message: x}}")
    assert parse_scenario(text, name="t/x").streaming is False


def test_empty_responses_rejected() -> None:
    """``responses: []`` is rejected (at least one answer)."""
    error = fails(yml("version: 1", "provider: openai", "responses: []"))
    assert (error.line, error.field) == (3, "responses")


NEEDS_AN_ANSWER = "an answer needs events (a stream) or body (a whole answer); "
NO_ANSWER = [
    # (id, text, line, field): the line is the mapping that lacks the answer, or the
    # empty `events:` / `body:` itself.
    ("nothing", yml("version: 1", "provider: openai", "expect: {text: hi}"), 1, "events"),
    ("status-200", yml("version: 1", "provider: openai", "status: 200"), 1, "events"),
    ("status-201", yml("version: 1", "provider: openai", "status: 201"), 1, "events"),
    ("headers-only", yml("version: 1", "provider: openai", "headers: {x-a: b}"), 1, "events"),
    ("events-left-empty", yml("version: 1", "provider: openai", "events:"), 3, "events"),
    ("body-null", yml("version: 1", "provider: openai", "body: null"), 3, "body"),
    (
        "faults-without-http-error",
        yml("version: 1", "provider: openai", "faults: {drop_usage: true}"),
        1,
        "events",
    ),
    (
        "responses-item",
        yml("version: 1", "provider: openai", "responses:", "  - events: []", "  - status: 200"),
        5,
        "responses[1].events",
    ),
    (
        "responses-item-events-left-empty",
        yml("version: 1", "provider: openai", "responses:", "  - body: {}", "  - events:"),
        5,
        "responses[1].events",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [case[1:] for case in NO_ANSWER],
    ids=[case[0] for case in NO_ANSWER],
)
def test_answer_without_events_or_body_rejected(text: str, line: int, field: str) -> None:
    """An answer with neither events nor body (a silent empty 200) is refused at its line."""
    error = fails(text)
    assert (error.path, error.line, error.field) == ("s.yaml", line, field)
    assert error.problem.startswith(NEEDS_AN_ANSWER), error.problem
    assert str(error) == f"s.yaml:{line}: {field}: {error.problem}"


@pytest.mark.parametrize(
    "answer",
    [
        ["status: 500"],
        ["status: 503", "headers: {retry-after: '2'}"],
        ["status: 302", "headers: {location: 'http://127.0.0.1:1/'}"],
        ["status: 204"],
        ["status: 205"],
        ["faults: {http_error: 429, retry_after: 1}"],
        ['body: ""'],
        ["events: []"],
    ],
    ids=[
        "500",
        "503",
        "302",
        "204",
        "205",
        "http-error-fault",
        "empty-body-string",
        "empty-stream",
    ],
)
def test_answer_without_content_allowed_when_it_says_so(answer: list[str]) -> None:
    """A status that needs no content, an http_error fault or an explicit empty body loads."""
    single = parse_scenario(yml("version: 1", "provider: openai", *answer), name="t/x")
    item = ["  - " + answer[0], *("    " + line for line in answer[1:])]
    many = parse_scenario(
        yml("version: 1", "provider: openai", "responses:", "  - events: []", *item), name="t/x"
    )
    assert single.answers[0] == many.answers[1]


def test_status_only_error_replays_as_that_status_with_an_empty_body() -> None:
    """A ``status: 500`` answer without body is served as a bare 500, as a proxy may send."""
    scenario = parse_scenario(yml("version: 1", "provider: openai", "status: 500"), name="t/x")
    plan = build_plan(scenario, scenario.answers[0], target="openai", stream=True)
    assert (plan.status, plan.streaming, plan.writes) == (500, False, ())


# --- loading folders --------------------------------------------------------------------


def write(folder: Path, relative: str, text: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_folder_reports_every_broken_file(tmp_path: Path) -> None:
    """Two broken files and a good one: one ScenarioSetError listing both broken files."""
    bad1 = write(tmp_path, "a/bad1.yaml", yml("version: 1", "provider: nope", "events: []"))
    bad2 = write(tmp_path, "b/bad2.yaml", yml("version: 2", "provider: openai", "events: []"))
    write(tmp_path, "good.yaml", GOOD)
    with pytest.raises(ScenarioSetError) as info:
        load_scenarios(tmp_path)
    errors = info.value.errors
    assert [(e.path, e.line, e.field) for e in errors] == [
        (str(bad1), 2, "provider"),
        (str(bad2), 1, "version"),
    ]
    assert str(info.value).startswith("2 problems in scenarios:\n")
    assert f"{bad1}:2: provider: " in str(info.value)
    assert f"{bad2}:1: version: unsupported version 2" in str(info.value)


def test_load_folder_flattens_a_files_several_errors(tmp_path: Path) -> None:
    """A file with two bad fields contributes both errors to the folder's report."""
    bad = write(tmp_path, "x.yaml", yml("version: 1", "provider: nope", 'status: "1"'))
    with pytest.raises(ScenarioSetError) as info:
        load_scenarios(tmp_path)
    assert [(e.path, e.field) for e in info.value.errors] == [
        (str(bad), "provider"),
        (str(bad), "status"),
    ]


def test_load_folder_reports_duplicate_names(tmp_path: Path) -> None:
    """Two files giving the same name: the second is reported, naming the first."""
    first = write(tmp_path, "a.yaml", GOOD)
    second = write(
        tmp_path, "b.yaml", yml("version: 1", "name: a", "provider: openai", "events: []")
    )
    with pytest.raises(ScenarioSetError) as info:
        load_scenarios(tmp_path)
    (error,) = info.value.errors
    assert (error.path, error.field) == (str(second), "name")
    assert error.problem == f"duplicate scenario name 'a' (also in {first})"


def test_yaml_and_yml_with_same_stem_collide(tmp_path: Path) -> None:
    """``x.yaml`` and ``x.yml`` both default to name ``x``: a duplicate."""
    write(tmp_path, "x.yaml", GOOD)
    write(tmp_path, "x.yml", GOOD)
    with pytest.raises(ScenarioSetError) as info:
        load_scenarios(tmp_path)
    assert [e.field for e in info.value.errors] == ["name"]


def test_load_missing_folder_is_a_scenario_error(tmp_path: Path) -> None:
    """A folder that does not exist is a plain ScenarioError naming it."""
    missing = tmp_path / "nowhere"
    with pytest.raises(ScenarioError) as info:
        load_scenarios(missing)
    assert not isinstance(info.value, ScenarioSetError)
    assert str(info.value) == f"{missing}: no such scenarios folder"


def test_load_folder_names_and_extensions(tmp_path: Path) -> None:
    """``.yaml`` and ``.yml`` load, other files do not; names are relative posix paths."""
    write(tmp_path, "openai/deep/one.yaml", GOOD)
    write(tmp_path, "two.yml", GOOD)
    write(tmp_path, "notes.txt", "not a scenario")
    write(tmp_path, "README.md", "# hi")
    loaded = load_scenarios(tmp_path)
    assert loaded.names == ["openai/deep/one", "two"]
    assert loaded.get("two") is not None
    assert loaded.get("two").path == tmp_path / "two.yml"  # type: ignore[union-attr]


def test_load_folder_upper_case_extensions_load(tmp_path: Path) -> None:
    """``.YAML`` / ``.Yml`` load like ``.yaml``; README.md, .json and .txt are skipped."""
    write(tmp_path, "a.YAML", GOOD)
    write(tmp_path, "sub/b.Yml", GOOD)
    write(tmp_path, "c.yaml", GOOD)
    write(tmp_path, "README.md", "# hi")
    write(tmp_path, "d.json", json.dumps({"version": 1}))
    write(tmp_path, "e.yaml.bak", "not: [a scenario")
    loaded = load_scenarios(tmp_path)
    assert loaded.names == ["a", "c", "sub/b"]
    assert loaded.get("a").path == tmp_path / "a.YAML"  # type: ignore[union-attr]


def test_same_stem_in_upper_and_lower_case_extension_collide(tmp_path: Path) -> None:
    """``foo.yaml`` next to ``foo.YAML`` is a duplicate-name error naming both files."""
    lower = write(tmp_path, "foo.yaml", GOOD)
    if (tmp_path / "foo.YAML").exists():
        pytest.skip("case-insensitive file system: foo.YAML is foo.yaml")
    upper = write(tmp_path, "foo.YAML", GOOD)
    with pytest.raises(ScenarioSetError) as info:
        load_scenarios(tmp_path)
    (error,) = info.value.errors
    assert (error.path, error.field) == (str(lower), "name")
    assert error.problem == f"duplicate scenario name 'foo' (also in {upper})"


def test_load_empty_folder_gives_empty_set(tmp_path: Path) -> None:
    """An empty folder loads as an empty set."""
    assert len(load_scenarios(tmp_path)) == 0


def test_load_scenario_default_name(tmp_path: Path) -> None:
    """Without ``root`` the default name is the stem; with it, the relative path."""
    path = write(tmp_path, "sub/dir/file.v2.yaml", GOOD)
    assert load_scenario(path).name == "file.v2"
    assert load_scenario(path, root=tmp_path).name == "sub/dir/file.v2"


# --- ScenarioSet ---------------------------------------------------------------------------


def make(name: str) -> Scenario:
    return parse_scenario(GOOD, name=name)


@pytest.fixture
def small_set() -> ScenarioSet:
    return ScenarioSet([make(n) for n in ("openai/text", "openai/length", "anthropic/text")])


def test_scenario_set_sequence_and_lookup(small_set: ScenarioSet) -> None:
    """A ScenarioSet keeps load order and looks names up."""
    assert small_set.names == ["openai/text", "openai/length", "anthropic/text"]
    assert [s.name for s in small_set] == small_set.names
    assert small_set[2].name == "anthropic/text"
    assert "openai/length" in small_set
    assert "openai/nope" not in small_set
    assert small_set.get("openai/nope") is None


def test_scenario_set_rejects_duplicates() -> None:
    """Building a set with a name twice is a ScenarioError on ``name``."""
    with pytest.raises(ScenarioError) as info:
        ScenarioSet([make("a"), make("a")])
    assert (info.value.field, info.value.problem) == ("name", "duplicate scenario name 'a'")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("openai/txt", ["openai/text", "openai/length", "anthropic/text"]),
        ("opnai/lenght", ["openai/length", "openai/text"]),
        ("anthropic/tex", ["anthropic/text", "openai/text"]),
        ("zz/qqqqqqqqqqqqq/length", ["openai/length"]),
        ("qqqqqqqqqqqqqqqqqqqq", []),
    ],
)
def test_closest_suggests_near_names(
    small_set: ScenarioSet, query: str, expected: list[str]
) -> None:
    """``closest`` suggests similar names, then names containing the last segment."""
    assert small_set.closest(query) == expected


def test_closest_respects_n(small_set: ScenarioSet) -> None:
    """``closest`` returns at most ``n`` names."""
    assert small_set.closest("openai/text", n=1) == ["openai/text"]


# --- Match ---------------------------------------------------------------------------


def matches(match: Match, **overrides: object) -> bool:
    request: dict[str, object] = {
        "path": "/v1/chat/completions",
        "model": "gpt-4o-mini",
        "stream": True,
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        "headers": {"X-Env": "prod"},
    }
    request.update(overrides)
    return match.matches(**request)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("match", "overrides", "expected"),
    [
        (Match(), {}, True),
        (Match(path="/v1/chat/*"), {}, True),
        (Match(path="/v1/*"), {}, True),
        (Match(path="/v1/messages"), {}, False),
        (Match(model="gpt-4o*"), {}, True),
        (Match(model="claude-*"), {}, False),
        (Match(model="gpt-*"), {"model": None}, False),
        (Match(model="GPT-4O*"), {}, False),
        (Match(stream=True), {}, True),
        (Match(stream=False), {}, False),
        (Match(stream=False), {"stream": False}, True),
        (Match(headers={"x-env": "prod"}), {}, True),
        (Match(headers={"X-ENV": "prod"}), {"headers": {"x-eNv": "prod"}}, True),
        (Match(headers={"x-env": "Prod"}), {}, False),
        (Match(headers={"x-other": "prod"}), {}, False),
        (Match(path="/v1/*", model="gpt-*", stream=True), {}, True),
        (Match(path="/v1/*", model="gpt-*", stream=False), {}, False),
    ],
)
def test_match_path_model_stream_headers(
    match: Match, overrides: dict[str, object], expected: bool
) -> None:
    """Globs on path/model, the stream flag and case-blind header names all must hold."""
    assert matches(match, **overrides) is expected


@pytest.mark.parametrize(
    ("want", "got", "expected"),
    [
        ({"model": "gpt-4o-mini"}, {"model": "gpt-4o-mini", "n": 1}, True),
        ({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}, "d": 3}, True),
        ({"a": {"b": 1}}, {"a": {"c": 1}}, False),
        ({"a": {"b": 1}}, {"a": 1}, False),
        ({"a": 1}, {}, False),
        ({"l": [1, 2]}, {"l": [1, 2]}, True),
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, False),
        ({"l": [1, 2]}, {"l": [2, 1]}, False),
        ({"l": [1]}, {"l": 1}, False),
        ({"m": [{"role": "user"}]}, {"m": [{"role": "user", "content": "x"}]}, True),
        ({"n": 1}, {"n": True}, False),
        ({"n": True}, {"n": 1}, False),
        ({"n": True}, {"n": True}, True),
        ({"n": None}, {"n": None}, True),
        ({"n": None}, {}, False),
        ({"a": 1}, [1], False),
        ({}, {"anything": 1}, True),
    ],
)
def test_match_body_subset(want: dict[str, object], got: object, expected: bool) -> None:
    """Body match: mappings by key (nested), lists item by item, scalars equal and same type."""
    assert matches(Match(body=want), body=got) is expected


# --- Faults -------------------------------------------------------------------------------


def test_faults_merged_overlay_set_fields_win() -> None:
    """``merged``: fields the overlay sets explicitly win, even when set to the default."""
    base = Faults(chunking="byte", seed=3, drop_usage=True)
    overlay = Faults(chunking="event", seed=5)
    merged = base.merged(overlay)
    assert (merged.chunking, merged.seed, merged.drop_usage) == ("event", 5, True)


def test_faults_merged_keeps_unset_fields() -> None:
    """``merged``: fields the overlay leaves unset keep the base's values."""
    base = Faults(disconnect_after=3, keepalive_every=2, keepalive_style="ping")
    merged = base.merged(Faults(error_after=1))
    assert merged.model_dump(exclude_defaults=True) == {
        "disconnect_after": 3,
        "keepalive_every": 2,
        "keepalive_style": "ping",
        "error_after": 1,
    }


def test_faults_merged_with_none_is_self() -> None:
    """``merged(None)`` is the same overlay."""
    base = Faults(seed=9)
    assert base.merged(None) is base


def test_faults_merged_twice_tracks_set_fields() -> None:
    """A merged overlay remembers which fields were set, so merging again still works."""
    once = Faults().merged(Faults(chunking="byte"))
    twice = Faults(chunking="random", seed=1).merged(once)
    assert (twice.chunking, twice.seed) == ("byte", 1)


@pytest.mark.parametrize(
    ("faults", "active"),
    [
        (Faults(), False),
        (Faults(chunking="event", drop_usage=False, seed=0), False),
        (Faults(drop_usage=True), True),
        (Faults(disconnect_after=0), True),
        (Faults(chunking="byte"), True),
        (Faults(http_error=503), True),
    ],
)
def test_faults_active(faults: Faults, active: bool) -> None:
    """``active`` is true when any field differs from its default."""
    assert faults.active is active


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"retry_after": 1}, "retry_after needs http_error"),
        ({"stall_ms": 5}, "stall_after and stall_ms go together"),
        ({"http_error": 200}, "greater than or equal to 400"),
        ({"keepalive_every": 0}, "greater than or equal to 1"),
    ],
)
def test_faults_validation(values: dict[str, object], problem: str) -> None:
    """Fault overlays reject unpaired or out-of-range values."""
    with pytest.raises(ValueError, match=problem):
        Faults.model_validate(values)


def _alias_bomb(levels: int) -> str:
    lines = ["version: 1", "provider: openai", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, levels)]
    lines.append(f"events: [{{data: *a{levels - 1}}}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_before_anything_expands_it() -> None:
    """A 'billion laughs' file (10^10 values once expanded) is a ScenarioError, at once."""
    with pytest.raises(ScenarioError, match="aliases are expanded") as caught:
        parse_scenario(_alias_bomb(10), path="bomb.yaml")
    assert caught.value.path == "bomb.yaml"
    assert caught.value.line == 8


def test_modest_aliases_still_work() -> None:
    """Anchors and aliases within the limits load as usual."""
    text = "version: 1\nprovider: openai\nevents:\n  - &e {data: x}\n  - *e\n"
    scenario = parse_scenario(text, name="t/alias")
    assert [s.data for s in scenario.answers[0].events or []] == ["x", "x"]


@pytest.mark.parametrize("depth", [100, 5000])
def test_absurd_nesting_is_a_scenario_error(depth: int) -> None:
    """Nesting past the limit (even past Python's recursion limit) is a clean error."""
    text = "version: 1\nprovider: openai\nevents: [{data: " + "[" * depth + "]" * depth + "}]\n"
    # past libyaml's own limit the parser says so itself; either way a clean error
    with pytest.raises(ScenarioError, match=r"nested deeper than|maximum nesting depth") as caught:
        parse_scenario(text, path="deep.yaml")
    assert caught.value.path == "deep.yaml"


def test_max_bytes_can_raise_the_limit_as_well_as_lower_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_scenario(max_bytes=) is the file's limit, both ways: the text is not held to
    the default limit a second time; parse_scenario counts UTF-8 bytes, not characters."""
    import harness.mock.scenario as module

    monkeypatch.setattr(module, "MAX_FILE_BYTES", 150)
    path = tmp_path / "big.yaml"
    path.write_text(yml("version: 1", "provider: openai", f"description: {'é' * 60}", "events: []"))
    size = path.stat().st_size
    assert 150 < size < 200
    assert load_scenario(path, max_bytes=200).description == "é" * 60
    with pytest.raises(ScenarioError, match=f"{size:,} bytes, over the limit of 150 bytes"):
        load_scenario(path)
    text = path.read_text()
    assert len(text) < 150 < len(text.encode())  # under the limit in characters, not bytes
    with pytest.raises(ScenarioError, match="over the limit of 150 bytes"):
        parse_scenario(text)
    assert parse_scenario(text, name="big", max_bytes=size).provider == "openai"
