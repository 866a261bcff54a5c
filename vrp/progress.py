"""Progress of long commands (`rules simulate`, `retention run`) on stderr."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

Progress = Callable[[int, int], None]
"""Called with (done, total) as work proceeds."""


def no_progress(done: int, total: int) -> None:
    """Report nothing."""


def reporter(
    what: str,
    stream: TextIO | None = None,
    every: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> Progress:
    """A Progress writing "what: done of total (pct)" at most once per `every` seconds, and
    always at the end, so an operator sees a long run move without a flood of lines."""
    last = [float("-inf")]

    def report(done: int, total: int) -> None:
        now = clock()
        if done < total and now - last[0] < every:
            return
        last[0] = now
        pct = f" ({100 * done // total} %)" if total else ""
        print(f"{what}: {done:,} of {total:,}{pct}", file=stream or sys.stderr, flush=True)

    return report
