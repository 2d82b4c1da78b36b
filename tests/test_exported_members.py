"""The public surface: `harness.__all__` lists exactly the public names."""

from __future__ import annotations

import subprocess
import sys

import harness


def fresh_process(code: str) -> list[str]:
    """The lines ``code`` prints in a new interpreter (nothing of harness imported yet)."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return run.stdout.splitlines()


def test_all_lists_every_public_name_and_only_those() -> None:
    """Every name in __all__ exists, and every public module-level name is in __all__."""
    exported = set(harness.__all__)
    public = {
        name
        for name, value in vars(harness).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("harness")
    }
    assert all(hasattr(harness, name) for name in exported)
    assert public <= exported, f"public but not in __all__: {sorted(public - exported)}"
    assert len(harness.__all__) == len(exported), "duplicates in __all__"


def test_public_names_load_their_module_when_first_used() -> None:
    """`import harness` loads none of the core; each public name, asked for, is the
    object its module defines (PEP 562), so `import harness.cli` and the mock server
    import only what they use."""
    out = fresh_process(
        "import sys, harness\n"
        "print(sorted(m for m in sys.modules if m.startswith('harness.')))\n"
        "from harness import normalize\n"
        "print('harness.stream.pipeline' in sys.modules)\n"
    )
    assert out == ["[]", "True"]
    import importlib

    for name in set(harness.__all__) - {"__version__"}:
        module = importlib.import_module(harness._WHERE[name])
        assert getattr(harness, name) is getattr(module, name), name
    assert set(harness._WHERE) == set(harness.__all__) - {"__version__"}
    assert {"normalize", "Delta", "__version__"} <= set(dir(harness))


def test_a_submodule_is_an_attribute_when_first_used() -> None:
    """`import harness; harness.errors` worked while the package imported the core;
    the lazy package imports a submodule when it is first used as an attribute."""
    out = fresh_process(
        "import harness\n"
        "print(harness.errors.HarnessError.__name__, harness.stream.__name__)\n"
        "print(hasattr(harness, 'no_such_module'))\n"
    )
    assert out == ["HarnessError harness.stream", "False"]
