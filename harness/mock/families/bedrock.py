"""Amazon Bedrock: Claude through ``InvokeModelWithResponseStream`` and ``InvokeModel``.

``anthropic.AnthropicBedrock`` and boto3's ``bedrock-runtime`` client call
``POST /model/{modelId}/invoke-with-response-stream`` (a stream) and
``POST /model/{modelId}/invoke`` (the whole answer). The body is the Messages API's,
with ``anthropic_version`` in it and neither ``model`` nor ``stream``: the model id in
the path (``anthropic.claude-3-5-sonnet-20240620-v1:0``; its ``:`` sent as is or as
``%3A``, which arrives decoded) selects like a model, the action decides the stream.
Any ``authorization`` (SigV4) is accepted (the journal masks it, as every credential).

It sends what ``/v1/messages`` sends, each event re-framed as an AWS event-stream
message (:mod:`harness.stream.bedrock`), and HTTP errors in AWS's shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.mock.families.base import ApiFamily, Call

__all__ = ["BEDROCK_ANTHROPIC", "BedrockFamily"]

_STREAM, _WHOLE = "invoke-with-response-stream", "invoke"


@dataclass(frozen=True)
class BedrockFamily(ApiFamily):
    """Bedrock Runtime's model invocation: ``/model/{modelId}/{action}``."""

    def accepts(self, args: Mapping[str, str]) -> bool:
        model, _, action = args["target"].rpartition("/")
        return bool(model) and action in (_STREAM, _WHOLE)

    def read(self, args: Mapping[str, str], body: Mapping[str, Any]) -> Call:
        model, _, action = args["target"].rpartition("/")
        return Call(model, action == _STREAM)

    def owns(self, path: str) -> bool:
        return path.startswith("/model/")

    def serves(self, path: str) -> bool:
        model, _, action = path.removeprefix("/model/").rpartition("/")
        return path.startswith("/model/") and bool(model) and action in (_STREAM, _WHOLE)

    def example_paths(self, model: str) -> list[str]:
        return [f"/model/{model}/{action}" for action in (_STREAM, _WHOLE)]

    def roots(self) -> tuple[str, ...]:
        return ("model",)


BEDROCK_ANTHROPIC = BedrockFamily(
    name="bedrock-anthropic",
    label="Bedrock Claude",
    rules=("/model/<path:target>",),
    hint="POST /model/{modelId}/invoke-with-response-stream and /invoke",
    listed=False,  # AnthropicBedrock and boto3 take a region; a base_url is optional
)
