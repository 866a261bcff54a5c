"""`vrp evidence backfill`: the evidence of referrals stored before migration 0013 (their coded
facts, and their offers' accepted and closed times), filled in once; a second run adds
nothing."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from services.commands.resources import resources
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.lifecycle import RecipientState
from vrp.domain.referral import Referral
from vrp.domain.referral_facts import ReferralFacts, referral_facts
from vrp.store import backfill
from vrp.store.database import Database
from vrp.store.unit import reading, unit_of_work

BATCH = 500
"""Referrals (or offers) per transaction, so locks are held briefly."""


@dataclass(frozen=True)
class Backfilled:
    """What one run filled in, and what it could not."""

    facts: int = 0
    unreadable: int = 0
    """Bodies that are not a referral this version reads (left without facts)."""
    reduced: int = 0
    """Referrals reduced by retention before they had facts: nothing left to derive."""
    offers: int = 0


async def backfill_facts(
    db: Database, config: RoutingConfiguration, key: bytes, batch: int = BATCH
) -> tuple[int, int]:
    """Facts for every referral without them whose body is whole: (added, unreadable)."""
    added = unreadable = 0
    after = ""
    while True:
        async with unit_of_work(db) as unit:
            found = await backfill.without_facts(unit, after, batch)
            if not found:
                break
            rows: list[tuple[ReferralFacts, str]] = []
            for r in found:
                try:
                    referral = Referral.model_validate(r.body)
                except ValidationError:
                    unreadable += 1
                    continue
                org = config.organisation(referral.source_org)
                kind = None if org is None else str(org.kind)
                facts = referral_facts(referral, kind, r.created_at, key)
                rows.append((facts, referral.submission.subject.postcode))
            added += await backfill.add_facts(unit, rows) if rows else 0
            after = found[-1].id
    return added, unreadable


def offer_times(
    entries: list[tuple[str, str, datetime, dict[str, Any]]],
) -> dict[tuple[str, str], tuple[datetime | None, datetime | None]]:
    """Each (referral, intervention)'s first acceptance and first decline or completion."""
    out: dict[tuple[str, str], tuple[datetime | None, datetime | None]] = {}
    for referral_id, kind, at, detail in entries:  # oldest first
        intervention = detail.get("intervention")
        if not isinstance(intervention, str):
            continue
        accepted, closed = out.get((referral_id, intervention), (None, None))
        if kind == RecipientState.ACCEPTED and accepted is None:
            accepted = at
        if kind != RecipientState.ACCEPTED and closed is None:
            closed = at
        out[(referral_id, intervention)] = (accepted, closed)
    return out


async def backfill_offer_times(db: Database, batch: int = BATCH) -> int:
    """Accepted and closed times of offers answered before 0013, from their timelines: how
    many offers were given a time."""
    filled = 0
    after = ("", "")
    while True:
        async with unit_of_work(db) as unit:
            offers = await backfill.untimed_offers(unit, after, batch)
            if not offers:
                break
            entries = await backfill.responses(unit, [o.referral_id for o in offers])
            times = offer_times(entries)
            for o in offers:
                accepted, closed = times.get((o.referral_id, o.intervention), (None, None))
                if accepted is None and closed is None:
                    continue
                await backfill.set_offer_times(
                    unit, o.referral_id, o.intervention, accepted, closed
                )
                filled += 1
            after = (offers[-1].referral_id, offers[-1].intervention)
    return filled


async def run(db: Database, config: RoutingConfiguration, key: bytes) -> Backfilled:
    """Fill in every missing piece of evidence that the stored data still holds."""
    facts, unreadable = await backfill_facts(db, config, key)
    offers = await backfill_offer_times(db)
    async with reading(db) as unit:
        reduced = await backfill.reduced_without_facts(unit)
    return Backfilled(facts, unreadable, reduced, offers)


async def cmd_backfill(args: argparse.Namespace) -> int:
    """Fill in the coded facts of referrals stored before the evidence tables (migration
    0013) and their offers' accepted and closed times, from what is stored; safe to repeat."""
    async with resources() as r:
        key = r.settings.pseudonym_key.get_secret_value().encode()
        done = await run(r.db, r.config(), key)
    print(f"referral facts added: {done.facts}")
    print(f"offers given their accepted or closed time: {done.offers}")
    if done.unreadable:
        print(f"referrals whose body could not be read (no facts): {done.unreadable}")
    if done.reduced:
        print(
            f"referrals reduced by retention before they had facts (none possible): {done.reduced}"
        )
    return 0


def add_to(cmds: argparse._SubParsersAction[argparse.ArgumentParser], run_async: Any) -> None:
    """Register `vrp evidence backfill` under the evidence group's subcommands."""
    cmds.add_parser("backfill", help=cmd_backfill.__doc__).set_defaults(fn=run_async(cmd_backfill))
