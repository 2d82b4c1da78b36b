"""Vertex AI: Gemini and Claude at ``/{version}/projects/{p}/locations/{l}/publishers/...``.

``{version}`` is ``v1`` or ``v1beta1``; ``{base}`` below is
``/{version}/projects/{p}/locations/{l}/publishers``.

* Gemini on Vertex (``google.genai.Client(vertexai=True, ...)``):
  ``POST {base}/google/models/{model}:streamGenerateContent`` (``?alt=sse``) and
  ``:generateContent``; it sends what the Gemini route sends.
* Claude on Vertex (``anthropic.AnthropicVertex``):
  ``POST {base}/anthropic/models/{model}:streamRawPredict`` and ``:rawPredict``; the
  body is the Messages API's, with ``anthropic_version`` in it and no ``model``; it
  sends what ``/v1/messages`` sends.

The model is the path's last part before the last ``:`` (so ``claude-sonnet-4@20250514``
and ``a:b`` are models; a percent-encoded one arrives decoded) and selects like a model;
the action decides whether the answer streams. Project and location are taken as they
come, and so is any bearer token (the journal masks it, as every credential).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.mock.families.base import ApiFamily, Call

__all__ = ["VERTEX_ANTHROPIC", "VERTEX_GEMINI", "VERTEX_VERSIONS", "VertexFamily"]

#: The API versions in a Vertex AI path (google-genai uses v1beta1, AnthropicVertex v1).
VERTEX_VERSIONS = ("v1", "v1beta1")
_MODELS = "/projects/<project>/locations/<location>/publishers/{publisher}/models/<path:target>"


@dataclass(frozen=True)
class VertexFamily(ApiFamily):
    """One publisher's models on Vertex AI: ``publisher`` in the path, its two actions
    (``stream_action`` streams, ``whole_action`` answers whole)."""

    publisher: str = ""
    stream_action: str = ""
    whole_action: str = ""

    @property
    def actions(self) -> tuple[str, str]:
        return (self.whole_action, self.stream_action)

    def accepts(self, args: Mapping[str, str]) -> bool:
        action = args["target"].rpartition(":")[2]
        return args["version"] in VERTEX_VERSIONS and action in self.actions

    def read(self, args: Mapping[str, str], body: Mapping[str, Any]) -> Call:
        # The model in the path; none there (models/:rawPredict): a "model" in the body.
        model, _, action = args["target"].rpartition(":")
        return Call(model or super().read(args, body).model, action == self.stream_action)

    def owns(self, path: str) -> bool:
        version, _, rest = path.removeprefix("/").partition("/")
        if version not in VERTEX_VERSIONS or not rest.startswith("projects/"):
            return False
        publisher = f"/publishers/{self.publisher}/"
        # Claude's paths are its own; every other Vertex path gets Gemini's (Google's) shape.
        return publisher in path or (
            self.publisher == "google" and "/publishers/anthropic/" not in path
        )

    def serves(self, path: str) -> bool:
        # As the route reads it: /<version>/projects/<p>/locations/<l>/publishers/<pub>/
        # models/<target>, target = model:action.
        segments = path.removeprefix("/").split("/", 8)
        if len(segments) != 9 or segments[0] not in VERTEX_VERSIONS:
            return False
        fixed = (segments[1], segments[3], segments[5], segments[6], segments[7])
        named = all(segments[i] for i in (2, 4))
        action = segments[8].rpartition(":")[2]
        return (
            fixed == ("projects", "locations", "publishers", self.publisher, "models")
            and named
            and action in self.actions
        )

    def example_paths(self, model: str) -> list[str]:
        return [
            f"/{version}/projects/project/locations/location/publishers/{self.publisher}"
            f"/models/{model}:{action}"
            for version in VERTEX_VERSIONS
            for action in self.actions
        ]

    def roots(self) -> tuple[str, ...]:
        return VERTEX_VERSIONS


VERTEX_GEMINI = VertexFamily(
    name="vertex-gemini",
    label="Vertex Gemini",
    rules=("/<version>" + _MODELS.format(publisher="google"),),
    hint="POST /v1/projects/{project}/locations/{location}/publishers/google/models/"
    "{model}:streamGenerateContent and :generateContent",
    listed=False,  # google-genai takes vertexai=True, project and location, not this path
    publisher="google",
    stream_action="streamGenerateContent",
    whole_action="generateContent",
)

VERTEX_ANTHROPIC = VertexFamily(
    name="vertex-anthropic",
    label="Vertex Claude",
    rules=("/<version>" + _MODELS.format(publisher="anthropic"),),
    hint="POST /v1/projects/{project}/locations/{location}/publishers/anthropic/models/"
    "{model}:streamRawPredict and :rawPredict",
    sdk_suffix="/v1",  # AnthropicVertex's base_url ends in the version
    listed=False,  # AnthropicVertex takes region and project_id
    publisher="anthropic",
    stream_action="streamRawPredict",
    whole_action="rawPredict",
)
