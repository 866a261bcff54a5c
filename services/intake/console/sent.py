"""Referrers' pages: the referrals their organisation sent, and one of them as the partner
API shows it to its sender (status, timeline, the receivers' coded responses), never the
person's details and never another organisation's referral."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.intake.console import history, names, web
from services.intake.console.inbox import not_found
from services.intake.console.views import record_view
from services.intake.status import status_view
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.lifecycle import RecipientState
from vrp.domain.people import Permission
from vrp.store import offers, referrals
from vrp.store.offers import Copy
from vrp.store.unit import reading

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
LIMIT = 200


def respond_by(copy: Copy) -> datetime | None:
    """When an awaiting offer is due (only this time is read from the minimised copy)."""
    if copy.status != RecipientState.AWAITING:
        return None
    value = (copy.payload or {}).get("respond_by")
    return datetime.fromisoformat(value) if value else None


def _offer(config: RoutingConfiguration, copy: Copy, now: datetime) -> dict[str, Any]:
    due = respond_by(copy)
    return {
        "to": f"{names.intervention(config, copy.intervention)} at "
        f"{names.organisation(config, copy.organisation)}",
        "status": copy.status,
        "reason": names.label(config, "decline-reasons", copy.reason) if copy.reason else "",
        "outcome": names.label(config, "outcomes", copy.outcome) if copy.outcome else "",
        "respond_by": due,
        "due": names.due(due, now),
    }


@router.get("/sent", response_class=HTMLResponse)
async def sent(request: Request, session: web.SessionDep) -> HTMLResponse:
    """Referrals the person's organisation sent, newest first: status, where each went and
    when a response is due (ids, names and codes only)."""
    web.allowed(session, Permission.SENT)
    config, now = web.config_of(request), web.now()
    async with reading(web.db_of(request)) as unit:
        rows = await referrals.sent_list(unit, session.person.organisation, LIMIT)
        copies = await offers.for_hub(unit, [r.id for r in rows]) if rows else {}
    items = []
    for r in rows:
        offered = [_offer(config, c, now) for c in copies[r.id].offers]
        dues = [o["respond_by"] for o in offered if o["respond_by"]]
        first = min(dues) if dues else None
        items.append(
            {
                "referral_id": r.id,
                "reference": r.reference,
                "sent_at": r.created_at,
                "status": r.status,
                "offers": offered,
                "respond_by": first,
                "due": names.due(first, now),
            }
        )
    return web.render(request, "sent.html", items=items, limit=LIMIT)


@router.get("/sent/{referral_id}", response_class=HTMLResponse)
async def sent_referral(
    request: Request, referral_id: str, session: web.SessionDep
) -> HTMLResponse:
    """One referral the person's organisation sent, as the partner API's status shows it to
    its sender: 404 for anyone else's, as for none at all."""
    web.allowed(session, Permission.SENT)
    db, config, now = web.db_of(request), web.config_of(request), web.now()
    view = await status_view(db, session.person.organisation, referral_id[:64])
    if view is None:
        return not_found(request)
    await record_view(db, session.person, referral_id, "sent-referral")
    async with reading(db) as unit:
        copies = await offers.of_referral(unit, referral_id)
    due = {(c.organisation, c.intervention): respond_by(c) for c in copies}
    recipients = [
        {
            "to": f"{names.intervention(config, r.intervention)} at "
            f"{names.organisation(config, r.organisation)}",
            "status": r.status.value,
            "reason": names.label(config, "decline-reasons", r.reason) if r.reason else "",
            "outcome": names.label(config, "outcomes", r.outcome) if r.outcome else "",
            "received_at": r.received_at,
            "updated_at": r.updated_at,
            "due": names.due(due.get((r.organisation, r.intervention)), now),
        }
        for r in view.recipients
        if r.intervention != HUB_TRIAGE
    ]
    return web.render(
        request,
        "sent_referral.html",
        view=view,
        recipients=recipients,
        history=history.describe(config, view.timeline, [], history.Scope()),
    )
