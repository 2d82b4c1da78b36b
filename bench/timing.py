"""How every benchmark here measures: interleaved rounds, medians, spread.

Imported by the scripts beside it (``python bench/x.py`` puts this folder on the path).

A noisy two-core machine makes one run of anything unreliable, and "best of N" of
two things measured apart compares their luckiest moments. So the things compared
run side by side in rounds (after one warm-up round, in a rotating order so that
none is always first), each figure is the median over the rounds with its spread
((max - min) / median), and each ratio is the median of the per-round ratios: the
two sides of a round share that round's noise.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def best_of(repeats: int, run: Callable[[], object]) -> float:
    """The shortest wall time, in seconds, of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def rounds(repeats: int, cases: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Wall times, in seconds, of ``repeats`` rounds of every case, after a warm-up
    round (not kept), the cases in a rotating order."""
    names = list(cases)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(-1, repeats):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            cases[name]()
            took = time.perf_counter() - start
            if round_ >= 0:
                times[name].append(took)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> float:
    """(max - min) / median, as a fraction."""
    return (max(values) - min(values)) / statistics.median(values)


def ratio(ours: list[float], theirs: list[float]) -> float:
    """The median over rounds of ours / theirs (times: lower is better for ours)."""
    return statistics.median(a / b for a, b in zip(ours, theirs, strict=True))


def verdict(ratios: list[float], target: float, *, higher: bool = True) -> str:
    """``PASS``, ``TIE`` or ``FAIL``: the median of per-round ratios against ``target``
    (``higher``: a higher ratio is better; else lower is).

    PASS: the median meets the target. FAIL: it misses the target by more than half the
    range of the per-round ratios, the machine's own scatter in this run. TIE: it misses
    it by less, so this run cannot tell the two apart; a verdict that flipped between
    PASS and FAIL from run to run at parity now says so every time.
    """
    ok = [r for r in ratios if r == r]  # NaN: a round where a side failed
    if not ok:
        return "FAIL"
    middle = statistics.median(ok)
    if middle >= target if higher else middle <= target:
        return "PASS"
    return "TIE" if abs(middle - target) <= (max(ok) - min(ok)) / 2 else "FAIL"
