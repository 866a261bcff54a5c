"""The directory: interventions and agreements as loaded, and, for the information-governance
lead, what was disclosed under each agreement flow."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.intake.api.state import intake_state
from services.intake.console import data, web
from vrp.domain.configuration import Agreement, RoutingConfiguration
from vrp.domain.geography import AREAS
from vrp.domain.people import Permission, may
from vrp.store import disclosures
from vrp.store.database import Database
from vrp.store.disclosures import FlowKey
from vrp.store.unit import reading

router = APIRouter(prefix=web.PREFIX, include_in_schema=False)
LISTED = 500
SOON_DAYS = 30


@dataclass(frozen=True, slots=True)
class FlowLine:
    """One flow of an agreement version, and how many disclosures were made under it."""

    id: str
    from_orgs: list[str]
    to_orgs: list[str]
    purposes: list[str]
    items: list[str]
    disclosed: int | None  # None: not the reader's to see


@dataclass(frozen=True, slots=True)
class AgreementLine:
    """One agreement version with the status it has today."""

    id: str
    version: int
    title: str
    status: str
    declared: str
    valid_from: date
    valid_to: date | None
    review_on: date | None
    days_left: int | None
    parties: list[str]
    flows: list[FlowLine] = field(default_factory=list)


def standing(a: Agreement, today: date) -> str:
    """What an agreement version amounts to today: its declared status, unless its dates
    say it has ended or not yet begun."""
    if a.status == "active":
        if a.valid_to is not None and a.valid_to < today:
            return "expired"
        if a.valid_from > today:
            return "not yet in force"
    return str(a.status)


def agreement_lines(
    config: RoutingConfiguration, today: date, counts: dict[FlowKey, int] | None
) -> list[AgreementLine]:
    """Every agreement version as loaded, newest version first within an id."""
    out = []
    for a in sorted(config.agreements, key=lambda a: (a.id, -a.version)):
        flows = [
            FlowLine(
                f.id,
                list(f.from_orgs),
                list(f.to_orgs),
                list(f.purposes),
                [data.label(str(i)) for i in f.items],
                None if counts is None else counts.get((a.id, a.version, f.id), 0),
            )
            for f in a.flows
        ]
        out.append(
            AgreementLine(
                id=a.id,
                version=a.version,
                title=a.title,
                status=standing(a, today),
                declared=str(a.status),
                valid_from=a.valid_from,
                valid_to=a.valid_to,
                review_on=a.review_on,
                days_left=(a.valid_to - today).days if a.valid_to else None,
                parties=list(a.parties),
                flows=flows,
            )
        )
    return out


async def disclosure_counts(db: Database) -> dict[FlowKey, int]:
    """How many disclosures each agreement flow (by version) has carried."""
    async with reading(db) as unit:
        return await disclosures.counts(unit)


def _retired(config: RoutingConfiguration, counts: dict[FlowKey, int]) -> list[tuple[FlowKey, int]]:
    """Flows with disclosures that the loaded configuration no longer holds."""
    loaded = {(a.id, a.version, f.id) for a in config.agreements for f in a.flows}
    return sorted((k, v) for k, v in counts.items() if k not in loaded)


@router.get("/directory", response_class=HTMLResponse)
async def directory(request: Request, session: web.SessionDep) -> HTMLResponse:
    """Interventions and agreements in force, with status, expiry and configuration version."""
    web.allowed(session, Permission.DIRECTORY)
    config = web.config_of(request)
    today = web.now().date()
    ig = may(session.person.role, Permission.DISCLOSURES)
    counts = await disclosure_counts(web.db_of(request)) if ig else None
    names = {o.id: o.name for o in config.organisations}
    return web.render(
        request,
        "directory.html",
        config_version=config.version,
        hub=names.get(config.hub, config.hub),
        interventions=sorted(config.interventions, key=lambda i: i.title),
        agreements=agreement_lines(config, today, counts),
        retired=_retired(config, counts) if counts is not None else [],
        names=names,
        areas=AREAS,
        soon_days=SOON_DAYS,
        disclosures_shown=ig,
        reload_failure=intake_state(request).reload_failure(),
    )


def _disclosure(r: disclosures.Disclosure) -> dict[str, Any]:
    return {
        "event_id": r.event_id,
        "referral_id": r.referral_id,
        "reference": r.reference or "",
        "organisation": r.organisation,
        "intervention": r.intervention,
        "version": r.agreement_version,
        "shared": [data.label(str(i)) for i in (r.items or [])],
        "config_version": r.config_version,
        "disclosed_at": r.disclosed_at,
    }


@router.get("/directory/flows/{agreement_id}/{flow_id}", response_class=HTMLResponse)
async def flow_disclosures(
    request: Request,
    agreement_id: str,
    flow_id: str,
    session: web.SessionDep,
    version: int | None = None,
) -> HTMLResponse:
    """The disclosures made under one agreement flow, newest first: ids, references,
    recipients, items and dates (never the data itself)."""
    web.allowed(session, Permission.DISCLOSURES)
    async with reading(web.db_of(request)) as unit:
        total, found = await disclosures.of_flow(
            unit, agreement_id[:64], flow_id[:64], version, LISTED
        )
    return web.render(
        request,
        "flow_disclosures.html",
        agreement_id=agreement_id,
        flow_id=flow_id,
        version=version,
        total=total,
        listed=LISTED,
        items=[_disclosure(r) for r in found],
    )
