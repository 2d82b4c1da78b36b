"""Anthropic Messages: ``POST /v1/messages``; ``stream`` and ``model`` from the body."""

from __future__ import annotations

from harness.mock.families.base import ApiFamily

__all__ = ["ANTHROPIC"]


class _Anthropic(ApiFamily):
    # No field of its own: ApiFamily's dataclass methods serve it as they are (a
    # second @dataclass would only make them again, at start-up).

    def owns(self, path: str) -> bool:
        return path.startswith("/v1/messages")


ANTHROPIC = _Anthropic(
    name="anthropic",
    label="Anthropic",
    rules=("/v1/messages",),
    hint="POST /v1/messages",
)
