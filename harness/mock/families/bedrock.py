"""Amazon Bedrock Runtime: ``/model/{modelId}/{action}``, Claude's and Converse's.

boto3's ``bedrock-runtime`` client (and ``anthropic.AnthropicBedrock``, LangChain's
``ChatBedrockConverse``...) call, with the model id in the path (its ``:`` sent as is or
as ``%3A``, an inference profile ARN's ``/`` as ``%2F``; both arrive decoded):

* **InvokeModel** for Anthropic models: ``POST /model/{modelId}/invoke-with-response-stream``
  (a stream) and ``/invoke`` (the whole answer). The body is the Messages API's, with
  ``anthropic_version`` in it and neither ``model`` nor ``stream``. It sends what
  ``/v1/messages`` sends, each event re-framed as an AWS event-stream message
  (:mod:`harness.stream.bedrock`): it replays Anthropic scenarios.
* **Converse**: ``POST /model/{modelId}/converse-stream`` (a stream) and ``/converse``
  (the whole ``ConverseResponse``). The body is Converse's (``messages``,
  ``inferenceConfig``...). It replays ``bedrock-converse`` scenarios byte for byte and
  renders any other provider's stream as a Converse event stream
  (:mod:`harness.stream.renderers.bedrock_converse`).

The model id selects like a model; the action decides the stream. Any
``authorization`` (SigV4) and ``x-amz-security-token`` are accepted (the journal masks
them, as every credential). HTTP errors come in AWS's shape (``x-amzn-errortype``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.mock.families.base import ApiFamily, Call

__all__ = ["BEDROCK_ANTHROPIC", "BEDROCK_CONVERSE", "BedrockFamily"]


@dataclass(frozen=True)
class BedrockFamily(ApiFamily):
    """One Bedrock Runtime operation pair: ``stream_action`` streams, ``whole_action``
    answers whole; ``owns_all``: its error shape covers every other ``/model/`` path."""

    stream_action: str = ""
    whole_action: str = ""
    owns_all: bool = False

    @property
    def actions(self) -> tuple[str, str]:
        return (self.stream_action, self.whole_action)

    def read(self, args: Mapping[str, str], body: Mapping[str, Any]) -> Call:
        return Call(args["model"], args["action"] == self.stream_action)

    def owns(self, path: str) -> bool:
        return path.startswith("/model/") and (self.owns_all or self.serves(path))

    def serves(self, path: str) -> bool:
        model, _, action = path.removeprefix("/model/").rpartition("/")
        return path.startswith("/model/") and bool(model) and action in self.actions

    def example_paths(self, model: str) -> list[str]:
        return [f"/model/{model}/{action}" for action in self.actions]

    def roots(self) -> tuple[str, ...]:
        return ("model",)


def _rule(stream_action: str, whole_action: str) -> str:
    return f"/model/<path:model>/<any('{stream_action}', '{whole_action}'):action>"


BEDROCK_ANTHROPIC = BedrockFamily(
    name="bedrock-anthropic",
    label="Bedrock Claude",
    rules=(_rule("invoke-with-response-stream", "invoke"),),
    hint="POST /model/{modelId}/invoke-with-response-stream and /invoke",
    listed=False,  # AnthropicBedrock and boto3 take a region; a base_url is optional
    stream_action="invoke-with-response-stream",
    whole_action="invoke",
    owns_all=True,
)

BEDROCK_CONVERSE = BedrockFamily(
    name="bedrock-converse",
    label="Bedrock",
    rules=(_rule("converse-stream", "converse"),),
    hint="POST /model/{modelId}/converse-stream and /converse",
    sdk_option="endpoint_url",  # boto3.client("bedrock-runtime", endpoint_url=...)
    stream_action="converse-stream",
    whole_action="converse",
)
