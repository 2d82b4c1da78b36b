"""The caches behind fast start-up and fast repeated replays: the parsed scenario
library (per process and, for the built-ins, on disk) and a lazy plan's kept writes.
Each must give exactly what the uncached path gives, and notice any change."""

from __future__ import annotations

import gc
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from harness.mock import replay, scenario
from harness.mock.replay import Write, build_plan
from harness.mock.scenario import ScenarioError, load_scenarios

TEXT = "version: 1\nprovider: openai\nevents:\n  - {data: hello}\n  - {data: '[DONE]'}\n"


def test_a_folder_is_parsed_once_until_a_file_changes(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(TEXT)
    first = load_scenarios(tmp_path)
    assert load_scenarios(tmp_path) is first
    # Same size, same second: only the bytes differ.
    (tmp_path / "a.yaml").write_text(TEXT.replace("hello", "howdy"))
    second = load_scenarios(tmp_path)
    assert second is not first
    step = second.get("a").answers[0].events[0]  # type: ignore[union-attr]
    assert step.data == "howdy"
    (tmp_path / "b.yaml").write_text(TEXT)
    assert load_scenarios(tmp_path).names == ["a", "b"]


def test_a_broken_folder_is_never_kept(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("version: 1\nprovider: nope\n")
    for _ in range(2):
        with pytest.raises(ScenarioError, match="provider"):
            load_scenarios(tmp_path)


def test_a_kept_set_whose_capture_went_missing_is_loaded_again(tmp_path: Path) -> None:
    (tmp_path / "c.sse").write_bytes(b"data: x\n\n")
    (tmp_path / "a.yaml").write_text("version: 1\nprovider: openai\nevents:\n  - {file: c.sse}\n")
    load_scenarios(tmp_path)
    (tmp_path / "c.sse").unlink()
    with pytest.raises(ScenarioError, match="no such file beside the scenario"):
        load_scenarios(tmp_path)


def _fresh_builtins(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(cache))
    monkeypatch.setattr(scenario, "_LOADED", {})


def test_the_builtins_are_kept_on_disk_and_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fresh_builtins(monkeypatch, tmp_path)
    parsed = load_scenarios()
    (kept,) = tmp_path.glob("library-*.pickle")
    assert kept.stat().st_mode & 0o022 == 0
    monkeypatch.setattr(scenario, "_LOADED", {})
    calls: list[object] = []
    real = scenario._parse_folder
    monkeypatch.setattr(scenario, "_parse_folder", lambda *a: calls.append(a) or real(*a))
    again = load_scenarios()
    assert calls == []  # read from the disk, not parsed
    assert again.names == parsed.names
    for old, new in zip(parsed, again, strict=True):
        assert new == old
        assert new.path == old.path
        assert new.answers == old.answers


def test_reading_the_disk_cache_leaves_the_collector_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cyclic collector is paused while the library is unpickled, then left as the
    caller had it (harness serve starts with it off; a test process has it on)."""
    _fresh_builtins(monkeypatch, tmp_path)
    load_scenarios()
    paused: list[bool] = []

    def watched(file: Any) -> object:
        paused.append(not gc.isenabled())
        return pickle.Unpickler(file).load()

    monkeypatch.setattr(pickle, "load", watched)
    for collecting in (True, False):
        monkeypatch.setattr(scenario, "_LOADED", {})
        (gc.enable if collecting else gc.disable)()
        try:
            assert load_scenarios().names
            assert gc.isenabled() is collecting
        finally:
            gc.enable()
    assert paused == [True, True]


@pytest.mark.parametrize("spoil", ["garbage", "world-writable", "not a set"])
def test_a_cache_file_that_cannot_be_trusted_is_ignored(
    spoil: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fresh_builtins(monkeypatch, tmp_path)
    expected = load_scenarios().names
    (kept,) = tmp_path.glob("library-*.pickle")
    if spoil == "garbage":
        kept.write_bytes(b"not a pickle")
    elif spoil == "world-writable":
        os.chmod(kept, 0o666)
    else:
        kept.write_bytes(pickle.dumps(["a", "list"]))
    monkeypatch.setattr(scenario, "_LOADED", {})
    assert load_scenarios().names == expected


def test_the_disk_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(scenario, "_LOADED", {})
    assert scenario.cache_folder() is None
    load_scenarios()
    assert list(tmp_path.rglob("*.pickle")) == []


# --- a lazy plan's kept writes -----------------------------------------------------------


def _long_plan(monkeypatch: pytest.MonkeyPatch, events: int = 50) -> replay.Plan:
    monkeypatch.setattr(replay, "LAZY_STEPS", 10)
    text = "version: 1\nprovider: openai\ndelay_ms: 1\nevents:\n" + "".join(
        f"  - {{data: 'e{i}'}}\n" for i in range(events)
    )
    found = scenario.parse_scenario(text, name="long")
    plan = build_plan(found, found.answers[0], target="openai", stream=True)
    assert plan.lazy
    return plan


def test_a_lazy_plan_keeps_its_writes_after_a_whole_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    plan = _long_plan(monkeypatch)
    memo = plan.source
    assert isinstance(memo, replay._Memo)
    cut = plan.iter_writes()
    next(cut)
    cut.close()  # a client that left: nothing kept
    assert memo._kept is None
    whole = tuple(plan.iter_writes())
    assert memo._kept == whole
    assert tuple(plan.iter_writes()) == whole
    assert whole[1] == Write(b"data: e1\n\n", 0.001)


def test_a_lazy_plan_too_long_to_keep_is_made_afresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "MEMO_BYTES", 500)
    plan = _long_plan(monkeypatch)
    memo = plan.source
    assert isinstance(memo, replay._Memo)
    first = tuple(plan.iter_writes())
    assert memo._kept is None
    assert tuple(plan.iter_writes()) == first
    assert memo._kept is None


def test_a_plan_says_when_its_writes_can_go_back_to_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's quick loop is used only for writes known whole, all with bytes,
    none stalled, and none paused at the speed asked for."""
    found = load_scenarios().get("openai/text")
    assert found is not None
    answer = found.answers[0]
    plan = build_plan(found, answer, target="openai", stream=True)  # delay_ms: 20
    assert plan.back_to_back_writes(0) == plan.writes
    assert plan.back_to_back_writes(1) is None  # paused at recorded speed
    stalled = build_plan(
        found,
        answer,
        target="openai",
        stream=True,
        faults=replay.parse_faults("stall_after=2; stall_ms=5"),
    )
    assert stalled.back_to_back_writes(0) is None
    lazy = _long_plan(monkeypatch)
    assert lazy.back_to_back_writes(0) is None  # not known whole yet
    whole = tuple(lazy.iter_writes())
    assert lazy.back_to_back_writes(0) == whole  # kept by that pass
    assert lazy.back_to_back_writes(1) is None


def test_checkouts_side_by_side_keep_their_own_cache_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two checkouts (two folders of built-ins) each keep their file; past eight, the
    oldest go."""
    _fresh_builtins(monkeypatch, tmp_path / "cache")
    for number in range(10):
        checkout = tmp_path / f"checkout{number}"
        checkout.mkdir()
        (checkout / "a.yaml").write_text(TEXT)
        monkeypatch.setattr(scenario, "builtin_scenarios_dir", lambda c=checkout: c)
        load_scenarios()
    assert len(list((tmp_path / "cache").glob("library-*.pickle"))) == scenario._CACHE_FILES
