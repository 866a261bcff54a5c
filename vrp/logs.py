"""Process logging: one format, and libraries' repeated complaints summarised, not flooded."""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO

from opentelemetry import trace

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


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
                record.repeated = seen.suppressed  # a field of its own in JSON lines
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


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the current span's ids and no exception values."""

    def __init__(self, service: str | None = None) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service or _service_name(),
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        repeated = getattr(record, "repeated", None)
        if repeated is not None:
            entry["repeated"] = repeated
        if record.exc_info and record.exc_info[0] is not None:
            kind, _, tb = record.exc_info
            # The exception's text is left out: database and client errors quote the values
            # they choked on, which may be personal data. Frames (file, line, code) are not.
            entry["exception"] = f"{kind.__module__}.{kind.__qualname__}"
            if record.levelno >= logging.ERROR and tb is not None:
                entry["stack"] = "".join(traceback.format_tb(tb))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _service_name() -> str:
    """The service name the tracer provider was given (vrp-router, ...), else the default."""
    resource = getattr(trace.get_tracer_provider(), "resource", None)
    name = resource.attributes.get("service.name") if resource is not None else None
    return str(name) if name else os.environ.get("OTEL_SERVICE_NAME", "vrp")


def configure(
    level: int = logging.INFO, log_format: str | None = None, stream: IO[str] | None = None
) -> logging.Handler:
    """Set up logging for a `vrp` command: timestamps, levels, throttled client libraries.

    The format is `log_format` or else the VRP_LOG_FORMAT setting (text or json); the one
    handler writes to `stream` (stderr by default) and replaces any a previous call added.
    """
    handler = logging.StreamHandler(stream)
    json_lines = (log_format or _configured_format()) == "json"
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.addFilter(_LibraryOnly(RepeatFilter()))
    setattr(handler, _OURS, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("alembic", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The Notify client logs Notify's error messages, which quote phone numbers and email
    # addresses; the notifier records its own code-only reasons instead.
    logging.getLogger("notifications_python_client").setLevel(logging.CRITICAL + 1)
    return handler


_OURS = "_vrp_handler"


def _configured_format() -> str:
    from pydantic import ValidationError

    from vrp.settings import Settings

    try:
        return Settings().log_format
    except ValidationError:  # a command that needs no settings still gets its logs
        return "text"


UNREACHABLE = ("Connection refused", "NodeNotReadyError", "Unable to update metadata")
"""What the Kafka client says, over and over, while the broker cannot be reached. Each of
our components logs that state itself (lost, still failing every 30 s, recovered), so
these are dropped; a refused login or grant is not, and neither is anything else."""
REFUSED = ("Authentication", "Authorization")


def kafka_client_noise(record: logging.LogRecord) -> bool:
    """True for a Kafka client record that only says the broker is unreachable."""
    if not record.name.startswith("aiokafka"):
        return False
    message = record.getMessage()
    return not any(r in message for r in REFUSED) and any(u in message for u in UNREACHABLE)


class _LibraryOnly(logging.Filter):
    """Applies the throttle to third-party loggers only; our own log state changes already."""

    def __init__(self, throttle: RepeatFilter) -> None:
        super().__init__()
        self._throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        """True to emit the record."""
        if record.name.startswith(("vrp", "services")):
            return True
        if kafka_client_noise(record):
            return False
        return self._throttle.filter(record)


class TextFormatter(logging.Formatter):
    """The text format, with the current span's trace and span ids when there is one."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """The record's line (before any traceback), with the span's ids."""
        line = super().formatMessage(record)
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            line += f" trace_id={context.trace_id:032x} span_id={context.span_id:016x}"
        return line
