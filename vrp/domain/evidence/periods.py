"""Reporting periods: whole days in UTC, first and last day included, and the periods a
measure is compared with (the same dates a year before; the same length before a pilot)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from vrp.domain.configuration import Intervention, RoutingConfiguration


@dataclass(frozen=True, slots=True)
class Period:
    """From the start of `start` to the end of `end` (UTC), both days included."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("a period cannot end before it starts")

    @property
    def days(self) -> int:
        """How many days the period covers."""
        return (self.end - self.start).days + 1

    def bounds(self) -> tuple[datetime, datetime]:
        """The period as a half-open range of instants: [start 00:00, day after end 00:00)."""
        return (
            datetime.combine(self.start, time(), UTC),
            datetime.combine(self.end + timedelta(days=1), time(), UTC),
        )

    def year_before(self) -> Period:
        """The same dates a year earlier (29 February becomes the 28th)."""
        return Period(_year_earlier(self.start), _year_earlier(self.end))

    def before(self) -> Period:
        """The period of the same length that ends the day before this one starts."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def months(self) -> tuple[str, ...]:
        """Every month the period touches, as YYYY-MM, in order."""
        out: list[str] = []
        y, m = self.start.year, self.start.month
        while (y, m) <= (self.end.year, self.end.month):
            out.append(f"{y:04d}-{m:02d}")
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return tuple(out)

    def years(self) -> tuple[int, ...]:
        """Every calendar year the period touches, in order."""
        return tuple(range(self.start.year, self.end.year + 1))

    def covers_year(self, year: int) -> bool:
        """Whether the whole of calendar year `year` lies in the period."""
        return self.start <= date(year, 1, 1) and date(year, 12, 31) <= self.end

    def covers_month(self, month: str) -> bool:
        """Whether the whole of month `YYYY-MM` lies in the period."""
        y, m = (int(p) for p in month.split("-"))
        last = (date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)) - timedelta(days=1)
        return self.start <= date(y, m, 1) and last <= self.end

    def label(self) -> str:
        """E.g. `1 Jan 2026 to 31 Mar 2026`."""
        return f"{self.start:%-d %b %Y} to {self.end:%-d %b %Y}"


def _year_earlier(day: date) -> date:
    if day.month == 2 and day.day == 29:
        return date(day.year - 1, 2, 28)
    return day.replace(year=day.year - 1)


def pilot_period(intervention: Intervention, today: date) -> Period | None:
    """An intervention's pilot, from its start to its end (or today, or its start if it has
    not begun); None when it is not a pilot."""
    if intervention.pilot_start is None:
        return None
    end = intervention.pilot_end or max(today, intervention.pilot_start)
    return Period(intervention.pilot_start, end)


def partnership_areas(config: RoutingConfiguration) -> tuple[str, ...]:
    """The local authorities the partnership serves: every area an intervention's
    eligibility or a rule names, sorted (empty when none is named)."""
    areas = {a for i in config.interventions for a in i.eligibility.areas}
    areas |= {a for r in config.rules for a in r.when.areas}
    return tuple(sorted(areas))
