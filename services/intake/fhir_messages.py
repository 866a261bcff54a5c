"""The FHIR door's use cases: a BaRS message refers (reason new) or cancels (update), through
the same checks, idempotency, routing and audit as the JSON API."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import ValidationError

from services.intake import changes, screening
from services.intake.auth.keys import Partner
from services.intake.submission import accept
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.errors import (
    ConcurrentRequest,
    Conflict,
    IdempotencyKeyReused,
    InvalidField,
    InvalidFields,
    NotFound,
)
from vrp.domain.referral import ReferralSubmission
from vrp.fhir import inbound, systems
from vrp.fhir.outcomes import FhirRefusal, Issue
from vrp.store import fhir_messages
from vrp.store.database import Database
from vrp.store.geography import Areas
from vrp.store.unit import reading, unit_of_work

KEY_PREFIX = "fhir "
"""Idempotency keys of FHIR messages: `fhir <X-Request-ID>`. The JSON API's keys cannot
contain a space, so the two doors never collide."""


@dataclass(frozen=True)
class Received:
    """A message applied: the referral it concerns."""

    referral_id: str
    reference: str
    bundle_id: str
    source_endpoint: str | None


def fingerprint(raw: bytes) -> str:
    """The message as sent: BaRS calls a retry one with the same X-Request-ID and body."""
    return hashlib.sha256(raw).hexdigest()


def duplicate(referral_id: str | None) -> FhirRefusal:
    """409 REC_CONFLICT: this message was received before (BaRS's proof of receipt)."""
    detail = "This message was received before under this X-Request-ID; nothing was stored again."
    return FhirRefusal(
        409,
        [Issue(detail, code="duplicate")],
        {"Location": f"ServiceRequest/{referral_id}"} if referral_id else {},
    )


def too_early() -> FhirRefusal:
    """425 REC_TOO_EARLY: the first request with this X-Request-ID is still being processed."""
    detail = "An earlier request with this X-Request-ID is still being processed."
    return FhirRefusal(425, [Issue(detail, code="transient")], {"Retry-After": "1"})


def request_id_reused() -> FhirRefusal:
    """422: the X-Request-ID names another message."""
    return FhirRefusal(
        422,
        [
            Issue(
                "This X-Request-ID was used for a different message; use a new one.",
                "X-Request-ID",
                "business-rule",
            )
        ],
    )


def use_cases(config: RoutingConfiguration) -> dict[str, list[str]]:
    """Use case -> the titles of the interventions that serve it."""
    out: dict[str, list[str]] = {}
    for i in config.interventions:
        out.setdefault(i.purpose, []).append(i.title)
    return out


def submission_of(
    message: inbound.Message, config: RoutingConfiguration, today: date
) -> ReferralSubmission:
    """The JSON API's referral the message carries, refused as the JSON API would refuse it
    but naming the FHIR elements."""
    if message.category not in use_cases(config):
        raise FhirRefusal(
            422,
            [
                Issue(
                    "is not a use case this service serves "
                    "(GET /fhir/MessageDefinition lists them)",
                    message.category_at,
                    "code-invalid",
                )
            ],
        )
    try:
        submission = ReferralSubmission.model_validate(message.body)
    except ValidationError as exc:
        issues = []
        for e in exc.errors(include_input=False, include_url=False)[:20]:
            api_field = ".".join(str(p) for p in e["loc"])
            detail = str(e["msg"]).removeprefix("Value error, ")
            issues.append(Issue(f"{api_field or 'referral'}: {detail}", message.element(api_field)))
        raise FhirRefusal(422, issues) from None
    problems = submission.check_dates(today) + submission.check_codes(config.codes)
    if problems:
        raise _mapped(message, problems)
    return submission


def _mapped(message: inbound.Message, problems: list[tuple[str, str]]) -> FhirRefusal:
    return FhirRefusal(
        422, [Issue(f"{field}: {detail}", message.element(field)) for field, detail in problems]
    )


@dataclass(frozen=True)
class Sent:
    """A message as it arrived: what it says, its bytes and its two headers."""

    message: inbound.Message
    raw: bytes
    request_id: str
    correlation_id: str | None


async def refer(
    db: Database,
    partner: Partner,
    sent_as: Sent,
    config: RoutingConfiguration,
    areas: Areas,
    pseudonym_key: bytes,
) -> Received:
    """Accept a referral message: the referral and its message row in one statement."""
    message, raw, request_id = sent_as.message, sent_as.raw, sent_as.request_id
    correlation_id = sent_as.correlation_id
    submission = submission_of(message, config, datetime.now(UTC).date())
    sent = fingerprint(raw)
    row = fhir_messages.row(
        partner.organisation,
        request_id,
        systems.NEW,
        message.bundle_id,
        message.service_request_id,
        sent,
        datetime.now(UTC),
        correlation_id=correlation_id,
        source_endpoint=message.source_endpoint,
        category=message.category,
        ods_code=message.ods_code,
    )
    try:
        accepted = await accept(
            db,
            partner,
            KEY_PREFIX + request_id,
            submission,
            config,
            areas,
            pseudonym_key=pseudonym_key,
            fingerprint=sent,
            message=row,
        )
    except (InvalidFields, InvalidField) as exc:
        problems = exc.problems if isinstance(exc, InvalidFields) else [(exc.field, exc.detail)]
        raise _mapped(message, problems) from None
    except IdempotencyKeyReused:
        raise request_id_reused() from None
    except ConcurrentRequest:
        # The key is taken by a message that made no referral (a cancellation).
        raise await _seen_before(db, partner, request_id, sent, message) from None
    if accepted.replayed:
        raise duplicate(accepted.referral_id)
    return Received(
        accepted.referral_id, accepted.reference, message.bundle_id, message.source_endpoint
    )


async def cancel(
    db: Database, partner: Partner, sent_as: Sent, config: RoutingConfiguration
) -> Received:
    """Withdraw the referral the sender's ServiceRequest made (before any acceptance)."""
    message, raw, request_id = sent_as.message, sent_as.raw, sent_as.request_id
    correlation_id = sent_as.correlation_id
    sent = fingerprint(raw)
    async with reading(db) as unit:
        seen = await fhir_messages.logged(unit, partner.organisation, request_id)
        referral_id = await fhir_messages.referral_of(
            unit, partner.organisation, message.service_request_id
        )
    if seen is not None:
        raise duplicate(seen.referral_id) if seen.request_hash == sent else request_id_reused()
    where = "Bundle.entry[0].resource.focus[0]"
    if referral_id is None:
        detail = (
            "No referral of yours was made by this ServiceRequest "
            "(its id must be the one first sent)."
        )
        raise FhirRefusal(404, [Issue(detail, where, "not-found")])
    reason = message.cancel_reason or _default_cancel_reason(config)
    screening_problem = _cancel_reason_problem(config, reason)
    if screening_problem:
        raise FhirRefusal(422, [Issue(screening_problem, f"{where}.orderDetail", "code-invalid")])
    try:
        await changes.cancel(db, partner, referral_id, reason)
    except NotFound:
        raise FhirRefusal(404, [Issue("No such referral of yours.", where, "not-found")]) from None
    except Conflict as exc:
        raise FhirRefusal(422, [Issue(str(exc), where, "business-rule")]) from None
    row = fhir_messages.row(
        partner.organisation,
        request_id,
        systems.UPDATE,
        message.bundle_id,
        message.service_request_id,
        sent,
        datetime.now(UTC),
        correlation_id=correlation_id,
        referral_id=referral_id,
    )
    try:
        async with unit_of_work(db) as unit:
            await fhir_messages.add(unit, row)
    except fhir_messages.RequestIdTaken:
        raise await _seen_before(db, partner, request_id, sent) from None
    return Received(referral_id, "", message.bundle_id, None)


def _default_cancel_reason(config: RoutingConfiguration) -> str:
    codes = list(config.codes.codes["cancel_reasons"])
    return "no-longer-needed" if "no-longer-needed" in codes else codes[0]


def _cancel_reason_problem(config: RoutingConfiguration, reason: str) -> str | None:
    try:
        screening.check_code(config, "cancel_reasons", "reason", reason)
    except InvalidField:
        return "is not a code in the cancel-reasons vocabulary"
    return None


async def _seen_before(
    db: Database,
    partner: Partner,
    request_id: str,
    sent: str,
    message: inbound.Message | None = None,
) -> FhirRefusal:
    """Why a message's key or ServiceRequest was taken: this very message before (409), its
    X-Request-ID for another message (422), its ServiceRequest already referred (409), or
    the first request still in flight (425)."""
    async with reading(db) as unit:
        seen = await fhir_messages.logged(unit, partner.organisation, request_id)
        made = None
        if seen is None and message is not None:
            made = await fhir_messages.referral_of(
                unit, partner.organisation, message.service_request_id
            )
    if made is not None:
        return FhirRefusal(
            409,
            [
                Issue(
                    "This ServiceRequest was referred before; nothing was stored again. "
                    "A new referral needs a ServiceRequest with a new id.",
                    "Bundle.entry[0].resource.focus[0]",
                    "duplicate",
                )
            ],
            {"Location": f"ServiceRequest/{made}"},
        )
    if seen is None:
        return too_early()
    return duplicate(seen.referral_id) if seen.request_hash == sent else request_id_reused()
