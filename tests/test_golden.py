"""Golden files: masking, rendering, atomic writes, comparison, and `harness check`."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import harness.mock.golden
from harness.cli import main
from harness.errors import UsageError
from harness.mock.golden import (
    KINDS,
    GoldenMismatch,
    assert_golden,
    check,
    diff_bytes,
    golden_path,
    mask,
    render,
    unused_goldens,
    write_atomic,
)
from harness.mock.replay import NORMALIZED_ROUTES
from harness.mock.scenario import load_scenarios, parse_scenario

GOLDENS = Path(__file__).parent / "golden"
REPO = Path(__file__).parent.parent

# --- masking ----------------------------------------------------------------------

MASKED = [
    # chunk, message and response ids
    (b'data: {"id":"chatcmpl-abc123","object":"x"}', b'data: {"id":"<id>","object":"x"}'),
    (b'"message":{"id":"msg_01XYZ","type":"message"}', b'"message":{"id":"<id>","type":"message"}'),
    (b'{"id" : "gen-17-a\\"b"}', b'{"id" : "<id>"}'),
    (b'{"responseId": "abc-9"}', b'{"responseId": "<id>"}'),
    (b'"request_id":"req_011CX"}', b'"request_id":"<id>"}'),
    # timestamps and per-deployment values
    (b'"created":1735689600,', b'"created":<created>,'),
    (b'"created": 17.5}', b'"created": <created>}'),
    (b'"system_fingerprint":"fp_44709d6fcb"', b'"system_fingerprint":"<fingerprint>"'),
    (b'"obfuscation":"Q2x5"', b'"obfuscation":"<obfuscation>"'),
    # header lines, in a golden's comment block or bare, any case; CR not eaten
    (b"# date: Tue, 07 Jan 2025 10:00:00 GMT\n", b"# date: <masked>\n"),
    (b"# request-id: req_011CX\n", b"# request-id: <masked>\n"),
    (b"X-Request-Id: 7f3a\r\n", b"X-Request-Id: <masked>\r\n"),
    (b"# anthropic-organization-id: 0000-1111\n", b"# anthropic-organization-id: <masked>\n"),
    (b"# openai-organization: org-abc\n", b"# openai-organization: <masked>\n"),
    (b"# x-ratelimit-reset-requests: 6ms\n", b"# x-ratelimit-reset-requests: <masked>\n"),
    (b"# x-ratelimit-reset-tokens: 1s\n", b"# x-ratelimit-reset-tokens: <masked>\n"),
]

KEPT = [
    b'{"index":0,"id":"call_abc","type":"function"}',  # OpenAI tool-call id
    b'{"type":"tool_use","id":"toolu_01A","name":"f"}',  # Anthropic tool-call id
    b'{"type":"server_tool_use","id":"srvtoolu_01A"}',  # Anthropic server tool id
    b'{"id":"","object":"chat.completion.chunk"}',  # Azure's empty first id
    b'{"tool_call_id":"x","call_id":"y","id":null}',  # other keys; a null id
    b'"partial_json":"{\\"id\\": \\"abc\\", \\"created\\": 5}"',  # JSON inside a string
    b'"created":"yesterday","system_fingerprint":null',  # not a number; null
    b"# openai-processing-ms: 112\n# x-ratelimit-remaining-requests: 9\n",
    b"data: date: 2025\n",  # not at the start of a line
]


@pytest.mark.parametrize(("data", "expected"), MASKED)
def test_mask_rule(data: bytes, expected: bytes) -> None:
    """Each masking rule replaces the volatile value with its placeholder."""
    assert mask(data) == expected


@pytest.mark.parametrize("data", KEPT)
def test_mask_keeps(data: bytes) -> None:
    """Tool-call ids, empty ids, other keys and escaped JSON are left alone."""
    assert mask(data) == data


_FRAGMENTS = st.sampled_from(
    [
        *(data for data, _ in MASKED),
        *KEPT,
        b'"id":"',
        b'"created":',
        b"\\",
        b'"',
        b"\r\n",
        b"\n",
        b"# ",
        b"\xff",
        b"12",
        b"<id>",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=12).map(b"".join))
def test_mask_is_idempotent(data: bytes) -> None:
    """Masking masked data changes nothing, whatever the values and their lengths."""
    once = mask(data)
    assert mask(once) == once


def test_mask_is_idempotent_on_the_library() -> None:
    """Every built-in scenario's renderings are stable under a second mask."""
    for scenario in load_scenarios():
        for kind in harness.mock.golden.KINDS:
            once = mask(render(scenario, kind))
            assert mask(once) == once, scenario.name


# --- rendering --------------------------------------------------------------------

CUT = """
version: 1
provider: anthropic
headers: {request-id: req_1, x-note: kept}
delay_ms: 10
events:
  - {event: message_start, data: {type: message_start, message: {id: msg_1, model: m, usage: {input_tokens: 3, output_tokens: 1}}}}
  - {event: content_block_delta, data: {type: content_block_delta, index: 0, delta: {type: text_delta, text: "Hi"}}}
  - {sleep_ms: 5}
  - {raw_b64: "ZGF0YTog4oI="}
  - {disconnect: true}
"""  # noqa: E501

CUT_RAW = (
    "# harness golden · t/cut · raw (anthropic route)\n"
    "# answer 1 of 1: HTTP 200, 3 writes, pauses 25 ms, ends: disconnect (no terminating chunk)\n"
    "# content-type: text/event-stream; charset=utf-8\n"
    "# cache-control: no-cache\n"
    "# request-id: req_1\n"
    "# x-note: kept\n"
    "\n"
    "event: message_start\n"
    'data: {"type":"message_start","message":{"id":"msg_1","model":"m",'
    '"usage":{"input_tokens":3,"output_tokens":1}}}\n'
    "\n"
    "event: content_block_delta\n"
    'data: {"type":"content_block_delta","index":0,'
    '"delta":{"type":"text_delta","text":"Hi"}}\n'
    "\n"
).encode() + (
    b"data: \xe2\x82\n"  # half a character, then the connection is cut
    b"# \\ body ends without LF (the LF before this line is not part of it)\n"
)

CUT_OPENAI_MASKED = (
    "# harness golden · t/cut · openai (openai route, normalized)\n"
    "# answer 1 of 1: HTTP 200, 3 writes, pauses 25 ms, ends: complete\n"
    "# content-type: text/event-stream; charset=utf-8\n"
    "# cache-control: no-cache\n"
    "# request-id: <masked>\n"
    "# x-note: kept\n"
    "\n"
    'data: {"id":"<id>","object":"chat.completion.chunk","created":<created>,"model":"m",'
    '"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
    '"logprobs":null,"finish_reason":null}]}\n'
    "\n"
    'data: {"id":"<id>","object":"chat.completion.chunk","created":<created>,"model":"m",'
    '"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}\n'
    "\n"
    'data: {"error":{"type":"stream_error","code":"connection_closed","message":'
    '"the stream ended before message_stop: the response is incomplete '
    '(it stopped in the middle of an event)","provider":"anthropic"}}\n'
    "\n"
).encode()


def test_render_raw_exact() -> None:
    """The raw golden: header block, then the body bytes exactly (invalid UTF-8 kept)."""
    assert render(parse_scenario(CUT, name="t/cut"), "raw") == CUT_RAW


def test_render_openai_exact() -> None:
    """The openai golden is the pipeline's output: the cut becomes a stream_error chunk."""
    assert mask(render(parse_scenario(CUT, name="t/cut"), "openai")) == CUT_OPENAI_MASKED


def test_render_sequence_and_unservable_answer() -> None:
    """Each answer gets its block; one the route cannot serve is a comment, not a crash."""
    scenario = parse_scenario(
        "version: 1\nprovider: gemini\nresponses:\n"
        "  - {status: 503, body: {error: {code: 503, message: busy, status: UNAVAILABLE}}}\n"
        "  - {body: {candidates: []}}\n",
        name="t/body",
    )
    raw = render(scenario, "raw").decode()
    assert "# answer 1 of 2: HTTP 503, whole body, ends: complete\n" in raw
    assert "\n# answer 2 of 2: HTTP 200, whole body, ends: complete\n" in raw
    assert '\n{"candidates":[]}\n# \\ body ends without LF' in raw
    openai = render(scenario, "openai").decode()
    assert '"code":"service_unavailable"' in openai  # the error, in OpenAI's shape
    assert openai.endswith(
        "# answer 2 of 2\n# not servable on this route: scenario 't/body' answers with a "
        "whole gemini body; the openai route cannot translate it (only streams are "
        "normalized)\n\n"
    )


def test_render_faults_and_crlf() -> None:
    """A scenario's faults are applied and listed; CRLF bodies are kept byte for byte."""
    scenario = parse_scenario(
        "version: 1\nprovider: openai\nnewline: crlf\nfaults: {disconnect_after: 1}\n"
        "events:\n  - {data: {a: 1}}\n  - {data: {b: 2}}\n",
        name="t/crlf",
    )
    raw = render(scenario, "raw")
    assert b"# faults: disconnect_after=1\n" in raw
    assert b"1 write, ends: disconnect (no terminating chunk)\n" in raw
    assert raw.endswith(b'\n\ndata: {"a":1}\r\n\r\n')
    with pytest.raises(ValueError, match="unknown golden kind"):
        render(scenario, "gemini")  # type: ignore[arg-type]


def test_golden_path() -> None:
    """Names with '/' land in subfolders; names that are not scenario names are refused."""
    assert golden_path(Path("g"), "anthropic/text", "raw") == Path("g/anthropic/text.raw.sse")
    assert golden_path(Path("g"), "x", "openai") == Path("g/x.openai.sse")
    for bad in ("../x", "/abs", "a//b", ".hidden"):
        with pytest.raises(ValueError, match="not a valid scenario name") as info:
            golden_path(Path("g"), bad, "raw")
        assert isinstance(info.value, UsageError)  # a HarnessError that is a ValueError too


# --- atomic writes ----------------------------------------------------------------


def test_write_atomic_writes_and_leaves_no_temp_file(tmp_path: Path) -> None:
    """The file gets the bytes, parents are created, and nothing else is left behind."""
    path = tmp_path / "a" / "b" / "x.raw.sse"
    write_atomic(path, b"one\r\n\xff")
    assert path.read_bytes() == b"one\r\n\xff"
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert os.listdir(path.parent) == ["x.raw.sse"]


def test_write_atomic_interrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that fails before the rename leaves the old file intact and no temp file."""
    path = tmp_path / "x.raw.sse"
    path.write_bytes(b"original")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError("interrupted")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="interrupted"):
        write_atomic(path, b"new content")
    assert path.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["x.raw.sse"]


# --- assert_golden and diffs ------------------------------------------------------


def test_assert_golden_missing(tmp_path: Path) -> None:
    """A missing golden fails, names the file and says how to create it; nothing is written."""
    path = tmp_path / "x.raw.sse"
    with pytest.raises(GoldenMismatch, match="--update") as info:
        assert_golden(b"data", path)
    assert info.value.path == path
    assert str(path) in str(info.value)
    assert not path.exists()


def test_assert_golden_mismatch_has_a_diff(tmp_path: Path) -> None:
    """A different golden fails with a unified diff from the file to the actual data."""
    path = tmp_path / "x.raw.sse"
    path.write_bytes(b"same\nold line\n")
    with pytest.raises(GoldenMismatch) as info:
        assert_golden(b"same\nnew line\n", path)
    diff = info.value.diff
    assert diff.startswith(f"--- {path}\n+++ actual\n")
    assert "\n-old line\n+new line\n" in diff
    assert diff in str(info.value)
    assert "\x1b[" not in diff
    assert path.read_bytes() == b"same\nold line\n"


def test_assert_golden_compares_masked(tmp_path: Path) -> None:
    """Volatile values differ between runs without failing the comparison."""
    path = tmp_path / "x.raw.sse"
    path.write_bytes(b'{"id":"chatcmpl-1","created":1}\n')
    assert_golden(b'{"id":"chatcmpl-2","created":2}\n', path)


def test_assert_golden_update_writes_masked(tmp_path: Path) -> None:
    """With update, a missing or different golden is written, masked."""
    path = tmp_path / "sub" / "x.raw.sse"
    assert_golden(b'{"id":"msg_1"}\n', path, update=True)
    assert path.read_bytes() == b'{"id":"<id>"}\n'
    assert_golden(b'{"id":"msg_1","more":1}\n', path, update=True)
    assert path.read_bytes() == b'{"id":"<id>","more":1}\n'
    assert_golden(b'{"id":"msg_9","more":1}\n', path)


def test_assert_golden_update_leaves_identical_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Updating with identical content does not rewrite the file (same inode and mtime)."""
    path = tmp_path / "x.raw.sse"
    path.write_bytes(b'{"id":"<id>"}\n')
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.stat()
    assert_golden(b'{"id":"msg_1"}\n', path, update=True)
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_diff_shows_cr_and_invalid_bytes() -> None:
    """CRLF, lone CR and bytes that are not UTF-8 are visible in a diff."""
    crlf = diff_bytes(b"a\nb\n", b"a\r\nb\n", fromfile="g", tofile="actual")
    assert "\n-a\n+a\\r\n" in crlf
    lone = diff_bytes(b"a\r\nb", b"a\rb", fromfile="g", tofile="actual")
    assert "\n-a\\r\n+a\\r (no LF)\n" in lone
    invalid = diff_bytes(b"x\xe2\x82\xac\n", b"x\xe2\x82\n", fromfile="g", tofile="actual")
    assert "\n+x\\xe2\\x82\n" in invalid
    assert diff_bytes(b"same", b"same", fromfile="g", tofile="actual") == ""


def test_diff_when_the_text_view_is_the_same() -> None:
    """Bytes that render alike (a literal backslash-x vs a raw byte) still get a report."""
    diff = diff_bytes(b"\\xff", b"\xff", fromfile="g", tofile="actual")
    assert "the bytes differ at offset 0" in diff


# --- check() on a scenario folder -------------------------------------------------

SCENARIO = """version: 1
provider: openai
headers: {x-request-id: req_1}
events:
  - {data: {id: chatcmpl-1, created: 1, model: m, choices: [{index: 0, delta: {content: "%s"}}]}}
  - {data: "[DONE]"}
"""


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    (folder / "p").mkdir(parents=True)
    (folder / "p" / "one.yaml").write_text(SCENARIO % "one")
    (folder / "two.yaml").write_text(SCENARIO % "two")
    return folder


def test_check_reports_missing_unused_and_mismatch(tmp_path: Path) -> None:
    """check() finds missing goldens, unused ones and mismatches; update writes, never deletes."""
    scenarios = load_scenarios(_folder(tmp_path))
    goldens = tmp_path / "goldens"
    report = check(scenarios, goldens)
    assert report.checked == 8
    assert report.missing == [
        goldens / "p/one.raw.sse",
        goldens / "p/one.openai.sse",
        goldens / "p/one.responses.sse",
        goldens / "p/one.converse.sse",
        goldens / "two.raw.sse",
        goldens / "two.openai.sse",
        goldens / "two.responses.sse",
        goldens / "two.converse.sse",
    ]
    assert not report.ok
    assert not goldens.exists()

    written = check(scenarios, goldens, update=True)
    assert (len(written.written), written.ok) == (8, True)
    assert check(scenarios, goldens).ok

    stale = goldens / "old" / "gone.raw.sse"
    stale.parent.mkdir()
    stale.write_bytes(b"x")
    (goldens / "notes.txt").write_text("not a golden")
    (goldens / "two.openai.sse").write_bytes(b"changed\n")
    report = check(scenarios, goldens)
    assert report.unused == [stale] == unused_goldens(scenarios, goldens)
    (mismatch,) = report.mismatches
    assert (mismatch.scenario, mismatch.kind, mismatch.path) == (
        "two",
        "openai",
        goldens / "two.openai.sse",
    )
    assert "+++ actual" in mismatch.diff
    assert "-changed" in mismatch.diff
    assert not report.ok

    updated = check(scenarios, goldens, update=True)
    assert updated.written == [goldens / "two.openai.sse"]
    assert updated.unused == [stale]
    assert stale.exists()


@pytest.mark.parametrize("reader", ["stdlib", "orjson"])
def test_committed_goldens_match_the_library(reader: str) -> None:
    """tests/golden holds exactly the goldens of the built-in library, and they match,
    byte for byte, whichever JSON reader harness uses (orjson, from harness[fast], when
    installed; the standard library's otherwise)."""
    from harness import _json

    if reader == "orjson" and _json.accelerated() is None:
        pytest.skip("orjson is not installed (pip install 'harness[fast]')")
    try:
        _json.accelerated(reader == "orjson")
        report = check(load_scenarios(), GOLDENS)
    finally:
        _json.accelerated(True)
    problems = [m.diff or m.message for m in report.mismatches]
    problems += [f"missing: {p}" for p in report.missing]
    problems += [f"unused: {p}" for p in report.unused]
    assert report.ok, "\n".join(problems)
    assert report.checked == len(KINDS) * len(load_scenarios())
    # The console draws the same routes the goldens hold (one table, in replay).
    assert ("raw", *NORMALIZED_ROUTES) == KINDS


# --- harness check ----------------------------------------------------------------


def _harness(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return subprocess.run(
        [sys.executable, "-m", "harness", "check", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_command_catches_a_changed_byte(tmp_path: Path) -> None:
    """One changed byte fails `harness check` with a diff; --update fixes it."""
    goldens = tmp_path / "golden"
    shutil.copytree(GOLDENS, goldens)
    target = goldens / "openai" / "text.raw.sse"
    data = target.read_bytes()
    assert data.count(b'"Hello"') == 1
    target.write_bytes(data.replace(b'"Hello"', b'"Jello"'))

    failed = _harness("--goldens", str(goldens))
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"MISMATCH openai/text (raw): {target}" in failed.stdout
    assert f"--- {target}\n+++ actual\n" in failed.stdout
    assert '\n-data: {"id":"<id>"' in failed.stdout
    assert '"Jello"' in failed.stdout
    assert '\n+data: {"id":"<id>"' in failed.stdout
    assert "1 mismatched" in failed.stdout
    assert "\x1b[" not in failed.stdout  # not a terminal: no color

    fixed = _harness("--goldens", str(goldens), "--update")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"WROTE    {target}" in fixed.stdout
    assert "1 written" in fixed.stdout
    assert target.read_bytes() == data

    again = _harness("--goldens", str(goldens))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 mismatched, 0 missing, 0 unused" in again.stdout


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_check_unused_fails_unless_warn_unused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A golden no scenario uses fails the check, or only warns with --warn-unused."""
    folder = _folder(tmp_path)
    goldens = tmp_path / "goldens"
    args = ["--scenarios", str(folder), "--goldens", str(goldens)]
    assert _main([*args, "--update"], capsys)[0] == 0
    extra = goldens / "extra.raw.sse"
    extra.write_bytes(b"stale\n")

    code, out, _ = _main(args, capsys)
    assert code == 1
    assert f"UNUSED   {extra}" in out

    code, out, _ = _main([*args, "--warn-unused"], capsys)
    assert code == 0
    assert f"UNUSED (warning) {extra}" in out

    code, out, _ = _main([*args, "--update"], capsys)
    assert code == 1
    assert extra.exists()


def test_check_missing_golden_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing golden is reported and fails; nothing is written without --update."""
    folder = _folder(tmp_path)
    goldens = tmp_path / "goldens"
    goldens.mkdir()
    code, out, _ = _main(["--scenarios", str(folder), "--goldens", str(goldens)], capsys)
    assert code == 1
    assert f"MISSING  {goldens / 'two.raw.sse'}" in out
    assert list(goldens.iterdir()) == []


def test_check_unusable_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 for a goldens path that is a file, a missing folder, or missing scenarios."""
    afile = tmp_path / "file"
    afile.write_text("x")
    code, _, err = _main(["--goldens", str(afile)], capsys)
    assert code == 2
    assert "not a folder" in err
    monkeypatch.chdir(tmp_path)  # the default, tests/golden, does not exist here
    code, _, err = _main([], capsys)
    assert code == 2
    assert "no goldens folder tests/golden" in err
    code, _, err = _main(["--scenarios", str(tmp_path / "none"), "--update"], capsys)
    assert code == 2
    assert "no such scenarios folder" in err
    assert not (tmp_path / "tests").exists()


def test_check_broken_scenarios_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario folder with a broken file is reported with exit 1."""
    folder = _folder(tmp_path)
    (folder / "bad.yaml").write_text("version: 2\nprovider: openai\n")
    code, _, err = _main(["--scenarios", str(folder), "--goldens", str(tmp_path)], capsys)
    assert code == 1
    assert "bad.yaml" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("no_color", "colored"), [(None, True), ("1", False)])
def test_check_color_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_color: str | None, colored: bool
) -> None:
    """The diff is colored on a terminal, and not when NO_COLOR is set."""
    folder = _folder(tmp_path)
    goldens = tmp_path / "goldens"
    args = ["check", "--scenarios", str(folder), "--goldens", str(goldens)]
    assert main([*args, "--update"]) == 0
    (goldens / "two.raw.sse").write_bytes(b"changed\n")
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    assert main(args) == 1
    out = terminal.getvalue()
    assert ("\x1b[31m-changed\x1b[0m" in out) is colored
    assert ("\x1b[" in out) is colored
    assert "-changed" in out


def test_check_unreadable_golden_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A golden path that cannot be read (here a folder) is reported with exit 1."""
    folder = _folder(tmp_path)
    goldens = tmp_path / "goldens"
    (goldens / "two.raw.sse").mkdir(parents=True)
    code, _, err = _main(["--scenarios", str(folder), "--goldens", str(goldens)], capsys)
    assert code == 1
    assert "two.raw.sse" in err
