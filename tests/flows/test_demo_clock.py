"""The demo clock on the real services: an intervention whose respond-by time is PT30M, at
speed 60, is reminded, escalated to the hub and offered to its fallback within two minutes
of wall time; its escalation withdraws or keeps the first offer as configured."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.demo import demo_key
from services.intake.auth.keys import issue
from testkit.console import signed_in
from testkit.kafka import KafkaEnv
from testkit.partner import bearer, inbox_entry, respond, submit, wait_status
from testkit.ports import free_port
from testkit.production import production
from testkit.runtime import runtime_settings, serving
from testkit.smtp import SmtpServer
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store.database import Database
from vrp.store.unit import unit_of_work

pytestmark = pytest.mark.postgres

SPEED = 60
TEAM = "referrals@navigators.example"
HUB = "triage@wm-vru.example"
FIRST = "navigators-birmingham"
FALLBACK = "navigators-outreach"
BANNER = "Demo clock: timers run 60\N{MULTIPLICATION SIGN} faster"


def _configuration(folder: Path, sla: str, escalate: str, on_escalation: str) -> Path:
    """The demo partnership with navigators-birmingham's timers in minutes, falling back
    to a second navigators intervention (still the demo configuration: same organisations)."""
    target = folder / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    path = target / "interventions.yaml"
    document: dict[str, Any] = yaml.safe_load(path.read_text())
    for i in document["interventions"]:
        if i["id"] == FIRST:
            i.pop("acceptance_sla_hours", None)
            i |= {
                "acceptance_sla": sla,
                "escalate_after": escalate,
                "on_escalation": on_escalation,
                "fallback": FALLBACK,
            }
            fallback = {k: v for k, v in i.items() if k not in ("fallback", "on_escalation")}
            fallback |= {"id": FALLBACK, "title": "Navigators outreach (fallback)"}
    document["interventions"].append(fallback)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return target


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(free_port()) as server:
        yield server


def _mail(smtp: SmtpServer, reference: str, kind: str, to: str) -> list[Any]:
    return [
        m
        for m in smtp.mailbox.snapshot()
        if m["X-VRP-Referral"] == reference and m["X-VRP-Alert"] == kind and m["To"] == to
    ]


async def _offers(client: httpx.AsyncClient, referral_id: str) -> dict[str, dict[str, Any]]:
    """The navigators team's copies of the referral, by intervention."""
    r = await client.get(f"/v1/inbox/{referral_id}", headers=bearer(demo_key("navigators")))
    assert r.status_code == 200, r.text
    return {i["intervention"]: i for i in r.json()["items"]}


def _escalated(status: dict[str, Any]) -> dict[str, Any]:
    entries = [e for e in status["timeline"] if e["type"] == "escalated"]
    assert len(entries) == 1, status["timeline"]
    detail: dict[str, Any] = entries[0]["detail"]
    return detail


async def test_a_30_minute_sla_at_speed_60_reminds_escalates_and_withdraws_within_two_minutes(
    pg_db: Database, postgres_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    config = _configuration(tmp_path, "PT30M", "PT15M", "withdraw")
    settings = runtime_settings(postgres_url, smtp=smtp, config_dir=config, demo_speed=SPEED)
    async with serving(settings) as s:
        started = time.monotonic()
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        ref, rid = accepted["reference"], accepted["id"]
        team = bearer(demo_key("navigators"))
        first = await inbox_entry(s.client, rid, team)
        # The respond-by time is 30 s after the offer (30 minutes at 60 times), never before.
        allowance = datetime.fromisoformat(
            first["referral"]["respond_by"]
        ) - datetime.fromisoformat(first["received_at"])
        assert 20 <= allowance.total_seconds() <= 31, allowance

        assert await smtp.mailbox.until(lambda _: bool(_mail(smtp, ref, "reminder", TEAM)), 60)
        reminded = time.monotonic() - started
        assert reminded >= 20, f"reminded after {reminded:.1f} s: not the configured 30 s"
        assert await smtp.mailbox.until(lambda _: bool(_mail(smtp, ref, "escalation", HUB)), 60)
        (escalation,) = _mail(smtp, ref, "escalation", HUB)
        assert "withdrawn" in escalation.get_payload(decode=True).decode()
        # The fallback's own offer and new-referral alert (same team, second intervention).
        assert await smtp.mailbox.until(
            lambda _: len(_mail(smtp, ref, "new-referral", TEAM)) == 2, 60
        )
        assert time.monotonic() - started < 120

        status = await wait_status(
            s.client,
            accepted["status_url"],
            bearer(demo_key("uhb")),
            ["escalated"],
            until=lambda st: st["status"] == "routed" and len(st["recipients"]) == 2,
            timeout=20,
        )
        assert _escalated(status)["original"] == "withdrawn"
        offers = await _offers(s.client, rid)
        assert (offers[FIRST]["status"], offers[FIRST]["reason"]) == ("cancelled", "escalated")
        assert offers[FALLBACK]["status"] == "awaiting"
        fallback_allowance = datetime.fromisoformat(
            offers[FALLBACK]["referral"]["respond_by"]
        ) - datetime.fromisoformat(offers[FALLBACK]["received_at"])
        assert 20 <= fallback_allowance.total_seconds() <= 31, fallback_allowance

        # The first team can no longer accept it, and is told why.
        refused = await respond(s.client, team, rid, status="accepted", intervention=FIRST)
        assert refused.status_code == 409, refused.text
        assert "withdrawn" in refused.json()["detail"]
        # Its console page says so, under the demo clock's banner.
        await signed_in(s.client, "navigators.member")
        page = await s.client.get(f"/console/referrals/{rid}")
        assert page.status_code == 200
        assert "Withdrawn after escalation" in page.text and BANNER in page.text
        inbox = await s.client.get("/console/inbox", params={"status": "awaiting"})
        assert ref in inbox.text  # the fallback's offer awaits
        assert inbox.text.count(ref) == 1  # the withdrawn one is no longer listed as awaiting
        ready = await s.client.get("/ready")
        assert ready.json()["demo_clock"] == BANNER


async def test_an_escalation_that_keeps_the_offer_lets_the_team_still_accept(
    pg_db: Database, postgres_url: str, smtp: SmtpServer, tmp_path: Path
) -> None:
    config = _configuration(tmp_path, "PT10M", "PT5M", "keep")
    settings = runtime_settings(postgres_url, smtp=smtp, config_dir=config, demo_speed=SPEED)
    async with serving(settings) as s:
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        ref, rid = accepted["reference"], accepted["id"]
        assert await smtp.mailbox.until(lambda _: bool(_mail(smtp, ref, "escalation", HUB)), 60)
        escalation = _mail(smtp, ref, "escalation", HUB)[0]
        assert "withdrawn" not in escalation.get_payload(decode=True).decode()
        status = await wait_status(
            s.client,
            accepted["status_url"],
            bearer(demo_key("uhb")),
            ["escalated"],
            until=lambda st: len(st["recipients"]) == 2,
            timeout=20,
        )
        assert _escalated(status)["original"] == "kept"
        offers = await _offers(s.client, rid)
        assert offers[FIRST]["status"] == "awaiting"
        team = bearer(demo_key("navigators"))
        r = await respond(s.client, team, rid, status="accepted", intervention=FIRST)
        assert r.status_code == 200, r.text


@pytest.mark.kafka
async def test_on_the_three_processes_the_escalation_withdraws_the_offer_over_kafka(
    postgres_url: str, kafka: KafkaEnv, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The production mode: the notifier's escalation, intake's withdrawal and the router's
    WithdrawOffer and fallback offer travel between three OS processes on the real broker."""
    config = _configuration(tmp_path, "PT30M", "PT15M", "withdraw")
    env = {"VRP_CONFIG_DIR": str(config), "VRP_DEMO_SPEED": str(SPEED)}
    logs = tmp_path / "logs"
    logs.mkdir()
    async with production(postgres_url, kafka, smtp, logs, env) as run:
        async with unit_of_work(run.db) as unit:
            team = bearer(await issue(unit, "navigators"))
        async with httpx.AsyncClient(base_url=run.cluster.intake_url, timeout=10) as client:
            started = time.monotonic()
            accepted = await submit(client, run.auth)
            ref, rid = accepted["reference"], accepted["id"]
            await inbox_entry(client, rid, team, timeout=30)
            assert await smtp.mailbox.until(lambda _: bool(_mail(smtp, ref, "reminder", TEAM)), 90)
            assert await smtp.mailbox.until(lambda _: bool(_mail(smtp, ref, "escalation", HUB)), 90)
            assert await smtp.mailbox.until(
                lambda _: len(_mail(smtp, ref, "new-referral", TEAM)) == 2, 60
            )
            assert time.monotonic() - started < 150
            status = await wait_status(
                client,
                accepted["status_url"],
                run.auth,
                ["escalated"],
                until=lambda st: st["status"] == "routed" and len(st["recipients"]) == 2,
                timeout=30,
            )
            assert _escalated(status)["original"] == "withdrawn"
            r = await client.get(f"/v1/inbox/{rid}", headers=team)
            offers = {i["intervention"]: i for i in r.json()["items"]}
            assert (offers[FIRST]["status"], offers[FIRST]["reason"]) == ("cancelled", "escalated")
            assert offers[FALLBACK]["status"] == "awaiting"
            refused = await respond(client, team, rid, status="accepted", intervention=FIRST)
            assert refused.status_code == 409, refused.text
