"""The code in the docs is run, so an example that a reader copies works as printed.

``docs/scenarios.md``: every fenced ```yaml block that is a whole scenario (one with a
top-level ``version:`` key; other blocks, such as a list of steps, are fragments and
skipped) is loaded by harness's own loader, and its stream, if it has one, replayed
through the OpenAI route to the adapter of ``docs/pytest.md``. That adapter is executed
as printed, against the mock on 127.0.0.1 only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.conformance import Outcome, OutcomeError, ToolCall, compare
from harness.mock.replay import build_plan
from harness.mock.scenario import Scenario, ScenarioSet, builtin_scenarios_dir, load_scenarios
from harness.testing import run_server

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS_MD = ROOT / "docs" / "scenarios.md"
PYTEST_MD = ROOT / "docs" / "pytest.md"

# A fenced block: the opening fence with its language, the body, the closing fence.
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# A whole scenario declares the format version as a top-level key.
VERSION = re.compile(r"^version:", re.MULTILINE)


def _blocks(doc: Path, *languages: str) -> list[tuple[int, str]]:
    """``(line, text)`` of each fenced block in ``languages``; ``line`` is the fence's."""
    text = doc.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, match.start()) + 1, match.group(2))
        for match in FENCE.finditer(text)
        if match.group(1) in languages
    ]


def _whole_scenarios() -> list[tuple[int, str]]:
    """The ```yaml blocks of ``docs/scenarios.md`` that are whole scenarios.

    The rule: a block is a whole scenario when it has a top-level ``version:`` key;
    any other block (a list of steps, a ``faults`` mapping) is a fragment and skipped.
    """
    return [
        (line, text) for line, text in _blocks(SCENARIOS_MD, "yaml", "yml") if VERSION.search(text)
    ]


def _load_doc_scenarios(folder: Path) -> ScenarioSet:
    """Write each whole scenario to ``folder`` as ``line-NNNN.yaml`` and load the folder.

    The file (and so the scenario) is named after the line of the block's fence in the
    doc, so a loader error points at the example to fix.
    """
    folder.mkdir()
    for line, text in _whole_scenarios():
        (folder / f"line-{line:04d}.yaml").write_text(text, encoding="utf-8")
        for capture in re.findall(r"\{file: ([^}\s]+)\}", text):
            # The capture an example names: a real recording of its provider's stream.
            (folder / capture).write_bytes(_recorded(re.search(r"provider: (\S+)", text)))
    return load_scenarios(folder)


def _recorded(provider: re.Match[str] | None) -> bytes:
    """The bytes of the built-in ``{provider}/text`` as its own route replays them."""
    assert provider is not None
    scenario = load_scenarios().get(f"{provider.group(1)}/text")
    assert scenario is not None
    plan = build_plan(scenario, scenario.answers[0], target=scenario.provider, stream=True)
    return b"".join(write.data for write in plan.writes)


def _pytest_md_adapter() -> Callable[[str, Scenario | None], Outcome]:
    """Execute the conformance-kit example of ``docs/pytest.md``; return its ``run``."""
    blocks = [text for _, text in _blocks(PYTEST_MD, "python") if "def run(base_url" in text]
    assert len(blocks) == 1, "docs/pytest.md should have one adapter block (def run(base_url"
    namespace: dict[str, Any] = {"__name__": "docs_pytest_md_example"}
    exec(compile(blocks[0], str(PYTEST_MD), "exec"), namespace)
    run: Callable[[str, Scenario | None], Outcome] = namespace["run"]
    return run


def test_every_whole_scenario_in_scenarios_md_loads(tmp_path: Path) -> None:
    """Every ```yaml block of docs/scenarios.md with a top-level version: loads."""
    blocks = _whole_scenarios()
    assert len(blocks) >= 8, "the whole-scenario rule found too few examples"
    loaded = _load_doc_scenarios(tmp_path / "doc")  # ScenarioSetError lists every problem
    assert len(loaded) == len(blocks)


def test_scenarios_md_shows_tool_calls_and_errors_for_every_provider(tmp_path: Path) -> None:
    """docs/scenarios.md has, per provider, a tool call, an in-band error and an HTTP error."""
    loaded = _load_doc_scenarios(tmp_path / "doc")
    missing = []
    for provider in ("openai", "anthropic", "gemini"):
        mine = [s for s in loaded if s.provider == provider and s.expect is not None]
        kinds = {
            "tool call": [s for s in mine if s.expect and s.expect.tool_calls],
            "in-band error": [s for s in mine if s.events and s.expect and s.expect.error],
            "HTTP error": [s for s in mine if s.status >= 400 and s.body is not None],
        }
        missing += [f"{provider}: {kind}" for kind, found in kinds.items() if not found]
    assert missing == []


def test_scenarios_md_streams_conform_with_the_pytest_md_adapter(tmp_path: Path) -> None:
    """Each doc stream, replayed on the OpenAI route, gives the outcome its expect says."""
    loaded = _load_doc_scenarios(tmp_path / "doc")
    run = _pytest_md_adapter()
    # The http-error examples are left out: the adapter retries them (max_retries=1).
    streams = [s for s in loaded if s.events is not None and s.expect is not None]
    assert streams
    problems = {}
    with run_server(tmp_path / "doc") as server:
        for scenario in streams:
            assert scenario.expect is not None
            found = compare(
                run(server.base_url(scenario.name, "openai"), scenario), scenario.expect
            )
            if found:
                problems[scenario.name] = found
    assert problems == {}, "the doc's examples, by the line of their fence"


def _cut_inside_tool_arguments(folder: Path) -> str:
    """openai/tool-calls-parallel cut after ``{"city": "Pa``: returns the scenario name."""
    source = builtin_scenarios_dir() / "openai" / "tool-calls-parallel.yaml"
    data = yaml.safe_load(source.read_text(encoding="utf-8"))
    # Events 0-2: the call's id and name, then the fragments '{"ci' and 'ty": "Pa'.
    data["events"] = [*data["events"][:3], {"disconnect": True}]
    data["description"] = "tool-calls-parallel cut inside the first call's arguments"
    del data["expect"]
    folder.mkdir()
    (folder / "cut-in-arguments.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return "cut-in-arguments"


def test_pytest_md_adapter_reports_a_stream_cut_inside_tool_arguments(tmp_path: Path) -> None:
    """The pytest.md adapter keeps partial tool arguments and still reports the cut."""
    name = _cut_inside_tool_arguments(tmp_path / "cut")
    run = _pytest_md_adapter()
    with run_server(tmp_path / "cut") as server:
        assert server.scenarios[0].events is not None
        assert server.scenarios[0].events[-1].disconnect
        outcome = run(server.base_url(name, "openai"), server.scenarios[0])
    assert outcome.error == OutcomeError(code="connection_closed")
    assert outcome.tool_calls == [ToolCall("get_weather", {"_unparsed_arguments": '{"city": "Pa'})]
    assert outcome.finish_reason is None


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("version: 1\nprovider: openai\n", True),
        ("- {data: x}\n", False),
        ("faults:\n  version: 1\n", False),
    ],
)
def test_the_whole_scenario_rule(text: str, whole: bool) -> None:
    """Only a block with a top-level version: key counts as a whole scenario."""
    assert bool(VERSION.search(text)) is whole
