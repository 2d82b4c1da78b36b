"""Secrets: what recording drops, and what ``harness scan`` finds.

Two halves, both plain functions on strings (stdlib only):

* Filtering, used by the recorder, the cassette writer and ``harness convert``
  before anything reaches a file: :func:`filter_headers` drops credential and
  account-identifier headers (:data:`DEFAULT_HEADERS`), :func:`filter_uri` drops
  credential query parameters (:data:`DEFAULT_QUERY`). Both take extra names
  (``harness record --filter-header/--filter-query``).
* Scanning, the safety net for CI: :func:`scan_text`, :func:`scan_paths` and the
  ``harness scan`` command (:func:`run_scan`) report anything in a cassette or a
  scenario that looks like a live credential: provider key formats (OpenAI,
  Anthropic, Google, AWS, GitHub), bearer tokens, credential headers, cookies,
  ``key=`` query parameters and ``"api_key"`` fields. Placeholders (``***``,
  ``<masked>``, ``FILTERED``, ``sk-...``, short or low-entropy values) are not
  findings: see :func:`is_placeholder`. A finding never shows the secret: its
  excerpt keeps the first four characters followed by ``…``.

``docs/secrets.md`` documents every list, pattern and rule here.
"""

from __future__ import annotations

import argparse
import bisect
import math
import os
import re
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_plus

from harness._credentials import DEFAULT_HEADERS, DEFAULT_QUERY
from harness._text import normalize_newlines, plural

__all__ = [
    "DEFAULT_HEADERS",
    "DEFAULT_QUERY",
    "DEFAULT_SCAN_PATHS",
    "MIN_ENTROPY",
    "MIN_SECRET_LENGTH",
    "SCAN_SUFFIXES",
    "Finding",
    "filter_headers",
    "filter_uri",
    "is_placeholder",
    "iter_files",
    "mask",
    "run_scan",
    "scan_file",
    "scan_paths",
    "scan_text",
]

# --- filtering ----------------------------------------------------------------------

# The names themselves live in harness._credentials, which the mock server reads to
# mask a request's credentials without importing the scanner below.


def _names(names: Iterable[str]) -> set[str]:
    if isinstance(names, str):  # one name passed on its own, not its characters
        names = (names,)
    return {name.strip().lower() for name in names}


def filter_headers(
    headers: Mapping[str, str | list[str]], extra: Iterable[str] = ()
) -> dict[str, list[str]]:
    """``headers`` without the secret ones, each value a list (vcrpy's cassette shape).

    A header is dropped when its name, compared case-blind, is in
    :data:`DEFAULT_HEADERS` or in ``extra``. The names kept are kept as given, in
    order; a ``str`` value becomes a one-item list, a list is copied.
    """
    drop = DEFAULT_HEADERS | _names(extra)
    out: dict[str, list[str]] = {}
    for name, value in headers.items():
        if name.strip().lower() in drop:
            continue
        out[name] = [value] if isinstance(value, str) else list(value)
    return out


def _param_name(param: str) -> str:
    return unquote_plus(param.partition("=")[0]).strip().lower()


def filter_uri(uri: str, extra: Iterable[str] = ()) -> str:
    """``uri`` without its secret query parameters.

    A parameter is dropped when its name, percent-decoded and compared case-blind, is
    in :data:`DEFAULT_QUERY` or in ``extra``. Every other parameter is kept byte for
    byte (no re-encoding), in order; the fragment is kept; a query left empty loses
    its ``?``. A URI with nothing to drop is returned unchanged.
    """
    drop = DEFAULT_QUERY | _names(extra)
    before_fragment, hash_sign, fragment = uri.partition("#")
    base, question_mark, query = before_fragment.partition("?")
    if not question_mark or not query:
        return uri
    params = query.split("&")
    kept = [param for param in params if _param_name(param) not in drop]
    if len(kept) == len(params):
        return uri
    rest = "&".join(kept)
    return base + (f"?{rest}" if rest else "") + hash_sign + fragment


# --- the placeholder rule -----------------------------------------------------------

#: A value shorter than this is not a secret (``api_key="unused"``, ``sk-test``).
MIN_SECRET_LENGTH = 16
#: Shannon entropy, in bits per character, below which a value is a placeholder
#: (``xxxxxxxxxxxxxxxxxxxx``, ``0000…``, ``abababab…``). Random base62 keys score 4–6.
MIN_ENTROPY = 3.0
#: Characters or strings no real credential contains, but placeholders and templates do.
_PLACEHOLDER_MARKS = ("*", "…", "...", "<", ">", "{", "}", "$")
#: Words that mark a value as a stand-in (compared case-blind).
_PLACEHOLDER_WORDS = (
    "filtered",
    "redacted",
    "masked",
    "placeholder",
    "example",
    "dummy",
    "changeme",
    "your_",
    "your-",
    "xxxxxxxx",
)


def _entropy(value: str) -> float:
    counts = Counter(value)
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _classes(value: str) -> int:
    return sum(
        (
            any("a" <= c <= "z" for c in value),
            any("A" <= c <= "Z" for c in value),
            any(c.isascii() and c.isdigit() for c in value),
        )
    )


def is_placeholder(value: str, *, mixed: bool = True) -> bool:
    """Whether ``value`` is a stand-in rather than a credential (so not a finding).

    A placeholder is any value that is shorter than :data:`MIN_SECRET_LENGTH`;
    contains ``*``, ``…``, ``...``, ``<``, ``>``, ``{``, ``}`` or ``$`` (``***``,
    ``<masked>``, ``{{api_key}}``, ``$OPENAI_API_KEY``); contains one of the words
    ``filtered``, ``redacted``, ``masked``, ``placeholder``, ``example``, ``dummy``,
    ``changeme``, ``your_``/``your-`` or ``xxxxxxxx`` (case-blind); has a Shannon
    entropy under :data:`MIN_ENTROPY` bits per character; or, with ``mixed`` (the
    default), uses fewer than two of the classes lower-case, upper-case and digits
    (``this-is-not-a-key``). ``mixed=False`` is for formats that are upper-case by
    definition (AWS access key ids).
    """
    if len(value) < MIN_SECRET_LENGTH:
        return True
    if any(mark in value for mark in _PLACEHOLDER_MARKS):
        return True
    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return True
    if _entropy(value) < MIN_ENTROPY:
        return True
    return mixed and _classes(value) < 2


def mask(secret: str) -> str:
    """``secret`` as a finding shows it: its first four characters, then ``…``."""
    return secret[:4] + "…"


# --- the patterns -------------------------------------------------------------------

# Token formats, matched anywhere. ``tail`` is the random part the placeholder rule
# judges; ``secret`` is what the finding masks. Order is priority: when two matches
# cover the same characters, the earlier kind is reported (an Anthropic key in an
# ``x-api-key`` header is an ``anthropic-key`` finding, once).
_NOT_AFTER = r"(?<![A-Za-z0-9_-])"


@dataclass(frozen=True)
class _TokenPattern:
    kind: str
    regex: re.Pattern[str]
    mixed: bool = True
    label: str = ""


_TOKENS: tuple[_TokenPattern, ...] = (
    # Anthropic: sk-ant-api03-<93 chars>AA, sk-ant-admin01-…, and the other sk-ant-<kind>NN-.
    _TokenPattern(
        "anthropic-key",
        re.compile(_NOT_AFTER + r"(?P<secret>sk-ant-[a-z]+\d{2}-(?P<tail>[A-Za-z0-9_-]{20,}))"),
    ),
    # OpenAI: sk-<48 base62> (legacy), sk-proj-, sk-svcacct-, sk-admin-, sk-None- with
    # long base62/-_ tails.
    _TokenPattern(
        "openai-key",
        re.compile(
            _NOT_AFTER + r"(?P<secret>sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-)?"
            r"(?P<tail>[A-Za-z0-9_-]{20,}))"
        ),
    ),
    # Google API key (Gemini, Maps, …): AIza + 35 characters.
    _TokenPattern(
        "google-api-key",
        re.compile(_NOT_AFTER + r"(?P<secret>AIza(?P<tail>[0-9A-Za-z_-]{35}))(?![0-9A-Za-z_-])"),
    ),
    # Google OAuth 2.0 access token.
    _TokenPattern(
        "google-oauth-token",
        re.compile(r"(?<![A-Za-z0-9_.-])(?P<secret>ya29\.(?P<tail>[0-9A-Za-z_-]{20,}))"),
    ),
    # AWS access key id (long-term AKIA, temporary ASIA): 16 upper-case letters/digits.
    _TokenPattern(
        "aws-access-key",
        re.compile(
            r"(?<![A-Za-z0-9])(?P<secret>(?:AKIA|ASIA)(?P<tail>[0-9A-Z]{16}))(?![0-9A-Za-z])"
        ),
        mixed=False,
    ),
    # GitHub: ghp_/gho_/ghu_/ghs_/ghr_ + 36 base62, github_pat_ + 82.
    _TokenPattern(
        "github-token",
        re.compile(
            r"(?<![A-Za-z0-9_])(?P<secret>(?:gh[pousr]|github_pat)_(?P<tail>[A-Za-z0-9_]{30,}))"
        ),
    ),
    # RFC 6750 bearer token (b64token), in a header or anywhere else.
    _TokenPattern(
        "bearer-token",
        re.compile(
            r"(?<![A-Za-z0-9_-])(?P<label>(?i:bearer))(?=[ \t\n])[ \t]*\n?[ \t]*"
            r"(?P<secret>(?P<tail>[A-Za-z0-9_.~+/-]+=*))"
        ),
        label="Bearer ",
    ),
)

#: Credential headers (kind ``auth-header``) and cookie headers (kind ``cookie``).
_AUTH_HEADERS = (
    "proxy-authorization",
    "authorization",
    "x-goog-api-key",
    "x-api-key",
    "api-key",
    "x-amz-security-token",
)
_COOKIE_HEADERS = ("set-cookie", "cookie")
_HEADER = re.compile(
    _NOT_AFTER
    + r"(?:\\?[\"'])?(?P<name>"
    + "|".join(re.escape(name) for name in _AUTH_HEADERS + _COOKIE_HEADERS)
    + r")(?:\\?[\"'])?[ \t]*:[ \t]*",
    re.IGNORECASE,
)
_BLOCK_ITEM = re.compile(r"[ \t]*-[ \t]+(?P<value>.*)")
_FLOW_ITEM = re.compile(r"[^,\]]*")
_BARE_VALUE = re.compile(r"[^,}\]]*")
_SCHEME = re.compile(r"(?P<scheme>bearer|basic|token|bot|apikey|key)[ \t]+", re.IGNORECASE)

#: Query parameters whose long value is a credential (kind ``query-param``).
_QUERY_NAMES = sorted(DEFAULT_QUERY | {"apikey"}, key=len, reverse=True)
_QUERY = re.compile(
    r"[?&](?P<name>(?i:" + "|".join(re.escape(name) for name in _QUERY_NAMES) + r"))="
    r"(?P<secret>[^&#\s\"'\\<>\[\]{}]+)"
)

#: JSON / YAML / keyword-argument fields holding a credential (kind ``api-key-field``).
_FIELD_NAMES = (
    "api_key",
    "api-key",
    "apikey",
    "x-api-key",
    "access_token",
    "refresh_token",
    "client_secret",
    "secret_key",
    "auth_token",
)
_FIELD = re.compile(
    r"(?<![A-Za-z0-9_-])(?:\\?[\"'])?(?P<name>(?i:"
    + "|".join(re.escape(name) for name in sorted(_FIELD_NAMES, key=len, reverse=True))
    + r"))(?:\\?[\"'])?"
    r"(?:\s*[:=]\s*\\?[\"'](?P<quoted>[^\"'\\\s]+)|[ \t]*:[ \t]+(?P<bare>[^\s\"'#,\[\]{}]+))"
)


@dataclass(frozen=True)
class Finding:
    """Something in a file that looks like a secret.

    ``line`` counts from 1 (0 when the file could not be read); ``kind`` names the
    pattern (``openai-key``, ``auth-header``, …, or ``unreadable``); ``excerpt`` shows
    the secret masked (its first four characters, then ``…``), never the whole of it.
    """

    path: str
    line: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.excerpt}"


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    priority: int
    kind: str
    excerpt: str


def _followed_by_ellipsis(text: str, end: int) -> bool:
    # "sk-proj-abc123…" or "sk-proj-abc123..." is a truncated display, not a key.
    return text.startswith(("...", "…", "*"), end)


def _token_candidates(text: str) -> Iterator[_Candidate]:
    for priority, pattern in enumerate(_TOKENS):
        for match in pattern.regex.finditer(text):
            secret = match.group("secret")
            if is_placeholder(match.group("tail"), mixed=pattern.mixed):
                continue
            if _followed_by_ellipsis(text, match.end("secret")):
                continue
            label = f"{match.group('label')} " if pattern.label else ""
            yield _Candidate(
                match.start("secret"),
                match.end("secret"),
                priority,
                pattern.kind,
                label + mask(secret),
            )


_PRIORITY_HEADER = len(_TOKENS)
_PRIORITY_QUERY = _PRIORITY_HEADER + 1
_PRIORITY_FIELD = _PRIORITY_HEADER + 2


def _read_quoted(rest: str, pos: int) -> tuple[int, str, int] | None:
    """The quoted string at ``rest[pos]``: (start of its content, content, end)."""
    if rest.startswith('\\"', pos):
        end = rest.find('\\"', pos + 2)
        end = len(rest) if end < 0 else end
        return pos + 2, rest[pos + 2 : end], end + 2
    quote = rest[pos : pos + 1]
    if quote not in ("'", '"'):
        return None
    index = pos + 1
    while index < len(rest) and rest[index] != quote:
        index += 2 if quote == '"' and rest[index] == "\\" else 1
    return pos + 1, rest[pos + 1 : index], index + 1


def _header_values(rest: str) -> list[tuple[int, str]]:
    """The values written after ``name:`` on one line: (offset in ``rest``, raw value)."""
    values: list[tuple[int, str]] = []
    if rest.startswith("["):  # a flow list: [value, 'value', "value"]
        pos = 1
        while pos < len(rest):
            while pos < len(rest) and rest[pos] in " \t":
                pos += 1
            quoted = _read_quoted(rest, pos)
            if quoted is not None:
                start, value, pos = quoted
            else:
                match = _FLOW_ITEM.match(rest, pos)
                assert match is not None  # the pattern matches the empty string
                start, value, pos = pos, match.group().rstrip(), match.end()
            if value:
                values.append((start, value))
            while pos < len(rest) and rest[pos] in " \t":
                pos += 1
            if not rest.startswith(",", pos):
                break
            pos += 1
        return values
    quoted = _read_quoted(rest, 0)
    if quoted is not None:
        start, value, _ = quoted
        return [(start, value)] if value else []
    match = _BARE_VALUE.match(rest)
    assert match is not None
    value = match.group().split(" #")[0].rstrip()
    return [(0, value)] if value else []


def _header_secret(name: str, value: str) -> tuple[int, str, str] | None:
    """The secret in one header value: (offset in ``value``, secret, excerpt prefix)."""
    if name.lower() in _COOKIE_HEADERS:
        pairs = value.split(";")
        if name.lower() == "set-cookie":
            pairs = pairs[:1]  # the rest are attributes: path, expires, domain, …
        offset = 0
        for pair in pairs:
            cookie, equals, cookie_value = pair.partition("=")
            if equals:
                stripped = cookie_value.strip().strip('"')
                if stripped and not is_placeholder(stripped):
                    start = offset + len(cookie) + 1 + cookie_value.find(stripped)
                    return start, stripped, f"{cookie.strip()}="
            offset += len(pair) + 1
        return None
    scheme = _SCHEME.match(value)
    start = scheme.end() if scheme else 0
    secret = value[start:].strip()
    if is_placeholder(secret):
        return None
    prefix = f"{scheme.group('scheme')} " if scheme else ""
    return value.find(secret, start), secret, prefix


def _header_candidates(lines: list[str], starts: list[int]) -> Iterator[_Candidate]:
    for number, line in enumerate(lines):
        for match in _HEADER.finditer(line):
            name = match.group("name")
            rest = line[match.end() :]
            if rest.strip():
                at = starts[number] + match.end()
                located = [(at + offset, value) for offset, value in _header_values(rest)]
            else:  # vcrpy's block list: "name:" then "- value" lines
                located = []
                for following in range(number + 1, len(lines)):
                    item = _BLOCK_ITEM.fullmatch(lines[following])
                    if item is None:
                        break
                    for offset, value in _header_values(item.group("value")):
                        located.append((starts[following] + item.start("value") + offset, value))
            for position, value in located:
                found = _header_secret(name, value)
                if found is None:
                    continue
                offset, secret, prefix = found
                kind = "cookie" if name.lower() in _COOKIE_HEADERS else "auth-header"
                yield _Candidate(
                    position + offset,
                    position + offset + len(secret),
                    _PRIORITY_HEADER,
                    kind,
                    f"{name}: {prefix}{mask(secret)}",
                )


def _query_candidates(text: str) -> Iterator[_Candidate]:
    for match in _QUERY.finditer(text):
        secret = match.group("secret")
        if is_placeholder(unquote_plus(secret)):
            continue
        yield _Candidate(
            match.start("secret"),
            match.end("secret"),
            _PRIORITY_QUERY,
            "query-param",
            f"{match.group('name')}={mask(secret)}",
        )


def _field_candidates(text: str) -> Iterator[_Candidate]:
    for match in _FIELD.finditer(text):
        group = "quoted" if match.group("quoted") is not None else "bare"
        secret = match.group(group)
        if is_placeholder(secret):
            continue
        yield _Candidate(
            match.start(group),
            match.end(group),
            _PRIORITY_FIELD,
            "api-key-field",
            f"{match.group('name')}: {mask(secret)}",
        )


def scan_text(text: str, path: str = "<text>") -> list[Finding]:
    """Everything in ``text`` that looks like a secret, in order of position.

    Line ends may be ``\\n``, ``\\r\\n`` or ``\\r``. One stretch of text gives at most
    one finding: when patterns overlap, the most specific kind wins (a provider key
    format, then a bearer token, then a header or cookie, a query parameter, a field).
    ``path`` only labels the findings.
    """
    text = normalize_newlines(text)
    lines = text.split("\n")
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    candidates = [
        *_token_candidates(text),
        *_header_candidates(lines, starts),
        *_query_candidates(text),
        *_field_candidates(text),
    ]
    candidates.sort(key=lambda c: (c.priority, c.start))
    kept: list[_Candidate] = []
    for candidate in candidates:
        if any(candidate.start < other.end and other.start < candidate.end for other in kept):
            continue
        kept.append(candidate)
    kept.sort(key=lambda c: c.start)
    return [Finding(path, bisect.bisect_right(starts, c.start), c.kind, c.excerpt) for c in kept]


# --- files --------------------------------------------------------------------------

#: File name endings scanned inside folders (a file named explicitly is always scanned).
SCAN_SUFFIXES: frozenset[str] = frozenset({".yaml", ".yml", ".json", ".sse", ".txt", ".md"})
#: What ``harness scan`` scans without arguments (relative to the current directory).
DEFAULT_SCAN_PATHS: tuple[str, ...] = ("cassettes", "scenarios")
_SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules"})


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """The files :func:`scan_paths` reads, in order, each once.

    A file is yielded as given (whatever its name, and even if it does not exist, so
    that the scan reports it); a folder is walked recursively, in sorted order, for
    files ending in one of :data:`SCAN_SUFFIXES` (case-blind), skipping hidden folders
    (``.git``, ``.venv``, …), ``__pycache__`` and ``node_modules``, and not following
    symbolic links to folders.
    """
    seen: set[Path] = set()

    def first_time(path: Path) -> bool:
        try:
            key = path.resolve()
        except (OSError, RuntimeError):
            key = path.absolute()
        if key in seen:
            return False
        seen.add(key)
        return True

    for given in paths:
        root = Path(given)
        if not root.is_dir():
            if first_time(root):
                yield root
            continue
        for folder, folders, files in os.walk(root):
            folders[:] = sorted(
                name
                for name in folders
                if not name.startswith(".") and name not in _SKIPPED_FOLDERS
            )
            for name in sorted(files):
                path = Path(folder, name)
                if path.suffix.lower() in SCAN_SUFFIXES and first_time(path):
                    yield path


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Not UTF-8 (a binary or a Latin-1 capture): every byte still maps to one
        # character, so ASCII-shaped secrets are found all the same.
        return data.decode("latin-1")


def scan_file(path: str | Path) -> list[Finding]:
    """The findings in one file (any content, binary included).

    A file that cannot be read gives one finding of kind ``unreadable`` at line 0,
    with the reason as its excerpt: a scan that could not look is not a clean scan.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return [Finding(str(path), 0, "unreadable", exc.strerror or type(exc).__name__)]
    return scan_text(_decode(data), str(path))


def scan_paths(paths: Iterable[str | Path]) -> list[Finding]:
    """The findings in files and folders (folders recursively; see :func:`iter_files`)."""
    return [finding for path in iter_files(paths) for finding in scan_file(path)]


def run_scan(args: argparse.Namespace) -> int:
    """``harness scan [PATH ...]``: print each finding, then a summary.

    Without paths, scans :data:`DEFAULT_SCAN_PATHS` under the current directory,
    skipping those that do not exist. Prints ``path:line: kind: excerpt`` per finding
    on standard output and the summary on standard error. Returns 1 if anything was
    found, 0 if nothing was, 2 if a given path does not exist or there is no file to
    scan at all (nothing is scanned: a CI gate run from the wrong folder fails).
    """
    given = [str(path) for path in (getattr(args, "paths", None) or [])]
    if given:
        missing = [path for path in given if not os.path.lexists(path)]
        for path in missing:
            print(f"harness scan: {path}: no such file or folder", file=sys.stderr)
        if missing:
            return 2
        targets = given
    else:
        targets = [path for path in DEFAULT_SCAN_PATHS if os.path.isdir(path)]
    files = list(iter_files(targets))
    if not files:
        # A CI gate run from the wrong folder must fail, not pass on nothing.
        where = ", ".join(targets) if targets else " or ".join(f"{p}/" for p in DEFAULT_SCAN_PATHS)
        print(
            f"harness scan: nothing to scan: no cassette or scenario files in {where} "
            "(run it from the project's root, or pass the paths to scan)",
            file=sys.stderr,
        )
        return 2
    findings: list[Finding] = []
    for file in files:
        findings.extend(scan_file(file))
    for finding in findings:
        print(finding)
    sys.stdout.flush()
    where = ", ".join(targets)
    if not findings:
        print(
            f"harness scan: no secrets in {plural(len(files), 'file')} ({where})", file=sys.stderr
        )
        return 0
    affected = len({finding.path for finding in findings})
    print(
        f"harness scan: {plural(len(findings), 'possible secret')} in {affected} of "
        f"{plural(len(files), 'file')} "
        f"({where}); remove or mask them, then rotate any real key (docs/secrets.md)",
        file=sys.stderr,
    )
    return 1
