"""Azure OpenAI: chat completions and Responses, as ``AzureOpenAI`` calls them.

``AzureOpenAI(azure_endpoint=...)`` sends chat calls to
``/openai/deployments/{deployment}/chat/completions?api-version=...`` (the deployment
is what the SDK was given as ``model``, and selects like a model) and Responses calls
to ``/openai/responses?api-version=...``; Azure's v1 API takes ``/openai/v1/...`` with
the model in the body, as OpenAI does. ``api-version`` is accepted whatever its value
(a mock has no versions to refuse), and so is the ``api-key`` header (the journal
masks it, as every credential).

The chat family sends what ``/v1/chat/completions`` sends, the Responses family what
``/v1/responses`` sends, both with Azure's error bodies. Azure's stream quirks (the
``prompt_filter_results`` first chunk, content-filter annotations) live in scenarios,
which replay byte for byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.mock.families.base import ApiFamily, Call

__all__ = ["AZURE_CHAT", "AZURE_RESPONSES", "AzureFamily"]


@dataclass(frozen=True)
class AzureFamily(ApiFamily):
    """An Azure OpenAI API. It owns (gives its error shape to) the paths under
    ``/openai/`` that end in :attr:`endpoint`, or all of them for ``""``."""

    endpoint: str = ""

    def read(self, args: Mapping[str, str], body: Mapping[str, Any]) -> Call:
        call = super().read(args, body)
        return Call(args.get("deployment") or call.model, call.stream)

    def owns(self, path: str) -> bool:
        if not path.startswith("/openai/"):
            return False
        return not self.endpoint or path.rstrip("/").endswith("/" + self.endpoint)

    def serves(self, path: str) -> bool:
        return any(_matches(rule, path) for rule in self.rules)

    def example_paths(self, model: str) -> list[str]:
        return [rule.replace("<deployment>", model) for rule in self.rules]


def _matches(rule: str, path: str) -> bool:
    """Whether ``path`` is routed to ``rule`` (a ``<variable>`` takes one segment)."""
    want, got = rule.split("/"), path.split("/")
    return len(want) == len(got) and all(
        w == g or (w.startswith("<") and bool(g)) for w, g in zip(want, got, strict=True)
    )


AZURE_RESPONSES = AzureFamily(
    name="azure-responses",
    label="Azure Responses",
    rules=(
        "/openai/responses",
        "/openai/deployments/<deployment>/responses",
        "/openai/v1/responses",
    ),
    hint="POST /openai/responses",
    sdk_suffix="/openai/v1",
    listed=False,
    endpoint="responses",
)

AZURE_CHAT = AzureFamily(
    name="azure",
    label="Azure",
    rules=("/openai/deployments/<deployment>/chat/completions", "/openai/v1/chat/completions"),
    hint="POST /openai/deployments/{deployment}/chat/completions",
    sdk_suffix="/openai/v1",
    listed=False,  # AzureOpenAI takes azure_endpoint (the server's root), not a base_url
)
