"""Every exception harness raises derives from :class:`HarnessError`.

The tree keeps "you asked for something wrong" apart from "the upstream data is
wrong", so that a caller can tell whose fault a failure is::

    HarnessError
    ├── UsageError                 the caller asked for something that cannot be done
    │   └── UnknownProviderError   a provider name that no adapter is registered for
    └── ProviderDataError          a provider event has the wrong shape (upstream's fault)

A malformed *stream* is not an exception: the normalization pipeline turns it into a
:class:`harness.events.StreamError` chunk that it sends to the client, because a
gateway must report a broken upstream to its client instead of crashing.
:class:`ProviderDataError` is how an adapter tells the pipeline that an event is
malformed; the pipeline never lets it escape.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["HarnessError", "ProviderDataError", "UnknownProviderError", "UsageError"]


class HarnessError(Exception):
    """The root of every exception harness raises."""


class UsageError(HarnessError):
    """The caller asked for something that cannot be done (a bad argument or name)."""


class UnknownProviderError(UsageError, LookupError):
    """No adapter is registered under the given provider name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f"unknown provider {name!r}; known providers: {', '.join(self.known)}")


class ProviderDataError(HarnessError):
    """A provider event is not shaped as that provider documents it.

    Raised by adapters with a message naming the offending field (for example
    ``choices[0].delta.content: expected a string, got int``); the pipeline turns it
    into a ``parse_error`` stream error.
    """
