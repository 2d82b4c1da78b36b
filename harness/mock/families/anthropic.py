"""Anthropic Messages: ``POST /v1/messages``; ``stream`` and ``model`` from the body."""

from __future__ import annotations

from dataclasses import dataclass

from harness.mock.families.base import ApiFamily

__all__ = ["ANTHROPIC"]


@dataclass(frozen=True)
class _Anthropic(ApiFamily):
    def owns(self, path: str) -> bool:
        return path.startswith("/v1/messages")


ANTHROPIC = _Anthropic(
    name="anthropic",
    label="Anthropic",
    rules=("/v1/messages",),
    hint="POST /v1/messages",
)
