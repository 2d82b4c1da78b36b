"""Gemini: ``POST /{version}/models/{model}:streamGenerateContent`` and ``:generateContent``.

The model comes from the path (from the body only when the path names none), the
stream flag from the action:
``streamGenerateContent`` streams (``?alt=sse``), ``generateContent`` answers whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.mock.families.base import ApiFamily, Call

__all__ = ["GEMINI", "GEMINI_ACTIONS", "GEMINI_VERSIONS"]

#: The API versions in a Gemini path, and the actions of its model route.
GEMINI_VERSIONS = ("v1", "v1beta", "v1alpha")
GEMINI_ACTIONS = ("generateContent", "streamGenerateContent")


class _Gemini(ApiFamily):
    # No field of its own: ApiFamily's dataclass methods serve it as they are (a
    # second @dataclass would only make them again, at start-up).

    def accepts(self, args: Mapping[str, str]) -> bool:
        action = args["target"].rpartition(":")[2]
        return args["version"] in GEMINI_VERSIONS and action in GEMINI_ACTIONS

    def read(self, args: Mapping[str, str], body: Mapping[str, Any]) -> Call:
        # The model in the path; a path with none (models/:generateContent) falls back
        # to a "model" in the body, as the default read does.
        model, _, action = args["target"].rpartition(":")
        return Call(model or super().read(args, body).model, action == "streamGenerateContent")

    def owns(self, path: str) -> bool:
        return (
            path.startswith(("/v1beta/", "/v1alpha/"))
            or ":generateContent" in path
            or ":streamGenerateContent" in path
        )

    def serves(self, path: str) -> bool:
        # As the route reads it: /<version>/models/<target>, target = model:action.
        version, _, target = path.removeprefix("/").partition("/models/")
        action = target.rpartition(":")[2]
        return version in GEMINI_VERSIONS and action in GEMINI_ACTIONS

    def roots(self) -> tuple[str, ...]:
        return GEMINI_VERSIONS

    def example_paths(self, model: str) -> list[str]:
        return [
            f"/{version}/models/{model}:{action}"
            for version in GEMINI_VERSIONS
            for action in GEMINI_ACTIONS
        ]


GEMINI = _Gemini(
    name="gemini",
    label="Gemini",
    rules=("/<version>/models/<path:target>",),
    hint="POST /v1beta/models/{model}:streamGenerateContent and :generateContent",
)
