"""The shipped client adapters' contract: :class:`Client`, :class:`Call`, :class:`Unavailable`.

A shipped adapter drives one client library the way an application would: it builds
the client on the base URL harness gives it, makes one streaming call, and reports
what the library concluded as an :class:`~harness.conformance.Outcome` (text,
reasoning, tool calls, finish reason in OpenAI's vocabulary, usage in OpenAI's terms,
the error). Exceptions the library raises for a failure it *detected* (an HTTP error,
an in-band error event, a connection cut) are mapped into ``Outcome.error``; anything
else propagates and becomes an ``error`` cell with its traceback.

A :class:`Client` declares, once, what the library cannot expose (``cannot``:
``usage``, ``reasoning``, ``finish_reason``...), so those fields are not checked for it
instead of failing every cell.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.conformance.outcome import Outcome
from harness.errors import HarnessError
from harness.mock.scenario import Scenario
from harness.stream.provider_errors import Family

__all__ = ["FIELDS", "Call", "Client", "Run", "Unavailable", "require", "version_of"]

#: The outcome fields a client may declare it cannot expose.
FIELDS = ("text", "reasoning", "tool_calls", "finish_reason", "usage", "error.code")


class Unavailable(HarnessError):
    """A client cannot run here: its library is not installed (the message says which
    package to install)."""


@dataclass(frozen=True)
class Call:
    """One call the kit asks a client to make.

    Attributes:
        base_url: what the client's ``base_url`` (or ``endpoint_url``...) must be: the
            server's root with the test id, scenario and fault prefixes, plus the
            suffix the family's SDK expects (``/v1`` for openai).
        scenario: the scenario being replayed (most adapters ignore it).
        retries: how many retries the client should allow (the error answers before
            the one ``expect`` describes): set the library's ``max_retries`` (or
            equivalent) to it, so that a client that does not retry, or retries too
            often, shows.
        timeout: seconds the whole call may take; give the library a read timeout a
            little below it where it has one.
    """

    base_url: str
    scenario: Scenario
    retries: int = 0
    timeout: float = 10.0


#: ``run(call) -> Outcome``: makes the call and reports what the client concluded.
Run = Callable[[Call], Outcome]


@dataclass(frozen=True)
class Client:
    """One shipped client adapter.

    Attributes:
        name: its name on the command line (``openai``, ``anthropic-stream``...).
        family: the API family (route) it speaks.
        distribution: the package whose version the reports show (``openai``).
        run: the adapter (see :class:`Call`); returns a
            :class:`~harness.conformance.Outcome`.
        cannot: the :data:`FIELDS` the library cannot expose (not checked for it).
        description: one line: the library, the API and the call it makes.
    """

    name: str
    family: Family
    distribution: str
    run: Run
    cannot: frozenset[str] = field(default_factory=frozenset)
    description: str = ""

    @property
    def version(self) -> str:
        """The installed version of :attr:`distribution` (``""`` when unknown)."""
        return version_of(self.distribution)


def version_of(distribution: str) -> str:
    """The installed version of ``distribution``, ``""`` when it is not installed."""
    if not distribution:
        return ""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return ""


def require(module: str, distribution: str, client: str) -> None:
    """Import ``module`` or raise :class:`Unavailable` naming what to install."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise Unavailable(
            f"client {client!r} needs {distribution!r} (pip install {distribution}): {exc}"
        ) from None
