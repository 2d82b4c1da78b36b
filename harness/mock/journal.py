"""The journal: what each client sent and how each answer ended, per test id.

The server thread writes it (one :class:`Entry` per request, updated in place as the
answer goes out); test code in another thread reads it through :class:`Journal`'s
methods, which take a lock and hand out copies, so a reader never sees a group being
appended to or reset. ``GET /_harness/requests`` serves :meth:`Entry.to_dict`.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.mock.scenario import Faults, Scenario

__all__ = ["DEFAULT_JOURNAL_MAX", "Entry", "Journal", "Outcome"]

#: Journal entries kept per test id (``harness serve --journal-max``).
DEFAULT_JOURNAL_MAX = 10_000

#: How a request ended: ``pending`` while it is answered; ``rejected`` when harness
#: answered it with an error of its own (no scenario, bad body, bad fault header);
#: ``completed``, ``client_disconnected`` or ``disconnected_by_fault`` once it ended.
Outcome = Literal[
    "pending", "rejected", "completed", "client_disconnected", "disconnected_by_fault"
]


@dataclass
class Entry:
    """One request, as the server saw it (secrets masked) and answered it."""

    time: float
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    #: The API family of the route (``None``: no route harness serves).
    family: str | None = None
    scenario: str | None = None
    #: Which of the scenario's answers (index into its ``responses``).
    answer: int | None = None
    #: The JSON request body (``None`` when it was not a JSON object).
    body: Any = None
    status: int | None = None
    outcome: Outcome = "pending"
    #: The faults in effect: the answer's own merged with ``x-harness-faults``;
    #: ``None`` until the answer was planned (a rejected request has none).
    faults: Faults | None = None
    #: Bytes handed to the server for the client (not counting HTTP framing).
    bytes_sent: int = 0
    #: Why harness rejected the request (``outcome == "rejected"``).
    error: str | None = None
    #: What else decides the bytes of the answer, so that the console can draw the
    #: plan that was sent: the stream flag, ``x-harness-normalize``, the model asked for.
    stream: bool | None = None
    normalize: bool = False
    model: str | None = None
    #: When the answer ended (``None`` while pending).
    ended: float | None = None
    #: Arrival order over every test id (1, 2, ...), set by :meth:`Journal.add`.
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The entry as ``GET /_harness/requests`` and ``requests()`` give it."""
        out: dict[str, Any] = {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": dict(self.headers),
            "family": self.family,
            "scenario": self.scenario,
            "answer": self.answer,
            "body": self.body,
            "status": self.status,
            "outcome": self.outcome,
            "faults": self.faults.describe() if self.faults is not None else "",
            "bytes_sent": self.bytes_sent,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def _tail(group: deque[Entry], count: int) -> Iterator[Entry]:
    """The last ``count`` entries of ``group`` (newest first)."""
    return itertools.islice(reversed(group), count)


@dataclass
class Journal:
    """Entries and ``responses`` sequence positions, per test id; safe across threads.

    Kept per test id (the ``x-harness-test-id`` header or the ``/t/{id}/`` prefix,
    ``""`` without one), so parallel test workers sharing one server never see each
    other's requests or advance each other's sequences.

    Bounded for servers that run for days: each test id keeps its last
    ``max_entries`` entries, and at most ``max_test_ids`` test ids are kept; past
    that, the test id that has been quiet the longest is forgotten whole (entries
    and sequence positions), as a ``reset`` of that id would. The pytest plugin uses
    one id per test, so only ids of tests long finished are ever dropped.
    """

    #: Entries kept per test id; the oldest go first (a long load test stays bounded).
    max_entries: int = DEFAULT_JOURNAL_MAX
    #: Test ids kept; the least recently active one goes first.
    max_test_ids: int = 10_000
    _groups: dict[str, deque[Entry]] = field(default_factory=dict, repr=False)
    _positions: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    #: Requests answered with a ``fail_first`` error, per test id, scenario and answer.
    _failed: dict[tuple[str, str, int], int] = field(default_factory=dict, repr=False)
    #: Test ids by last activity, oldest first (a dict keeps insertion order).
    _active: dict[str, None] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _seq: int = field(default=0, repr=False)

    # -- written by the server

    def add(self, test_id: str, entry: Entry) -> Entry:
        """Record ``entry`` under ``test_id`` and return it (the server updates it in place)."""
        with self._lock:
            self._seq += 1
            entry.seq = self._seq
            self._touch(test_id)
            group = self._groups.get(test_id)
            if group is None:
                group = self._groups[test_id] = deque(maxlen=self.max_entries)
            group.append(entry)
        return entry

    def next_answer(self, test_id: str, scenario: Scenario) -> int:
        """The index of the answer this test id gets next from ``scenario``."""
        return min(self.position(test_id, scenario), len(scenario.answers) - 1)

    def position(self, test_id: str, scenario: Scenario) -> int:
        """How many requests of this test id ``scenario`` has answered so far."""
        with self._lock:
            return self._positions.get((test_id, scenario.name), 0)

    def failed(self, test_id: str, scenario: Scenario) -> dict[int, int]:
        """How many requests of this test id each answer of ``scenario`` failed with
        its ``fail_first`` error (answer index -> count)."""
        with self._lock:
            return {
                index: n
                for (tid, name, index), n in self._failed.items()
                if tid == test_id and name == scenario.name
            }

    def fail(self, test_id: str, scenario: Scenario, index: int) -> None:
        """Count one ``fail_first`` error of answer ``index`` (it uses up no answer)."""
        with self._lock:
            key = (test_id, scenario.name, index)
            self._failed[key] = self._failed.get(key, 0) + 1

    def advance(self, test_id: str, scenario: Scenario) -> None:
        """Move this test id on to the next answer (only once a request was answered)."""
        with self._lock:
            self._touch(test_id)
            key = (test_id, scenario.name)
            self._positions[key] = self._positions.get(key, 0) + 1

    # -- read and reset by anyone

    def entries(self, test_id: str | None = "") -> list[Entry]:
        """Copies of the entries of ``test_id`` (of every test id, by time, for ``None``)."""
        with self._lock:
            if test_id is None:
                found = [entry for group in self._groups.values() for entry in group]
            else:
                found = list(self._groups.get(test_id, ()))
            copies = [copy.copy(entry) for entry in found]
        if test_id is None:
            copies.sort(key=lambda entry: entry.time)
        return copies

    def recent(self, limit: int) -> list[tuple[str, Entry]]:
        """Copies of the last ``limit`` entries over every test id, oldest first, each
        with its test id (the console's live view)."""
        if limit <= 0:
            return []
        with self._lock:
            # Each group is in arrival order: only its last ``limit`` can be among them.
            found = heapq.nlargest(
                limit,
                (
                    (tid, entry)
                    for tid, group in self._groups.items()
                    for entry in _tail(group, limit)
                ),
                key=lambda pair: pair[1].seq,
            )
            return [(tid, copy.copy(entry)) for tid, entry in reversed(found)]

    def find(self, seq: int) -> tuple[str, Entry] | None:
        """A copy of the entry with this :attr:`Entry.seq` and its test id, if still kept."""
        with self._lock:
            for tid, group in self._groups.items():
                for entry in group:
                    if entry.seq == seq:
                        return tid, copy.copy(entry)
        return None

    def test_ids(self) -> list[str]:
        """The test ids with entries or sequence positions, least recently active first."""
        with self._lock:
            return list(self._active)

    def positions(self, test_id: str) -> dict[str, int]:
        """How many answers each scenario has given this test id (its ``responses`` step)."""
        with self._lock:
            return {name: n for (tid, name), n in self._positions.items() if tid == test_id}

    def __len__(self) -> int:
        """The number of entries kept, over all test ids."""
        with self._lock:
            return sum(len(group) for group in self._groups.values())

    def reset(self, test_id: str | None) -> None:
        """Forget one test id's entries and sequences (all of them for ``None``)."""
        with self._lock:
            self._reset(test_id)

    def _reset(self, test_id: str | None) -> None:
        if test_id is None:
            self._groups.clear()
            self._positions.clear()
            self._failed.clear()
            self._active.clear()
            return
        self._groups.pop(test_id, None)
        self._active.pop(test_id, None)
        for key in [key for key in self._positions if key[0] == test_id]:
            del self._positions[key]
        for failed in [failed for failed in self._failed if failed[0] == test_id]:
            del self._failed[failed]

    def _touch(self, test_id: str) -> None:
        self._active.pop(test_id, None)
        self._active[test_id] = None
        while len(self._active) > self.max_test_ids:
            self._reset(next(iter(self._active)))
