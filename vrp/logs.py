"""Process logging: one format, and libraries' repeated complaints summarised, not flooded."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass


@dataclass
class _Seen:
    first: float
    suppressed: int = 0


class RepeatFilter(logging.Filter):
    """Lets the first record of each (logger, template) through per window, then drops the
    repeats and reports how many were dropped when the next window opens.

    A broker outage makes the Kafka client log each reconnect attempt (thousands per minute
    per client); the state change is what an on-call engineer needs, not every attempt.
    """

    def __init__(self, window: float = 30.0) -> None:
        super().__init__()
        self._window = window
        self._seen: dict[tuple[str, object], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """True to emit the record."""
        key = (record.name, record.msg)
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is None or now - seen.first >= self._window:
            if seen is not None and seen.suppressed:
                record.msg = f"{record.msg} [repeated %d more times in the last %.0f s]"
                record.args = (*_as_tuple(record.args), seen.suppressed, now - seen.first)
            if len(self._seen) > 1000:  # bounded: templates are few, but never grow forever
                self._seen.clear()
            self._seen[key] = _Seen(now)
            return True
        seen.suppressed += 1
        return False


def _as_tuple(args: object) -> tuple[object, ...]:
    if args is None:
        return ()
    if isinstance(args, tuple):
        return args
    return (args,)


def configure(level: int = logging.INFO) -> None:
    """Set up logging for a `vrp` command: timestamps, levels, throttled client libraries."""
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    throttle = RepeatFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(_LibraryOnly(throttle))
    for noisy in ("alembic", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The Notify client logs Notify's error messages, which quote phone numbers and email
    # addresses; the notifier records its own code-only reasons instead.
    logging.getLogger("notifications_python_client").setLevel(logging.CRITICAL + 1)


class _LibraryOnly(logging.Filter):
    """Applies the throttle to third-party loggers only; our own log state changes already."""

    def __init__(self, throttle: RepeatFilter) -> None:
        super().__init__()
        self._throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        """True to emit the record."""
        if record.name.startswith(("vrp", "services")):
            return True
        return self._throttle.filter(record)
