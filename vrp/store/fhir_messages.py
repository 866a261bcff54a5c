"""The FHIR door's message log: which X-Request-IDs a sender used, and each referral's
conversation (the sender's ServiceRequest, the first Bundle, where replies go)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vrp.store.tables import fhir_messages
from vrp.store.unit import Unit

NEW = "new"


@dataclass(frozen=True, slots=True)
class Logged:
    """A message already received under an X-Request-ID."""

    reason: str
    request_hash: str
    referral_id: str | None


@dataclass(frozen=True, slots=True)
class Conversation:
    """The message that made a referral: what the sender called it and where it listens."""

    source_org: str
    bundle_id: str
    service_request_id: str
    correlation_id: str | None
    source_endpoint: str | None
    category: str | None
    received_at: datetime


class RequestIdTaken(Exception):
    """The sender already used this X-Request-ID."""


def row(
    source_org: str,
    request_id: str,
    reason: str,
    bundle_id: str,
    service_request_id: str,
    request_hash: str,
    at: datetime,
    **optional: str | None,
) -> dict[str, object]:
    """A message row (correlation_id, source_endpoint, category, ods_code, referral_id
    optional)."""
    return {
        "source_org": source_org,
        "request_id": request_id,
        "reason": reason,
        "bundle_id": bundle_id,
        "service_request_id": service_request_id,
        "request_hash": request_hash,
        "received_at": at,
        "referral_id": optional.get("referral_id"),
        "correlation_id": optional.get("correlation_id"),
        "source_endpoint": optional.get("source_endpoint"),
        "category": optional.get("category"),
        "ods_code": optional.get("ods_code"),
    }


async def add(unit: Unit, values: dict[str, object]) -> None:
    """Log a message (a cancellation: a new referral's row is written with the referral).
    Raises RequestIdTaken when the sender used its X-Request-ID before."""
    try:
        async with unit.conn.begin_nested():
            await unit.conn.execute(fhir_messages.insert(), values)
    except IntegrityError:
        raise RequestIdTaken from None


async def logged(unit: Unit, source_org: str, request_id: str) -> Logged | None:
    """The message source_org sent under request_id, if any."""
    found = (
        await unit.conn.execute(
            select(
                fhir_messages.c.reason, fhir_messages.c.request_hash, fhir_messages.c.referral_id
            ).where(
                fhir_messages.c.source_org == source_org,
                fhir_messages.c.request_id == request_id,
            )
        )
    ).first()
    return None if found is None else Logged(found.reason, found.request_hash, found.referral_id)


async def referral_of(unit: Unit, source_org: str, service_request_id: str) -> str | None:
    """The referral source_org's ServiceRequest `service_request_id` made, if any."""
    return (
        await unit.conn.execute(
            select(fhir_messages.c.referral_id).where(
                fhir_messages.c.source_org == source_org,
                fhir_messages.c.service_request_id == service_request_id,
                fhir_messages.c.reason == NEW,
            )
        )
    ).scalar()


async def conversation(unit: Unit, referral_id: str) -> Conversation | None:
    """How the referral came through the FHIR door; None when it came as JSON."""
    return (await conversations(unit, [referral_id])).get(referral_id)


async def conversations(unit: Unit, referral_ids: Collection[str]) -> dict[str, Conversation]:
    """How each of these referrals came through the FHIR door (one statement); those that
    came as JSON are left out."""
    if not referral_ids:
        return {}
    c = fhir_messages.c
    found = await unit.conn.execute(
        select(
            c.referral_id,
            c.source_org,
            c.bundle_id,
            c.service_request_id,
            c.correlation_id,
            c.source_endpoint,
            c.category,
            c.received_at,
        ).where(c.referral_id.in_(list(referral_ids)), c.reason == NEW)
    )
    return {r[0]: Conversation(*r[1:]) for r in found}
