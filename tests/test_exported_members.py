"""The public surface: `harness.__all__` lists exactly the public names."""

from __future__ import annotations

import harness


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
