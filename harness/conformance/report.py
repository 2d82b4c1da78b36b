"""The reports of a conformance run: ``results.json``, ``junit.xml`` and ``report.html``.

:func:`write_reports` turns a :class:`~harness.conformance.results.Run` into three files:

* ``results.json``: the run itself (:meth:`Run.to_json`), which :func:`load_run` reads
  back, so the other two can be regenerated without running anything;
* ``junit.xml``: one ``<testsuite>`` per client, version and route, one ``<testcase>``
  per cell, for CI dashboards (GitHub Actions reporters, GitLab
  ``artifacts:reports:junit``, Jenkins). A known failure is a skip (it must not turn CI
  red); a stale one (``fixed``) is a failure (it must be noticed);
* ``report.html``: one self-contained page (inline CSS, no script, no external
  resource) that reads offline: per route a table of scenarios by faults, one small
  box per cell whose ``<details>`` hold expected vs observed, the differences, the
  traceback and the reproduction line; then every failing cell in full.

Rendering is pure (:func:`render_json`, :func:`render_junit`, :func:`render_html`:
equal runs give equal bytes); only :func:`write_reports` and :func:`load_run` touch
files. Each file is written by :func:`harness.atomic.write_atomic`: a crash leaves it
old or new, whole. ``docs/conformance-report.md`` is the guide.

XML 1.0 forbids most C0 control characters (a NUL, an ESC from a terminal's colours),
and HTML treats them as parse errors, yet tracebacks and text observed from a client
may hold them: both writers show each as its Unicode control picture (``\\x00`` as
``␀``, ``\\x1b`` as ``␛``), and a lone surrogate or a noncharacter as ``�``. The JSON
keeps every string as it is.
"""

from __future__ import annotations

import errno
import html
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness import _json
from harness.atomic import write_atomic
from harness.conformance.results import VERDICTS, CaseResult, Run, Verdict
from harness.errors import UsageError

__all__ = [
    "HTML_NAME",
    "JSON_NAME",
    "JUNIT_NAME",
    "load_run",
    "render_html",
    "render_json",
    "render_junit",
    "write_reports",
]

#: The file names :func:`write_reports` writes, in the folder it is given.
JSON_NAME = "results.json"
JUNIT_NAME = "junit.xml"
HTML_NAME = "report.html"

#: The verdicts that a CI run must notice, listed in full in the HTML page.
_FAILING: frozenset[str] = frozenset({"fail", "error", "timeout", "fixed"})

#: The box letter of each verdict (the page's legend spells them out).
_LETTER: dict[str, str] = {
    "pass": "P",
    "fail": "F",
    "known": "K",
    "fixed": "X",
    "error": "E",
    "timeout": "T",
    "skipped": "S",
}

#: What XML 1.0 cannot hold (its ``Char`` production, section 2.2) and what HTML calls
#: a parse error: C0 controls but TAB, LF and CR; lone surrogates; U+FFFE and U+FFFF.
_UNWRITABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _printable(match: re.Match[str]) -> str:
    char = match.group()
    return chr(0x2400 + ord(char)) if char < " " else "\ufffd"


def _clean(text: str) -> str:
    """``text`` with every character XML and HTML cannot carry made visible."""
    return _UNWRITABLE.sub(_printable, text)


def _pretty(value: Any) -> str:
    """A JSON value as indented text, for people (``None``: the client gave none)."""
    if value is None:
        return "(nothing: the client raised or timed out)"
    return json.dumps(value, indent=2, ensure_ascii=False)


def _who(result: CaseResult) -> str:
    """``openai 1.2.3``: the client and its version (just the client when unknown)."""
    return f"{result.client} {result.version}".strip()


# --- JSON ---------------------------------------------------------------------------


def render_json(run: Run) -> bytes:
    """``results.json``: :meth:`Run.to_json`, indented, UTF-8, ending with a newline.

    Strings are written as they are (``ensure_ascii=False``); a lone surrogate, which
    UTF-8 cannot encode, is written as its JSON escape (``\\udcff``) and reads back as
    itself.
    """
    text = json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n"
    # Only lone surrogates are unencodable, and only inside strings, where Python's
    # "\\udcff" is also JSON's escape for them.
    return text.encode("utf-8", errors="backslashreplace")


def load_run(path: Path) -> Run:
    """The run a ``results.json`` holds (as :func:`write_reports` wrote it).

    Raises:
        OSError: the file cannot be read.
        UsageError: the file is not a conformance ``results.json``.
    """
    data = Path(path).read_bytes()
    try:
        document = _json.loads(data)
    except ValueError as exc:
        raise UsageError(f"{path}: not a conformance results.json (invalid JSON: {exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise UsageError(f"{path}: not a conformance results.json (no 'results' list)")
    try:
        run = Run.from_json(document)
    except (TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a conformance results.json ({exc})") from None
    for number, result in enumerate(run.results):
        if result.verdict not in VERDICTS:
            raise UsageError(
                f"{path}: not a conformance results.json: result #{number} has verdict "
                f"{result.verdict!r}, "
                f"not one of {', '.join(VERDICTS)}"
            )
    return run


# --- JUnit XML ----------------------------------------------------------------------


def _suites(run: Run) -> dict[tuple[str, str, str], list[CaseResult]]:
    """The results by ``(client, version, route)``, in the order they first appear."""
    groups: dict[tuple[str, str, str], list[CaseResult]] = {}
    for result in run.results:
        groups.setdefault((result.client, result.version, result.route), []).append(result)
    return groups


def _tally(results: Iterable[CaseResult]) -> dict[str, str]:
    """The JUnit counts of ``results``: ``tests failures errors skipped`` attributes."""
    counts = dict.fromkeys(VERDICTS, 0)
    total = 0
    for result in results:
        counts[result.verdict] += 1
        total += 1
    return {
        "tests": str(total),
        "failures": str(counts["fail"] + counts["fixed"]),
        "errors": str(counts["error"] + counts["timeout"]),
        "skipped": str(counts["skipped"] + counts["known"]),
    }


def _element(parent: ET.Element, tag: str, text: str = "", **attributes: str) -> ET.Element:
    """A child element with its attributes and text made writable (see :func:`_clean`)."""
    element = ET.SubElement(parent, tag, {key: _clean(value) for key, value in attributes.items()})
    if text:
        element.text = _clean(text)
    return element


def _details(result: CaseResult, *, data: bool = True) -> str:
    """The text of a failure: differences, expected and observed JSON, reproduction."""
    parts = list(result.differences)
    if result.known:
        parts.append(f"known failure: {result.known}")
    if data:
        parts += [f"expected: {_pretty(result.expected)}", f"observed: {_pretty(result.observed)}"]
    if result.overlay:
        parts.append(f"fault overlay: {result.overlay}")
    if result.reproduction:
        parts.append(f"reproduce: {result.reproduction}")
    return "\n".join(parts)


def _first(result: CaseResult, default: str) -> str:
    return result.differences[0] if result.differences else default


def _outcome(case: ET.Element, result: CaseResult) -> None:
    """The child of ``case`` that says how it ended (none for a pass)."""
    verdict: Verdict = result.verdict
    if verdict == "fail":
        message = _first(result, "the client does not conform")
        _element(case, "failure", _details(result), message=message, type="nonconformance")
    elif verdict == "fixed":
        message = f"known failure fixed, remove the entry: {result.known or 'no reason given'}"
        text = "the client now conforms, but a known failure is still declared for it\n"
        kind = "fixed-known-failure"
        _element(case, "failure", text + _details(result), message=message, type=kind)
    elif verdict == "error":
        lines = [line for line in result.traceback.splitlines() if line.strip()]
        message = _first(result, lines[-1] if lines else "the client raised")
        text = "\n".join(filter(None, [result.traceback.rstrip(), _details(result, data=False)]))
        _element(case, "error", text, message=message, type="error")
    elif verdict == "timeout":
        message = _first(result, f"timed out after {result.duration:.3f} s")
        _element(case, "error", _details(result, data=False), message=message, type="timeout")
    elif verdict == "skipped":
        _element(case, "skipped", message="; ".join(result.differences) or "skipped")
    elif verdict == "known":
        message = f"known failure: {result.known or 'no reason given'}"
        _element(case, "skipped", _details(result, data=False), message=message)


def render_junit(run: Run) -> bytes:
    """``junit.xml``: the run in the JUnit XML that CI dashboards read.

    One ``<testsuite>`` per client, version and route (in order of first appearance),
    one ``<testcase classname="{client}.{route}" name="{scenario} [{fault}]">`` per
    result. ``fail`` and ``fixed`` are ``<failure>``, ``error`` and ``timeout``
    ``<error>``, ``skipped`` and ``known`` ``<skipped>``, ``pass`` has no child. Each
    suite has ``<properties>``: harness and Python versions, start, command, client,
    version and route.
    """
    root = ET.Element("testsuites", {"name": "harness conformance", **_tally(run.results)})
    root.set("time", f"{run.duration:.3f}")
    for (client, version, route), results in _suites(run).items():
        suite = _element(
            root,
            "testsuite",
            name=f"harness conformance · {f'{client} {version}'.strip()} · {route}",
            **_tally(results),
            time=f"{sum(result.duration for result in results):.3f}",
        )
        properties = ET.SubElement(suite, "properties")
        for name, value in (
            ("harness", run.harness),
            ("python", run.python),
            ("started", run.started),
            ("command", run.command),
            ("client", client),
            ("version", version),
            ("route", route),
        ):
            _element(properties, "property", name=name, value=value)
        for result in results:
            case = _element(
                suite,
                "testcase",
                classname=f"{result.client}.{result.route}",
                name=f"{result.scenario} [{result.fault}]",
                time=f"{result.duration:.3f}",
            )
            _outcome(case, result)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n'.encode()


# --- HTML ---------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.5em;margin:0 0 .3em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1em 1em;margin:.5em 0}
dl.meta dt{font-weight:600}dl.meta dd{margin:0;font-family:monospace;white-space:pre-wrap}
ul.counts{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.4em 1.2em}
ul.counts li{display:flex;align-items:center;gap:.3em}
table.matrix{border-collapse:collapse;font-size:12px}
table.matrix th,table.matrix td{border:1px solid #ddd;padding:1px 3px;text-align:center}
table.matrix th.scenario{text-align:left;font-weight:normal;font-family:monospace;
white-space:nowrap;position:sticky;left:0;background:#fafafa}
table.matrix thead th{background:#f0f0f0;font-weight:600}
table.matrix thead th.fault{writing-mode:vertical-rl;transform:rotate(180deg);
font-weight:normal;font-family:monospace;max-height:14em}
.c{display:inline-block;min-width:1.4em;height:1.4em;line-height:1.4em;border-radius:3px;
text-align:center;font-weight:700;font-family:monospace;color:#fff;cursor:pointer}
summary.c{list-style:none}summary.c::-webkit-details-marker{display:none}
.v-pass{background:#2e7d32}.v-fail{background:#c62828}.v-known{background:#8d6e63}
.v-fixed{background:#6a1b9a}.v-error{background:#e65100}.v-timeout{background:#f9a825;
color:#222}.v-skipped{background:#bdbdbd;color:#222}
td.none{color:#bbb}
details.cell{display:inline-block;position:relative}
details.cell>.entry{position:absolute;z-index:10;left:0;top:1.6em;width:56em;max-width:90vw;
text-align:left;background:#fff;border:1px solid #888;box-shadow:0 2px 8px #0004;
padding:.5em .8em;font-size:13px}
.entry pre{background:#f6f6f6;padding:.4em;overflow:auto;max-height:24em;margin:.2em 0;
white-space:pre-wrap;word-break:break-word}
.entry h4{margin:.5em 0 .1em;font-size:1em}.entry ul{margin:.2em 0;padding-left:1.4em}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:.8em}
section.failure{border-left:4px solid #c62828;padding:.1em 1em;margin:1em 0}
section.failure h3{font-size:1.05em;font-family:monospace}
"""


def _box(verdict: str) -> str:
    """A verdict's coloured box: the colour for the eye, the letter and title for all."""
    return f'<span class="c v-{verdict}" title="{verdict}">{_LETTER[verdict]}</span>'


def _e(text: object) -> str:
    """``text`` escaped for HTML text and quoted attributes, made writable first."""
    return html.escape(_clean(str(text)), quote=True)


def _label(result: CaseResult) -> str:
    return f"{result.scenario} [{result.fault}] · {result.route} · {_who(result)}"


def _entry(result: CaseResult, index: int, *, link: bool) -> list[str]:
    """Everything about one cell, as HTML: the body of its details and of its failure."""
    verdict = result.verdict
    out = [f"<p>{_box(verdict)} <b>{_e(verdict)}</b> · {_e(_label(result))}"]
    out.append(f" · {result.duration:.3f} s</p>")
    if result.overlay:
        out.append(f"<p>fault overlay: <code>{_e(result.overlay)}</code></p>")
    if result.known:
        out.append(f"<p>known failure: {_e(result.known)}</p>")
    if result.differences:
        heading = "reason" if verdict in ("skipped", "timeout") else "differences"
        items = "".join(f"<li>{_e(line)}</li>" for line in result.differences)
        out.append(f"<h4>{heading}</h4><ul>{items}</ul>")
    if verdict != "skipped":
        out.append(
            f'<div class="pair"><div><h4>expected</h4><pre>{_e(_pretty(result.expected))}</pre>'
            f"</div><div><h4>observed</h4><pre>{_e(_pretty(result.observed))}</pre></div></div>"
        )
    if result.traceback:
        out.append(f"<h4>traceback</h4><pre>{_e(result.traceback)}</pre>")
    if result.reproduction:
        out.append(f"<h4>reproduction</h4><pre><code>{_e(result.reproduction)}</code></pre>")
    if link and verdict in _FAILING:
        out.append(f'<p><a href="#r{index}">in the failures below</a></p>')
    return out


def _cell(cell: list[tuple[int, CaseResult]]) -> str:
    """One table cell: a box per result (normally one), each opening on its entry."""
    if not cell:
        return '<td class="none" title="not run">·</td>'
    boxes = []
    for index, result in cell:
        verdict = result.verdict
        title = _e(f"{verdict}: {_label(result)}")
        boxes.append(
            f'<details class="cell"><summary class="c v-{verdict}" title="{title}">'
            f'{_LETTER[verdict]}</summary><div class="entry">'
            + "".join(_entry(result, index, link=True))
            + "</div></details>"
        )
    return f"<td>{''.join(boxes)}</td>"


def _order(values: Iterable[Any]) -> list[Any]:
    """The distinct values, in the order they first appear."""
    return list(dict.fromkeys(values))


def _route_table(route: str, results: list[tuple[int, CaseResult]]) -> list[str]:
    """A route's section: counts, then scenarios by (client, version) and fault."""
    groups = _order((result.client, result.version) for _, result in results)
    faults = _order(result.fault for _, result in results)
    scenarios = _order(result.scenario for _, result in results)
    cells: dict[tuple[str, str, str, str], list[tuple[int, CaseResult]]] = {}
    for index, result in results:
        key = (result.scenario, result.client, result.version, result.fault)
        cells.setdefault(key, []).append((index, result))
    counts = Run([result for _, result in results]).counts()
    out = [f"<h2>route {_e(route)}</h2>", _counts(counts), '<table class="matrix"><thead><tr>']
    out.append('<th rowspan="2">scenario</th>')
    out += [
        f'<th colspan="{len(faults)}">{_e(f"{client} {version}".strip())}</th>'
        for client, version in groups
    ]
    out.append("</tr><tr>")
    out += [f'<th class="fault">{_e(fault)}</th>' for _ in groups for fault in faults]
    out.append("</tr></thead><tbody>")
    for scenario in scenarios:
        out.append(f'<tr><th class="scenario">{_e(scenario)}</th>')
        out += [
            _cell(cells.get((scenario, client, version, fault), []))
            for client, version in groups
            for fault in faults
        ]
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


def _counts(counts: dict[str, int]) -> str:
    """The verdict counts as a line of boxes: every verdict, zeros too."""
    items = "".join(
        f'<li class="count" data-verdict="{verdict}">{_box(verdict)} {verdict} '
        f"<b>{counts[verdict]}</b></li>"
        for verdict in VERDICTS
    )
    return f'<ul class="counts">{items}</ul>'


def _header(run: Run) -> list[str]:
    """The page's title, the run's metadata, its counts and the legend of the boxes."""
    meta = [
        ("started", run.started),
        ("harness", run.harness),
        ("python", run.python),
        ("command", run.command),
        ("duration", f"{run.duration:.3f} s"),
        ("cells", str(len(run.results))),
    ]
    out = ["<header><h1>harness conformance report</h1>", '<dl class="meta">']
    out += [f"<dt>{name}</dt><dd>{_e(value)}</dd>" for name, value in meta]
    out += ["</dl>", _counts(run.counts())]
    legend = ", ".join(f"{_LETTER[verdict]} {verdict}" for verdict in VERDICTS)
    out.append(
        f"<p>Each box is one cell ({_e(legend)}; X is a known failure that no longer "
        "fails). Click a box for expected vs observed, the differences and the "
        "reproduction.</p></header>"
    )
    return out


def _failures(run: Run) -> list[str]:
    """Every failing cell (fail, error, timeout, fixed) in full, in run order."""
    failing = [(i, result) for i, result in enumerate(run.results) if result.verdict in _FAILING]
    out = [f'<h2 id="failures">Failures ({len(failing)})</h2>']
    if not failing:
        out.append("<p>None: every cell passed, was skipped, or failed as known.</p>")
    for index, result in failing:
        out.append(f'<section class="failure" id="r{index}">')
        out.append(f"<h3>{_e(result.verdict)}: {_e(_label(result))}</h3>")
        out += _entry(result, index, link=False)
        out.append("</section>")
    return out


def render_html(run: Run) -> bytes:
    """``report.html``: one self-contained page (inline CSS, no script, nothing loaded).

    A header (metadata and verdict counts), then per route (in order of first
    appearance) a table: a row per scenario, a column per fault, a column group per
    client and version. Each cell is a coloured box with the verdict's letter that
    opens (``<details>``) on expected vs observed, the differences, the traceback and
    the reproduction line. Then the "Failures" section: every fail, error, timeout
    and fixed cell in full. Every text is escaped.
    """
    routes: dict[str, list[tuple[int, CaseResult]]] = {}
    for index, result in enumerate(run.results):
        routes.setdefault(result.route, []).append((index, result))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>harness conformance · {_e(run.started or 'report')}</title>",
        f"<style>{_CSS}</style></head><body>",
        *_header(run),
    ]
    for route, results in routes.items():
        out += _route_table(route, results)
    out += _failures(run)
    out.append("</body></html>")
    return ("\n".join(out) + "\n").encode()


# --- files --------------------------------------------------------------------------


def write_reports(run: Run, folder: Path) -> list[Path]:
    """Write ``results.json``, ``junit.xml`` and ``report.html`` of ``run`` into ``folder``.

    The folder is created if missing. All three are rendered before anything is
    written, and each is written atomically (:func:`harness.atomic.write_atomic`): a
    failure or a crash leaves every file old or new and whole, never half of one.

    Returns:
        the paths written, in that order.

    Raises:
        OSError: a file cannot be written (``folder`` is a file, a report's name is a
            folder, no permission...); the message names the folder.
    """
    folder = Path(folder)
    files = [
        (folder / JSON_NAME, render_json(run)),
        (folder / JUNIT_NAME, render_junit(run)),
        (folder / HTML_NAME, render_html(run)),
    ]
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # a file where the folder should be
            raise NotADirectoryError(
                errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(folder)
            ) from None
        for path, _ in files:  # checked first, so that a folder stops all three
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        for path, data in files:
            write_atomic(path, data)
    except OSError as exc:
        raise _write_error(exc, folder) from exc
    return [path for path, _ in files]


def _write_error(exc: OSError, folder: Path) -> OSError:
    """``exc`` said in terms of the reports (the same ``OSError`` subclass)."""
    message = f"cannot write the conformance reports into {folder}: {exc.strerror or exc}"
    if exc.errno is None:
        return OSError(message)
    return OSError(exc.errno, message, exc.filename)
