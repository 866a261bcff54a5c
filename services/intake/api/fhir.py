"""The FHIR door: BaRS messages to $process-message, and the sender's referral read back
as a ServiceRequest and Tasks; the capability of this deployment, from its configuration."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from services.intake import fhir_messages, fhir_reads
from services.intake.api import fhir_schema
from services.intake.api.dependencies import DbDep, InFlightDep, PartnerDep, SettingsDep, require
from services.intake.api.fhir_errors import FhirResponse, resource
from services.intake.api.schemas import operation_id
from services.intake.api.state import intake_state
from services.intake.api.texts import nfc, text_problems
from vrp.fhir import capability, inbound, replies, systems, tasks
from vrp.fhir.outcomes import FhirRefusal, Issue
from vrp.settings import Settings

router = APIRouter(prefix="/fhir", tags=["fhir"], generate_unique_id_function=operation_id)

_ID = r"^[A-Za-z0-9\-.]{1,64}$"  # a FHIR id
_MEDIA = ("application/fhir+json", "application/json")
CACHE = "public, max-age=300"
"""The capability changes only with the configuration: senders may cache it briefly."""


def base_of(settings: Settings) -> str:
    """This deployment's FHIR base URL (the destination senders address)."""
    return systems.fhir_base(settings.public_url)


_AUTHED = (400, 401, 403, 429, 503)


@router.post(
    "/$process-message",
    response_class=FhirResponse,
    responses=fhir_schema.responses(200, *_AUTHED, 404, 409, 413, 415, 422, 425),
    openapi_extra=fhir_schema.MESSAGE_BODY,
)
async def process_message(
    request: Request,
    partner: PartnerDep,
    db: DbDep,
    settings: SettingsDep,
    in_flight: InFlightDep,
    x_request_id: Annotated[
        str | None, Header(alias="X-Request-ID", max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
    x_correlation_id: Annotated[
        str | None, Header(alias="X-Correlation-ID", max_length=200, pattern=r"^[\x21-\x7e]+$")
    ] = None,
) -> JSONResponse:
    """Receive a BaRS message Bundle: `servicerequest-request`, reason `new` refers,
    `update` (ServiceRequest.status revoked) cancels. 200 with a `servicerequest-response`
    message once stored durably; errors as OperationOutcome; a retry with the same
    X-Request-ID and body is 409 REC_CONFLICT (duplicate), and 425 while the first is still
    being processed."""
    require(partner, "referrals:submit")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _MEDIA:
        raise FhirRefusal(415, [Issue("Send the Bundle as application/fhir+json.", "Content-Type")])
    if not x_request_id:
        raise FhirRefusal(
            400,
            [
                Issue(
                    "X-Request-ID is required (a UUID per request; the same for a retry).",
                    "X-Request-ID",
                    "required",
                )
            ],
        )
    raw = await request.body()
    base = base_of(settings)
    message = _texts_checked(inbound.read(raw, base))
    state = intake_state(request)
    config = state.config()
    with in_flight.claim(partner.organisation, fhir_messages.KEY_PREFIX + x_request_id) as mine:
        if not mine:
            raise fhir_messages.too_early()
        sent = fhir_messages.Sent(message, raw, x_request_id, x_correlation_id)
        if message.reason == systems.NEW:
            key = settings.pseudonym_key.get_secret_value().encode()
            done = await fhir_messages.refer(db, partner, sent, config, state.areas, key)
            state.metrics.received(partner.organisation)
        else:
            done = await fhir_messages.cancel(db, partner, sent, config)
    now = datetime.now(UTC)
    if message.reason == systems.NEW:
        # Just stored: nothing to read back, nothing has happened to it yet.
        held = tasks.Referral(
            id=done.referral_id,
            reference=done.reference,
            status="received",
            received_at=now,
            updated_at=now,
            category=message.category,
            service_request_id=message.service_request_id,
            recipients=[],
        )
    else:
        found = await fhir_reads.referral(db, partner, done.referral_id, config, "fhir-message")
        if found is None:  # withdrawn, then removed by retention in between: not yours now
            raise FhirRefusal(404, [Issue("No such referral of yours.", code="not-found")])
        held = found
    sr = tasks.service_request(base, held)
    answer = replies.response_message(base, done.bundle_id, done.source_endpoint, [sr], at=now)
    headers = {"Location": f"{base}/ServiceRequest/{done.referral_id}"}
    if x_correlation_id:
        headers["X-Correlation-ID"] = x_correlation_id
    headers["X-Request-ID"] = x_request_id
    return resource(answer, headers=headers)


def _texts_checked(message: inbound.Message) -> inbound.Message:
    """The JSON API's text rules on the message's referral (NFC; no control, invisible or
    bidirectional characters), each refusal naming the FHIR element."""
    if message.reason != systems.NEW:
        return message
    body = nfc(message.body)
    found = text_problems(body)
    if found:
        issues = [Issue(f"{p['field']}: {p['detail']}", message.element(p["field"])) for p in found]
        raise FhirRefusal(422, issues)
    return replace(message, body=body)


@router.get(
    "/metadata", response_class=FhirResponse, responses=fhir_schema.responses(200, 422, 503)
)
async def metadata(request: Request, settings: SettingsDep) -> JSONResponse:
    """The CapabilityStatement of this deployment (no credentials needed)."""
    state = intake_state(request)
    config = state.config()
    base = base_of(settings)
    cases = fhir_messages.use_cases(config)
    body = capability.capability_statement(
        base, [capability.definition_id(c) for c in sorted(cases)], config.version, state.started_at
    )
    return resource(body, headers={"Cache-Control": CACHE, "ETag": f'W/"{config.version}"'})


@router.get(
    "/MessageDefinition",
    response_class=FhirResponse,
    responses=fhir_schema.responses(200, 422, 503),
)
async def message_definitions(request: Request, settings: SettingsDep) -> JSONResponse:
    """The MessageDefinitions this deployment receives: one per use case."""
    base = base_of(settings)
    config = intake_state(request).config()
    found = _definitions(request, base)
    return resource(
        tasks.searchset(base, found, f"{base}/MessageDefinition"),
        headers={"Cache-Control": CACHE, "ETag": f'W/"{config.version}"'},
    )


@router.get(
    "/MessageDefinition/{definition_id}",
    response_class=FhirResponse,
    responses=fhir_schema.responses(200, 404, 422, 503),
)
async def message_definition(
    definition_id: str, request: Request, settings: SettingsDep
) -> JSONResponse:
    """One MessageDefinition (404 OperationOutcome for an unknown one)."""
    config = intake_state(request).config()
    for d in _definitions(request, base_of(settings)):
        if d["id"] == definition_id:
            return resource(d, headers={"Cache-Control": CACHE, "ETag": f'W/"{config.version}"'})
    raise FhirRefusal(404, [Issue("No such MessageDefinition.", code="not-found")])


@router.get(
    "/ServiceRequest/{referral_id}",
    response_class=FhirResponse,
    responses=fhir_schema.responses(200, *_AUTHED, 404, 422),
)
async def service_request(
    referral_id: str, request: Request, partner: PartnerDep, db: DbDep, settings: SettingsDep
) -> JSONResponse:
    """A referral you sent, as a ServiceRequest (404 for anyone else's)."""
    require(partner, "referrals:read")
    config = intake_state(request).config()
    found = await fhir_reads.referral(db, partner, referral_id, config, "fhir-service-request")
    if found is None:
        raise FhirRefusal(
            404, [Issue("No ServiceRequest with this id is visible to you.", code="not-found")]
        )
    return resource(tasks.service_request(base_of(settings), found))


@router.get(
    "/Task", response_class=FhirResponse, responses=fhir_schema.responses(200, *_AUTHED, 422)
)
async def task_search(
    request: Request,
    partner: PartnerDep,
    db: DbDep,
    settings: SettingsDep,
    focus: Annotated[str, Query(max_length=100)],
) -> JSONResponse:
    """The Tasks of a referral you sent (`focus=ServiceRequest/<id>`): one per receiving
    organisation; an empty searchset for anyone else's."""
    require(partner, "referrals:read")
    base = base_of(settings)
    referral_id = focus.removeprefix(f"{base}/").removeprefix("ServiceRequest/")
    config = intake_state(request).config()
    found = None
    if referral_id and "/" not in referral_id:
        found = await fhir_reads.referral(db, partner, referral_id, config, "fhir-tasks")
    listed = [tasks.task(base, found, r) for r in found.recipients] if found else []
    return resource(
        tasks.searchset(base, listed, f"{base}/Task?focus=ServiceRequest/{referral_id}")
    )


def _definitions(request: Request, base: str) -> list[dict[str, Any]]:
    state = intake_state(request)
    config = state.config()
    cases = fhir_messages.use_cases(config)
    return [
        capability.message_definition(base, case, titles, config.version, state.started_at)
        for case, titles in sorted(cases.items())
    ]
