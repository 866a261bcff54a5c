"""The console's Evidence area: the needs assessment, each intervention's evaluation, the
printable quarterly report and every table as CSV; aggregates only, small numbers
suppressed, for the IG lead and analysts."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.intake.api.problems import Problem, invalid
from services.intake.console import web
from services.intake.console.evidence_periods import (
    PERIOD_PATTERN,
    QUARTER_PATTERN,
    Choice,
    chosen,
    last_complete_quarter,
    pilot,
    quarter,
    recent,
)
from services.intake.console.evidence_results import Prepared
from services.intake.console.evidence_views import View, evaluations_of, view
from services.intake.console.inbox import not_found
from vrp.domain.configuration import Intervention, RoutingConfiguration
from vrp.domain.evidence.results import InterventionEvaluation, NeedsAssessment
from vrp.domain.people import Permission
from vrp.publication.cells import EvidenceTable, as_csv, text
from vrp.publication.sections import RULE, Section, evaluation_sections, needs_sections

router = APIRouter(prefix=f"{web.PREFIX}/evidence", include_in_schema=False)
PeriodQuery = Annotated[
    str | None,
    Query(pattern=PERIOD_PATTERN, description="A quarter (2026-Q3), a year (2026) or `pilot`."),
]
KEY = r"^[a-z0-9-]{1,40}$"


def _period(code: str | None, intervention: Intervention | None = None) -> Choice:
    try:
        return chosen(code, web.now().date(), intervention)
    except ValueError:
        raise invalid(
            [{"field": "period", "detail": "This intervention has no pilot dates."}]
        ) from None


def _intervention(config: RoutingConfiguration, code: str) -> Intervention | None:
    return next((i for i in config.interventions if i.id == code), None)


def _common(request: Request, period: Choice, as_at: datetime) -> dict[str, Any]:
    config = web.config_of(request)
    threshold = web.settings_of(request).console_disclosure_threshold
    today = web.now().date()
    return {
        "period": period,
        "choices": recent(today),
        "interventions": [(i, pilot(i, today)) for i in config.interventions],
        "threshold": threshold,
        "rule": RULE.format(threshold=threshold),
        "config_version": config.version,
        "as_at": as_at,
        "cell_text": text,
    }


def _wait(request: Request, csv: bool) -> float | None:
    """How long a request waits for figures not yet prepared: a page a moment (then it
    says they are being prepared), a download until they are."""
    return None if csv else web.settings_of(request).console_evidence_wait_seconds


async def _needs(
    request: Request, period: Choice, csv: bool = False
) -> Prepared[NeedsAssessment] | None:
    results = web.evidence_of(request)
    return await results.needs(web.config_of(request), period.span, _wait(request, csv))


async def _evaluations(
    request: Request, period: Choice, only: str | None, csv: bool = False
) -> Prepared[list[InterventionEvaluation]] | None:
    results = web.evidence_of(request)
    config = web.config_of(request)
    return await evaluations_of(results, config, period, only, _wait(request, csv))


def _needs_sections(request: Request, n: NeedsAssessment, period: Choice) -> list[Section]:
    threshold = web.settings_of(request).console_disclosure_threshold
    return needs_sections(n, threshold, period.label)


def _preparing(request: Request, period: Choice, what: str) -> HTMLResponse:
    """202: the figures are being computed; the page says so and links to itself."""
    fresh_for = timedelta(seconds=web.settings_of(request).console_evidence_fresh_seconds)
    again = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = web.render(
        request,
        "evidence_preparing.html",
        202,
        period=period,
        what=what,
        again=again,
        fresh_for=fresh_for,
    )
    response.headers["Retry-After"] = "5"
    return response


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request, session: web.SessionDep, period: PeriodQuery = None
) -> HTMLResponse:
    """The needs assessment over a period, with the interventions to evaluate."""
    web.allowed(session, Permission.EVIDENCE)
    choice = _period(period)
    n = await _needs(request, choice)
    if n is None:
        return _preparing(request, choice, "The needs assessment's figures")
    return web.render(
        request,
        "evidence.html",
        view=view(_needs_sections(request, n.value, choice)),
        csv=f"{web.PREFIX}/evidence/tables",
        **_common(request, choice, n.at),
    )


@router.get("/interventions/{intervention}", response_class=HTMLResponse)
async def intervention_page(
    request: Request, intervention: str, session: web.SessionDep, period: PeriodQuery = None
) -> HTMLResponse:
    """One intervention's evaluation over a period (its pilot by default)."""
    web.allowed(session, Permission.EVIDENCE)
    config = web.config_of(request)
    found = _intervention(config, intervention)
    if found is None:
        return not_found(request)
    choice = _period(period, found)
    threshold = web.settings_of(request).console_disclosure_threshold
    evaluations = await _evaluations(request, choice, found.id)
    if evaluations is None:
        return _preparing(request, choice, f"The evaluation figures of {found.title}")
    e = evaluations.value[0]
    page = view(evaluation_sections(e, config, threshold))
    return web.render(
        request,
        "evidence_intervention.html",
        view=page,
        intervention=found,
        evaluation=e,
        csv=f"{web.PREFIX}/evidence/interventions/{found.id}/tables",
        **_common(request, choice, evaluations.at),
    )


@router.get("/report", response_class=HTMLResponse)
async def report(
    request: Request,
    session: web.SessionDep,
    quarter_code: Annotated[
        str | None, Query(alias="quarter", pattern=QUARTER_PATTERN, description="e.g. 2026-Q3")
    ] = None,
) -> HTMLResponse:
    """The quarterly report for the executive group: one page that prints to PDF."""
    web.allowed(session, Permission.EVIDENCE)
    config = web.config_of(request)
    threshold = web.settings_of(request).console_disclosure_threshold
    choice = quarter(quarter_code or last_complete_quarter(web.now().date()))
    # Both asked for at once: on a first visit they are computed side by side.
    n, prepared = await asyncio.gather(_needs(request, choice), _evaluations(request, choice, None))
    if n is None or prepared is None:
        return _preparing(request, choice, "The quarterly report's figures")
    needs = view(_needs_sections(request, n.value, choice), "needs-")
    evaluations = prepared.value
    titles = {i.id: i.title for i in config.interventions}
    parts = [
        (e.intervention, titles.get(e.intervention, e.intervention), _summary(e, config, threshold))
        for e in evaluations
        if e.current.funnel.offered
    ]
    # Interventions offered nothing in the quarter are named in one line, not a page each.
    idle = [
        titles.get(e.intervention, e.intervention)
        for e in evaluations
        if not e.current.funnel.offered
    ]
    return web.render(
        request,
        "evidence_report.html",
        needs=needs,
        parts=parts,
        idle=idle,
        **_common(request, choice, min(n.at, prepared.at)),
    )


def _summary(e: InterventionEvaluation, config: RoutingConfiguration, threshold: int) -> View:
    return view(evaluation_sections(e, config, threshold), f"{e.intervention}-")


def _csv(table: EvidenceTable | None, name: str) -> Response:
    if table is None:
        raise Problem(404, "not-found", "Not found", "No evidence table of that name.")
    response = Response(as_csv(table), media_type="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/tables/{table}.csv")
async def needs_csv(
    request: Request,
    session: web.SessionDep,
    table: Annotated[str, Path(pattern=KEY)],
    period: PeriodQuery = None,
) -> Response:
    """One table of the needs assessment as CSV (suppression applied)."""
    web.allowed(session, Permission.EVIDENCE)
    choice = _period(period)
    n = await _needs(request, choice, csv=True)
    assert n is not None  # a download waits for its figures
    page = view(_needs_sections(request, n.value, choice))
    return _csv(page.table(table), f"evidence-{table}-{choice.span.start}-{choice.span.end}")


@router.get("/interventions/{intervention}/tables/{table}.csv")
async def intervention_csv(
    request: Request,
    intervention: str,
    session: web.SessionDep,
    table: Annotated[str, Path(pattern=KEY)],
    period: PeriodQuery = None,
) -> Response:
    """One table of an intervention's evaluation as CSV (suppression applied)."""
    web.allowed(session, Permission.EVIDENCE)
    config = web.config_of(request)
    found = _intervention(config, intervention)
    if found is None:
        return not_found(request)
    choice = _period(period, found)
    threshold = web.settings_of(request).console_disclosure_threshold
    evaluations = await _evaluations(request, choice, found.id, csv=True)
    assert evaluations is not None  # a download waits for its figures
    e = evaluations.value[0]
    page = view(evaluation_sections(e, config, threshold))
    name = f"evidence-{found.id}-{table}-{choice.span.start}-{choice.span.end}"
    return _csv(page.table(table), name)
