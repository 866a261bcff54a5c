"""Stored timers with an injected clock: reminder, escalation and the fallback offer; none
once accepted; they survive a restart; two notifiers fire each timer once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.demo import demo_key
from services.notifier.timers import TimerService
from testkit.alerting import (
    FALLBACK,
    SECRET_ENV,
    MovableClock,
    alerting_config,
    template_ids,
)
from testkit.drained import drained
from testkit.notify import NotifyStandIn
from testkit.partner import bearer, inbox_entry, respond, submit, wait_status
from testkit.ports import free_port
from testkit.runtime import runtime_settings, serving, sqlite_url
from testkit.smtp import SmtpServer
from testkit.webhooks import WebhookReceiver, new_secret
from vrp.config_files import load_configuration
from vrp.events.models import ReferralEscalated
from vrp.settings import DEMO_CONFIG_DIR, Settings
from vrp.store.database import Database
from vrp.store.tables import disclosures, notifications, outbox, timers

WAIT = 20.0
TEAM = "referrals@navigators.example"
HUB = "triage@wm-vru.example"


@dataclass
class Rig:
    """A runtime's settings, and the sinks they point at."""

    settings: Settings
    smtp: SmtpServer
    notify: NotifyStandIn

    def mail(self, reference: str, kind: str, to: str) -> list[Any]:
        """Messages of one alert kind about one referral to one address."""
        return [
            m
            for m in self.smtp.mailbox.snapshot()
            if m["X-VRP-Referral"] == reference and m["X-VRP-Alert"] == kind and m["To"] == to
        ]


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    secret = new_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with (
        SmtpServer(free_port()) as smtp,
        NotifyStandIn() as notify,
        WebhookReceiver([secret]) as hooks,
    ):
        settings = runtime_settings(
            sqlite_url(tmp_path),
            smtp=smtp,
            config_dir=alerting_config(tmp_path, notify, hooks.url),
            notify_api_key=notify.api_key(),
            notify_base_url=notify.url,
        )
        yield Rig(settings, smtp, notify)


async def until(predicate: Any, timeout: float = WAIT) -> bool:
    """Whether predicate() became true within timeout seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


async def timer_states(db: Database, referral_id: str) -> dict[tuple[str, str], str]:
    """(intervention, kind) -> status of a referral's timers (stop records excluded)."""
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(timers.c.intervention, timers.c.kind, timers.c.status).where(
                timers.c.referral_id == referral_id, timers.c.kind != "stop"
            )
        )
        return {(r.intervention, r.kind): r.status for r in rows}


async def test_unaccepted_is_reminded_then_escalated_and_offered_to_the_fallback(rig: Rig) -> None:
    clock = MovableClock()
    async with serving(rig.settings, clock=clock) as s:
        assert s.runtime.timers is not None
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        ref, rid = accepted["reference"], accepted["id"]
        assert await until(lambda: rig.mail(ref, "new-referral", TEAM))

        clock.advance(hours=23)  # not yet due (acceptance SLA 24 h)
        assert await s.runtime.timers.fire_due() == 0
        clock.advance(hours=1, minutes=1)
        s.runtime.timers.wake()
        assert await until(lambda: rig.mail(ref, "reminder", TEAM))
        reminder_sms = template_ids(rig.settings.config_dir).reminder
        assert await rig.notify.until(
            lambda got: any(r.status == 201 and r.body["template_id"] == reminder_sms for r in got),
            WAIT,
        )
        assert not rig.mail(ref, "escalation", HUB)

        clock.advance(hours=24)  # escalate_after_hours
        s.runtime.timers.wake()
        assert await until(lambda: rig.mail(ref, "escalation", HUB))
        # The fallback is offered it through the router: a new minimised disclosure, its own
        # inbox entry and its own new-referral alert.
        team = bearer(demo_key("navigators"))

        async def inbox() -> dict[str, dict[str, Any]]:
            r = await s.client.get(f"/v1/inbox/{rid}", headers=team)
            if r.status_code == 404:  # not offered to this team yet: the router is still at it
                return {}
            assert r.status_code == 200, r.text
            return {i["intervention"]: i for i in r.json()["items"]}

        deadline = asyncio.get_running_loop().time() + WAIT
        while FALLBACK not in (entries := await inbox()):
            assert asyncio.get_running_loop().time() < deadline, "fallback never offered it"
            await asyncio.sleep(0.1)
        first, offer = entries["navigators-birmingham"], entries[FALLBACK]
        # Minimised afresh under the same flow: what that flow permits, as the first got it.
        assert offer["referral"]["data"] == first["referral"]["data"]
        assert offer["referral"]["flow_id"] == first["referral"]["flow_id"]
        assert (
            offer["referral"]["data"]["subject.date_of_birth"] == "16-17"
        )  # banded, not 2010-03-14
        assert await until(lambda: len(rig.mail(ref, "new-referral", TEAM)) == 2)
        async with s.runtime.db.engine.connect() as conn:
            disclosed = (
                (
                    await conn.execute(
                        select(disclosures.c.intervention).where(disclosures.c.referral_id == rid)
                    )
                )
                .scalars()
                .all()
            )
            escalations = (
                await conn.execute(
                    select(notifications.c.detail).where(
                        notifications.c.referral_id == rid, notifications.c.kind == "escalation"
                    )
                )
            ).scalars()
            # The team's respond-by is past: the hub's alert carries no deadline earlier than
            # its own receipt (an SMS or webhook would show it as the hub's).
            # (The fallback's own escalation may have fired too: this notifier's clock is ahead.)
            details = list(escalations)
            assert details and all("respond_by" not in d for d in details), details
        assert sorted(disclosed) == sorted(["navigators-birmingham", FALLBACK])
        status = await wait_status(
            s.client, accepted["status_url"], bearer(demo_key("uhb")), ["escalated"], timeout=WAIT
        )
        types = [e["type"] for e in status["timeline"]]
        assert "escalated" in types
        # The order a user expects: routed, delivered to the team, then the alert about it.
        assert types.index("routed") < types.index("delivered") < types.index("alert-sent")
        # The first intervention's timers are spent; the fallback has its own, due from its
        # offer (router time; this test's notifier clock is two days ahead, so they may fire).
        states = await timer_states(s.runtime.db, rid)
        assert states[("navigators-birmingham", "reminder")] == "fired"
        assert states[("navigators-birmingham", "escalation")] == "fired"
        assert {(FALLBACK, "reminder"), (FALLBACK, "escalation")} <= set(states)


async def test_accepted_in_time_is_never_reminded(rig: Rig) -> None:
    clock = MovableClock()
    async with serving(rig.settings, clock=clock) as s:
        assert s.runtime.timers is not None
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        ref, rid = accepted["reference"], accepted["id"]
        assert await until(lambda: rig.mail(ref, "new-referral", TEAM))
        team = bearer(demo_key("navigators"))
        await inbox_entry(s.client, rid, team)
        assert (await respond(s.client, team, rid, status="accepted")).status_code == 200
        states: dict[tuple[str, str], str] = {}
        for _ in range(int(WAIT / 0.1)):
            states = await timer_states(s.runtime.db, rid)
            if states and set(states.values()) == {"cancelled"}:
                break
            await asyncio.sleep(0.1)
        assert states == {
            ("navigators-birmingham", "reminder"): "cancelled",
            ("navigators-birmingham", "escalation"): "cancelled",
        }
        clock.advance(days=3)
        assert await s.runtime.timers.fire_due() == 0
        await drained(s.runtime.db)  # anything wrongly staged is sent by now
        assert not rig.mail(ref, "reminder", TEAM)
        assert not rig.mail(ref, "escalation", HUB)


async def test_timers_survive_a_notifier_restart(rig: Rig) -> None:
    clock = MovableClock()
    async with serving(rig.settings, clock=clock) as s:
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        ref, rid = accepted["reference"], accepted["id"]
        assert await until(lambda: rig.mail(ref, "new-referral", TEAM))
        assert set((await timer_states(s.runtime.db, rid)).values()) == {"waiting"}
    clock.advance(hours=25)  # came due while nothing ran
    async with serving(rig.settings, clock=clock):
        assert await until(lambda: rig.mail(ref, "reminder", TEAM))


@pytest.mark.postgres
async def test_two_notifiers_fire_each_timer_once(pg_db: Database, postgres_url: str) -> None:
    config = load_configuration(DEMO_CONFIG_DIR)
    now = datetime.now(UTC)
    due = [
        {
            "id": str(uuid.uuid4()),
            "dedupe_key": f"r{n}:navigators-birmingham:escalation",
            "referral_id": str(uuid.uuid4()),
            "organisation": "navigators",
            "intervention": "navigators-birmingham",
            "kind": "escalation",
            "due_at": now - timedelta(seconds=n),
            "status": "waiting",
            "detail": {"intervention": "navigators-birmingham"},
            "created_at": now,
        }
        for n in range(300)
    ]
    async with pg_db.transaction() as conn:
        await conn.execute(timers.insert(), due)
    other = Database(postgres_url)
    try:
        services = [
            TimerService(db, lambda: config, lambda: None, 0.1, lambda: now + timedelta(minutes=1))
            for db in (pg_db, other)
        ]

        async def drain(service: TimerService) -> int:
            fired = 0
            while handled := await service.fire_due(limit=7):
                fired += handled
            return fired

        counts = await asyncio.gather(*(drain(t) for t in services))
    finally:
        await other.dispose()
    assert sum(counts) == 300 and all(counts), counts  # both took part
    async with pg_db.engine.connect() as conn:
        rows = await conn.execute(select(outbox.c.key, outbox.c.value))
        escalated = [key for key, value in rows if ReferralEscalated.TYPE.encode() in value]
        per_referral = Counter(escalated)
        hub_alerts = await conn.scalar(
            select(func.count())
            .select_from(notifications)
            .where(notifications.c.kind == "escalation")
        )
    assert len(per_referral) == 300 and set(per_referral.values()) == {1}
    assert hub_alerts == 300
