"""What a sender may read back through the FHIR door: its referral as a ServiceRequest and
each receiving organisation's handling of it as a Task."""

from __future__ import annotations

from services.intake.auth.keys import Partner
from services.intake.reads import record_reads
from services.intake.status import status_view
from vrp.domain.configuration import RoutingConfiguration
from vrp.fhir import tasks
from vrp.store import fhir_messages
from vrp.store.database import Database
from vrp.store.unit import reading


async def referral(
    db: Database, partner: Partner, referral_id: str, config: RoutingConfiguration, operation: str
) -> tasks.Referral | None:
    """The referral `partner` sent, with its recipients; None for anyone else's (the read
    is audited as the JSON API's reads are)."""
    view = await status_view(db, partner.organisation, referral_id)
    if view is None:
        return None
    async with reading(db) as unit:
        made = await fhir_messages.conversation(unit, referral_id)
    await record_reads(db, partner, [referral_id], operation)
    # A cancellation's reason is the referral's (in its timeline), not each copy's.
    cancelled = next((e.detail.get("reason") for e in view.timeline if e.type == "cancelled"), None)
    alerted = {e.detail.get("organisation") for e in view.timeline if e.type == "alert-sent"}
    recipients = []
    for r in view.recipients:
        org = config.organisation(r.organisation)
        recipients.append(
            tasks.Recipient(
                organisation=r.organisation,
                name=org.name if org else r.organisation,
                intervention=r.intervention,
                status=r.status.value,
                reason=r.reason or (cancelled if r.status.value == "cancelled" else None),
                outcome=r.outcome,
                received_at=r.received_at,
                updated_at=r.updated_at,
                delivered=r.organisation in alerted,
            )
        )
    return tasks.Referral(
        id=view.id,
        reference=view.reference,
        status=view.status,
        received_at=view.received_at,
        updated_at=view.updated_at,
        category=made.category if made else None,
        service_request_id=made.service_request_id if made else None,
        recipients=recipients,
    )
