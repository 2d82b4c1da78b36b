"""The served APIs: one module per API family, assembled by the app factory.

An :class:`ApiFamily` declares everything the app needs to serve one API: the URL
rules of its routes, how it reads a request (:meth:`ApiFamily.read`: the model and
the stream flag), which paths are its own (for error shapes), its SDK's base URL
suffix, and its :class:`~harness.stream.outputs.Output` (what it sends: renderer,
whole answer, error shape). The app factory routes each rule to one shared handler;
selection, faults, the replay plan and the journal are the same for every family.

Adding an API is a module here and an entry in :data:`FAMILIES`; no other family
module changes (an import-linter contract keeps them independent).
"""

from __future__ import annotations

import fnmatch

from harness.errors import UsageError
from harness.mock.families.anthropic import ANTHROPIC
from harness.mock.families.azure import AZURE_CHAT, AZURE_RESPONSES
from harness.mock.families.base import ApiFamily, Call
from harness.mock.families.bedrock import BEDROCK_ANTHROPIC, BEDROCK_CONVERSE
from harness.mock.families.gemini import GEMINI
from harness.mock.families.openai_chat import OPENAI_CHAT
from harness.mock.families.openai_responses import OPENAI_RESPONSES
from harness.mock.families.vertex import VERTEX_ANTHROPIC, VERTEX_GEMINI

__all__ = [
    "FALLBACK",
    "FAMILIES",
    "ApiFamily",
    "Call",
    "family_of_path",
    "reachable",
    "routes_hint",
]

#: Every served family, in the order messages and listings name them. For error shapes
#: the first family that owns a path wins: Azure Responses before Azure chat, which owns
#: every other path under /openai/; Vertex's Claude before Vertex's Gemini, which owns
#: every other Vertex path; Bedrock Converse before Bedrock's InvokeModel, which owns
#: every other /model/ path.
FAMILIES: tuple[ApiFamily, ...] = (
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    ANTHROPIC,
    GEMINI,
    AZURE_RESPONSES,
    AZURE_CHAT,
    VERTEX_ANTHROPIC,
    VERTEX_GEMINI,
    BEDROCK_CONVERSE,
    BEDROCK_ANTHROPIC,
)
#: The family whose error shape a path no family owns gets.
FALLBACK = OPENAI_CHAT


def get_family(name: str) -> ApiFamily:
    """The family called ``name``.

    Raises:
        UsageError: no family is (naming the served ones).
    """
    for family in FAMILIES:
        if family.name == name:
            return family
    served = ", ".join(family.name for family in FAMILIES)
    raise UsageError(f"unknown family {name!r}; expected one of {served}")


def family_of_path(path: str) -> ApiFamily:
    """The family whose error shape a request to ``path`` gets (routed or not)."""
    for family in FAMILIES:
        if family.owns(path):
            return family
    return FALLBACK


def routes_hint() -> str:
    """The sentence naming every served route, for 404 answers and warnings."""
    routes = ", ".join(family.hint for family in FAMILIES)
    return f"harness serves {routes}, GET /v1/models."


def reachable(pattern: str, model: str | None) -> bool:
    """Whether some request to a served route can have ``pattern`` as its path.

    A literal path is checked as a request would be routed; a glob against a request
    to each route (with ``model`` where a route names one, else any model name).
    """
    if any(c in pattern for c in "*?["):
        paths = [
            path for family in FAMILIES for path in family.example_paths(model or "gemini-model")
        ]
        return any(fnmatch.fnmatchcase(path, pattern) for path in paths)
    return any(family.serves(pattern) for family in FAMILIES)
