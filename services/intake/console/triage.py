"""Hub triage pages: held and declined referrals, routing one by hand, closing one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.intake import triage
from services.intake.console import data, web
from services.intake.console.inbox import not_found
from services.intake.console.views import record_view
from services.intake.console.vocab import JUSTIFICATIONS, codes
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.engine import offer
from vrp.domain.errors import Conflict, InvalidField, NotFound
from vrp.domain.facts import Facts
from vrp.domain.hub_view import for_the_hub
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.people import Permission
from vrp.domain.referral import Referral
from vrp.store import offers, referrals
from vrp.store.accounts import Session
from vrp.store.offers import Copies
from vrp.store.referrals import Happened, Summary
from vrp.store.unit import reading

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)


def _summary(
    ref: Summary, copies: Copies, requested: list[Happened], reasons: dict[str, str]
) -> dict[str, Any]:
    payload = (copies.triage.payload if copies.triage else None) or {}
    offered = {o.intervention for o in copies.offers}
    return {
        "referral_id": ref.id,
        "reference": ref.reference,
        "status": ref.status,
        "source": ref.source_org,
        "received_at": ref.created_at,
        "updated_at": ref.updated_at,
        "reasons": payload.get("held_reasons") or [],
        "hub_data": data.rows(payload.get("data") or {}, reasons),
        "offers": copies.offers,
        "pending": [
            r.detail["intervention"] for r in requested if r.detail["intervention"] not in offered
        ],
    }


@router.get("/triage", response_class=HTMLResponse)
async def queue(request: Request, session: web.SessionDep) -> HTMLResponse:
    """Referrals waiting for the hub: held (nobody could lawfully take them) or declined."""
    web.allowed(session, Permission.TRIAGE)
    async with reading(web.db_of(request)) as unit:
        rows = await referrals.in_states(unit, triage.TRIAGED, limit=500)
        ids = [r.id for r in rows]
        copies = await offers.for_hub(unit, ids)
        requested = await referrals.of_kind(unit, ids, triage.MANUAL_ROUTING_ENTRY)
    labels = codes(web.config_of(request), "reasons")
    items = [_summary(r, copies[r.id], requested[r.id], labels) for r in rows]
    return web.render(request, "triage.html", items=items)


def _choices(config: RoutingConfiguration, key: bytes, referral: Referral) -> list[dict[str, Any]]:
    """Every intervention with whether an agreement, eligibility and consent permit it."""
    source = config.organisation(referral.source_org)
    today = datetime.now(UTC).date()
    out = []
    for i in config.interventions:
        reasons: list[str] = []
        if source is None:
            reasons = ["the referring organisation is not in the configuration"]
        else:
            facts = Facts.of(referral, source.kind, today)
            decision = offer(facts, config, key, referral, i.id, HUB_TRIAGE)
            routed = decision.outcome == "routed"
            reasons = [] if routed else for_the_hub(decision.candidates, facts, config)
        out.append({"id": i.id, "title": i.title, "provider": i.provider, "reasons": reasons})
    return out


@router.get("/triage/{referral_id}", response_class=HTMLResponse)
async def held(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    done: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    """One referral for the hub: the router's reasons, who was offered it, and actions."""
    web.allowed(session, Permission.TRIAGE)
    return await _page(request, session, referral_id, done, web.error_message(error), None)


def _hub_sees(ref: Summary, copies: Copies, requested: list[Happened]) -> bool:
    """Held or declined now, or held, declined or routed by the hub before: anything else
    is not the hub's business, and answered as if it did not exist."""
    return ref.status in triage.TRIAGED or copies.triage is not None or bool(requested)


async def _visible(request: Request, referral_id: str) -> bool:
    async with reading(web.db_of(request)) as unit:
        ref = await referrals.stored(unit, referral_id[:64])
        if ref is None:
            return False
        copies = (await offers.for_hub(unit, [ref.id]))[ref.id]
        requested = (await referrals.of_kind(unit, [ref.id], triage.MANUAL_ROUTING_ENTRY))[ref.id]
    return _hub_sees(ref, copies, requested)


async def _page(
    request: Request,
    session: Session,
    referral_id: str,
    done: str | None,
    error: str | None,
    refused: tuple[str, list[str]] | None,
    status_code: int = 200,
) -> HTMLResponse:
    config = web.config_of(request)
    async with reading(web.db_of(request)) as unit:
        ref = await referrals.stored(unit, referral_id[:64])
        if ref is None:
            return not_found(request)
        copies = (await offers.for_hub(unit, [ref.id]))[ref.id]
        requested = (await referrals.of_kind(unit, [ref.id], triage.MANUAL_ROUTING_ENTRY))[ref.id]
    item = _summary(ref, copies, requested, codes(config, "reasons"))
    if not _hub_sees(ref, copies, requested):
        return not_found(request)
    await record_view(web.db_of(request), session.person, ref.id, "triage")
    actionable = ref.status in triage.TRIAGED and ref.reduced_at is None
    choices = []
    if actionable:
        key = web.settings_of(request).pseudonym_key.get_secret_value().encode()
        choices = _choices(config, key, Referral.model_validate(ref.body))
    return web.render(
        request,
        "triage_referral.html",
        item=item,
        actionable=actionable,
        choices=choices,
        justifications=JUSTIFICATIONS,
        close_reasons=codes(config, "cancel-reasons"),
        done=done if done in ("routed", "closed") else None,
        error=error,
        refused=refused,
        status_code=422 if refused else status_code,
    )


def _actor(session: Session) -> triage.Actor:
    return triage.Actor(session.person.organisation, session.person.actor)


@router.post("/triage/{referral_id}/route", response_model=None)
async def route(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    intervention: Annotated[str, Form(max_length=64)] = "",
    justification: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse | RedirectResponse:
    """Route by hand to an intervention whose agreement flow permits it."""
    web.check_csrf(session, csrf_token)
    web.allowed(session, Permission.TRIAGE)
    if not await _visible(request, referral_id):
        return not_found(request)
    page = f"{web.PREFIX}/triage/{referral_id}"
    if justification not in JUSTIFICATIONS:
        return web.redirect(web.with_error(page, "choose-justification"))
    settings = web.settings_of(request)
    try:
        await triage.route(
            web.db_of(request),
            web.config_of(request),
            settings.pseudonym_key.get_secret_value().encode(),
            _actor(session),
            referral_id,
            intervention,
            justification,
        )
    except NotFound:
        return not_found(request)
    except triage.Refused as exc:
        # Shown in place, not put in a URL: the reasons are about the person.
        return await _page(request, session, referral_id, None, None, (intervention, exc.reasons))
    except (Conflict, InvalidField) as exc:
        return await _refusal(request, session, referral_id, exc)
    return web.redirect(f"{page}?done=routed")


@router.post("/triage/{referral_id}/close", response_model=None)
async def close(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    reason: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse | RedirectResponse:
    """Close a held or declined referral with a coded reason."""
    web.check_csrf(session, csrf_token)
    web.allowed(session, Permission.TRIAGE)
    config = web.config_of(request)
    if not await _visible(request, referral_id):
        return not_found(request)  # as elsewhere: never "it is routed" about another's
    page = f"{web.PREFIX}/triage/{referral_id}"
    if reason not in codes(config, "cancel-reasons"):
        return web.redirect(web.with_error(page, "choose-reason"))
    try:
        await triage.close(web.db_of(request), _actor(session), referral_id, reason)
    except NotFound:
        return not_found(request)
    except Conflict as exc:
        return await _refusal(request, session, referral_id, exc)
    return web.redirect(f"{page}?done=closed")


async def _refusal(
    request: Request, session: Session, referral_id: str, exc: Conflict | InvalidField
) -> HTMLResponse:
    """The page again with why the action was refused: said on the page, never through its
    address (domain messages carry codes and ids only)."""
    status = 409 if isinstance(exc, Conflict) else 422
    return await _page(request, session, referral_id, None, str(exc)[:300], None, status)
