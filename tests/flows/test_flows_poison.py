"""Poison events on both transports: dead-lettered with the reason, the original kept in
the restricted table, the events around them still routed, no personal data on the
dead-letter topic; a referral whose sender left the configuration held for the hub."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

from testkit.dead_letters import letter_for, stored_original
from testkit.flows import decided, on_topic, received
from testkit.partner import submit, wait_status
from testkit.systems import TIMEOUT, System, module_system
from vrp.events import topics
from vrp.events.models import HeldForTriage

system = module_system()


async def test_a_poison_event_is_dead_lettered_and_the_next_one_still_routed(
    system: System,
) -> None:
    marker = uuid.uuid4().hex
    poison = json.dumps({"not": "an event", "marker": marker}).encode()
    await system.inject([("x", poison)])
    accepted = await submit(system.client, system.uhb)
    status = await wait_status(
        system.client, accepted["status_url"], system.uhb, {"routed"}, timeout=TIMEOUT
    )
    assert status["status"] == "routed"
    # The original is kept, byte for byte, in the restricted table; the topic refers to it.
    kept = await stored_original(system, lambda raw: marker.encode() in raw)
    assert kept.original == poison and kept.consumer == "vrp-router"
    assert kept.topic == topics.RECEIVED and kept.event_id is None
    assert kept.reason.startswith("invalid event")
    letter = await letter_for(system, kept)
    assert letter.value["type"] == "uk.vrp.dead-letter.v2"
    assert letter.value["data"] == {
        "consumer": "vrp-router",
        "topic": topics.RECEIVED,
        "position": kept.position,
        "event_id": None,
        "reason": kept.reason,
        "original_ref": kept.id,
    }
    assert marker.encode() not in letter.payload


async def test_a_referral_whose_sender_left_the_configuration_is_held_for_the_hub(
    system: System,
) -> None:
    # As after a reload that removed the organisation while its referral was in flight
    # (intake refuses new ones from it): held for the hub, never dead-lettered.
    orphan = received("not-a-partner")
    rid = orphan.subject or ""
    await system.inject([(rid, orphan.to_bytes())])
    [copy] = await on_topic(system, topics.partner_referrals("wm-vru"), rid)
    data = copy.value["data"]
    assert copy.value["type"] == HeldForTriage.TYPE and data["data"] == {}
    assert data["held_reasons"] == ["not-a-partner: source-not-in-configuration"]


async def test_one_poison_event_in_a_batch_does_not_hold_back_the_others(system: System) -> None:
    # The poison one names a person distinctively, to look for them in the dead letter. (A
    # sender missing from the configuration is no longer poison: it is held for the hub.)
    name, nhs_number, postcode = f"Quillon{uuid.uuid4().hex[:8]}", "4857773457", "WV99 9ZZ"
    poison = received(
        "uhb",
        subject__family_name=name,
        subject__nhs_number=nhs_number,
        subject__postcode=postcode,
    )
    poison.data["referral"]["submission"]["reasons"] = ["Not A Code"]  # fails validation
    events = [received("uhb"), poison, received("uhb")]
    await system.inject([(e.subject or "", e.to_bytes()) for e in events])  # one batch
    good = {events[0].subject or "", events[2].subject or ""}

    deadline = time.monotonic() + TIMEOUT
    while (done := await decided(system, good)) != good and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert done == good, system.explain("router")
    kept = await stored_original(system, lambda raw: poison.id.encode() in raw)
    assert kept.original == poison.to_bytes() and kept.event_id == poison.id
    letter = await letter_for(system, kept)
    data = letter.value["data"]
    assert data["reason"].startswith("invalid event: referral.submission.reasons.0")
    assert data["event_id"] == poison.id and data["topic"] == topics.RECEIVED
    # No personal data on the topic: neither the person's details nor the original event.
    assert "original" not in data
    for personal in (name, nhs_number, postcode, "Alex", "2010-03-14"):
        assert personal.encode() not in letter.payload, personal
        assert personal.encode() in kept.original, personal


async def test_a_referral_whose_event_is_dead_lettered_says_so_on_its_timeline(
    system: System,
) -> None:
    accepted = await submit(system.client, system.uhb)
    await wait_status(
        system.client, accepted["status_url"], system.uhb, {"routed"}, timeout=TIMEOUT
    )
    # A later event about this referral that the router cannot process (keyed by it, as
    # every event of a referral is): the referral must not just go quiet.
    marker = uuid.uuid4().hex
    await system.inject([(accepted["id"], json.dumps({"broken": marker}).encode())])
    status = await wait_status(
        system.client,
        accepted["status_url"],
        system.uhb,
        {"processing-failed"},
        timeout=TIMEOUT,
    )
    [failed] = [e for e in status["timeline"] if e["type"] == "processing-failed"]
    assert failed["detail"]["consumer"] == "vrp-router"
    assert failed["detail"]["reason"].startswith("invalid event")
    assert marker not in json.dumps(status)
    assert status["status"] == "routed", "the referral itself is as it was"
