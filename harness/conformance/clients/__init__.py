"""The shipped client adapters, by name: :data:`CLIENTS`, :func:`load`, :func:`names`.

The registry is lazy: importing it imports no client library. :func:`load` imports the
adapter's module and calls its factory, which raises :class:`~.base.Unavailable`
(naming the package to install) when the library is missing. The contract is in
:mod:`harness.conformance.clients.base`; ``docs/clients-adapters.md`` lists the clients.
"""

from __future__ import annotations

import difflib
import importlib

from harness.conformance.clients.base import Call, Client, Unavailable
from harness.errors import UsageError

__all__ = ["CLIENTS", "OPTIONAL", "Call", "Client", "Unavailable", "load", "names"]

_PACKAGE = __name__

#: Client name -> ``"module:factory"`` (the module relative to this package).
CLIENTS: dict[str, str] = {
    # The official SDKs (installed with harness[test]).
    "openai": "openai_chat:client",
    "openai-responses": "openai_responses:client",
    "anthropic": "anthropic_events:client",
    "anthropic-stream": "anthropic_stream:client",
    "google-genai": "google_genai:client",
    "boto3-converse": "boto3_converse:client",
    "openai-agents": "openai_agents:client",
    # Third-party libraries: skipped (Unavailable) unless installed.
    "litellm": "litellm_completion:client",
    "langchain-openai": "langchain_openai_chat:client",
    "langchain-anthropic": "langchain_anthropic_chat:client",
    "pydantic-ai": "pydantic_ai_direct:client",
}

#: The clients whose library harness's own test extra does not install.
OPTIONAL = frozenset({"litellm", "langchain-openai", "langchain-anthropic", "pydantic-ai"})


def names() -> list[str]:
    """The client names, in registry order."""
    return list(CLIENTS)


def load(name: str) -> Client:
    """The client ``name``, built by its factory.

    Raises:
        UsageError: no client has that name (the message lists the known ones).
        Unavailable: the client's library is not installed (the message names the
            package to install).
    """
    target = CLIENTS.get(name)
    if target is None:
        close = difflib.get_close_matches(name, CLIENTS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(f"unknown client {name!r}{hint}; known clients: {', '.join(CLIENTS)}")
    module_name, factory = target.split(":")
    module = importlib.import_module(f"{_PACKAGE}.{module_name}")
    client: Client = getattr(module, factory)()
    return client
