"""The pytest plugin (harness.pytest_plugin) and the handle it gives (harness.testing).

End to end: example test files run by pytest in a subprocess (``pytester``), with the
plugin loaded through its ``pytest11`` entry point as a user's install would. In
process: the ``harness_mock`` handle's assertions, on this project's own run of the plugin.
"""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from harness.errors import HarnessError, UsageError
from harness.mock.golden import GoldenMismatch
from harness.mock.scenario import load_scenarios
from harness.testing import (
    ClientAssertionError,
    Harness,
    RunningServer,
    node_test_id,
    select_scenarios,
)

pytest_plugins = ["pytester"]

BODY = {"model": "gpt-4o-mini", "messages": [], "stream": True}


def _post(url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{url}/chat/completions", json=BODY, headers=headers, timeout=10)


# --- end to end, in a subprocess ---------------------------------------------------------


def test_sdk_through_base_url(pytester: pytest.Pytester) -> None:
    """An openai SDK client pointed at harness_mock.base_url() reads the marker's scenario."""
    pytester.makepyfile(
        """
        import re
        import openai
        import pytest

        @pytest.mark.scenario("openai/text")
        def test_text(harness_mock):
            url = harness_mock.base_url()
            assert re.search(r"/t/[0-9a-f]{16}/s/openai/text/v1$", url), url
            client = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
            stream = client.chat.completions.create(model="m", messages=[], stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            assert text == harness_mock.scenario.expect.text
            harness_mock.assert_attempts(1)
            assert harness_mock.requests()[0]["outcome"] == "completed"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_unused_plugin_starts_nothing(pytester: pytest.Pytester) -> None:
    """Loaded through its entry point, the plugin imports no web stack until a fixture is used."""
    pytester.makepyfile(
        """
        import sys

        def test_nothing_started(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("harness")
            assert "harness.testing" not in sys.modules
            assert "quart" not in sys.modules
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    help_text = pytester.runpytest_subprocess("--help")
    help_text.stdout.fnmatch_lines(["harness mock LLM provider:", "*--harness-scenarios=DIR*"])


GOLDEN_TEST = """
import httpx
import pytest

@pytest.mark.scenario("openai/text")
def test_golden(harness_mock):
    body = {"model": "m", "messages": [], "stream": True}
    data = httpx.post(harness_mock.base_url() + "/chat/completions", json=body).content
    harness_mock.assert_golden(data)
"""


def test_goldens_update_then_mismatch(pytester: pytest.Pytester) -> None:
    """--harness-update-goldens writes the golden, the next run passes, a change shows a diff."""
    pytester.makepyfile(GOLDEN_TEST)
    golden = pytester.path / "tests" / "golden" / "openai" / "text.raw.sse"

    update = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--harness-update-goldens")
    update.assert_outcomes(passed=1)
    assert golden.is_file()
    assert b'"id":"<id>"' in golden.read_bytes()  # volatile values masked

    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)

    golden.write_bytes(golden.read_bytes().replace(b"Hello", b"Goodbye", 1))
    mismatch = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    mismatch.assert_outcomes(failed=1)
    mismatch.stdout.fnmatch_lines(
        [
            "*text.raw.sse: the output differs from the golden*",
            "*--- *text.raw.sse*",
            "*+++ actual*",
        ]
    )
    mismatch.stdout.re_match_lines([r"E\s+-.*Goodbye", r"E\s+\+.*Hello"])


def test_xdist_workers_keep_sequences_apart(pytester: pytest.Pytester) -> None:
    """Under -n 4, tests on one responses scenario each get 429 then 200; one golden report."""
    pytester.makepyfile(
        """
        import httpx
        import pytest

        @pytest.mark.parametrize("n", range(8))
        @pytest.mark.scenario("openai/429-then-200")
        def test_sequence(harness_mock, n):
            body = {"model": "m", "messages": [], "stream": True}
            url = harness_mock.base_url() + "/chat/completions"
            assert [httpx.post(url, json=body).status_code for _ in range(2)] == [429, 200]
            harness_mock.assert_attempts(2)
            print("SERVER", harness_mock.server.url)
        """
    )
    stale = pytester.path / "tests" / "golden" / "gone" / "away.raw.sse"
    stale.parent.mkdir(parents=True)
    stale.write_text("old\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "4")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(["*harness: unused goldens*", "  gone/away.raw.sse"])
    assert result.stdout.str().count("harness: unused goldens") == 1  # the controller only
    assert stale.exists()  # reported, never deleted


def test_unused_golden_report_can_fail_the_run(pytester: pytest.Pytester) -> None:
    """The unused-golden report warns; with --harness-strict-goldens the run fails."""
    pytester.makepyfile("def test_nothing():\n    pass\n")
    stale = pytester.path / "goldens" / "openai" / "renamed.openai.sse"
    stale.parent.mkdir(parents=True)
    stale.write_text("old\n")
    (pytester.path / "goldens" / "openai" / "text.openai.sse").write_text("in use\n")
    options = ["-p", "no:cacheprovider", "--harness-goldens", "goldens"]

    warned = pytester.runpytest_subprocess(*options)
    assert warned.ret == 0
    warned.stdout.fnmatch_lines(["*1 golden file(s) in *goldens belong to no scenario*"])
    assert "text.openai.sse" not in warned.stdout.str()

    failed = pytester.runpytest_subprocess(*options, "--harness-strict-goldens")
    assert failed.ret == pytest.ExitCode.TESTS_FAILED
    failed.stdout.fnmatch_lines(["*This fails the run (--harness-strict-goldens).*"])


def test_strict_teardown(pytester: pytest.Pytester) -> None:
    """An unmatched request and an unused responses step fail teardown, unless opted out."""
    pytester.makepyfile(
        """
        import httpx
        import pytest

        BODY = {"model": "nothing-matches", "messages": [], "stream": True}

        def post(url):
            return httpx.post(url + "/chat/completions", json=BODY).status_code

        def test_unmatched(harness_mock):
            assert post(harness_mock.base_url()) == 404

        @pytest.mark.scenario("openai/429-then-200")
        def test_gave_up(harness_mock):
            assert post(harness_mock.base_url()) == 429

        @pytest.mark.harness(strict=False)
        @pytest.mark.scenario("openai/429-then-200")
        def test_marker_opt_out(harness_mock):
            assert post(harness_mock.base_url()) == 429

        @pytest.mark.scenario("openai/429-then-200")
        def test_flag_opt_out(harness_mock):
            harness_mock.strict = False
            assert post(harness_mock.base_url()) == 429

        class TestRelaxed:
            @pytest.fixture
            def harness_strict(self):
                return False

            @pytest.mark.scenario("openai/429-then-200")
            def test_fixture_opt_out(self, harness_mock):
                assert post(harness_mock.base_url()) == 429

        @pytest.mark.scenario("openai/429-then-200")
        def test_failed_itself(harness_mock):
            assert post(harness_mock.base_url()) == 200  # fails: no teardown error on top
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5, failed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_unmatched*",
            "*harness strict teardown: *test_unmatched did not use the mock provider*",
            "*POST /v1/chat/completions matched no scenario (404): No scenario matches*",
            "*@pytest.mark.harness(strict=False) or set harness_mock.strict = False*",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_gave_up*",
            "*scenario openai/429-then-200 has 2 responses (429 then 200) but the client "
            "sent only 1 request(s) to it*",
        ]
    )
    assert "ERROR at teardown of test_failed_itself" not in result.stdout.str()


def test_glob_and_names_parametrize(pytester: pytest.Pytester) -> None:
    """A glob or several names give one test per scenario, with the names as ids."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.scenario("openai/http-*")
        def test_glob(harness_mock):
            assert harness_mock.scenario.name.startswith("openai/http-")

        @pytest.mark.scenario("anthropic/text", "gemini/text")
        def test_names(harness_mock):
            assert harness_mock.base_url().endswith(harness_mock.scenario.name + "/v1")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*::test_glob[[]openai/http-429[]] PASSED*",
            "*::test_glob[[]openai/http-500[]] PASSED*",
            "*::test_names[[]anthropic/text[]] PASSED*",
            "*::test_names[[]gemini/text[]] PASSED*",
        ]
    )


def test_unknown_scenario_is_a_collection_error(pytester: pytest.Pytester) -> None:
    """An unknown name or a glob matching nothing is a collection error naming the closest."""
    pytester.makepyfile(
        test_name="""
        import pytest

        @pytest.mark.scenario("openai/txt")
        def test_typo(harness_mock):
            pass
        """,
        test_glob="""
        import pytest

        @pytest.mark.scenario("openai/cut-*", "anthropic/nothing-*")
        def test_glob(harness_mock):
            pass
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines_random(
        [
            "*test_typo: @pytest.mark.scenario: no scenario named 'openai/txt' in the "
            "built-in library. Closest: openai/text*",
            "*test_glob: @pytest.mark.scenario: no scenario in the built-in library matches "
            "'anthropic/nothing-*'. Closest: *",
        ]
    )


def test_option_precedence(pytester: pytest.Pytester) -> None:
    """Speed: the command line beats a fixture override, which beats the marker."""
    pytester.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.harness(speed=0.5)
        def test_marker(harness_mock, harness_server):
            print("SPEED marker", harness_mock.speed, harness_mock.server is harness_server)

        def test_default(harness_mock, harness_server):
            print("SPEED default", harness_mock.speed, harness_mock.server is harness_server)
        """
    )
    sub = pytester.mkpydir("sub")
    (sub / "conftest.py").write_text(
        "import pytest\n\n@pytest.fixture\ndef harness_speed():\n    return 0.25\n"
    )
    (sub / "test_fixture.py").write_text(
        "import pytest\n\n@pytest.mark.harness(speed=0.5)\ndef test_fixture(harness_mock):\n"
        "    print('SPEED fixture', harness_mock.speed)\n"
    )
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    plain.assert_outcomes(passed=3)
    plain.stdout.fnmatch_lines_random(
        ["*SPEED marker 0.5 False*", "*SPEED default 0.0 True*", "*SPEED fixture 0.25*"]
    )
    forced = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", "--harness-speed", "2")
    forced.assert_outcomes(passed=3)
    forced.stdout.fnmatch_lines_random(
        ["*SPEED marker 2.0 True*", "*SPEED default 2.0 True*", "*SPEED fixture 2.0*"]
    )


# --- --harness-port and a harness_server override --------------------------------------

PYTEST_MD = Path(__file__).resolve().parent.parent / "docs" / "pytest.md"


def _free_port() -> int:
    """A free port below the ephemeral range (Linux: 32768 and up), so that no server
    of another test, bound to port 0, can take it before the test under way binds it."""
    for port in random.sample(range(20000, 32000), 200):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 20000-32000")


def test_harness_port_option(pytester: pytest.Pytester) -> None:
    """--harness-port N puts the session server on N; a test at another speed gets a free port."""
    port = _free_port()
    pytester.makepyfile(
        f"""
        import httpx
        import pytest

        @pytest.mark.scenario("openai/text")
        def test_fixed(harness_mock, harness_server):
            assert harness_mock.server is harness_server
            assert harness_server.url == "http://127.0.0.1:{port}"
            url = "http://127.0.0.1:{port}/t/" + harness_mock.test_id + "/s/openai/text/v1"
            body = {{"model": "m", "messages": [], "stream": True}}
            assert httpx.post(url + "/chat/completions", json=body).status_code == 200
            harness_mock.assert_attempts(1)

        @pytest.mark.harness(speed=0.5)
        def test_other_speed(harness_mock):
            assert harness_mock.server.port != {port}
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--harness-port", str(port))
    result.assert_outcomes(passed=2)
    help_text = pytester.runpytest_subprocess("--help")
    help_text.stdout.fnmatch_lines(["*--harness-port=N*"])


@pytest.mark.parametrize("value", ["eighty", "-1", "65536", "8.5", ""])
def test_harness_port_bad_value_is_a_usage_error(pytester: pytest.Pytester, value: str) -> None:
    """A --harness-port that is no integer in 0..65535 is a usage error naming the option."""
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--harness-port={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*argument --harness-port: a port is an integer from 0 to 65535 (0: a free one), "
            f"got {value!r}*"
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_harness_port_in_use_says_which_and_how_to_fix(pytester: pytest.Pytester) -> None:
    """A --harness-port in use errors the tests that need it, naming the port and the fix."""
    pytester.makepyfile(
        "def test_one(harness_mock):\n    pass\n\ndef test_two(harness_mock):\n    pass\n"
    )
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--harness-port={port}")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            f"*--harness-port {port}: the harness server cannot listen on 127.0.0.1:{port}: "
            "*in use*",
            "*To fix it: stop what holds the port*choose another, or pass --harness-port 0 *",
        ]
    )
    assert "--port 0" not in result.stdout.str()  # the CLI's hint, not pytest's
    assert "Traceback" not in result.stdout.str()


def test_harness_port_with_xdist(pytester: pytest.Pytester) -> None:
    """A fixed --harness-port is refused with several xdist workers, and works with one."""
    port = _free_port()
    pytester.makepyfile(
        f"def test_port(harness_mock):\n    assert harness_mock.server.port == {port}\n"
    )
    several = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--harness-port", str(port)
    )
    assert several.ret == pytest.ExitCode.USAGE_ERROR
    several.stderr.fnmatch_lines(
        [f"*--harness-port {port} cannot serve 2 xdist workers*one port*--harness-port 0*-n 1*"]
    )
    one = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "1", "--harness-port", str(port)
    )
    one.assert_outcomes(passed=1)
    spread = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tx", "2*popen", "--dist", "load", "--harness-port", str(port)
    )
    assert spread.ret == pytest.ExitCode.USAGE_ERROR


def _doc_override() -> str:
    """The conftest.py of docs/pytest.md that overrides harness_server."""
    blocks = re.findall(r"```python\n(.*?)```", PYTEST_MD.read_text(encoding="utf-8"), re.S)
    found = [block for block in blocks if "def harness_server(" in block]
    assert len(found) == 1, "docs/pytest.md has one harness_server override example"
    return found[0]


def test_harness_server_override_from_the_docs(pytester: pytest.Pytester) -> None:
    """The docs' harness_server override is used by harness_mock, at any port and speed."""
    pytester.makeconftest(_doc_override())
    pytester.makepyfile(
        """
        import httpx
        import pytest

        @pytest.mark.scenario("openai/429-then-200")
        def test_override(harness_mock, harness_server):
            assert harness_mock.server is harness_server
            body = {"model": "m", "messages": [], "stream": True}
            url = harness_mock.base_url() + "/chat/completions"
            assert [httpx.post(url, json=body).status_code for _ in range(2)] == [429, 200]
            harness_mock.assert_attempts(2)
            admin = harness_server.url + "/_harness/requests"
            assert httpx.get(admin).status_code == 401  # the override's admin token
            print("PORT", harness_server.port)

        @pytest.mark.harness(speed=0.5)
        @pytest.mark.scenario("openai/text")
        def test_other_speed(harness_mock, harness_server):
            assert harness_mock.server is not harness_server
            assert harness_mock.speed == 0.5
            assert harness_mock.scenario.name == "openai/text"
        """
    )
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    plain.assert_outcomes(passed=2)
    port = _free_port()
    fixed = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s", f"--harness-port={port}")
    fixed.assert_outcomes(passed=2)
    fixed.stdout.fnmatch_lines([f"*PORT {port}*"])


def test_harness_server_override_errors(pytester: pytest.Pytester) -> None:
    """An override that gives no RunningServer, or ignores --harness-port, errors clearly."""
    pytester.makepyfile(
        test_shape="""
        import pytest
        from harness.testing import run_server

        @pytest.fixture(scope="session")
        def harness_server():
            return run_server()  # not entered: no server

        def test_shape(harness_mock):
            pass
        """,
        test_port="""
        import pytest
        from harness.testing import run_server

        @pytest.fixture(scope="session")
        def harness_server():
            with run_server() as server:
                yield server

        def test_port(harness_mock):
            pass
        """,
    )
    plain = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_shape.py")
    plain.assert_outcomes(errors=1)
    plain.stdout.fnmatch_lines(
        [
            "*the harness_server fixture must give a harness.testing.RunningServer, got "
            "_GeneratorContextManager*",
            "*with harness.testing.run_server(...) as server: yield server*",
        ]
    )
    assert "KeyError" not in plain.stdout.str()
    port = _free_port()
    ignored = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--harness-port={port}", "test_port.py"
    )
    ignored.assert_outcomes(errors=1)
    ignored.stdout.fnmatch_lines(
        [
            f"*--harness-port {port} is given, but the harness_server fixture that overrides "
            "harness's listens on port *",
            '*port=pytestconfig.getoption("harness_port")*',
        ]
    )


# --- the handle, in process ---------------------------------------------------------------


def test_node_test_id_is_short_stable_and_url_safe() -> None:
    """The test id is 16 hex digits of the node id's hash: same node, same id."""
    one = node_test_id("tests/test_a.py::test_b[openai/text]")
    assert re.fullmatch(r"[0-9a-f]{16}", one)
    assert one == node_test_id("tests/test_a.py::test_b[openai/text]")
    assert one != node_test_id("tests/test_a.py::test_b[openai/cut-clean]")


def test_base_urls(harness_mock: Harness) -> None:
    """base_url has the test's /t/{id}/ prefix, /v1 for openai only; unknown names are refused."""
    prefix = f"{harness_mock.server.url}/t/{harness_mock.test_id}"
    assert harness_mock.url == prefix
    assert harness_mock.base_url("openai/text") == f"{prefix}/s/openai/text/v1"
    assert harness_mock.base_url("anthropic/text", "anthropic") == f"{prefix}/s/anthropic/text"
    assert harness_mock.base_url() == f"{prefix}/v1"
    assert harness_mock.scenario is None
    with pytest.raises(UsageError, match="Closest: openai/text"):
        harness_mock.base_url("openai/txt")


def test_select_scenarios_errors() -> None:
    """select_scenarios refuses no pattern, non-strings, unknown names and empty globs."""
    scenarios = load_scenarios()
    assert select_scenarios(scenarios, ["openai/text", "openai/te*"], "x") == ["openai/text"]
    with pytest.raises(UsageError, match="at least one scenario name"):
        select_scenarios(scenarios, [], "x")
    with pytest.raises(UsageError, match="selected by name, got 3"):
        select_scenarios(scenarios, [3], "x")
    with pytest.raises(UsageError, match="no scenario in x matches 'zzz/\\*'"):
        select_scenarios(scenarios, ["zzz/*"], "x")


@pytest.mark.scenario("openai/429-then-200")
def test_openai_sdk_honours_retry_after(harness_mock: Harness) -> None:
    """The openai SDK waits out the 429's retry-after (1 s) before its retry."""
    client = openai.OpenAI(base_url=harness_mock.base_url(), api_key="x", max_retries=1)
    with client:
        stream = client.chat.completions.create(model="m", messages=[], stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert harness_mock.attempts() == 2
    assert harness_mock.attempts("openai/text") == 0
    harness_mock.assert_attempts(2, "openai/429-then-200")
    harness_mock.assert_retry_after_honoured()


@pytest.mark.scenario("openai/429-then-200")
def test_early_retry_is_caught(harness_mock: Harness) -> None:
    """A retry sent at once after a 429 with retry-after 1 fails the assertion."""
    assert [_post(harness_mock.base_url()).status_code for _ in range(2)] == [429, 200]
    with pytest.raises(AssertionError, match=r"retried too early:\n.*retry-after 1 s"):
        harness_mock.assert_retry_after_honoured()
    with pytest.raises(AssertionError, match=r"expected 3 request\(s\), the client sent 2"):
        harness_mock.assert_attempts(3)


def test_assertions_raise_a_harness_error(harness_mock: Harness) -> None:
    """A failed assertion is a ClientAssertionError: a HarnessError and an AssertionError."""
    with pytest.raises(ClientAssertionError) as info:
        harness_mock.assert_attempts(1)
    assert isinstance(info.value, HarnessError)
    assert isinstance(info.value, AssertionError)
    assert (
        str(info.value) == "expected 1 request(s), the client sent 0\nthis test's journal is empty"
    )


@pytest.mark.scenario("openai/429-then-200")
def test_a_rejected_fault_header_leaves_the_answers_own_retry_after(harness_mock: Harness) -> None:
    """A request refused for its fault header (400, no faults applied) still counts with
    its answer's own retry-after: a retry at once after it is too early."""
    url = harness_mock.base_url()
    assert _post(url, {"x-harness-faults": "no_such_fault=1"}).status_code == 400
    assert harness_mock.server.entries(harness_mock.test_id)[0].faults is None
    assert _post(url).status_code == 429
    with pytest.raises(ClientAssertionError, match=r"request 1 .*HTTP 400\) said retry-after 1 s"):
        harness_mock.assert_retry_after_honoured()
    harness_mock.strict = False  # the 200 of the sequence was never asked for


def test_retry_after_from_a_fault_header(harness_mock: Harness) -> None:
    """An http_error fault's retry_after counts too; without a retry there is nothing to check."""
    faults = {"x-harness-faults": "http_error=429; retry_after=0.2"}
    url = harness_mock.base_url("openai/text")
    assert _post(url, faults).status_code == 429
    with pytest.raises(AssertionError, match="nothing to check"):
        harness_mock.assert_retry_after_honoured()
    time.sleep(0.25)
    assert _post(url, faults).status_code == 429
    harness_mock.assert_retry_after_honoured()


@pytest.mark.scenario("openai/http-500")
def test_stopped_after_an_http_error(harness_mock: Harness) -> None:
    """One request answered 500 passes; a second request to it fails the assertion."""
    assert _post(harness_mock.base_url()).status_code == 500
    harness_mock.assert_stopped_after_error()
    assert _post(harness_mock.base_url()).status_code == 500
    with pytest.raises(AssertionError, match="the client sent 1 more request"):
        harness_mock.assert_stopped_after_error()


def test_stopped_after_stream_errors(harness_mock: Harness) -> None:
    """An in-band error (expect.error) and an error fault count; a clean answer does not."""
    assert _post(harness_mock.base_url("openai/text")).status_code == 200
    with pytest.raises(AssertionError, match="nothing to check"):
        harness_mock.assert_stopped_after_error()
    assert _post(harness_mock.base_url("openai/error-midstream")).status_code == 200
    harness_mock.assert_stopped_after_error()
    harness_mock.server.journal.reset(harness_mock.test_id)
    url = harness_mock.base_url("openai/length")
    assert _post(url, {"x-harness-faults": "error_after=1"}).status_code == 200
    harness_mock.assert_stopped_after_error()
    assert _post(url).status_code == 200
    with pytest.raises(AssertionError, match=r"after the error answer to request 1 \(openai/len"):
        harness_mock.assert_stopped_after_error()


def test_problems_lists_what_teardown_reports(harness_mock: Harness) -> None:
    """problems() names unmatched requests and responses sequences left unused."""
    assert _post(harness_mock.base_url()).status_code == 404
    assert _post(harness_mock.base_url("anthropic/529-then-200")).status_code == 529
    problems = harness_mock.problems()
    assert len(problems) == 2
    assert problems[0].startswith("POST /v1/chat/completions matched no scenario (404)")
    assert "anthropic/529-then-200 has 2 responses (529 then 200)" in problems[1]
    harness_mock.strict = False  # what this test provoked is what teardown would report


@pytest.mark.scenario("openai/text")
def test_assert_golden_in_process(harness_mock: Harness, tmp_path: Path) -> None:
    """assert_golden: missing, written with update, equal, then different with a diff."""
    harness_mock.goldens = tmp_path
    data = _post(harness_mock.base_url()).content
    with pytest.raises(GoldenMismatch, match=r"no golden file .*--harness-update-goldens"):
        harness_mock.assert_golden(data)
    harness_mock.update_goldens = True
    harness_mock.assert_golden(data)
    harness_mock.update_goldens = False
    harness_mock.assert_golden(data)
    with pytest.raises(GoldenMismatch, match="differs from the golden") as info:
        harness_mock.assert_golden(data + b"data: extra\n\n")
    assert "+data: extra" in info.value.diff
    with pytest.raises(UsageError, match="named after scenarios"):
        harness_mock.assert_golden(data, "my/own-name")
    harness_mock.assert_golden(data, "openai/text", kind="raw")


def test_assert_golden_needs_a_name(harness_mock: Harness) -> None:
    """Without a marker scenario, assert_golden needs a name."""
    with pytest.raises(UsageError, match="needs a scenario name"):
        harness_mock.assert_golden(b"")


@pytest.mark.harness(speed=0.02)
@pytest.mark.scenario("openai/slow-first-byte")
def test_marker_speed_gets_its_own_server(
    harness_mock: Harness, harness_server: RunningServer
) -> None:
    """speed=0.02 replays the 3 s silence in about 60 ms, on a server of that speed."""
    assert harness_mock.speed == 0.02
    assert harness_mock.server is not harness_server
    started = time.monotonic()
    assert _post(harness_mock.base_url()).status_code == 200
    assert time.monotonic() - started >= 0.06


@pytest.mark.harness(unknown=True)
def test_marker_rejects_unknown_keywords(request: pytest.FixtureRequest) -> None:
    """@pytest.mark.harness takes only speed= and strict=."""
    with pytest.raises(UsageError, match="only the keywords speed= and strict="):
        request.getfixturevalue("harness_mock")


@pytest.mark.harness(speed=-1)
def test_marker_rejects_a_negative_speed(request: pytest.FixtureRequest) -> None:
    """A speed must be a finite number >= 0."""
    with pytest.raises(ValueError, match="finite number >= 0, got -1"):
        request.getfixturevalue("harness_mock")


# --- the old fixture name, the old import path, no pytest in harness.testing -------------


def test_old_fixture_name_warns_and_gives_the_same_handle(
    request: pytest.FixtureRequest, harness_mock: Harness
) -> None:
    """The fixture `harness` is a deprecated alias of `harness_mock`: same handle, a warning."""
    with pytest.warns(DeprecationWarning, match="fixture 'harness' is deprecated.*'harness_mock'"):
        old = request.getfixturevalue("harness")
    assert old is harness_mock


def test_old_fixture_name_still_parametrizes(pytester: pytest.Pytester) -> None:
    """A user's test on the old name still gets its marker's scenarios, with a warning."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.scenario("openai/http-*")
        def test_old(harness):
            assert harness.scenario.name.startswith("openai/http-")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, warnings=2)
    # Reported at the user's test (line 3: its first line, the marker), not in harness.
    result.stdout.fnmatch_lines(
        [
            "*test_old_fixture_name_still_parametrizes.py:3: DeprecationWarning: the pytest "
            "fixture 'harness' is deprecated*"
        ]
    )


def test_moved_names_are_still_importable_from_the_plugin() -> None:
    """Harness, node_test_id and select_scenarios moved to harness.testing; the plugin
    still gives them (the same objects)."""
    import harness.pytest_plugin as plugin
    import harness.testing

    for name in plugin.__all__:
        assert getattr(plugin, name) is getattr(harness.testing, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = plugin.nothing


def test_testing_imports_no_pytest() -> None:
    """harness.testing (the handle, the server, the selection helpers) works without pytest."""
    code = "import sys, harness.testing; assert 'pytest' not in sys.modules, 'pytest loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_added_scenarios_and_the_kit_report(pytester: pytest.Pytester) -> None:
    """--harness-add-scenarios serves a folder beside the built-ins (a kit case runs on
    one of each), and --harness-report writes the kit's cases from every xdist worker."""
    pytester.makefile(
        ".yaml",
        **{
            "mine/hello": (
                "version: 1\nprovider: openai\nevents:\n"
                "  - {data: {id: c1, object: chat.completion.chunk, created: 1, model: m, "
                'choices: [{index: 0, delta: {content: "mine"}, finish_reason: stop}]}}\n'
                '  - {data: "[DONE]"}\nexpect: {text: mine}\n'
            )
        },
    )
    pytester.makepyfile(
        """
        import httpx, json
        from harness.conformance import Outcome, conformance_tests

        def run(base_url, scenario):
            out = Outcome()
            body = {"model": "m", "messages": [], "stream": True}
            with httpx.stream("POST", base_url + "/chat/completions", json=body) as answer:
                for line in answer.iter_lines():
                    if line.startswith("data: {"):
                        for choice in json.loads(line[6:]).get("choices", []):
                            out.text += choice["delta"].get("content") or ""
                            out.finish_reason = choice.get("finish_reason") or out.finish_reason
            return out

        test_kit = conformance_tests(
            run, scenarios=["hello", "openai/text"], faults="none,chunking=byte",
            cannot=["usage", "tool_calls"],
        )
        """
    )
    (pytester.path / "mine").rename(pytester.path / "extra")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--harness-add-scenarios", "extra",
        "--harness-report", "out",
    )  # fmt: skip
    result.assert_outcomes(passed=4)
    report = json.loads((pytester.path / "out" / "results.json").read_text())
    assert sorted((r["scenario"], r["fault"]) for r in report["results"]) == [
        ("hello", "chunking=byte"),
        ("hello", "none"),
        ("openai/text", "chunking=byte"),
        ("openai/text", "none"),
    ]
    assert not (pytester.path / "out" / ".parts").exists()
    assert (pytester.path / "out" / "junit.xml").read_text().count("<testcase") == 4
