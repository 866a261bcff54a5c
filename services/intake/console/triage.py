"""Hub triage pages: what waits for the hub (held, declined, escalated, alerts that could not
be delivered), one referral with the actions that fit its state: route it by hand, close
it, chase its team, enable a team's webhook again."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.intake import triage
from services.intake.console import history, hub_case, web
from services.intake.console.inbox import not_found
from services.intake.console.views import record_view
from services.intake.console.vocab import JUSTIFICATIONS, codes
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.engine import offer
from vrp.domain.errors import Conflict, InvalidField, NotFound
from vrp.domain.facts import Facts
from vrp.domain.hub_view import for_the_hub
from vrp.domain.index import HUB_TRIAGE
from vrp.domain.lifecycle import ReferralState
from vrp.domain.people import Permission
from vrp.domain.referral import Referral
from vrp.store import hub_cases, referrals
from vrp.store.accounts import Session
from vrp.store.routing_state import offer_facts
from vrp.store.unit import reading

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
DONE = ("routed", "closed", "chased", "enabled")
"""The outcomes a page's `?done=` may name."""
OUTCOME_WAIT = 3.0
"""How long the page after a routing by hand waits for the router's answer (seconds)."""
_CLICK = re.compile(r"^[0-9a-f]{32}$")


@router.get("/triage", response_class=HTMLResponse)
async def queue(request: Request, session: web.SessionDep) -> HTMLResponse:
    """Referrals waiting for the hub, oldest first: held (nobody could lawfully take them),
    declined by everyone, or routed but escalated or not alerted (the hub was told)."""
    web.allowed(session, Permission.TRIAGE)
    config = web.config_of(request)
    async with reading(web.db_of(request)) as unit:
        waiting = await referrals.in_states(unit, triage.TRIAGED, limit=500)
        alerted = await hub_cases.alerted_in_states(
            unit, config.hub, [ReferralState.ROUTED], limit=500
        )
        rows = sorted({r.id: r for r in waiting + alerted}.values(), key=lambda r: r.created_at)
        found = await hub_case.cases(unit, rows)
    now = web.now()
    items = [hub_case.summary(c, config, now) for c in found]
    return web.render(request, "triage.html", items=items)


async def _choices(
    request: Request, config: RoutingConfiguration, referral: Referral
) -> list[dict[str, Any]]:
    """Every intervention with whether the router would take it: eligibility, capacity,
    consent and an agreement flow, checked as the router checks (`offer_facts`)."""
    key = web.settings_of(request).pseudonym_key.get_secret_value().encode()
    async with reading(web.db_of(request)) as unit:
        facts: Facts | None = await offer_facts(unit, config, referral, web.now().date())
    out = []
    for i in config.interventions:
        if facts is None:
            reasons = ["the referring organisation is not in the configuration"]
        else:
            decision = offer(facts, config, key, referral, i.id, HUB_TRIAGE)
            routed = decision.outcome == "routed"
            reasons = [] if routed else for_the_hub(decision.candidates, facts, config)
        words = [hub_case.reason_text(r, config).partition(": ")[2] for r in reasons]
        out.append({"id": i.id, "title": i.title, "provider": i.provider, "reasons": words})
    return out


@router.get("/triage/{referral_id}", response_class=HTMLResponse)
async def held(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    done: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    """One referral for the hub: why it is here, what came of the hub's actions, and the
    actions that fit its state."""
    web.allowed(session, Permission.TRIAGE)
    return await _page(request, session, referral_id, done, web.error_message(error), None)


async def _case(request: Request, referral_id: str) -> tuple[hub_case.Case, Any] | None:
    """The referral as the hub sees it with its stored form, or None when it is not the
    hub's business (answered as if it did not exist)."""
    async with reading(web.db_of(request)) as unit:
        ref = await referrals.stored(unit, referral_id[:64])
        if ref is None:
            return None
        found = await hub_case.case(unit, ref)
    return (found, ref) if found.sees(web.config_of(request).hub) else None


async def _settled(request: Request, referral_id: str) -> None:
    """Just after a routing by hand, wait briefly for the router's answer, so the page can
    usually say what happened rather than "waiting" (no scripts: the page cannot poll)."""
    config = web.config_of(request)
    deadline = asyncio.get_running_loop().time() + OUTCOME_WAIT
    while asyncio.get_running_loop().time() < deadline:
        seen = await _case(request, referral_id)
        if seen is None or all(r["outcome"] != "waiting" for r in seen[0].requests(config)):
            return
        await asyncio.sleep(0.2)


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
    if done == "routed":
        await _settled(request, referral_id)
    seen = await _case(request, referral_id)
    if seen is None:
        return not_found(request)
    found, ref = seen
    await record_view(web.db_of(request), session.person, ref.id, "triage")
    item = hub_case.summary(found, config, web.now())
    whole = ref.reduced_at is None
    routable = whole and (
        ref.status in triage.TRIAGED or (ref.status == ReferralState.ROUTED and item["awaiting"])
    )
    choices = await _choices(request, config, Referral.model_validate(ref.body)) if routable else []
    title = config.intervention(refused[0]) if refused else None
    return web.render(
        request,
        "triage_referral.html",
        item=item,
        routable=routable,
        closable=whole and ref.status in triage.TRIAGED,
        chaseable=whole and bool(item["awaiting"]),
        click=secrets.token_hex(16),
        choices=choices,
        justifications=JUSTIFICATIONS,
        close_reasons=codes(config, "cancel-reasons"),
        done=done if done in DONE else None,
        error=error,
        refused=(title.title if title else refused[0], refused[1]) if refused else None,
        status_code=422 if refused else status_code,
        # The hub coordinates the whole referral: its history in full, views included.
        history=await history.history(
            web.db_of(request), config, ref.id, history.Scope(None, views=True)
        ),
    )


async def _acting(
    request: Request, session: Session, csrf_token: str, referral_id: str
) -> str | None:
    """Check a hub action's form (CSRF, role) and return the referral's hub page, or None
    when the referral is not the hub's business (answered as if it did not exist)."""
    web.check_csrf(session, csrf_token)
    web.allowed(session, Permission.TRIAGE)
    if await _case(request, referral_id) is None:
        return None
    return f"{web.PREFIX}/triage/{referral_id}"


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
    """Ask the router to offer the referral to an intervention the router would take it for."""
    page = await _acting(request, session, csrf_token, referral_id)
    if page is None:
        return not_found(request)
    if justification not in JUSTIFICATIONS:
        return web.redirect(web.with_error(page, "choose-justification"))
    settings = web.settings_of(request)
    config = web.config_of(request)
    try:
        await triage.route(
            web.db_of(request),
            config,
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
        words = [hub_case.reason_text(r, config).partition(": ")[2] for r in exc.reasons]
        return await _page(request, session, referral_id, None, None, (intervention, words))
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
    page = await _acting(request, session, csrf_token, referral_id)
    if page is None:
        return not_found(request)  # as elsewhere: never "it is routed" about another's
    config = web.config_of(request)
    if reason not in codes(config, "cancel-reasons"):
        return web.redirect(web.with_error(page, "choose-reason"))
    try:
        await triage.close(web.db_of(request), _actor(session), referral_id, reason)
    except NotFound:
        return not_found(request)
    except Conflict as exc:
        return await _refusal(request, session, referral_id, exc)
    return web.redirect(f"{page}?done=closed")


@router.post("/triage/{referral_id}/chase", response_model=None)
async def chase(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    intervention: Annotated[str, Form(max_length=64)] = "",
    click: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse | RedirectResponse:
    """Remind the team that has not answered, now (one reminder per button press)."""
    page = await _acting(request, session, csrf_token, referral_id)
    if page is None:
        return not_found(request)
    if not _CLICK.match(click):
        return await _refusal(request, session, referral_id, InvalidField("click", "is not ours"))
    try:
        await triage.chase(
            web.db_of(request),
            web.config_of(request),
            _actor(session),
            referral_id,
            intervention,
            click,
        )
    except NotFound:
        return not_found(request)
    except Conflict as exc:
        return await _refusal(request, session, referral_id, exc)
    return web.redirect(f"{page}?done=chased")


@router.post("/triage/{referral_id}/enable-webhook", response_model=None)
async def enable_webhook(
    request: Request,
    referral_id: str,
    session: web.SessionDep,
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    organisation: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse | RedirectResponse:
    """Enable again a team's webhook that was disabled (410 Gone), for this referral's team."""
    web.check_csrf(session, csrf_token)
    web.allowed(session, Permission.TRIAGE)
    seen = await _case(request, referral_id)
    if seen is None:
        return not_found(request)
    if organisation not in {d.organisation for d in seen[0].disabled}:
        problem = Conflict("that organisation has no disabled webhook for this referral")
        return await _refusal(request, session, referral_id, problem)
    await triage.enable_webhook(web.db_of(request), _actor(session), referral_id, organisation)
    return web.redirect(f"{web.PREFIX}/triage/{referral_id}?done=enabled")


async def _refusal(
    request: Request, session: Session, referral_id: str, exc: Conflict | InvalidField
) -> HTMLResponse:
    """The page again with why the action was refused: said on the page, never through its
    address (domain messages carry codes and ids only)."""
    status = 409 if isinstance(exc, Conflict) else 422
    return await _page(request, session, referral_id, None, str(exc)[:300], None, status)
