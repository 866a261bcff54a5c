"""The console's Evidence area: the needs assessment, each intervention's evaluation, the
printable quarterly report and every table as CSV; aggregates only, small numbers
suppressed, for the IG lead and analysts."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.intake.api.problems import Problem, invalid
from services.intake.console import web
from services.intake.console.evidence_cells import EvidenceTable, as_csv, text
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
from services.intake.console.evidence_views import (
    RULE,
    Section,
    View,
    evaluation_sections,
    evaluations_of,
    needs_of,
    needs_sections,
    view,
)
from services.intake.console.inbox import not_found
from vrp.domain.configuration import Intervention, RoutingConfiguration
from vrp.domain.evidence.results import InterventionEvaluation
from vrp.domain.people import Permission

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


def _common(request: Request, period: Choice) -> dict[str, Any]:
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
        "as_at": web.now(),
        "cell_text": text,
    }


async def _needs(request: Request, period: Choice) -> list[Section]:
    config = web.config_of(request)
    threshold = web.settings_of(request).console_disclosure_threshold
    n = await needs_of(web.db_of(request), config, period)
    return needs_sections(n, threshold, period.label)


@router.get("", response_class=HTMLResponse)
async def overview(
    request: Request, session: web.SessionDep, period: PeriodQuery = None
) -> HTMLResponse:
    """The needs assessment over a period, with the interventions to evaluate."""
    web.allowed(session, Permission.EVIDENCE)
    choice = _period(period)
    page = view(await _needs(request, choice))
    return web.render(
        request,
        "evidence.html",
        view=page,
        csv=f"{web.PREFIX}/evidence/tables",
        **_common(request, choice),
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
    evaluations = await evaluations_of(web.db_of(request), config, choice, web.now(), found.id)
    e = evaluations[0]
    page = view(evaluation_sections(e, config, threshold))
    return web.render(
        request,
        "evidence_intervention.html",
        view=page,
        intervention=found,
        evaluation=e,
        csv=f"{web.PREFIX}/evidence/interventions/{found.id}/tables",
        **_common(request, choice),
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
    needs = view(await _needs(request, choice), "needs-")
    evaluations = await evaluations_of(web.db_of(request), config, choice, web.now(), None)
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
        **_common(request, choice),
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
    page = view(await _needs(request, choice))
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
    e = (await evaluations_of(web.db_of(request), config, choice, web.now(), found.id))[0]
    page = view(evaluation_sections(e, config, threshold))
    name = f"evidence-{found.id}-{table}-{choice.span.start}-{choice.span.end}"
    return _csv(page.table(table), name)
