"""The record-level file's rows: each stored fact row reduced to the exported columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from vrp.domain.evidence.bands import band
from vrp.store.evidence_records import FactRow

Value = str | int | float | None


def _hours(start: datetime | None, end: datetime | None, unit: float = 3600.0) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / unit, 1)


class Numbering:
    """Numbers the referrals of one export in the order they are read (rows of one referral
    come together), so that the file never carries the referral's id."""

    def __init__(self) -> None:
        self._last: str | None = None
        self.count = 0

    def of(self, referral_id: str) -> int:
        """The export's number for this referral."""
        if referral_id != self._last:
            self._last = referral_id
            self.count += 1
        return self.count


def record(row: FactRow, numbering: Numbering) -> tuple[Value, ...]:
    """One exported row, in the dictionary's column order (`records_entry`)."""
    return (
        numbering.of(row.referral_id),
        row.month,
        row.source_kind,
        row.local_authority,
        row.decile,
        band(row.age),
        row.sex,
        row.reason,
        row.reasons,
        row.intervention,
        row.organisation,
        row.status,
        row.decline_reason if row.status == "declined" else None,
        row.outcome,
        _hours(row.offered_at, row.accepted_at),
        _hours(row.offered_at, row.first_contact_at),
        _hours(row.offered_at, row.closed_at, 86400.0),
    )


def records(rows: Sequence[FactRow], numbering: Numbering) -> list[tuple[Value, ...]]:
    """A batch of exported rows."""
    return [record(r, numbering) for r in rows]
