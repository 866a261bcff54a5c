"""Failed authentication: after too many failures for a key id, OAuth client or client
address, further attempts are refused (429) for a backoff that doubles with each lockout.

An attempt reserves its place before its credentials are checked and is counted when it
settles, so attempts in progress count towards the limit: a burst of concurrent guesses
cannot all be checked before the first of them is recorded."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int
    window_start: float
    strikes: int = 0
    blocked_until: float = 0.0
    pending: int = 0


class Lockout:
    """Failures counted per subject (a key id, a client id, an address), in this process."""

    def __init__(
        self,
        limit: int,
        window: float,
        backoff: float,
        backoff_max: float,
        max_subjects: int = 100_000,
    ) -> None:
        self.limit = max(limit, 1)
        self.window = window
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.max_subjects = max_subjects
        self._records: dict[str, _Record] = {}

    def wait(self, subject: str) -> int:
        """Whole seconds until this subject may try again (0: it may now)."""
        record = self._records.get(subject)
        if record is None:
            return 0
        left = record.blocked_until - time.monotonic()
        return max(1, math.ceil(left)) if left > 0 else 0

    def reserve(self, subject: str) -> int:
        """0 with one attempt reserved for the subject (settle it), else whole seconds to
        wait: the lockout's remainder, or 1 while the attempts in progress would reach the
        limit if they all failed."""
        wait = self.wait(subject)
        if wait:
            return wait
        now = time.monotonic()
        record = self._record(subject, now)
        if record.failures + record.pending >= self.limit:
            return 1
        record.pending += 1
        return 0

    def settle(self, subject: str, failed: bool) -> None:
        """End a reserved attempt; a failed one counts as `failed` does."""
        record = self._records.get(subject)
        if record is not None and record.pending > 0:
            record.pending -= 1
        if failed:
            self.failed(subject)

    def _record(self, subject: str, now: float) -> _Record:
        record = self._records.get(subject)
        if record is None:
            self._forget_idle(now)
            record = self._records[subject] = _Record(0, now)
        if now - record.window_start > self.window:
            # A quiet window after the last lockout forgives the earlier ones.
            if now > record.blocked_until + self.window:
                record.strikes = 0
            record.failures, record.window_start = 0, now
        return record

    def failed(self, subject: str) -> None:
        """Count a failure; the limit-th failure in a window starts (or lengthens) a lockout."""
        now = time.monotonic()
        record = self._record(subject, now)
        record.failures += 1
        if record.failures + record.pending >= self.limit:
            record.strikes += 1
            seconds = min(self.backoff_max, self.backoff * 2 ** (record.strikes - 1))
            record.blocked_until = now + seconds
            record.failures, record.window_start = 0, now

    def _forget_idle(self, now: float) -> None:
        # Bounded memory whatever the attacker sends: drop subjects with nothing pending,
        # and everything if that is not enough (the limit then restarts, never wrongly blocks).
        if len(self._records) < self.max_subjects:
            return
        horizon = self.window + self.backoff_max
        idle = [
            s for s, r in self._records.items() if now - r.window_start > horizon and not r.pending
        ]
        for subject in idle:
            del self._records[subject]
        if len(self._records) >= self.max_subjects:
            self._records.clear()
