"""The conformance reports: results.json round-trips, junit.xml is what CI reads, and
report.html is one safe, self-contained page; all three are deterministic and atomic."""

from __future__ import annotations

import html
import json
import re
import xml.dom.minidom
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.atomic import TEMP_MARK
from harness.conformance.report import (
    HTML_NAME,
    JSON_NAME,
    JUNIT_NAME,
    load_run,
    render_html,
    render_junit,
    write_reports,
)
from harness.conformance.results import VERDICTS, CaseResult, Run, Verdict
from harness.errors import UsageError

SCRIPT = "<script>alert('x')</script>"
ODD_SCENARIO = "odd/<b>&\"quoted'</b> é"
EXPECTED = {"text": "Hello", "finish_reason": "stop"}


def _result(
    verdict: Verdict,
    scenario: str,
    *,
    fault: str = "none",
    route: str = "openai",
    client: str = "openai",
    version: str = "1.2.3",
    **fields: object,
) -> CaseResult:
    defaults: dict[str, object] = {
        "overlay": "" if fault == "none" else f"{fault}=1",
        "observed": {"text": "Hello", "finish_reason": "stop"},
        "duration": 0.25,
        "reproduction": (
            f"curl -H 'x-harness-faults: {fault}' http://127.0.0.1:8080/v1 # {scenario}"
        ),
    }
    defaults.update(fields)
    return CaseResult(
        scenario=scenario,
        fault=fault,
        route=route,
        client=client,
        version=version,
        expected=dict(EXPECTED),
        verdict=verdict,
        **defaults,  # type: ignore[arg-type]
    )


def _run() -> Run:
    """A run with every verdict, two clients, two routes and hostile text everywhere."""
    results = [
        _result("pass", "openai/text"),
        _result("pass", ODD_SCENARIO, fault="chunking=byte"),
        _result(
            "fail",
            "openai/text",
            fault="error_after",
            observed={"text": f"Hel{SCRIPT}\x00\x1b[31m 🙂", "finish_reason": None},
            differences=[f"text: expected 'Hello', got 'Hel{SCRIPT}\x00\x1b[31m 🙂'", "second"],
        ),
        _result(
            "known",
            "openai/tools",
            observed={"text": "Hel"},
            differences=["text: expected 'Hello', got 'Hel'"],
            known="drops the last chunk & more <b>",
        ),
        _result("fixed", "openai/tools", fault="error_after", known="stale entry ünïcode"),
        _result(
            "error",
            ODD_SCENARIO,
            observed=None,
            traceback=(
                'Traceback (most recent call last):\n  File "x.py", line 1\n'
                f"ValueError: bad {SCRIPT} \x00 \x1b[0m ✓\n"
            ),
        ),
        _result(
            "timeout",
            "anthropic/text",
            route="anthropic",
            client="anthropic",
            version="",
            observed=None,
            differences=["timed out after 30 s"],
        ),
        _result(
            "skipped",
            "anthropic/text",
            route="anthropic",
            client="anthropic",
            version="",
            fault="chunking=byte",
            observed=None,
            differences=["the route cannot carry this fault"],
        ),
        _result("pass", "openai/text", client="litellm", version="0.9"),
    ]
    return Run(
        results=results,
        started="2026-12-04T19:00:00Z",
        harness="0.2.0",
        python="3.12.1",
        command="harness conformance --client openai <all>",
        duration=12.5,
    )


@pytest.fixture
def written(tmp_path: Path) -> tuple[Run, Path]:
    """The hostile run, written to a fresh folder."""
    run = _run()
    write_reports(run, tmp_path / "out")
    return run, tmp_path / "out"


# --- files and JSON -----------------------------------------------------------------


def test_write_reports_writes_the_three_files_and_returns_their_paths(tmp_path: Path) -> None:
    """The three names, in order, in the folder, and nothing else (no temporary file)."""
    paths = write_reports(_run(), tmp_path)
    assert paths == [tmp_path / JSON_NAME, tmp_path / JUNIT_NAME, tmp_path / HTML_NAME]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([JSON_NAME, JUNIT_NAME, HTML_NAME])


def test_json_round_trips_to_an_equal_run(written: tuple[Run, Path]) -> None:
    """load_run(results.json) gives back the run, odd characters and all."""
    run, folder = written
    assert load_run(folder / JSON_NAME) == run


def test_json_is_indented_utf8_with_a_final_newline(written: tuple[Run, Path]) -> None:
    """The file is to_json() as indent=2, non-ASCII written as is, newline-terminated."""
    run, folder = written
    data = (folder / JSON_NAME).read_bytes()
    expected = json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n"
    assert data == expected.encode("utf-8")
    assert "🙂".encode() in data
    assert list(json.loads(data)) == list(run.to_json())  # the key order of to_json


def test_json_writes_a_lone_surrogate_as_its_escape(tmp_path: Path) -> None:
    """A lone surrogate (unencodable in UTF-8) is written \\udcff and reads back as itself."""
    run = Run([_result("pass", "openai/text", observed={"text": "bad \udcff byte"})])
    write_reports(run, tmp_path)
    assert b"\\udcff" in (tmp_path / JSON_NAME).read_bytes()
    assert load_run(tmp_path / JSON_NAME) == run
    ET.parse(tmp_path / JUNIT_NAME)


def test_load_run_refuses_what_is_not_a_results_file(tmp_path: Path) -> None:
    """Invalid JSON, a missing results list, unknown fields and verdicts: UsageError."""
    bad = tmp_path / "bad.json"
    for text in (
        "{",
        "[]",
        '{"results": 1}',
        '{"results": [{"nope": 1}]}',
        json.dumps({"results": [{**_result("pass", "a").to_json(), "verdict": "meh"}]}),
    ):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(UsageError, match=r"not a conformance results\.json"):
            load_run(bad)


def test_rewriting_the_same_run_gives_byte_identical_files(tmp_path: Path) -> None:
    """Equal runs, equal bytes: in another folder, and over the previous files."""
    first = [p.read_bytes() for p in write_reports(_run(), tmp_path / "a")]
    second = [p.read_bytes() for p in write_reports(_run(), tmp_path / "b")]
    again = [p.read_bytes() for p in write_reports(_run(), tmp_path / "a")]
    assert first == second == again


def test_a_missing_folder_is_created(tmp_path: Path) -> None:
    """Folders that do not exist, nested, are made."""
    folder = tmp_path / "deep" / "er" / "reports"
    paths = write_reports(_run(), folder)
    assert all(path.is_file() for path in paths)


def test_a_folder_that_is_a_file_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    """The error names the folder and is a NotADirectoryError; nothing is left behind."""
    folder = tmp_path / "reports"
    folder.write_text("not a folder", encoding="utf-8")
    with pytest.raises(NotADirectoryError, match="cannot write the conformance reports into"):
        write_reports(_run(), folder)
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]
    assert folder.read_text(encoding="utf-8") == "not a folder"


def test_a_report_name_taken_by_a_folder_stops_all_three(tmp_path: Path) -> None:
    """A folder named report.html: none of the three is written, no temporary file left."""
    (tmp_path / HTML_NAME).mkdir()
    with pytest.raises(IsADirectoryError, match="cannot write the conformance reports"):
        write_reports(_run(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [HTML_NAME]
    assert not any(TEMP_MARK in p.name for p in tmp_path.rglob("*"))


# --- JUnit --------------------------------------------------------------------------


def _junit(folder: Path) -> ET.Element:
    return ET.parse(folder / JUNIT_NAME).getroot()


def _cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    return {
        (case.get("classname", ""), case.get("name", "")): case for case in root.iter("testcase")
    }


def test_junit_parses_with_elementtree_and_minidom(written: tuple[Run, Path]) -> None:
    """Both parsers (minidom's expat is strict about XML 1.0 characters) accept the file,
    which starts with the XML declaration."""
    _, folder = written
    data = (folder / JUNIT_NAME).read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    ET.fromstring(data)
    document = xml.dom.minidom.parseString(data)
    root = document.documentElement
    assert root is not None
    assert root.tagName == "testsuites"


def test_junit_counts_are_right_per_suite_and_in_total(written: tuple[Run, Path]) -> None:
    """tests/failures/errors/skipped: fail+fixed, error+timeout, skipped+known."""
    run, folder = written
    root = _junit(folder)
    assert root.tag == "testsuites"
    assert {k: root.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "9",
        "failures": "2",
        "errors": "2",
        "skipped": "2",
    }
    assert root.get("time") == "12.500"
    suites = {suite.get("name"): suite for suite in root.iter("testsuite")}
    assert list(suites) == [
        "harness conformance · openai 1.2.3 · openai",
        "harness conformance · anthropic · anthropic",
        "harness conformance · litellm 0.9 · openai",
    ]
    counts = [
        [suite.get(k) for k in ("tests", "failures", "errors", "skipped")]
        for suite in suites.values()
    ]
    assert counts == [["6", "2", "1", "1"], ["2", "0", "1", "1"], ["1", "0", "0", "0"]]
    for suite in suites.values():
        assert int(suite.get("tests", "")) == len(suite.findall("testcase"))
        for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            assert len(suite.findall(f"testcase/{tag}")) == int(suite.get(key, ""))
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert properties["harness"] == "0.2.0"
    assert properties["command"] == run.command


def test_junit_maps_each_verdict_as_documented(written: tuple[Run, Path]) -> None:
    """pass: no child; fail: failure nonconformance; known: skipped; fixed: failure
    fixed-known-failure; error: error; timeout: error timeout; skipped: skipped."""
    _, folder = written
    cases = _cases(_junit(folder))
    assert list(cases["openai.openai", "openai/text [none]"]) == []

    fail = cases["openai.openai", "openai/text [error_after]"].find("failure")
    assert fail is not None
    assert fail.get("type") == "nonconformance"
    assert fail.get("message", "").startswith("text: expected 'Hello', got 'Hel<script>")
    assert "\u2400\u241b[31m 🙂" in fail.get("message", "")  # NUL and ESC made visible
    assert "second" in (fail.text or "")
    assert "expected: {" in (fail.text or "")
    assert "reproduce: curl -H 'x-harness-faults: error_after'" in (fail.text or "")

    known = cases["openai.openai", "openai/tools [none]"].find("skipped")
    assert known is not None
    assert known.get("message") == "known failure: drops the last chunk & more <b>"

    fixed = cases["openai.openai", "openai/tools [error_after]"].find("failure")
    assert fixed is not None
    assert fixed.get("type") == "fixed-known-failure"
    assert "stale entry ünïcode" in fixed.get("message", "")

    error = cases["openai.openai", f"{ODD_SCENARIO} [none]"].find("error")
    assert error is not None
    assert error.get("type") == "error"
    assert error.get("message") == "ValueError: bad <script>alert('x')</script> \u2400 \u241b[0m ✓"
    assert "Traceback (most recent call last)" in (error.text or "")

    timeout = cases["anthropic.anthropic", "anthropic/text [none]"].find("error")
    assert timeout is not None
    assert (timeout.get("type"), timeout.get("message")) == ("timeout", "timed out after 30 s")

    skipped = cases["anthropic.anthropic", "anthropic/text [chunking=byte]"].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "the route cannot carry this fault"


def test_junit_holds_no_character_xml_forbids() -> None:
    """Every C0 control but TAB/LF/CR, lone surrogates and U+FFFE/FFFF are replaced."""
    forbidden = "".join(chr(c) for c in range(32) if c not in (9, 10, 13)) + "\udc80\ufffe\uffff"
    run = Run([_result("error", f"s{forbidden}", traceback=forbidden, differences=[forbidden])])
    text = render_junit(run).decode()
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", text)
    xml.dom.minidom.parseString(text.encode())


def test_junit_of_an_empty_run_is_valid() -> None:
    """No results: a testsuites element with zero counts and no suite."""
    root = ET.fromstring(render_junit(Run([])))
    assert root.get("tests") == "0"
    assert root.findall("testsuite") == []


# --- HTML ---------------------------------------------------------------------------


class _StrictParser(HTMLParser):
    """Fails on what a browser would have to repair: unclosed or misnested elements,
    ``<`` in text, and anything that loads a resource (``src``, ``<link>``, a script)."""

    VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)  # see raw text
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.summaries = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "link", "iframe", "img", "object", "embed"):
            self.problems.append(f"<{tag}>")
        self.problems += [f"{tag} {name}=" for name, _ in attrs if name in ("src", "srcset")]
        self.summaries += tag == "summary"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.problems.append(f"misnested </{tag}>")

    def handle_data(self, data: str) -> None:
        if "<" in data and self.stack[-1:] != ["style"]:
            self.problems.append(f"raw < in text: {data[:40]!r}")


def _parse(data: bytes) -> _StrictParser:
    parser = _StrictParser()
    parser.feed(data.decode("utf-8"))
    parser.close()
    assert parser.problems == []
    assert parser.stack == []
    return parser


def test_html_parses_cleanly_and_loads_nothing(written: tuple[Run, Path]) -> None:
    """Balanced tags, no script, no <link>, no src= attribute: self-contained."""
    _, folder = written
    data = (folder / HTML_NAME).read_bytes()
    parser = _parse(data)
    assert parser.summaries == 9  # one box per cell
    text = data.decode()
    for needle in ("<script", "<link", "src=", "http-equiv", "@import", "url("):
        assert needle not in text


def test_html_escapes_every_text(written: tuple[Run, Path]) -> None:
    """Scenario names and observed text appear escaped; raw markup from them never does."""
    _, folder = written
    text = (folder / HTML_NAME).read_text(encoding="utf-8")
    assert SCRIPT not in text
    assert "<b>&" not in text
    assert "odd/&lt;b&gt;&amp;&quot;quoted&#x27;&lt;/b&gt; é" in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "\x00" not in text
    assert "\x1b" not in text
    assert "\u2400\u241b[31m 🙂" in text


def test_html_shows_the_metadata_and_every_verdict_count(written: tuple[Run, Path]) -> None:
    """The header has the run's metadata and one count per verdict, zeros included."""
    run, folder = written
    text = (folder / HTML_NAME).read_text(encoding="utf-8")
    header = text.split("</header>", 1)[0]
    for value in (run.started, run.harness, run.python, "harness conformance --client openai"):
        assert value in header
    found = dict(re.findall(r'data-verdict="(\w+)">.*?<b>(\d+)</b>', header))
    assert found == {verdict: str(count) for verdict, count in run.counts().items()}
    assert set(found) == set(VERDICTS)


def test_html_lists_every_failing_cell_with_its_reproduction(written: tuple[Run, Path]) -> None:
    """The Failures section has each fail/error/timeout/fixed cell and its reproduction line."""
    run, folder = written
    text = (folder / HTML_NAME).read_text(encoding="utf-8")
    failures = text.split('<h2 id="failures">', 1)[1]
    failing = [
        (i, r)
        for i, r in enumerate(run.results)
        if r.verdict in ("fail", "error", "timeout", "fixed")
    ]
    assert len(failing) == 4
    assert failures.count('<section class="failure"') == 4
    for index, result in failing:
        section = failures.split(f'id="r{index}">', 1)[1].split("</section>", 1)[0]
        assert f"<code>{_escape(result.reproduction)}</code>" in section
    assert "Traceback (most recent call last)" in failures


def test_html_tables_have_a_row_per_scenario_and_a_group_per_client(
    written: tuple[Run, Path],
) -> None:
    """Per route: client/version column groups, faults as columns, missing cells marked."""
    _, folder = written
    text = (folder / HTML_NAME).read_text(encoding="utf-8")
    openai = text.split("<h2>route openai</h2>", 1)[1].split("<h2>", 1)[0]
    assert '<th colspan="3">openai 1.2.3</th>' in openai
    assert '<th colspan="3">litellm 0.9</th>' in openai
    assert openai.count('<tr><th class="scenario">') == 3
    assert 'title="not run"' in openai
    assert "<h2>route anthropic</h2>" in text


def test_fifteen_hundred_cells_make_one_page(tmp_path: Path) -> None:
    """A large matrix (50 scenarios, 10 faults, 3 clients) writes, parses, has every cell."""
    results = [
        _result(
            VERDICTS[(s + f + c) % len(VERDICTS)],
            f"provider/scenario-{s}",
            fault=f"fault-{f}",
            client=f"client-{c}",
            differences=[f"difference {s}/{f}/{c}"],
        )
        for s in range(50)
        for f in range(10)
        for c in range(3)
    ]
    run = Run(results, started="2026-12-04T19:00:00Z")
    write_reports(run, tmp_path)
    assert _parse((tmp_path / HTML_NAME).read_bytes()).summaries == 1500
    assert _junit(tmp_path).get("tests") == "1500"
    assert load_run(tmp_path / JSON_NAME) == run


def test_render_html_is_deterministic() -> None:
    """Two renders of equal runs are equal bytes."""
    assert render_html(_run()) == render_html(_run())


def _escape(text: str) -> str:
    return html.escape(text, quote=True)
