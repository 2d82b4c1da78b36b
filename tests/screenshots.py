"""``make screenshots``: the console's views as PNG files for the docs.

Real data throughout: the built-in scenarios served on a loopback port, requests made
by the official openai and anthropic SDKs (one with a fault), a golden folder with one
changed line, and a conformance run of the openai client on the OpenAI scenarios.
Written to docs/screenshots/ (atomically, as every file harness writes).

    python -m tests.screenshots [--out DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anthropic
import openai

from harness.atomic import write_atomic
from harness.conformance.report import load_run
from harness.mock.options import ServerOptions
from harness.mock.scenario import load_scenarios
from harness.mock.serve import ServerThread
from tests import browser

ROOT = Path(__file__).resolve().parent.parent


def _requests(url: str) -> None:
    chat = openai.OpenAI(base_url=f"{url}/t/test_chat_stream/s/openai/text/v1", api_key="sk-x")
    for _ in chat.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    ):
        pass
    faulty = openai.OpenAI(
        base_url=f"{url}/t/test_chat_cut/f/disconnect_inside=4/s/openai/text/v1",
        api_key="sk-x",
        max_retries=0,
    )
    try:
        for _ in faulty.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass
    except openai.APIError:
        pass
    claude = anthropic.Anthropic(
        base_url=f"{url}/t/test_claude/s/anthropic/tool-calls-parallel", api_key="x"
    )
    with claude.messages.stream(
        model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        stream.get_final_message()


def _report(folder: Path) -> dict[str, Any]:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "conformance",
            "--client",
            "openai",
            "--select",
            "openai/*",
            "--report",
            str(folder),
        ],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    return load_run(folder / "results.json").to_json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    if browser.find_browser() is None:
        print(f"make screenshots: Chromium not found; {browser.INSTALL_HINT}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="harness-screenshots-"))
    try:
        goldens = work / "golden"
        shutil.copytree(ROOT / "tests" / "golden", goldens)
        changed = goldens / "openai" / "text.raw.sse"
        changed.write_bytes(changed.read_bytes().replace(b'"content":" How"', b'"content":" Why"'))
        options = ServerOptions(goldens=goldens, report=_report(work / "report"))
        with ServerThread(load_scenarios(), options) as server, browser.chromium(1400, 900) as page:
            _requests(server.url)
            views = {
                "scenarios": "#/scenarios",
                "timeline": "#/scenario/anthropic%2Ftext?faults=error_after%3D4",
                "journal": "#/journal",
                "request": "",
                "goldens": "#/goldens",
                "report": "#/report",
            }
            args.out.mkdir(parents=True, exist_ok=True)
            for name, fragment in views.items():
                if name == "request":
                    seq = next(e.seq for e in server.journal.entries("test_chat_cut"))
                    fragment = f"#/request/{seq}"
                page.get(f"{server.url}/_harness/ui/{fragment}")
                browser.wait_for(
                    lambda: (
                        "Loading" not in page.find_element("id", "main").text
                        and "Rendering" not in page.find_element("id", "main").text
                    ),
                    timeout=30,
                )
                time.sleep(0.3)  # the journal's first poll, fonts
                path = args.out / f"{name}.png"
                write_atomic(path, page.get_screenshot_as_png())
                print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
