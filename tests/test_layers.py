"""The layers are enforced: `make lint` runs lint-imports, and an upward import fails it.

The contracts are [tool.importlinter] in pyproject.toml. Each case here copies the
harness package into a temporary directory, adds one forbidden import to the copy and
runs lint-imports there with that same configuration: it must exit non-zero and name the
new import (file and line), which the unmodified copy does not. Whatever the working
tree itself breaks today is the business of `test_the_tree_keeps_the_contracts`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "pyproject.toml"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# Violations the tree is allowed while they are being removed, as (importer, imported)
# the way lint-imports names them ("<importer> is not allowed to import <imported>").
# None today: keep it that way.
KNOWN_VIOLATIONS: set[tuple[str, str]] = set()

_VIOLATION = re.compile(r"^(\S+) is not allowed to import (\S+):$", re.MULTILINE)


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str

    @property
    def violations(self) -> set[tuple[str, str]]:
        return {(m[1], m[2]) for m in _VIOLATION.finditer(self.output)}

    def status(self, contract: str) -> str:
        """KEPT or BROKEN: the line `<contract name> KEPT|BROKEN` of the summary."""
        found = re.search(rf"^{re.escape(contract)} (KEPT|BROKEN)", self.output, re.MULTILINE)
        assert found, f"no contract {contract!r} in:\n{self.output}"
        return found[1]


def lint_imports(cwd: Path) -> Run:
    """lint-imports with the project's contracts on the harness package found in `cwd`."""
    env = {
        **os.environ,
        "PYTHONPATH": str(cwd),  # lint-imports also puts the cwd first on sys.path
        "COLUMNS": "200",  # no wrapped lines
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(CONFIG)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return Run(done.returncode, done.stdout + done.stderr)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the harness package, as the working tree has it now."""
    where = tmp_path_factory.mktemp("pristine")
    shutil.copytree(
        ROOT / "harness", where / "harness", ignore=shutil.ignore_patterns("__pycache__")
    )
    return where


@pytest.fixture(scope="module")
def baseline(pristine: Path) -> Run:
    run = lint_imports(pristine)
    assert "Contracts:" in run.output, run.output  # it ran the contracts, not just failed
    return run


def test_the_tree_keeps_the_contracts() -> None:
    """The working tree breaks no contract, but for KNOWN_VIOLATIONS."""
    run = lint_imports(ROOT)
    assert "Contracts:" in run.output, run.output
    unexpected = run.violations - KNOWN_VIOLATIONS
    assert not unexpected, run.output
    assert "not listed as layers" not in run.output, run.output  # exhaustive: all placed
    if not run.violations:
        assert run.returncode == 0, run.output


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # relative to the package's parent; created if missing
    append: str  # code appended to `file`, with one import statement...
    contract: str  # ...that must break the contract of this name,
    importer: str  # reported as "<importer> is not allowed to import <imported>",
    imported: str
    chain: str  # starting with this import, found at its line in `file`
    extra: str = ""  # a module to create first (with a docstring only)

    @property
    def statement(self) -> str:
        return next(line.strip() for line in self.append.splitlines() if "import" in line)


STACK = "Layers of harness (faces on top, errors and helpers at the bottom)"
PURE = "Pure core: harness.stream imports no web stack, file, clock or loop"

CASES = [
    Case(
        "stream-imports-mock",
        "harness/stream/events.py",
        "import harness.mock.app\n",
        STACK,
        "harness.stream",
        "harness.mock",
        "harness.stream.events -> harness.mock.app",
    ),
    Case(
        "errors-imports-cli",
        "harness/errors.py",
        "import harness.cli\n",
        STACK,
        "harness.errors",
        "harness.cli",
        "harness.errors -> harness.cli",
    ),
    Case(
        "sse-imports-pipeline",
        "harness/stream/sse.py",
        "from harness.stream import pipeline\n",
        "Layers of harness.stream",
        "harness.stream.sse",
        "harness.stream.pipeline",
        "harness.stream.sse -> harness.stream.pipeline",
    ),
    Case(
        "replay-imports-app",
        "harness/mock/replay.py",
        "from harness.mock.app import create_app\n",
        "Layers of harness.mock",
        "harness.mock.replay",
        "harness.mock.app",
        "harness.mock.replay -> harness.mock.app",
    ),
    # The pure core: the standard library's clock, files and loops are forbidden too,
    # not only third-party packages (include_external_packages puts all in the graph).
    Case(
        "core-reads-the-clock",
        "harness/stream/adapters/gemini.py",
        "\n\ndef _late() -> None:\n    import time\n",  # an import in a function counts
        PURE,
        "harness.stream",
        "time",
        "harness.stream.adapters.gemini -> time",
    ),
    Case(
        "core-imports-yaml",
        "harness/stream/pipeline.py",
        "import yaml\n",
        PURE,
        "harness.stream",
        "yaml",
        "harness.stream.pipeline -> yaml",
    ),
    Case(
        "adapter-imports-adapter",
        "harness/stream/adapters/openai.py",
        "from harness.stream.adapters import anthropic\n",
        "Provider adapters are independent (base is shared)",
        "harness.stream.adapters.openai",
        "harness.stream.adapters.anthropic",
        "harness.stream.adapters.openai -> harness.stream.adapters.anthropic",
    ),
    # harness.mock.families may be empty: the contract applies once modules exist.
    Case(
        "family-imports-family",
        "harness/mock/families/zz_second.py",
        "from harness.mock.families import zz_first\n",
        "Mock API families are independent",
        "harness.mock.families.zz_second",
        "harness.mock.families.zz_first",
        "harness.mock.families.zz_second -> harness.mock.families.zz_first",
        extra="harness/mock/families/zz_first.py",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_a_forbidden_import_fails_lint(
    case: Case, pristine: Path, baseline: Run, tmp_path: Path
) -> None:
    shutil.copytree(pristine / "harness", tmp_path / "harness")
    if case.extra:
        (tmp_path / case.extra).write_text('"""A module."""\n')
    target = tmp_path / case.file
    source = (target.read_text() if target.exists() else "") + case.append
    target.write_text(source)
    lines = [line.strip() for line in source.splitlines()]
    lineno = len(lines) - lines[::-1].index(case.statement)

    run = lint_imports(tmp_path)

    assert run.returncode != 0, run.output
    assert run.status(case.contract) == "BROKEN", run.output
    violation = (case.importer, case.imported)
    assert violation in run.violations, run.output
    assert violation not in baseline.violations, baseline.output
    chain = rf"^-\s+{re.escape(case.chain)} \(l\.{lineno}\)$"
    assert re.search(chain, run.output, re.MULTILINE), run.output


#: The longest function body harness allows (lines, from ``def`` to its last line): a
#: longer one does more than one thing and is split.
MAX_FUNCTION_LINES = 80


def test_no_function_in_harness_is_longer_than_80_lines() -> None:
    import ast

    long = []
    for path in sorted((ROOT / "harness").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({lines})")
    assert not long, "functions longer than 80 lines:\n" + "\n".join(long)
