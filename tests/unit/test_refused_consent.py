"""Consent refused or withdrawn with no override ground: refused at intake (the default), or,
where the partnership or the sender's hub-triage flow says `hold-for-hub`, accepted and held
for the hub with only what that flow permits, never offered to a receiver."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from services.demo import demo_key
from testkit.drained import drained
from testkit.partner import assert_problem, bearer, post_referral, submit, wait_status
from testkit.referrals import example
from testkit.rules import config
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from vrp.config_files import ConfigurationError, load_configuration
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.tables import received_referrals
from vrp.store.unit import reading

UHB = bearer(demo_key("uhb"))
REFUSED = example(**{"consent": {"state": "refused", "recorded_on": "2026-11-20"}})
HUB_ITEMS = {
    "subject.date_of_birth",
    "subject.local_authority",
    "reasons",
    "risk",
    "consent",
    "referrer.role",
    "referrer.contact",
}
"""What the demo's hub-triage flow (isa-hub-triage, referrers-to-hub) permits."""


def configured(tmp_path: Path, partnership: str | None = None, flow: str | None = None) -> Path:
    """The demo configuration, with the partnership's and the hub-triage flow's choice."""
    target = tmp_path / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    if partnership is not None:
        (target / "consent.yaml").write_text(f"consent:\n  refused: {partnership}\n")
    if flow is not None:
        path = target / "agreements.yaml"
        document = yaml.safe_load(path.read_text())
        [triage] = [a for a in document["agreements"] if a["id"] == "isa-hub-triage"]
        triage["flows"][0]["consent"]["refused"] = flow
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


@asynccontextmanager
async def running(directory: Path, tmp_path: Path) -> AsyncIterator[Served]:
    settings = runtime_settings(
        sqlite_url(tmp_path), mail_dir=tmp_path / "mail", config_dir=directory
    )
    async with serving(settings) as served:
        yield served


async def held_copies(system: Served, rid: str) -> list[dict[str, Any]]:
    """Every copy the router gave of this referral: intervention, organisation, data."""
    async with reading(system.runtime.db) as unit:
        t = received_referrals.c
        rows = await unit.conn.execute(
            select(t.organisation, t.intervention, t.payload).where(t.referral_id == rid)
        )
    return [{"organisation": o, "intervention": i, "payload": p} for o, i, p in rows]


async def test_by_default_a_refusal_without_an_override_is_refused_at_intake(
    tmp_path: Path,
) -> None:
    async with running(configured(tmp_path), tmp_path) as system:
        problem = assert_problem(await post_referral(system.client, UHB, body=REFUSED), 422)
        [error] = problem["errors"]
        assert error["field"] == "consent"
        assert "consent.override is required" in error["detail"]
        withdrawn = example(**{"consent": {"state": "withdrawn"}})
        assert_problem(await post_referral(system.client, UHB, body=withdrawn), 422, "consent")


async def test_held_for_the_hub_with_only_what_its_triage_flow_permits(tmp_path: Path) -> None:
    async with running(configured(tmp_path, flow="hold-for-hub"), tmp_path) as system:
        accepted = await submit(system.client, UHB, body=REFUSED)
        status = await wait_status(
            system.client, accepted["status_url"], UHB, until=lambda s: s["status"] == "held"
        )
        held = [e for e in status["timeline"] if e["type"] == "held"]
        assert held and held[0]["detail"]["held_reasons"][0].startswith("consent-refused (")
        await drained(system.runtime.db)
        [copy] = await held_copies(system, accepted["id"])  # the hub's, and no receiver's
        assert copy["organisation"] == "wm-vru" and copy["intervention"] == "hub-triage"
        after = (await system.client.get(accepted["status_url"], headers=UHB)).json()
        assert after["status"] == "held"
        assert [r["intervention"] for r in after["recipients"]] == ["hub-triage"]
        hub = copy["payload"]
        data = hub["data"]
        assert set(data) == HUB_ITEMS
        assert data["subject.date_of_birth"] == "16-17"  # the band the flow permits
        for absent in (
            "subject.name",
            "subject.nhs_number",
            "subject.postcode",
            "subject.contact",
            "summary",
            "referrer.name",
        ):
            assert absent not in data
        text = str(hub)
        for detail in ("Alex", "Fictional", "9434765919", "B10 0AA", "2010-03-14", "Stab"):
            assert detail not in text
        assert hub["held_reasons"] == ["consent-refused"]


async def test_the_partnership_holds_it_and_without_a_permitting_flow_the_hub_gets_codes(
    tmp_path: Path,
) -> None:
    # The demo's hub-triage flow requires consent (or an override), so it does not cover a
    # refusal: the hub reads ids and codes only.
    async with running(configured(tmp_path, partnership="hold-for-hub"), tmp_path) as system:
        withdrawn = example(**{"consent": {"state": "withdrawn"}})
        accepted = await submit(system.client, UHB, body=withdrawn)
        await wait_status(
            system.client, accepted["status_url"], UHB, until=lambda s: s["status"] == "held"
        )
        await drained(system.runtime.db)
        [copy] = await held_copies(system, accepted["id"])
        assert copy["organisation"] == "wm-vru"
        assert copy["payload"]["data"] == {} and copy["payload"]["flow_id"] == ""
        assert copy["payload"]["held_reasons"] == ["consent-withdrawn"]
        # Not sought still needs an override, whatever the choice.
        not_sought = example(**{"consent": {"state": "not-sought"}})
        assert_problem(await post_referral(system.client, UHB, body=not_sought), 422, "consent")


async def test_a_flow_that_says_refuse_wins_over_the_partnership(tmp_path: Path) -> None:
    directory = configured(tmp_path, partnership="hold-for-hub", flow="refuse")
    async with running(directory, tmp_path) as system:
        assert_problem(await post_referral(system.client, UHB, body=REFUSED), 422, "consent")
        document = (await system.client.get("/openapi.json")).json()
        consent = document["components"]["schemas"]["Consent"]
        # Senders with no hub-triage flow of their own keep the partnership's choice.
        assert any("hold-for-hub" in a.get("description", "") for a in consent["anyOf"])


def test_the_choice_belongs_on_the_partnership_or_a_hub_triage_flow_only(tmp_path: Path) -> None:
    directory = configured(tmp_path)
    path = directory / "interventions.yaml"
    path.write_text(
        path.read_text().replace("    consent:\n", "    consent:\n      refused: hold-for-hub\n", 1)
    )
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(directory)
    assert any(
        "consent.refused belongs on a flow whose only purpose is hub-triage" in p
        for p in raised.value.problems
    )
    with pytest.raises(ValueError, match="Input should be 'refuse' or 'hold-for-hub'"):
        config(consent={"refused": "ask-later"})
