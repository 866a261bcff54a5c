"""Evidence fixtures written straight into the tables the measures read (referral_facts,
received_referrals, populations, deprivation): small hand-made partnerships for the
measures' tests, and many rows at once for a benchmark."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table

from vrp.domain.lifecycle import RecipientState
from vrp.store.database import Database
from vrp.store.evidence_tables import deprivation, populations, referral_facts
from vrp.store.tables import received_referrals
from vrp.store.unit import unit_of_work

BIRMINGHAM, COVENTRY, DUDLEY = "E08000025", "E08000026", "E08000027"


@dataclass
class EvidenceRows:
    """Rows to write together: referrals' coded facts, offers, populations, deprivation."""

    rows: dict[Table, list[dict[str, Any]]] = field(default_factory=dict)

    def _add(self, table: Table, **values: Any) -> None:
        self.rows.setdefault(table, []).append(values)

    def referral(
        self,
        at: datetime,
        pseudonym: str | None,
        *,
        age: int | None = 15,
        sex: str | None = "male",
        area: str | None = BIRMINGHAM,
        lsoa: str | None = None,
        reason: str = "knife-crime",
        referral_id: str | None = None,
    ) -> str:
        """One referral's coded facts; returns its id."""
        rid = referral_id or str(uuid.uuid4())
        self._add(
            referral_facts,
            referral_id=rid,
            referred_at=at,
            month=f"{at:%Y-%m}",
            source_kind="police",
            local_authority=area,
            lsoa=lsoa,
            age=age,
            sex=sex,
            reason=reason,
            reasons=reason,
            pseudonym=pseudonym,
        )
        return rid

    def offer(
        self,
        referral_id: str,
        intervention: str,
        received_at: datetime,
        status: RecipientState = RecipientState.AWAITING,
        *,
        accepted_at: datetime | None = None,
        first_contact_at: datetime | None = None,
        closed_at: datetime | None = None,
        reason: str | None = None,
        outcome: str | None = None,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """One offer of a referral to an intervention, as its receiver holds it (with the
        payload given, e.g. a realistic size for a benchmark)."""
        self._add(
            received_referrals,
            referral_id=referral_id,
            intervention=intervention,
            organisation="provider",
            reference="REF",
            event_id=str(uuid.uuid4()),
            payload=payload or {},
            status=str(status),
            reason=reason,
            outcome=outcome,
            received_at=received_at,
            updated_at=closed_at or received_at,
            accepted_at=accepted_at,
            first_contact_at=first_contact_at,
            closed_at=closed_at,
            kind="offer",
        )

    def population(self, area: str, year: int, sex: str, age: int, people: int) -> None:
        """Residents of one area, year, sex and single year of age."""
        self._add(populations, local_authority=area, year=year, sex=sex, age=age, population=people)

    def lsoa(self, code: str, area: str, decile: int, people: int) -> None:
        """One LSOA's deprivation decile and population."""
        self._add(deprivation, lsoa=code, local_authority=area, decile=decile, population=people)

    async def write(self, db: Database, batch: int = 20_000) -> None:
        """Insert every row, a batch per transaction (asyncpg's executemany on
        PostgreSQL), then forget them."""
        for table, rows in self.rows.items():
            for i in range(0, len(rows), batch):
                async with unit_of_work(db) as unit:
                    for row in rows[i : i + batch]:
                        unit.stage(table, **row)
        self.rows.clear()
