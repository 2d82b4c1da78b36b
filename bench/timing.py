"""What every benchmark here measures with: the best time of a few repeats.

Imported by the scripts beside it (``python bench/x.py`` puts this folder on the path).
"""

from __future__ import annotations

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
