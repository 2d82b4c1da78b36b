"""`harness normalize`: arguments, exit codes, and streaming through a real process."""

from __future__ import annotations

import argparse
import io
import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import _parser, main
from tests.streams import anthropic_text, collect, gemini_stream, gm_chunk, oa_chunk, sse


def _run_main(
    argv: list[str],
    stdin: bytes,
    monkeypatch: pytest.MonkeyPatch,
    capfdbinary: pytest.CaptureFixture[bytes],
) -> tuple[int, bytes, bytes]:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = main(argv)
    out, err = capfdbinary.readouterr()
    return code, out, err


def test_normalize_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A capture file is normalized to stdout with exit 0."""
    capture = tmp_path / "capture.sse"
    capture.write_bytes(anthropic_text("Hello"))
    code, out, err = _run_main(
        ["normalize", "--provider", "anthropic", str(capture)], b"", monkeypatch, capfdbinary
    )
    assert (code, err) == (0, b"")
    assert collect(out)["text"] == "Hello"
    assert out.endswith(b"data: [DONE]\n\n")


def test_normalize_stdin_and_prompt_tokens(
    monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """Standard input is read when no file is given; --prompt-tokens feeds the usage fallback."""
    stream = gemini_stream(gm_chunk({"text": "abcd"}, finish="STOP"))
    code, out, _ = _run_main(
        ["normalize", "-p", "gemini", "--prompt-tokens", "11"], stream, monkeypatch, capfdbinary
    )
    assert code == 0
    assert collect(out)["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 1,
        "total_tokens": 12,
    }


def test_broken_stream_still_exits_zero(
    monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A stream that ends in a stream_error chunk is a successful run: reporting it is the job."""
    code, out, _ = _run_main(
        ["normalize", "-p", "openai", "-"],
        sse(oa_chunk({"content": "x"})),
        monkeypatch,
        capfdbinary,
    )
    assert code == 0
    assert collect(out)["error"]["code"] == "connection_closed"


def test_no_usage_flag(
    monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """--no-usage drops the usage chunk."""
    code, out, _ = _run_main(
        ["normalize", "-p", "anthropic", "--no-usage"],
        anthropic_text("x"),
        monkeypatch,
        capfdbinary,
    )
    assert code == 0
    assert b'"usage"' not in out


def test_unknown_provider_is_a_one_line_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown provider exits 2 and lists the choices."""
    with pytest.raises(SystemExit) as exit_info:
        main(["normalize", "--provider", "cohere"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'cohere'" in err
    assert "anthropic" in err


def test_missing_file_is_unreadable_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing input file exits 1 (unreadable input, as README and --help say) with one
    line naming it, not 2 with the top-level usage."""
    missing = tmp_path / "nope.sse"
    assert main(["normalize", "-p", "openai", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err == f"harness normalize: cannot read {missing}: No such file or directory\n"


def test_normalize_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    """`harness normalize --help` states 0, 1 and 2, as the README does."""
    with pytest.raises(SystemExit):
        main(["normalize", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "0 when a stream was produced" in out
    assert "1 when the input could not be read" in out
    assert "2 for unusable arguments" in out
    readme = " ".join((Path(__file__).parent.parent / "README.md").read_text().split())
    assert "1 when the input could not be read; 2 for unusable arguments" in readme


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`harness --version` prints the package version and exits 0."""
    import harness

    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"harness {harness.__version__}\n"


def test_every_subcommand_has_a_description() -> None:
    """Each subcommand's --help opens with a description line, not just its usage."""
    parser = _parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) >= {"normalize", "serve", "list", "show", "check", "scan"}
    for name, sub in commands.choices.items():
        assert sub.description, f"harness {name} --help has no description"


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_a_named_command_is_the_only_subcommand_built_and_is_built_whole() -> None:
    """`harness serve ...` builds serve's parser alone (start-up); it parses and helps
    exactly as the one inside the whole command line."""
    whole = _subcommands(_parser())
    for name, full in whole.items():
        alone = _subcommands(_parser(name))
        assert list(alone) == [name]
        assert alone[name].format_help() == full.format_help()
    for other in (None, "--help", "serv", "--version"):
        assert list(_subcommands(_parser(other))) == list(whole)


@pytest.mark.parametrize("command", ["serve", "record"])
@pytest.mark.parametrize("port", ["99999", "-1", "65536", "http"])
def test_bad_port_is_a_usage_error(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--port outside 0..65535 is a one-line usage error with exit 2, not a traceback."""
    extra = (
        ["--upstream", "http://127.0.0.1:9", "--cassette", "x.yaml"] if command == "record" else []
    )
    with pytest.raises(SystemExit) as exit_info:
        main([command, *extra, "--port", port])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        f"argument --port: a port is an integer from 0 to 65535 (0: a free one), got {port!r}"
        in err
    )
    assert "Traceback" not in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`harness` alone prints help and exits 2."""
    assert main([]) == 2
    assert "normalize" in capsys.readouterr().err


def _read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = 20.0) -> bytes:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    seen = b""
    while marker not in seen:
        if not selector.select(timeout):
            pytest.fail(f"no output containing {marker!r} within {timeout}s; got {seen!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        seen += chunk
    return seen


def test_output_follows_input_through_a_pipe() -> None:
    """A real `python -m harness normalize` writes each frame before its input has ended."""
    with subprocess.Popen(
        [sys.executable, "-m", "harness", "normalize", "--provider", "openai"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        try:
            proc.stdin.write(sse(oa_chunk({"content": "first"})))
            proc.stdin.flush()
            early = _read_until(proc, b"first")  # while stdin is still open
            assert b'"content":"first"' in early
            proc.stdin.write(sse(oa_chunk({}, "stop")) + sse("[DONE]"))
            proc.stdin.close()
            rest = proc.stdout.read()
            assert proc.wait(timeout=20) == 0
        finally:
            proc.kill()
    assert (early + rest).endswith(b"data: [DONE]\n\n")


def test_normalize_does_not_import_the_web_stack() -> None:
    """`harness normalize` loads only the pure core: no quart, hypercorn, httpx, yaml, vcr."""
    probe = (
        "import sys, io\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(b''))\n"
        "from harness.cli import _parser, main\n"
        "main(['normalize', '-p', 'openai'])\n"
        "heavy = {'quart', 'hypercorn', 'httpx', 'httpx2', 'yaml', 'vcr', 'asyncio', 'pydantic'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == b"[]"


def test_normalize_offers_every_adapter_and_only_those() -> None:
    """`harness normalize --provider` lists the formats' names (so that building the
    command line imports no adapter): they must be the adapters' registry."""
    from harness.stream.adapters import ADAPTERS

    normalize = next(
        action for action in _parser()._actions if isinstance(action, argparse._SubParsersAction)
    ).choices["normalize"]
    provider = next(a for a in normalize._actions if "--provider" in a.option_strings)
    assert sorted(provider.choices or ()) == sorted(ADAPTERS)
