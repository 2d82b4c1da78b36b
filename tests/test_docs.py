"""The docs cite tests as evidence (``docs/security.md`` has one per threat): every
cited test must exist, so a renamed or deleted test cannot leave a claim unbacked."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([*ROOT.glob("docs/*.md"), ROOT / "README.md", ROOT / "ARCHITECTURE.md"])

# `tests/test_x.py::TestClass::test_name[param]`, or a continuation `::test_other`
# that names a test beside the previous full reference (in its class, else its module).
REFERENCE = re.compile(r"`((?:tests/[\w/]+\.py)?(?:::\w+)+)(?:\[[^\]`]*\])?`")


def _references(text: str) -> list[tuple[str, list[str], bool]]:
    """``(module, names, continued)`` for each cited test; a continuation (``::name``
    after a full reference) gets the earlier reference's module and class."""
    out: list[tuple[str, list[str], bool]] = []
    module = ""
    owner: list[str] = []
    for match in REFERENCE.finditer(text):
        head, _, rest = match.group(1).partition("::")
        names = rest.split("::")
        if head:
            module = head
            owner = names[:-1]
            out.append((module, names, False))
        else:
            assert module, f"{match.group(0)} continues no earlier reference"
            out.append((module, [*owner, *names], True))
    return out


def _exists(module_path: str, names: list[str], continued: bool) -> bool:
    module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
    found: object = module
    for name in names:
        if not hasattr(found, name):
            # A continuation may name a module-level test beside a class's test.
            return continued and len(names) > 1 and callable(getattr(module, names[-1], None))
        found = getattr(found, name)
    return callable(found)


@pytest.mark.parametrize("doc", DOCS, ids=[str(d.relative_to(ROOT)) for d in DOCS])
def test_every_cited_test_exists(doc: Path) -> None:
    missing = [
        f"{module}::{'::'.join(names)}"
        for module, names, continued in _references(doc.read_text(encoding="utf-8"))
        if not _exists(module, names, continued)
    ]
    assert missing == [], f"{doc.name} cites tests that do not exist: {missing}"


def test_security_md_backs_every_threat_with_a_test() -> None:
    """Each row of the threats table names at least one test."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    table = text.split("## Threats", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 10
    unbacked = [row[:80] for row in rows[1:] if not REFERENCE.search(row)]
    assert unbacked == []


def test_the_reference_parser_resolves_continuations() -> None:
    text = "`tests/test_a.py::TestX::test_one`, `::test_two` then `tests/test_b.py::test_c`"
    assert _references(text) == [
        ("tests/test_a.py", ["TestX", "test_one"], False),
        ("tests/test_a.py", ["TestX", "test_two"], True),
        ("tests/test_b.py", ["test_c"], False),
    ]


def test_a_full_reference_must_resolve_through_its_class() -> None:
    """Only a continuation may fall back to a module-level test of the same name."""
    here = "tests/test_docs.py"
    assert _exists(here, ["test_every_cited_test_exists"], False)
    assert not _exists(here, ["NoSuchClass", "test_every_cited_test_exists"], False)
    assert _exists(here, ["NoSuchClass", "test_every_cited_test_exists"], True)
