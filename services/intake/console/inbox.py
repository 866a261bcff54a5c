"""The team inbox: referrals routed to my organisation, one referral, and my response."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from services.intake import changes, offers, screening
from services.intake.api.schemas import Accept, Complete, Decline, InProgress
from services.intake.auth.keys import Partner
from services.intake.console import data, history, web
from services.intake.console.views import record_view
from services.intake.console.vocab import codes
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.errors import Conflict, InvalidField, NotFound
from vrp.domain.lifecycle import ESCALATED, RecipientState
from vrp.domain.people import Permission
from vrp.store.accounts import Session
from vrp.store.offers import Copy

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
STATES = [s.value for s in RecipientState]


def _respond_by(row: Copy) -> datetime | None:
    value = (row.payload or {}).get("respond_by")
    return datetime.fromisoformat(value) if value else None


def entry(row: Copy, now: datetime) -> dict[str, Any]:
    """One inbox line: ids, codes and times (no personal data in the list)."""
    due = _respond_by(row)
    payload = row.payload or {}
    return {
        "referral_id": row.referral_id,
        "reference": row.reference,
        "intervention": row.intervention,
        "title": payload.get("intervention_title") or row.intervention,
        "status": row.status,
        "reason": row.reason,
        "outcome": row.outcome,
        "received_at": row.received_at,
        "respond_by": due,
        "overdue": due is not None and due < now and row.status == RecipientState.AWAITING,
        "withdrawn": row.status == RecipientState.CANCELLED and row.reason == ESCALATED,
        "urgency": (payload.get("data") or {}).get("risk"),
        "accepted_at": row.accepted_at,
        "first_contact_at": row.first_contact_at,
        "closed_at": row.closed_at,
    }


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request, session: web.SessionDep, status: str | None = None
) -> HTMLResponse:
    """Referrals routed to the person's organisation: open ones first, oldest first."""
    web.allowed(session, Permission.INBOX)
    page = await offers.inbox(
        web.db_of(request),
        session.person.organisation,
        status if status in STATES else None,
        limit=500,
        open_first=True,
    )
    now = web.now()
    items = [entry(r, now) for r in page.copies]
    return web.render(
        request,
        "inbox.html",
        items=items,
        status=status if status in STATES else None,
        states=STATES,
        overdue=sum(1 for i in items if i["overdue"]),
    )


def _name(config: RoutingConfiguration, org: str | None) -> str:
    found = config.organisation(org) if org else None
    return found.name if found else (org or "")


def not_found(request: Request) -> HTMLResponse:
    """The same page for a referral that does not exist and one that is not yours."""
    return web.render(request, "not_found.html", 404)


@router.get("/referrals/{referral_id}", response_class=HTMLResponse)
async def referral(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    done: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    """One referral routed to the person's organisation, exactly as minimised for it."""
    web.allowed(session, Permission.INBOX)
    done = done if done in STATES or done == FIRST_CONTACT else None
    return await _page(request, session, referral_id, done, web.error_message(error))


async def _page(
    request: Request,
    session: Session,
    referral_id: str,
    done: str | None,
    error: str | None,
    status_code: int = 200,
) -> HTMLResponse:
    rows = await offers.received(web.db_of(request), session.person.organisation, referral_id[:64])
    if not rows:
        return not_found(request)
    await record_view(web.db_of(request), session.person, referral_id, "referral")
    now = web.now()
    config = web.config_of(request)
    parts = [
        entry(r, now)
        | {
            "data": data.rows(
                (r.payload or {}).get("data") or {},
                codes(config, "reasons"),
                codes(config, "risk-levels"),
            ),
            "from": _name(config, (r.payload or {}).get("from_organisation")),
            "reduced": r.reduced_at is not None,
        }
        for r in rows
    ]
    return web.render(
        request,
        "referral.html",
        status_code,
        referral_id=referral_id,
        reference=rows[0].reference,
        parts=parts,
        decline_reasons=codes(config, "decline-reasons"),
        outcomes=codes(config, "outcomes"),
        history=await history.history(
            web.db_of(request),
            config,
            referral_id,
            history.Scope(session.person.organisation, views=True),
        ),
        done=done,
        error=error,
    )


_RESPONSES: dict[str, type[Accept | Decline | InProgress | Complete]] = {
    "accepted": Accept,
    "declined": Decline,
    "in-progress": InProgress,
    "completed": Complete,
}


@router.post("/referrals/{referral_id}/response", response_model=None)
async def respond(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    intervention: Annotated[str, Form(max_length=64)] = "",
    status: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=64)] = "",
    outcome: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse | RedirectResponse:
    """Accept, decline (coded reason), start or complete (coded outcome): the lifecycle the
    API enforces, applied by the same use case."""
    web.check_csrf(session, csrf_token)
    web.allowed(session, Permission.INBOX)
    page = f"{web.PREFIX}/referrals/{referral_id}"
    model = _RESPONSES.get(status)
    if model is None:
        return web.redirect(web.with_error(page, "choose-response"))
    fields: dict[str, Any] = {"status": status, "intervention": intervention or None}
    if status == "declined":
        fields["reason"] = reason
    if status == "completed":
        fields["outcome"] = outcome
    try:
        response: changes.Response = model.model_validate(fields)
    except ValidationError:
        missing = "choose-reason" if status == "declined" else "choose-outcome"
        return web.redirect(web.with_error(page, missing))
    person = session.person
    acting = Partner(person.organisation, f"user:{person.username}", frozenset())
    try:
        config = web.config_of(request)
        # The partnership's own codes: the same check as the API's.
        screening.check_code(config, "decline_reasons", "reason", getattr(response, "reason", None))
        screening.check_code(config, "outcomes", "outcome", getattr(response, "outcome", None))
        await changes.respond(web.db_of(request), acting, referral_id, response)
    except NotFound:
        return not_found(request)
    except (Conflict, InvalidField) as exc:
        # Said on the page itself, never through its address (domain messages carry codes
        # and ids only).
        refused = 409 if isinstance(exc, Conflict) else 422
        return await _page(request, session, referral_id, None, str(exc)[:300], refused)
    return web.redirect(f"{page}?done={status}")


FIRST_CONTACT = "first-contact"
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TIME = re.compile(r"^[0-9]{1,2}:[0-9]{2}$")
BAD_TIME = "Enter the date as YYYY-MM-DD and the time as HH:MM (24-hour clock, UTC)."


def parse_contact(day: str, clock: str) -> datetime | None:
    """The form's date and UTC time as one moment (None when either is malformed)."""
    if not _DATE.match(day.strip()) or not _TIME.match(clock.strip()):
        return None
    try:
        return datetime.fromisoformat(f"{day.strip()}T{clock.strip():0>5}").replace(tzinfo=UTC)
    except ValueError:
        return None


@router.post("/referrals/{referral_id}/first-contact", response_model=None)
async def first_contact(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    intervention: Annotated[str, Form(max_length=64)] = "",
    contact_date: Annotated[str, Form(max_length=20)] = "",
    contact_time: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse | RedirectResponse:
    """Record when the team first made contact with the person: the same use case and
    checks as the API's `first_contact_at` (not in the future, not before the offer)."""
    web.check_csrf(session, csrf_token)
    web.allowed(session, Permission.INBOX)
    page = f"{web.PREFIX}/referrals/{referral_id}"
    at = parse_contact(contact_date, contact_time)
    if at is None:
        return await _page(request, session, referral_id, None, BAD_TIME, 422)
    person = session.person
    acting = Partner(person.organisation, f"user:{person.username}", frozenset())
    try:
        await changes.first_contact(
            web.db_of(request), acting, referral_id, intervention or None, at
        )
    except NotFound:
        return not_found(request)
    except (Conflict, InvalidField) as exc:
        refused = 409 if isinstance(exc, Conflict) else 422
        message = f"The first contact {exc.detail}." if isinstance(exc, InvalidField) else str(exc)
        return await _page(request, session, referral_id, None, message[:300], refused)
    return web.redirect(f"{page}?done={FIRST_CONTACT}")
