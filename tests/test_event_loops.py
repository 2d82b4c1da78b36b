"""The server on uvloop (``--loop uvloop``, the ``fast`` extra): the same answers,
byte for byte, as on asyncio's own loop; a missing or unknown loop is refused."""

from __future__ import annotations

import asyncio
import signal
import sys

import httpx
import openai
import pytest

from harness.errors import UsageError
from harness.mock import serve
from harness.mock.options import ServerOptions
from harness.mock.scenario import load_scenarios
from harness.mock.serve import BackgroundLoop, ServerThread, loop_factory
from tests.processes import start_harness

uvloop = pytest.importorskip("uvloop", reason="the fast extra (uvloop) is not installed")
BUILTINS = load_scenarios()


def _body(server: ServerThread, name: str, faults: str = "") -> tuple[int, bytes]:
    headers = {"x-harness-faults": faults} if faults else {}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post(f"/s/{name}/v1/chat/completions", json={"stream": True}, headers=headers)
    return answer.status_code, answer.content


@pytest.mark.parametrize("faults", ["", "chunking=random; seed=3", "error_after=2"])
def test_uvloop_sends_what_asyncio_sends(faults: str) -> None:
    with (
        ServerThread(BUILTINS, ServerOptions()) as plain,
        ServerThread(BUILTINS, ServerOptions(), loop="uvloop") as fast,
    ):
        for name in ("openai/text", "anthropic/tool-calls-parallel", "gemini/utf8-split"):
            assert _body(fast, name, faults) == _body(plain, name, faults)


def test_the_loop_really_is_uvloop() -> None:
    seen: list[type] = []

    async def serve_once(stop: asyncio.Event, ready: object) -> None:
        seen.append(type(asyncio.get_running_loop()))
        ready()  # type: ignore[operator]
        await stop.wait()

    background = BackgroundLoop("uvloop")
    background.start(serve_once, "probe")
    background.stop()
    assert seen == [uvloop.Loop]


def test_an_unknown_or_missing_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="unknown event loop 'trio'"):
        loop_factory("trio")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if not installed
    with pytest.raises(UsageError, match=r"pip install 'harness\[fast\]'"):
        ServerThread(BUILTINS, ServerOptions(), loop="uvloop")
    assert serve.loop_factory("asyncio") is None


def test_harness_serve_loop_uvloop_serves_the_openai_sdk() -> None:
    process, first = start_harness("serve", "--port", "0", "--speed", "0", "--loop", "uvloop")
    try:
        url = first.rsplit(" on ", 1)[1].strip()
        client = openai.OpenAI(base_url=f"{url}/s/openai/text/v1", api_key="x", max_retries=0)
        stream = client.chat.completions.create(model="m", messages=[], stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text == "Hello! How can I help you today?"
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0
