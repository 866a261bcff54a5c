"""Alerts on every channel the configuration names: email over SMTP, SMS through the GOV.UK
Notify stand-in, Standard Webhooks verified by a receiver; delivery attempts, retries, 410,
duplicates; and the referrer told what happened. All over real HTTP and SMTP."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.demo import demo_key
from testkit.alerting import SECRET_ENV, TEAM_PHONE, alerting_config, template_ids
from testkit.cli import vrp
from testkit.drained import drained
from testkit.kafka import KafkaEnv
from testkit.notify import NotifyStandIn, Received
from testkit.partner import bearer, inbox_entry, respond, submit
from testkit.ports import free_port
from testkit.production import production
from testkit.referrals import example
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from testkit.smtp import SmtpServer
from testkit.webhooks import Delivery, WebhookReceiver, new_secret
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.store import outbox as outbox_log
from vrp.store.database import Database
from vrp.store.tables import (
    delivery_attempts,
    disabled_endpoints,
    notifications,
    outbox,
    processed_events,
)

WAIT = 30.0
# Distinctive personal details: none may appear in any alert, on any channel.
PERSON = {
    "subject__given_name": "Zebedee",
    "subject__family_name": "Quartermaine",
    "subject__date_of_birth": "2009-07-23",
    "subject__nhs_number": "9434765870",
    "subject__postcode": "B15 2TT",
}
PERSONAL = (
    "Zebedee",
    "Quartermaine",
    "2009-07-23",
    "23/07/2009",
    "9434765870",
    "B15 2TT",
    "B152TT",
)


@dataclass
class Sinks:
    """The receivers of every channel, and the configuration that points at them."""

    smtp: SmtpServer
    notify: NotifyStandIn
    hooks: WebhookReceiver
    config: Path
    secret: str


@pytest.fixture
def sinks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sinks]:
    secret = new_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with (
        SmtpServer(free_port()) as smtp,
        NotifyStandIn() as notify,
        WebhookReceiver([secret]) as hooks,
    ):
        yield Sinks(smtp, notify, hooks, alerting_config(tmp_path, notify, hooks.url), secret)


@asynccontextmanager
async def embedded(sinks: Sinks, folder: Path) -> AsyncIterator[Served]:
    settings = runtime_settings(
        sqlite_url(folder),
        smtp=sinks.smtp,
        config_dir=sinks.config,
        notify_api_key=sinks.notify.api_key(),
        notify_base_url=sinks.notify.url,
        alert_first_retry=0.5,  # retries after 0.5, 1, 2 s... (2, 4, 8 s by default)
    )
    async with serving(settings) as served:
        yield served


def _no_personal_data(texts: list[str]) -> None:
    for text in texts:
        for item in PERSONAL:
            assert item not in text, f"{item!r} leaked into an alert"


async def _channels_deliver(sinks: Sinks, reference: str) -> None:
    """The team's email, SMS and webhook for the referral arrive, and say nothing personal."""
    mailbox = sinks.smtp.mailbox
    assert await mailbox.until(lambda _: len(mailbox.for_reference(reference)) == 1, WAIT)

    def sms(got: list[Received]) -> list[Received]:
        mine = [r for r in got if r.status == 201]
        return [r for r in mine if r.body["personalisation"]["reference"] == reference]

    def hooks(got: list[Delivery]) -> list[Delivery]:
        return [d for d in got if d.data["reference"] == reference]

    assert await sinks.notify.until(lambda got: len(sms(got)) == 1, WAIT)
    assert await sinks.hooks.until(lambda got: len(hooks(got)) == 1, WAIT)

    (request,) = sms(sinks.notify.received())
    assert request.path == "/v2/notifications/sms"
    assert request.body["template_id"] == template_ids(sinks.config).new_referral
    assert request.body["phone_number"] == TEAM_PHONE
    fields = request.body["personalisation"]
    assert fields["intervention"].startswith("A&E youth violence navigators")
    assert fields["urgency"] == "immediate" and fields["risk"] == "high"
    assert fields["respond_by"] and fields["link"]
    (hook,) = hooks(sinks.hooks.deliveries())
    assert hook.type == "referral.new-referral"  # verified by the receiver with its secret
    assert not sinks.hooks.rejections()
    (mail,) = mailbox.for_reference(reference)
    _no_personal_data(
        [
            mail.as_string(),
            json.dumps(request.body),
            json.dumps(request.headers),
            hook.body.decode(),
            json.dumps(hook.headers),
        ]
    )


async def _attempts(db: Database, referral_id: str) -> list[Any]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(notifications.c.channel, notifications.c.kind, delivery_attempts)
            .join(delivery_attempts, delivery_attempts.c.notification_id == notifications.c.id)
            .where(notifications.c.referral_id == referral_id)
            .order_by(delivery_attempts.c.id)
        )
        return list(rows)


async def _recorded(
    db: Database, referral_id: str, channel: str, last: str, kind: str = "new-referral"
) -> list[Any]:
    """A channel's attempts at one kind of alert once the one with outcome `last` is
    recorded (the receiver sees a delivery a moment before the notifier records it)."""
    for _ in range(int(WAIT / 0.05)):
        tried = [
            a for a in await _attempts(db, referral_id) if a.channel == channel and a.kind == kind
        ]
        if tried and tried[-1].outcome == last:
            return tried
        await asyncio.sleep(0.05)
    return tried


async def test_one_referral_alerts_by_email_sms_and_signed_webhook(
    sinks: Sinks, tmp_path: Path
) -> None:
    async with embedded(sinks, tmp_path) as s:
        accepted = await submit(s.client, bearer(demo_key("uhb")), body=example(**PERSON))
        await _channels_deliver(sinks, accepted["reference"])
        for channel in ("email", "sms", "webhook"):
            tried = await _recorded(s.runtime.db, accepted["id"], channel, "sent")
            (attempt,) = tried
            assert attempt.outcome == "sent" and attempt.status_code in (201, 204, 250)
            assert attempt.latency_ms >= 0 and attempt.attempt == 1


@pytest.mark.kafka
@pytest.mark.postgres
async def test_three_processes_alert_by_email_sms_and_signed_webhook(
    sinks: Sinks, postgres_url: str, kafka: KafkaEnv, tmp_path: Path
) -> None:
    env = {
        "VRP_CONFIG_DIR": str(sinks.config),
        "VRP_NOTIFY_API_KEY": sinks.notify.api_key(),
        "VRP_NOTIFY_BASE_URL": sinks.notify.url,
        SECRET_ENV: sinks.secret,
    }
    async with production(postgres_url, kafka, sinks.smtp, tmp_path, env) as run:
        async with httpx.AsyncClient(base_url=run.cluster.intake_url, timeout=30) as client:
            accepted = await submit(client, run.auth, body=example(**PERSON))
        await _channels_deliver(sinks, accepted["reference"])
        # The referrer (uhb: updates by email) is told its referral was routed.
        mailbox = sinks.smtp.mailbox
        assert await mailbox.until(
            lambda _: len(mailbox.for_reference(accepted["reference"], "status")) == 1, WAIT
        )


async def test_webhook_failing_three_times_is_delivered_once_after_four_attempts(
    sinks: Sinks, tmp_path: Path
) -> None:
    sinks.hooks.respond_with([500, 500, 500, 200])
    async with embedded(sinks, tmp_path) as s:
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        # Backoff 0.5, 1, 2 s (with jitter): all four attempts within a few seconds.
        assert await sinks.hooks.until(lambda got: any(d.status == 200 for d in got), 40)
        tried = await _recorded(s.runtime.db, accepted["id"], "webhook", "sent")
        assert [a.outcome for a in tried] == ["retry", "retry", "retry", "sent"]
        assert [a.status_code for a in tried] == [500, 500, 500, 200]
        delivered = [d for d in sinks.hooks.deliveries() if d.status == 200]
        assert len(delivered) == 1 and len({d.id for d in sinks.hooks.deliveries()}) == 1


async def test_webhook_gone_disables_the_endpoint_and_tells_the_hub(
    sinks: Sinks, tmp_path: Path
) -> None:
    sinks.hooks.respond_with([410])
    async with embedded(sinks, tmp_path) as s:
        first = await submit(s.client, bearer(demo_key("uhb")))
        mailbox = sinks.smtp.mailbox
        assert await mailbox.until(
            lambda _: len(mailbox.for_reference(first["reference"], "delivery-failed")) == 1, WAIT
        )
        (told,) = mailbox.for_reference(first["reference"], "delivery-failed")
        assert told["To"] == "triage@wm-vru.example"
        assert b"410" in told.get_payload(decode=True)
        async with s.runtime.db.engine.connect() as conn:
            gone = list(await conn.execute(select(disabled_endpoints)))
        assert [(g.organisation, g.url) for g in gone] == [("navigators", sinks.hooks.url)]
        # The next referral's webhook is not sent to the disabled endpoint, and fails visibly.
        second = await submit(s.client, bearer(demo_key("uhb")), body=example(summary="second"))
        assert await mailbox.until(lambda _: bool(mailbox.for_reference(second["reference"])), WAIT)
        tried = await _recorded(s.runtime.db, second["id"], "webhook", "skipped")
        assert [a.outcome for a in tried] == ["skipped"]
        async with s.runtime.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(notifications).where(
                        notifications.c.referral_id == second["id"],
                        notifications.c.channel == "webhook",
                    )
                )
            ).one()
        assert row.status == "failed" and "disabled" in row.last_error
        assert len(sinks.hooks.deliveries()) == 1  # only the one that answered 410

        # On call: list what failed, re-enable the fixed endpoint, send the alerts again.
        env = {**os.environ, "VRP_DATABASE_URL": s.runtime.settings.database_url}

        async def run(*args: str) -> subprocess.CompletedProcess[str]:
            return await asyncio.to_thread(vrp, *args, env=env)  # the runtime keeps running

        failed = await run("alerts", "failed")
        assert failed.returncode == 0, failed.stderr
        assert first["reference"] in failed.stdout and second["reference"] in failed.stdout
        assert f"disabled webhook: navigators {sinks.hooks.url}" in failed.stdout
        assert "enabled" in (await run("alerts", "enable-webhook", "navigators")).stdout
        retried = await run("alerts", "retry", "--org", "navigators")
        assert "2 alert(s) queued again" in retried.stdout, retried.stdout + retried.stderr
        assert await sinks.hooks.until(
            lambda got: len([d for d in got if d.status < 300]) == 2, WAIT
        )


async def test_notify_429_is_retried_after_retry_after(sinks: Sinks, tmp_path: Path) -> None:
    sinks.notify.fail_next(429, times=1, retry_after=3)
    async with embedded(sinks, tmp_path) as s:
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        assert await sinks.notify.until(lambda got: any(r.status == 201 for r in got), WAIT)
        limited, ok = sinks.notify.received()[:2]
        assert (limited.status, ok.status) == (429, 201)
        assert ok.arrived - limited.arrived >= 3.0
        tried = await _recorded(s.runtime.db, accepted["id"], "sms", "sent")
        assert [(a.outcome, a.status_code) for a in tried] == [("retry", 429), ("sent", 201)]


async def test_the_referrer_hears_of_routing_and_of_a_decline_with_its_coded_reason(
    sinks: Sinks, tmp_path: Path
) -> None:
    async with embedded(sinks, tmp_path) as s:
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        ref = accepted["reference"]
        mailbox = sinks.smtp.mailbox
        assert await mailbox.until(lambda _: len(mailbox.for_reference(ref, "status")) == 1, WAIT)
        team = bearer(demo_key("navigators"))
        await inbox_entry(s.client, accepted["id"], team)
        declined = await respond(
            s.client, team, accepted["id"], status="declined", reason="no-capacity"
        )
        assert declined.status_code == 200, declined.text
        assert await mailbox.until(lambda _: len(mailbox.for_reference(ref, "status")) == 2, WAIT)
        subjects = sorted(m["Subject"] for m in mailbox.for_reference(ref, "status"))
        assert subjects == [f"Referral {ref}: declined", f"Referral {ref}: routed"]
        body = next(
            m for m in mailbox.for_reference(ref, "status") if "declined" in m["Subject"]
        ).get_payload(decode=True)
        assert b"no-capacity" in body
        assert all(
            m["To"] == "ed-safeguarding@uhb.example" for m in mailbox.for_reference(ref, "status")
        )


async def test_the_same_decision_delivered_twice_alerts_once_per_channel(
    sinks: Sinks, tmp_path: Path
) -> None:
    async with embedded(sinks, tmp_path) as s:
        accepted = await submit(s.client, bearer(demo_key("uhb")))
        await _channels_deliver(sinks, accepted["reference"])
        db = s.runtime.db
        async with db.engine.connect() as conn:
            (raw,) = (
                await conn.execute(
                    select(outbox.c.value).where(
                        outbox.c.topic == topics.DECIDED, outbox.c.key == accepted["id"]
                    )
                )
            ).scalars()
        # Redelivered as a new event (as a replaying router would publish it): the consumer's
        # de-duplication by event id cannot catch it; the alerts' own keys must.
        again = Envelope.from_bytes(raw).model_copy(update={"id": str(uuid.uuid4())})
        async with db.transaction() as conn:
            await outbox_log.add(conn, "router", topics.DECIDED, accepted["id"], again)
        for _ in range(int(WAIT / 0.05)):
            async with db.engine.connect() as conn:
                seen = await conn.scalar(
                    select(func.count())
                    .select_from(processed_events)
                    .where(
                        processed_events.c.event_id == again.id,
                        processed_events.c.consumer == topics.NOTIFIER_GROUP,
                    )
                )
            if seen:
                break
            await asyncio.sleep(0.05)
        assert seen == 1, "the notifier never consumed the redelivered decision"
        await drained(db)  # anything it wrongly staged is sent by now
        await _channels_deliver(sinks, accepted["reference"])  # still exactly one of each
        async with db.engine.connect() as conn:
            per_channel: dict[str, int] = dict(
                (
                    await conn.execute(
                        select(notifications.c.channel, func.count())
                        .where(
                            notifications.c.referral_id == accepted["id"],
                            notifications.c.kind == "new-referral",
                        )
                        .group_by(notifications.c.channel)
                    )
                ).all()
            )
        assert per_channel == {"email": 1, "sms": 1, "webhook": 1}
