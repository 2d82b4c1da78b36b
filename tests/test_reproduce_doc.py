"""docs/reproduce.md's worked example, run: a pasted capture of openai-python #2722
imports to a byte-identical scenario, the openai SDK fails on it, and shrink reduces it
to the two steps that matter (an event with an id, then a comment)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.mock.replay import build_plan
from harness.mock.scenario import load_scenario

REPRO = """
import os, sys
import openai

client = openai.OpenAI(base_url=os.environ["HARNESS_BASE_URL_OPENAI"], api_key="x", max_retries=0)
try:
    for chunk in client.chat.completions.create(model="m", messages=[], stream=True):
        pass
except Exception as exc:
    print(f"reproduced: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1)
"""


def capture() -> bytes:
    """The report's stream: ids on every event, a ping after each but the last."""
    parts = []
    words = ["Keep", "-alive", " comments", " are", " ignored", "."]
    for number, word in enumerate([*words, None], 1):
        delta = {"content": word} if word else {}
        chunk = {
            "id": "chatcmpl-9",
            "object": "chat.completion.chunk",
            "created": 1735689600,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": None if word else "stop"}],
        }
        parts.append(f"id: {number}\ndata: {json.dumps(chunk, separators=(',', ':'))}\n\n")
        if word:
            parts.append(": ping\n\n")
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def harness(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_the_loop_of_the_reproduce_page(tmp_path: Path) -> None:
    (tmp_path / "capture.sse").write_bytes(capture())
    (tmp_path / "repro.py").write_text(REPRO)
    (tmp_path / "bugs").mkdir()
    done = harness("import", "capture.sse", "-o", "bugs/ids-ping.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    scenario = load_scenario(tmp_path / "bugs" / "ids-ping.yaml", root=tmp_path / "bugs")
    plan = build_plan(scenario, scenario.answers[0], target="openai", stream=True)
    assert b"".join(write.data for write in plan.writes) == capture()  # byte-identical
    assert len(scenario.answers[0].events or []) == 14
    shrink = harness(
        "shrink", "bugs/ids-ping.yaml", "-o", "bugs/ids-ping-min.yaml",
        "--", sys.executable, "repro.py", cwd=tmp_path,
    )  # fmt: skip
    assert shrink.returncode == 0, shrink.stderr
    minimal = load_scenario(tmp_path / "bugs" / "ids-ping-min.yaml", root=tmp_path / "bugs")
    steps = minimal.answers[0].events or []
    assert [step.kind for step in steps] == ["data", "comment"]
    assert steps[0].id is not None
    text = (tmp_path / "bugs" / "ids-ping-min.yaml").read_text()
    assert text.startswith("# Minimized by `harness shrink` from bugs/ids-ping.yaml")
    assert "2 of 14 steps kept" in text
