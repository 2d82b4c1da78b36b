"""The SDK behaviour table: its ranges, the page generated from it, and the drift report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from tests import sdk_behaviour
from tests.sdk_behaviour import ROWS, TableError, describe, drift, expected, versions_where


def test_doc_is_generated_from_the_table() -> None:
    """docs/sdk-behaviour.md is what `python -m tests.sdk_behaviour --write` writes now."""
    wanted = sdk_behaviour.render(
        sdk_behaviour.locked_versions(packages=sdk_behaviour.DOC_PACKAGES)
    )
    assert sdk_behaviour.DOC.read_text(encoding="utf-8") == wanted, (
        "docs/sdk-behaviour.md is stale: run `.venv/bin/python -m tests.sdk_behaviour --write`"
    )


def _probe_versions(specifiers: str) -> set[str]:
    """The versions at, just below and just above each bound of ``specifiers``."""
    out = {"0.0.1", "999.0"}
    for spec in SpecifierSet(specifiers):
        parts = [int(p) for p in spec.version.split(".")]
        out.add(spec.version)
        out.add(".".join(map(str, [*parts[:-1], parts[-1] + 1])))
        if parts[-1] > 0:
            out.add(".".join(map(str, [*parts[:-1], parts[-1] - 1])))
    return out


@pytest.mark.parametrize(
    "behaviour",
    sorted({(row.sdk, row.key) for row in ROWS if row.key is not None}),
    ids="/".join,
)
def test_every_version_has_exactly_one_row(behaviour: tuple[str, str]) -> None:
    """The rows of one behaviour cover every version once: around each bound, exactly one."""
    sdk, key = behaviour
    probes: set[str] = set()
    for row in sdk_behaviour.rows_for(sdk, key):
        probes |= _probe_versions(row.versions)
    for version in sorted(probes):
        assert expected(sdk, key, version).sdk == sdk  # raises TableError on 0 or 2 rows


def test_a_gap_or_an_overlap_is_reported() -> None:
    """expected() refuses a version no row covers, naming the behaviour and the version."""
    with pytest.raises(TableError, match="has no row openai/no-such-key"):
        expected("openai", "no-such-key", "1.0")
    with pytest.raises(TableError, match="has no row"):
        versions_where("openai", "no-such-key", None)


def test_versions_where_gives_a_requirement() -> None:
    """The anthropic abrupt-cut deviation is limited to the versions before the fix."""
    raw = expected("anthropic", "abrupt_cut", "2.14.0").raises
    assert versions_where("anthropic", "abrupt_cut", raw) == "anthropic<2.17"


def test_describe_names_public_classes_and_causes() -> None:
    """describe() gives the public import path and the direct cause; None for no error."""
    import anthropic
    import httpx2
    from google.genai import errors

    assert describe(None) is None
    assert describe(KeyError("x")) == "KeyError"
    wrapped = anthropic.APIConnectionError(request=httpx2.Request("GET", "http://x"))
    wrapped.__cause__ = httpx2.ReadTimeout("slow")
    assert describe(wrapped) == "anthropic.APIConnectionError from httpx2.ReadTimeout"
    assert describe(errors.ClientError(429, {"error": {}})) == "google.genai.errors.ClientError"


def test_drift_lists_changes_and_untabled_observations() -> None:
    """A behaviour that differs from the locked version's row is CHANGED (before -> after);
    one the table does not say for the observed version is UNTABLED."""
    locked = {"anthropic": "2.14.0", "openai": "3.60.0"}
    raw = expected("anthropic", "abrupt_cut", "2.14.0").raises
    wrapped = expected("anthropic", "abrupt_cut", "2.17.0").raises

    def seen(
        sdk: str, version: str, key: str, case: str, observed: str | None
    ) -> dict[str, object]:
        return {"sdk": sdk, "version": version, "key": key, "case": case, "observed": observed}

    observations = [
        seen("anthropic", "2.17.0", "abrupt_cut", "a", wrapped),
        seen("anthropic", "2.17.0", "abrupt_cut", "b", wrapped),
        seen("openai", "3.61.0", "clean_cut", "c", "X.Y"),
        seen("openai", "3.61.0", "in_band", "d", "openai.APIError"),
    ]
    lines = drift(observations, locked)
    assert lines == [
        f"CHANGED  anthropic 2.14.0 -> 2.17.0  abrupt_cut: {raw} -> {wrapped}  [a, b]",
        "CHANGED  openai 3.60.0 -> 3.61.0  clean_cut: no exception -> X.Y  [c]",
        "UNTABLED openai 3.61.0  clean_cut: X.Y is not what tests/sdk_behaviour.py says for "
        "3.61.0; add a row  [c]",
    ]
    assert drift(observations[3:], locked) == []


def test_drift_report_on_a_real_sdk_against_an_older_lock(tmp_path: Path) -> None:
    """The comparison step of `make test-latest`, end to end: the real anthropic SDK (the
    locked one) runs the abrupt-cut and stall tests with observations on, and the report
    against a lock that says anthropic 2.14.0 names exactly those two rows as changed."""
    installed = sdk_behaviour.installed("anthropic")
    if expected("anthropic", "abrupt_cut", installed) == expected(
        "anthropic", "abrupt_cut", "2.14.0"
    ):  # pragma: no cover - only if the lock went back before 2.17
        pytest.skip(f"anthropic {installed} behaves as 2.14.0: nothing to report")
    observations = tmp_path / "observations.jsonl"
    env = {**os.environ, sdk_behaviour.OBSERVATIONS_ENV: str(observations)}
    tests = [
        "tests/test_sdk_conformance.py::test_anthropic_stream_faults[anthropic/cut-abrupt-sync-events]",
        "tests/test_sdk_timeouts.py::test_anthropic_read_timeout_on_a_stall",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", *tests],
        cwd=sdk_behaviour.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    old_lock = tmp_path / "uv.lock"
    old_lock.write_text(
        '[[package]]\nname = "anthropic"\nversion = "2.14.0"\n\n'
        '[[package]]\nname = "openai"\nversion = "3.0.0"\n',
        encoding="utf-8",
    )
    lock = ["--lock", str(old_lock)]
    report = subprocess.run(
        [sys.executable, "-m", "tests.sdk_behaviour", "--drift", str(observations), *lock],
        cwd=sdk_behaviour.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert report.returncode == 0, report.stderr
    changed = [line for line in report.stdout.splitlines() if line.startswith("CHANGED")]
    assert [line.split()[5] for line in changed] == ["abrupt_cut:", "stall:"], report.stdout
    for line, key in zip(changed, ("abrupt_cut", "stall"), strict=True):
        before = expected("anthropic", key, "2.14.0").raises
        after = expected("anthropic", key, installed).raises
        assert f"anthropic 2.14.0 -> {installed}  {key}: {before} -> {after}" in line
    assert "UNTABLED" not in report.stdout
    assert report.stdout.rstrip().endswith("sdk drift: 2 differences")


def test_drift_without_observations_fails(tmp_path: Path) -> None:
    """No observations means the suites did not run: exit 1 with a reason."""
    empty = tmp_path / "none.jsonl"
    assert sdk_behaviour.main(["--drift", str(empty)]) == 1
