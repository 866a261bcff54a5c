"""The partnership dashboard: aggregate counts only, small numbers suppressed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.intake.console import web
from services.intake.console.charts import Chart, bar_chart
from services.intake.console.figures import (
    OfferFacts,
    ReferralFacts,
    acceptance,
    referral_facts,
    volumes,
)
from services.intake.console.vocab import codes
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.geography import AREAS
from vrp.domain.lifecycle import RecipientState
from vrp.domain.people import Permission
from vrp.store import figures
from vrp.store.database import Database
from vrp.store.unit import reading

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
EXPIRING_DAYS = 30
_TAKEN_ON = (RecipientState.ACCEPTED, RecipientState.IN_PROGRESS, RecipientState.COMPLETED)


@dataclass(frozen=True, slots=True)
class Expiring:
    """An agreement in force whose end or review date is near."""

    id: str
    version: int
    title: str
    what: str  # "ends" or "review due"
    on: date
    days: int


async def _referrals(db: Database) -> list[ReferralFacts]:
    async with reading(db) as unit:
        rows = await figures.decided_referrals(unit)
    # Only codes, areas and an age leave this function: never a name or free text.
    return [
        referral_facts(r.created_at, r.local_authority, r.body or {}, r.outcome, r.decision)
        for r in rows
    ]


async def _offers(db: Database) -> list[OfferFacts]:
    async with reading(db) as unit:
        accepted = await figures.acceptances(unit)
        rows = await figures.offers(unit)
    return [_offer(r, accepted) for r in rows]


def _offer(r: figures.OfferRow, accepted: dict[tuple[str, str], datetime]) -> OfferFacts:
    due = (r.payload or {}).get("respond_by")
    at = accepted.get((r.referral_id, r.intervention))
    if at is None and r.status == RecipientState.ACCEPTED:
        at = r.updated_at  # accepted before the timeline recorded responses
    return OfferFacts(
        intervention=r.intervention,
        received_at=r.received_at,
        respond_by=datetime.fromisoformat(due) if due else None,
        accepted_at=at if r.status in _TAKEN_ON else None,
        awaiting=r.status == RecipientState.AWAITING,
    )


def expiring(
    config: RoutingConfiguration, today: date, days: int = EXPIRING_DAYS
) -> list[Expiring]:
    """Active agreements that end, or are due for review, within `days` of today."""
    out: list[Expiring] = []
    for a in config.agreements:
        if a.status != "active":
            continue
        for what, on in (("ends", a.valid_to), ("review due", a.review_on)):
            if on is not None and today <= on <= today + timedelta(days=days):
                out.append(Expiring(a.id, a.version, a.title, what, on, (on - today).days))
    return sorted(out, key=lambda e: (e.on, e.id))


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(request: Request, session: web.SessionDep) -> HTMLResponse:
    """Counts across the partnership, every small one suppressed (with its complements)."""
    web.allowed(session, Permission.DASHBOARD)
    config = web.config_of(request)
    db = web.db_of(request)
    threshold = web.settings_of(request).console_disclosure_threshold
    now = web.now()
    breakdowns = volumes(await _referrals(db), threshold, AREAS, codes(config, "reasons"))
    titles = {i.id: i.title for i in config.interventions}
    charts: dict[str, Chart] = {
        b.key: bar_chart(f"chart-{b.key}", b.title, b.lines) for b in breakdowns
    }
    return web.render(
        request,
        "dashboard.html",
        breakdowns=breakdowns,
        charts=charts,
        total=breakdowns[0].total,
        acceptance=acceptance(await _offers(db), now, threshold, titles),
        expiring=expiring(config, now.date()),
        expiring_days=EXPIRING_DAYS,
        threshold=threshold,
        config_version=config.version,
        as_at=now,
    )
