"""The evidence pages' period picker: calendar quarters and years, and an intervention's
pilot, each named by a short code in the page's address."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from vrp.domain.configuration import Intervention, RoutingConfiguration
from vrp.domain.evidence.periods import Period, pilot_period

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
PERIOD_PATTERN = r"^(\d{4}(-Q[1-4])?|pilot)$"
QUARTER_PATTERN = r"^\d{4}-Q[1-4]$"
QUARTERS_OFFERED = 8


@dataclass(frozen=True, slots=True)
class Choice:
    """A period as the picker offers it: its code, its words, and its days."""

    code: str
    label: str
    span: Period


def quarter(code: str) -> Choice:
    """`2026-Q3` as 1 July to 30 September 2026 (ValueError for anything else)."""
    found = _QUARTER.match(code)
    if not found:
        raise ValueError(code)
    y, q = int(found[1]), int(found[2])
    start = date(y, 3 * q - 2, 1)
    after = date(y + 1, 1, 1) if q == 4 else date(y, 3 * q + 1, 1)
    span = Period(start, after - timedelta(days=1))
    return Choice(code, f"{y} Q{q} ({span.label()})", span)


def year(code: str) -> Choice:
    """`2026` as the calendar year."""
    if not re.fullmatch(r"\d{4}", code) or int(code) < 1:
        raise ValueError(code)
    y = int(code)
    return Choice(code, f"The year {y}", Period(date(y, 1, 1), date(y, 12, 31)))


def quarter_of(day: date) -> str:
    """The code of the quarter holding `day`."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def last_complete_quarter(today: date) -> str:
    """The latest quarter that has ended (what the executive group reviews)."""
    first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    return quarter_of(first - timedelta(days=1))


def recent(today: date, count: int = QUARTERS_OFFERED) -> list[Choice]:
    """The current quarter and those before it, newest first, then this year and last."""
    out: list[Choice] = []
    day = today
    for _ in range(count):
        q = quarter(quarter_of(day))
        out.append(q)
        day = q.span.start - timedelta(days=1)
    return [*out, year(str(today.year)), year(str(today.year - 1))]


def pilot(intervention: Intervention, today: date) -> Choice | None:
    """An intervention's pilot (to its end, else to today), or None when it has none."""
    span = pilot_period(intervention, today)
    if span is None:
        return None
    running = "" if intervention.pilot_end else " (still running)"
    return Choice("pilot", f"The pilot, {span.label()}{running}", span)


def chosen(code: str | None, today: date, intervention: Intervention | None = None) -> Choice:
    """The period an address names (`2026-Q3`, `2026` or `pilot`); by default an
    intervention's pilot, else the last complete quarter. ValueError for a code that names
    none (`pilot` of an intervention that has no pilot)."""
    found = pilot(intervention, today) if intervention else None
    if code is None:
        return found or quarter(last_complete_quarter(today))
    if code == "pilot":
        if found is None:
            raise ValueError(code)
        return found
    return quarter(code) if "Q" in code else year(code)


def opening(today: date) -> list[Period]:
    """The periods the evidence pages open on: the last complete quarter (the overview,
    the report, and any intervention that is not a pilot)."""
    return [quarter(last_complete_quarter(today)).span]


def pilots(config: RoutingConfiguration, today: date) -> list[str]:
    """The interventions whose pages open on their pilot."""
    return [i.id for i in config.interventions if pilot_period(i, today) is not None]
