"""The wheel is what `pip install` users get: it must carry the scenario library."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the wheel once, offline (hatchling comes from the test extras)."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (built,) = out.glob("harness-*.whl")
    return built


def test_wheel_ships_every_builtin_scenario_and_py_typed(wheel: Path) -> None:
    """Every YAML under scenarios/ is in the wheel under harness/_scenarios/, plus py.typed."""
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"harness/_scenarios/{p.relative_to(ROOT / 'scenarios').as_posix()}"
        for p in (ROOT / "scenarios").rglob("*.yaml")
    }
    assert len(expected) >= 30
    assert expected <= names
    assert "harness/py.typed" in names


def test_wheel_ships_the_console(wheel: Path) -> None:
    """The console's page, script, style sheet and icon are package data (no build step)."""
    archive = zipfile.ZipFile(wheel)
    ui = ROOT / "harness" / "mock" / "ui"
    shipped = sorted(p.name for p in ui.iterdir())
    assert shipped == ["console.css", "console.js", "favicon.svg", "index.html"]
    for name in shipped:
        assert archive.read(f"harness/mock/ui/{name}") == (ui / name).read_bytes()


def test_installed_package_finds_its_own_library(wheel: Path, tmp_path: Path) -> None:
    """Unpacked from the wheel, harness loads the library from inside the package."""
    zipfile.ZipFile(wheel).extractall(tmp_path)
    code = (
        "from harness.mock.scenario import builtin_scenarios_dir, load_scenarios;"
        "print(builtin_scenarios_dir()); print(len(load_scenarios()))"
    )
    # -S skips site.py, so the editable install's path hook does not shadow the wheel;
    # the dependencies still come from this environment's site-packages.
    path = os.pathsep.join([str(tmp_path), sysconfig.get_paths()["purelib"]])
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        env={"PYTHONPATH": path, "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        check=True,
    )
    folder, count = result.stdout.split()
    assert Path(folder) == tmp_path / "harness" / "_scenarios"
    assert int(count) == len(list((ROOT / "scenarios").rglob("*.yaml")))
