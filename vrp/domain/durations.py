"""SLA durations in configuration files: ISO 8601 (`PT30M`, `PT2H`, `P2D`) or minutes."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

_ISO = re.compile(
    r"^P(?:(?P<weeks>[0-9]{1,4})W)?(?:(?P<days>[0-9]{1,5})D)?"
    r"(?:T(?:(?P<hours>[0-9]{1,6})H)?(?:(?P<minutes>[0-9]{1,8})M)?)?$"
)
_MINUTES = re.compile(r"^[0-9]{1,12}$")
MAXIMUM = timedelta(days=366)
"""No SLA timer is longer than a year; a longer one is a typing mistake."""


def parse_duration(value: object) -> timedelta:
    """A positive whole number of minutes, from ISO 8601 text or a number of minutes."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, bool):
        raise ValueError("give an ISO 8601 duration (PT30M, PT2H, P2D) or whole minutes")
    elif isinstance(value, int):
        duration = _minutes(value)
    elif isinstance(value, str):
        duration = _iso(value.strip())
    else:
        raise ValueError("give an ISO 8601 duration (PT30M, PT2H, P2D) or whole minutes")
    if duration <= timedelta(0):
        raise ValueError("must be longer than zero")
    if duration % timedelta(minutes=1):
        raise ValueError("must be whole minutes")
    if duration > MAXIMUM:
        raise ValueError("must be at most 366 days")
    return duration


def _minutes(value: int) -> timedelta:
    if value > MAXIMUM // timedelta(minutes=1):
        raise ValueError("must be at most 366 days")
    return timedelta(minutes=value)


def _iso(text: str) -> timedelta:
    if _MINUTES.match(text):
        return _minutes(int(text))
    match = _ISO.match(text.upper())
    parts = {k: int(v) for k, v in match.groupdict().items() if v} if match else {}
    if not parts or text.upper().endswith("T"):
        raise ValueError(
            f"{text[:40]!r} is not a duration: give ISO 8601 weeks, days, hours and minutes "
            "(PT30M, PT2H, P2D, P1DT12H) or whole minutes"
        )
    return timedelta(**parts)


def format_duration(duration: timedelta) -> str:
    """The ISO 8601 form of a whole-minute duration (`P1DT2H30M`; `PT0M` for none)."""
    minutes = int(duration // timedelta(minutes=1))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if not days and not time:
        return "PT0M"
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def _serialise(duration: timedelta) -> str:
    return format_duration(duration)


_PATTERN = (
    r"^([0-9]+|[Pp](?!$)([0-9]+[Ww])?([0-9]+[Dd])?([Tt](?=[0-9])([0-9]+[Hh])?([0-9]+[Mm])?)?)$"
)
_SCHEMA: dict[str, Any] = {
    "description": "An ISO 8601 duration in weeks, days, hours and minutes (PT30M, PT2H, "
    "P2D, P1DT12H) or a whole number of minutes; more than zero.",
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": _PATTERN},
    ],
}

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(_serialise, return_type=str, when_used="json"),
    WithJsonSchema(_SCHEMA),
]
"""A configured SLA duration: whole minutes, more than zero, at most 366 days."""
