"""Every exception harness raises at a public boundary derives from :class:`HarnessError`.

The tree keeps "you asked for something wrong" apart from "the upstream data is
wrong", so that a caller can tell whose fault a failure is. The classes defined
outside this module are listed with it::

    HarnessError
    ├── UsageError                 the caller asked for something that cannot be done
    │   ├── InvalidValueError      a value an argument cannot take (a golden kind, a
    │   │   │                      scenario name for a golden file; also a ValueError)
    │   │   ├── SSEEncodeError     an SSE event field cannot be written
    │   │   └── EventStreamEncodeError  harness.stream.eventstream: a message cannot be
    │   │                              written as an AWS event stream
    │   ├── UnknownProviderError   a provider name that no adapter is registered for
    │   │                          (also a LookupError)
    │   ├── ScenarioError          a scenario file is wrong (file, line, field, what was expected)
    │   │   └── ScenarioSetError   several scenario files are wrong (all reported at once)
    │   ├── FaultSpecError         a fault overlay (header or scenario) cannot be applied
    │   ├── ReplayError            harness.mock.replay: a request asks for a replay that
    │   │                          cannot be made (answered with HTTP 400)
    │   ├── CassetteError          harness.record.cassette: a cassette cannot be read or
    │   │                          written, or the record mode forbids it
    │   ├── ConvertError           harness.record.convert: an interaction cannot become
    │   │                          a scenario
    │   ├── ImportCaptureError     harness.record.importer: a capture cannot be read or
    │   │                          become a scenario (format, provider, output)
    │   └── AdapterTypeError       harness.conformance: a conformance adapter returned
    │                              something other than an Outcome (also a TypeError)
    ├── Unavailable                harness.conformance.clients: a shipped client adapter's
    │                              library is not installed (names the package)
    ├── ProviderDataError          a provider event has the wrong shape (upstream's fault)
    │   └── EventStreamError       harness.stream.eventstream: bytes that are not a valid
    │                              AWS event stream (CRC, length, header; with byte offset)
    ├── GoldenMismatch             harness.mock.golden: a rendering differs from its
    │                              golden file, or it has none (also an AssertionError)
    └── ClientAssertionError       harness.testing: a client under test did not behave
                                   as asserted (also an AssertionError)

A few exceptions stay outside the tree on purpose: private control flow that never
leaves its module (names starting with ``_``, and the ASGI layer's ``Abort``), and
``ClientGone`` (harness.mock), a ``ConnectionResetError`` raised into the app's
``send`` when the client hung up, which Hypercorn and the app treat as the broken
connection it is. ``ExpectError`` (harness.mock.scenario), ``OutcomeError``
(harness.conformance) and :class:`harness.stream.events.StreamError` are data (an
expected or observed error), not exceptions.

A malformed *stream* is not an exception: the normalization pipeline turns it into a
:class:`harness.stream.events.StreamError` chunk that it sends to the client, because a
gateway must report a broken upstream to its client instead of crashing.
:class:`ProviderDataError` is how an adapter tells the pipeline that an event is
malformed; the pipeline never lets it escape.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "FaultSpecError",
    "HarnessError",
    "InvalidValueError",
    "ProviderDataError",
    "SSEEncodeError",
    "ScenarioError",
    "ScenarioSetError",
    "UnknownProviderError",
    "UsageError",
]


class HarnessError(Exception):
    """The root of every exception harness raises."""


class UsageError(HarnessError):
    """The caller asked for something that cannot be done (a bad argument or name)."""


class InvalidValueError(UsageError, ValueError):
    """A value an argument cannot take (a golden kind, a scenario name for a golden
    file...). Also a ``ValueError``, as Python code expects of a bad value."""


class SSEEncodeError(InvalidValueError):
    """An SSE event field cannot be written: ``event`` or ``id`` with CR or LF, ``id``
    with NUL, or a negative ``retry``."""


class UnknownProviderError(UsageError, LookupError):
    """No adapter is registered under the given provider name."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        super().__init__(f"unknown provider {name!r}; known providers: {', '.join(self.known)}")


class ScenarioError(UsageError):
    """A scenario file is wrong. The message says where: ``file:line: field: problem``.

    Attributes:
        path: the file (``None`` for a scenario built in memory).
        line: the 1-based line of the offending node, when known.
        field: the dotted path of the offending field (``events[3].data``), or ``""``.
        problem: what is wrong and what was expected.
    """

    def __init__(
        self, problem: str, *, path: str | None = None, line: int | None = None, field: str = ""
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.problem = problem
        where = path or "<scenario>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")


class ScenarioSetError(ScenarioError):
    """Several scenario problems at once; :attr:`errors` holds one error per problem.

    Loading a folder reports every broken file in one go, so a user fixes them all in
    one pass instead of one per run.
    """

    def __init__(self, errors: Iterable[ScenarioError]) -> None:
        self.errors = tuple(errors)
        count = len(self.errors)
        listing = "\n".join(f"  {error}" for error in self.errors)
        problem = f"{count} problem{'s' if count != 1 else ''} in scenarios:\n{listing}"
        self.path, self.line, self.field, self.problem = None, None, "", problem
        Exception.__init__(self, problem)


class FaultSpecError(UsageError):
    """A fault overlay cannot be parsed or cannot apply to this stream."""


class ProviderDataError(HarnessError):
    """A provider event is not shaped as that provider documents it.

    Raised by adapters with a message naming the offending field (for example
    ``choices[0].delta.content: expected a string, got int``); the pipeline turns it
    into a ``parse_error`` stream error.
    """
