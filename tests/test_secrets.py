"""harness.secrets: header/URI filtering, the secret scanner, and `harness scan`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.secrets import (
    DEFAULT_HEADERS,
    DEFAULT_QUERY,
    MIN_SECRET_LENGTH,
    Finding,
    filter_headers,
    filter_uri,
    is_placeholder,
    iter_files,
    mask,
    scan_file,
    scan_paths,
    scan_text,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "secrets_corpus"

# Fake keys, correctly shaped, with HARNESSFAKE in the random part (see the corpus README).
OPENAI_PROJ = "sk-proj-HARNESSFAKEhDAEYqL62pBum9BIy2ewA5s02KGvdiP4TLqi58G5tLSJe44PPxqcALK3nDdL"
OPENAI_LEGACY = "sk-HARNESSFAKEhDAEYqL62pBum9BIy2ewA5s02KGvdiP4TLqi"
OPENAI_ADMIN = "sk-admin-HARNESSFAKE1EqtnfrioO2Mvz8dAOsjOsgquBXbenoyMAERIm7uf3B7Zo"
ANTHROPIC = (
    "sk-ant-api03-HARNESSFAKEY1yljevS7J1yAq9UvWnlyHqlRoyLJj1NYDNuFfxzJZ47md2zrvCtDOh80aVcrF"
    "icffGD0JAA"
)
GOOGLE = "AIzaSyHARNESSFAKEwZ9gcSJogk3RhlyJsL9OH5"
GOOGLE_OAUTH = "ya29.HARNESSFAKEnqNQ7tzNReJsXxXCwGA5tLRKnFCPr1DPXuLu7XNejtOmkT5QLoI5fvQmS3Bo"
AWS = "AKIAHARNESSFAKEB4ZO6"
GITHUB = "ghp_HARNESSFAKEHTlybVdVEq8tR2tm6MVTtfZ6F"
OPAQUE = "HARNESSFAKEE1UIMZAFhuJ59cLcFOPSP6kO7JsbAUolpBGyuGp2"

#: What scan_paths must find in tests/secrets_corpus: (file, line, kind), exactly.
PLANTED = {
    ("leaky/cassette.yaml", 9, "openai-key"),  # Authorization: - Bearer sk-proj-…
    ("leaky/cassette.yaml", 21, "cookie"),  # Set-Cookie: - __cf_bm=…
    ("leaky/cassette.yaml", 22, "cookie"),  # second Set-Cookie item: _cfuvid=…
    ("leaky/cassette.yaml", 31, "anthropic-key"),  # x-api-key: [sk-ant-api03-…]
    ("leaky/config.json", 4, "api-key-field"),  # "api_key": "…"
    ("leaky/gemini.yaml", 8, "google-api-key"),  # uri: …?alt=sse&key=AIza…
    ("leaky/gemini.yaml", 18, "google-api-key"),  # x-goog-api-key: - AIza…
    ("leaky/gemini.yaml", 20, "query-param"),  # uri: …&api_key=…
    ("leaky/latin1.txt", 2, "openai-key"),  # legacy sk-… in a non-UTF-8 file
    ("leaky/notes.md", 3, "anthropic-key"),  # sk-ant-admin01-…
    ("leaky/notes.md", 4, "openai-key"),  # sk-svcacct-…
    ("leaky/notes.md", 5, "google-oauth-token"),  # ya29.…
    ("leaky/notes.md", 6, "aws-access-key"),  # AKIA…
    ("leaky/notes.md", 7, "github-token"),  # ghp_…
    ("leaky/notes.md", 8, "cookie"),  # cookie: session=…
    ("leaky/notes.md", 9, "auth-header"),  # x-api-key: <opaque>
    ("leaky/scenario.yaml", 6, "openai-key"),  # sk-proj-… echoed in an error body
    ("leaky/stream.sse", 1, "bearer-token"),  # a comment line with Bearer <opaque>
}


def _relative(findings: list[Finding]) -> set[tuple[str, int, str]]:
    return {(Path(f.path).relative_to(CORPUS).as_posix(), f.line, f.kind) for f in findings}


# --- filter_headers -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFAULT_HEADERS))
def test_filter_headers_drops_each_default_case_blind(name: str) -> None:
    """Every default header is dropped whatever the case of its name."""
    variants = {name: "a", name.upper(): "b", name.title(): ["c"], "Content-Type": "json"}
    assert filter_headers(variants) == {"Content-Type": ["json"]}


def test_default_headers_cover_credentials_and_account_ids() -> None:
    """The defaults hold the credential headers and the documented org/project ids."""
    assert {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-amz-security-token",
        "cookie",
        "set-cookie",
        "openai-organization",
        "openai-project",
        "anthropic-organization-id",
    } <= DEFAULT_HEADERS
    assert all(name == name.lower() for name in DEFAULT_HEADERS | DEFAULT_QUERY)


def test_filter_headers_extra_names() -> None:
    """Extra names are dropped case-blind too; a single string is one name, not letters."""
    headers = {"X-Custom-Secret": "s", "X-Trace": "t", "a": "kept"}
    assert filter_headers(headers, extra=["x-custom-SECRET", "X-TRACE"]) == {"a": ["kept"]}
    assert filter_headers(headers, extra="x-trace") == {"X-Custom-Secret": ["s"], "a": ["kept"]}


def test_filter_headers_keeps_others_as_given_with_list_values() -> None:
    """Other headers keep their name, order and values; a str value becomes a list, copied."""
    values = ["text/event-stream", "x"]
    headers: dict[str, str | list[str]] = {
        "Content-Type": values,
        "Authorization": "Bearer x",
        "OpenAI-Processing-MS": "112",
        "retry-after": [],
    }
    out = filter_headers(headers)
    assert list(out.items()) == [
        ("Content-Type", ["text/event-stream", "x"]),
        ("OpenAI-Processing-MS", ["112"]),
        ("retry-after", []),
    ]
    assert out["Content-Type"] is not values
    assert headers["Authorization"] == "Bearer x"  # the input is left alone


# --- filter_uri ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            f"https://generativelanguage.googleapis.com/v1beta/models/m:streamGenerateContent"
            f"?alt=sse&key={GOOGLE}",
            "https://generativelanguage.googleapis.com/v1beta/models/m:streamGenerateContent"
            "?alt=sse",
        ),
        ("https://x.test/p?key=1", "https://x.test/p"),
        (
            "https://x.test/p?a=1&api_key=2&b=3&token=4&api-key=5&access_token=6&c",
            "https://x.test/p?a=1&b=3&c",
        ),
        ("https://x.test/p?z=1&y=2&key=3&x=4", "https://x.test/p?z=1&y=2&x=4"),
        ("https://x.test/p?a=1&key=2#key=3", "https://x.test/p?a=1#key=3"),
        ("https://x.test/p?key=2#frag", "https://x.test/p#frag"),
        (
            "https://x.test/p?q=a%26key%3Db&access_token=xyz&r=%E2%9C%93+ok",
            "https://x.test/p?q=a%26key%3Db&r=%E2%9C%93+ok",
        ),
        ("https://x.test/p?api%5Fkey=1&API-KEY=2&Key=3&x=%20", "https://x.test/p?x=%20"),
        ("https://x.test/p?key&x=1", "https://x.test/p?x=1"),
    ],
)
def test_filter_uri_drops_secret_params(uri: str, expected: str) -> None:
    """Secret parameters go (names decoded, case-blind); the rest stay as written, in order."""
    assert filter_uri(uri) == expected


@pytest.mark.parametrize(
    "uri",
    [
        "https://x.test/p",
        "https://x.test/p?",
        "https://x.test/p#key=1",
        "https://x.test/p?a=1&b=%2F#frag",
        "https://x.test/p?monkey=1&keys=2&key_id=3&page_token=4&tokens=5",
        "/v1/chat/completions",
    ],
)
def test_filter_uri_unchanged_without_secret_params(uri: str) -> None:
    """A URI without a secret parameter (or without a query) is returned unchanged."""
    assert filter_uri(uri) == uri


def test_filter_uri_extra_names() -> None:
    """Extra parameter names are dropped too, case-blind; a single string is one name."""
    uri = "https://x.test/p?sig=abc&Signature=def&a=1"
    assert filter_uri(uri, extra=["SIG", "signature"]) == "https://x.test/p?a=1"
    assert filter_uri(uri, extra="sig") == "https://x.test/p?Signature=def&a=1"


# --- scan_text ----------------------------------------------------------------------

POSITIVES = [
    (f"Authorization: Bearer {OPENAI_PROJ}", "openai-key", OPENAI_PROJ),
    (f"OPENAI_API_KEY={OPENAI_LEGACY}", "openai-key", OPENAI_LEGACY),
    (f"admin: {OPENAI_ADMIN}", "openai-key", OPENAI_ADMIN),
    (f'{{"x-api-key": "{ANTHROPIC}"}}', "anthropic-key", ANTHROPIC),
    (f"uri: https://g.test/v1beta/models?key={GOOGLE}", "google-api-key", GOOGLE),
    (f"token {GOOGLE_OAUTH}", "google-oauth-token", GOOGLE_OAUTH),
    (f"aws_access_key_id = {AWS}", "aws-access-key", AWS),
    (f"GITHUB_TOKEN={GITHUB}", "github-token", GITHUB),
    (f'data: {{"note": "sent with bearer {OPAQUE}"}}', "bearer-token", OPAQUE),
    (f"authorization: [Token {OPAQUE}]", "auth-header", OPAQUE),
    (f"      api-key:\n      - {OPAQUE}", "auth-header", OPAQUE),
    (f"proxy-authorization: 'Basic {OPAQUE}'", "auth-header", OPAQUE),
    (f'body: "{{\\"x-api-key\\": \\"{OPAQUE}\\"}}"', "auth-header", OPAQUE),
    (f"x-api-key: ['***', \"\", {OPAQUE} ]", "auth-header", OPAQUE),
    (f"X-Amz-Security-Token:\n- {OPAQUE}", "auth-header", OPAQUE),  # an AWS session token
    (f"set-cookie: __cf_bm={OPAQUE}; path=/; HttpOnly", "cookie", OPAQUE),
    (f'"Cookie": "theme=dark; sid={OPAQUE}"', "cookie", OPAQUE),
    (f"GET https://x.test/v1/models?token={OPAQUE}&x=1", "query-param", OPAQUE),
    (f'{{"api_key": "{OPAQUE}"}}', "api-key-field", OPAQUE),
    (f"client = OpenAI(api_key='{OPAQUE}')", "api-key-field", OPAQUE),
    (f"client_secret: {OPAQUE}", "api-key-field", OPAQUE),
    (f'body: "{{\\"access_token\\": \\"{OPAQUE}\\"}}"', "api-key-field", OPAQUE),
]


@pytest.mark.parametrize(("text", "kind", "secret"), POSITIVES)
def test_scan_text_finds_each_kind(text: str, kind: str, secret: str) -> None:
    """Each pattern finds its secret once, on the right line, masked in the excerpt."""
    findings = scan_text(text, "f.yaml")
    assert [(f.path, f.line, f.kind) for f in findings] == [("f.yaml", text.count("\n") + 1, kind)]
    excerpt = findings[0].excerpt
    assert excerpt.endswith(mask(secret))
    assert secret not in excerpt
    assert secret[4:8] not in excerpt


PLACEHOLDERS = [
    'client = openai.OpenAI(api_key="unused")',
    "export OPENAI_API_KEY=sk-...",
    "OPENAI_API_KEY=sk-test",
    "sk-proj-...",
    "sk-ant-api03-...",
    "sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "sk-proj-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
    "sk-proj-abc123def456ghi789jkl0…",
    "sk-proj-abc123def456ghi789jkl0...",
    "sk-learn-style-something-long-and-lowercase",
    "Authorization: Bearer ***",
    "Authorization: Bearer <masked>",
    "Authorization: Bearer $OPENAI_API_KEY",
    "Authorization: Bearer ${OPENAI_API_KEY}",
    "Authorization: Bearer YOUR_API_KEY_GOES_HERE",
    "authorization: FILTERED",
    "authorization: [REDACTED-BY-HARNESS-0001]",
    "authorization:\n- Bearer ***\n- '<masked>'",
    "x-api-key: {{ANTHROPIC_API_KEY}}",
    "x-goog-api-key: ['***']",
    "api-key: []",
    "set-cookie: __cf_bm=FILTERED; path=/",
    "cookie: theme=dark; lang=en",
    "AKIAIOSFODNN7EXAMPLE",
    "AKIA0000000000000000",
    "https://x.test/?key=short&token=***&api_key=%3Cmasked%3E",
    '"api_key": "00000000000000000000"',
    '"access_token": "this-is-not-a-real-token"',
    '"api_key": "PLACEHOLDER_Abc123_Def456"',
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "Bearer authentication (RFC 6750) sends the Authorization header.",
    '{"id": "chatcmpl-harness0001", "system_fingerprint": "fp_harness01"}',
    '{"id": "msg_01HarnessText000000000001", "tool_use_id": "toolu_01HarnessToolUse0000000001"}',
    '{"id": "call_harness0001abcdefghij", "signature": "aGFybmVzcy1mYWtlLXNpZ25hdHVyZQ=="}',
    "anthropic-organization-id: 00000000-0000-4000-8000-harness00000",
    "openai-organization: org-HarnessFake000000000000",
    '"api_key": "Hx7kQ2mZ9pL4vR8"',  # 15 characters: one short of MIN_SECRET_LENGTH
    '"api_key": "aAbB12aAbB12aAbB12aAbB12"',  # 2.6 bits per character
    "set-cookie: theme=dark; domain=Api0Gateway1Harness2Test3.internal; path=/",
]


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_scan_text_ignores_placeholders(text: str) -> None:
    """Masked values, templates, short or low-entropy values and fake ids are not findings."""
    assert scan_text(text) == []


def test_overlapping_patterns_give_one_finding() -> None:
    """A key in an authorization header is reported once, as the most specific kind."""
    text = f"headers:\n  Authorization:\n  - Bearer {ANTHROPIC}\n"
    assert scan_text(text) == [Finding("<text>", 3, "anthropic-key", "sk-a…")]


def test_two_secrets_on_one_line_are_two_findings() -> None:
    """Separate secrets on one line are each reported, in order of position."""
    text = f'{{"authorization": "Bearer {OPAQUE}", "x-api-key": "{GOOGLE}", "a": "b"}}'
    findings = scan_text(text)
    assert [(f.line, f.kind) for f in findings] == [(1, "bearer-token"), (1, "google-api-key")]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_numbers_with_any_line_end(newline: str) -> None:
    """Lines are counted the same with LF, CRLF and lone CR line ends."""
    text = newline.join(["a: 1", "", f"b: {GITHUB}", "c: 2", f"data: Bearer {OPAQUE}", ""])
    assert [(f.line, f.kind) for f in scan_text(text)] == [(3, "github-token"), (5, "bearer-token")]


def test_block_list_items_each_reported_on_their_line() -> None:
    """vcrpy's block lists: every item under a secret header is checked, on its own line."""
    text = "\n".join(
        [
            "    headers:",
            "      Set-Cookie:",
            f"      - a={OPAQUE}; path=/",
            "      - theme=dark; path=/",
            f"      - b=Z{OPAQUE}; path=/",
            "      User-Agent:",
            f"      - {OPAQUE}",
        ]
    )
    assert [(f.line, f.kind) for f in scan_text(text)] == [(3, "cookie"), (5, "cookie")]


def test_bearer_token_folded_onto_the_next_line() -> None:
    """A bearer token that YAML folded onto the next line is still found there."""
    text = f"body: 'the header was Bearer\n  {OPAQUE} and more'"
    assert [(f.line, f.kind) for f in scan_text(text)] == [(2, "bearer-token")]


def test_is_placeholder_rules() -> None:
    """Each placeholder rule on its own: length, marks, words, entropy, character classes."""
    real = "HarnessFake0123456789"
    assert not is_placeholder(real)
    assert MIN_SECRET_LENGTH == 16
    assert (is_placeholder(real[:15]), is_placeholder(real[:16])) == (True, False)
    assert is_placeholder(real[: MIN_SECRET_LENGTH - 1])
    assert not is_placeholder(real[:MIN_SECRET_LENGTH])
    for mark in ("*", "…", "...", "<", ">", "{", "}", "$"):
        assert is_placeholder(real + mark), mark
    for word in ("FILTERED", "Redacted", "masked", "PLACEHOLDER", "example", "dummy", "your_"):
        assert is_placeholder(real + word), word
    assert is_placeholder("Ab1" + "z" * 30)  # entropy far under MIN_ENTROPY
    assert is_placeholder("abcdefghijklmnopqrstu")  # one character class
    assert is_placeholder("ABCDEFGHIJKLMNOPQRSTU")
    assert not is_placeholder("ABCDEFGHIJKLMNOPQRSTU", mixed=False)


def test_mask_shows_four_characters() -> None:
    """mask keeps the first four characters and an ellipsis."""
    assert mask(OPENAI_PROJ) == "sk-p…"


# --- scan_paths ---------------------------------------------------------------------


def test_corpus_every_planted_secret_is_found() -> None:
    """scan_paths finds exactly the planted secrets: every one, and nothing else."""
    findings = scan_paths([CORPUS])
    assert _relative(findings) == PLANTED
    assert len(findings) == len(PLANTED)
    assert all("HARNESSFAKE" not in f.excerpt for f in findings)


def test_corpus_clean_folder_has_no_findings() -> None:
    """The clean corpus (placeholders, masked cassette, fake ids) gives no finding."""
    files = list(iter_files([CORPUS / "clean"]))
    assert len(files) == 4
    assert scan_paths([CORPUS / "clean"]) == []


def test_builtin_library_and_goldens_have_no_false_alarm() -> None:
    """The built-in scenarios and the golden files give zero findings."""
    paths = [ROOT / "scenarios", ROOT / "tests" / "golden"]
    assert len(list(iter_files(paths))) > 100
    assert scan_paths(paths) == []


def test_iter_files_walks_folders_by_suffix_and_takes_named_files(tmp_path: Path) -> None:
    """Folders: scanned suffixes only, sorted, hidden folders skipped; named files: always."""
    for name in ("b.yaml", "a.JSON", "c.sse", "d.txt", "e.md", "f.yml", "g.png", "h.py"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "z.yaml").write_text("x")
    names = [p.relative_to(tmp_path).as_posix() for p in iter_files([tmp_path])]
    assert names == ["a.JSON", "b.yaml", "c.sse", "d.txt", "e.md", "f.yml", "sub/z.yaml"]
    named = list(
        iter_files([tmp_path / "g.png", tmp_path / "b.yaml", tmp_path, tmp_path / "g.png"])
    )
    assert [p.name for p in named[:2]] == ["g.png", "b.yaml"]
    assert len(named) == 8  # each file once


def test_binary_and_unreadable_files(tmp_path: Path) -> None:
    """A binary file is still scanned; a file that cannot be read is a finding at line 0."""
    (tmp_path / "blob.json").write_bytes(b"\x00\xff\xfe\x00\n" + AWS.encode() + b"\x00\n")
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "missing.yaml")
    findings = scan_paths([tmp_path])
    assert [(Path(f.path).name, f.line, f.kind) for f in findings] == [
        ("blob.json", 2, "aws-access-key"),
        ("dangling.yaml", 0, "unreadable"),
    ]
    assert findings[1].excerpt  # the reason
    assert scan_file(tmp_path) != []  # a folder is not a readable file


# --- harness scan -------------------------------------------------------------------


def _harness(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "scan", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )


def test_cli_scan_reports_findings_without_the_secrets() -> None:
    """`harness scan` exits 1, prints path:line: kind: excerpt per finding, never a secret."""
    result = _harness("tests/secrets_corpus/leaky")
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(PLANTED)
    assert "tests/secrets_corpus/leaky/cassette.yaml:9: openai-key: sk-p…" in lines
    assert "tests/secrets_corpus/leaky/notes.md:9: auth-header: x-api-key: HARN…" in lines
    output = result.stdout + result.stderr
    assert "HARNESSFAKE" not in output
    for secret in (OPENAI_PROJ, ANTHROPIC, GOOGLE, AWS, GITHUB):
        assert secret not in output
    assert f"{len(PLANTED)} possible secrets in 7 of 7 files" in result.stderr


def test_cli_scan_clean_folder_exits_zero() -> None:
    """`harness scan` on a clean folder exits 0 and prints no finding."""
    result = _harness("tests/secrets_corpus/clean", "scenarios")
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert "no secrets" in result.stderr


def test_cli_scan_missing_path_exits_two() -> None:
    """`harness scan` exits 2 on a path that does not exist, scanning nothing."""
    result = _harness("tests/secrets_corpus/leaky", "no/such/folder")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "no/such/folder" in result.stderr


def test_cli_scan_defaults_skip_missing_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without paths: cassettes/ and scenarios/ of the cwd, a missing one skipped; with
    nothing to scan at all, exit 2 (a CI gate run from the wrong folder must fail)."""
    monkeypatch.chdir(tmp_path)
    assert main(["scan"]) == 2  # neither folder: nothing to scan
    assert "nothing to scan" in capsys.readouterr().err
    (tmp_path / "cassettes").mkdir()
    assert main(["scan"]) == 2  # an empty folder: still nothing
    assert "no cassette or scenario files in cassettes" in capsys.readouterr().err
    assert main(["scan", "cassettes"]) == 2  # named, and empty
    capsys.readouterr()
    (tmp_path / "cassettes" / "openai.yaml").write_text(f"x-api-key: [{OPAQUE}]\n")
    assert main(["scan"]) == 1
    out, err = capsys.readouterr()
    assert out == "cassettes/openai.yaml:1: auth-header: x-api-key: HARN…\n"
    assert "1 possible secret in 1 of 1 file (cassettes)" in err  # not "1 files"
