"""The embedded default end to end: real HTTP, one process, SQLite, a real SMTP server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import func, select

from services.runtime import ROLES, Runtime, build, demo_key
from tests.conftest import free_port
from tests.support.partner import bearer, post_referral, submit, timeline_types, wait_status
from tests.support.referrals import example
from tests.support.smtp import SmtpServer
from vrp import telemetry
from vrp.events import topics
from vrp.settings import Settings
from vrp.store.tables import decisions, outbox

UHB = bearer(demo_key("uhb"))


@dataclass
class Embedded:
    runtime: Runtime
    client: httpx.AsyncClient
    smtp: SmtpServer


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    telemetry.configure("vrp-tests", SimpleSpanProcessor(exporter))
    return exporter


def embedded_settings(tmp_path: Path, smtp: SmtpServer) -> Settings:
    port = free_port()
    return Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/vrp.db",
        port=port,
        public_url=f"http://127.0.0.1:{port}",
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        demo_partners=True,
        poll_interval=0.2,
    )


async def started(settings: Settings, roles: tuple[str, ...] = ROLES) -> Runtime:
    runtime = await build(settings, roles)
    await runtime.start()
    await runtime.wait_started()
    return runtime


@pytest.fixture
async def app(
    tmp_path: Path, smtp: SmtpServer, spans: InMemorySpanExporter
) -> AsyncIterator[Embedded]:
    settings = embedded_settings(tmp_path, smtp)
    runtime = await started(settings)
    async with httpx.AsyncClient(base_url=settings.public_url, timeout=10) as client:
        yield Embedded(runtime, client, smtp)
    await runtime.stop()


async def test_referral_is_routed_and_its_alert_delivered_within_two_seconds(
    app: Embedded,
) -> None:
    started_at = time.monotonic()
    r = await post_referral(app.client, UHB, "key-0001")
    assert r.status_code == 202
    accepted = r.json()
    assert r.headers["Location"] == accepted["status_url"]
    status = await wait_status(app.client, accepted["status_url"], UHB, {"routed", "alert-sent"})
    elapsed = time.monotonic() - started_at
    assert status["status"] == "routed"
    assert {"received", "routed", "alert-sent"} <= timeline_types(status)
    assert elapsed < 2.0, f"took {elapsed:.2f}s"
    [mail] = app.smtp.mailbox.for_reference(accepted["reference"])
    assert mail["To"] == "referrals@navigators.example"
    text = mail.as_string()
    for personal in ("Alex", "Fictional", "9434765919", "B10 0AA", "2010-03-14", "Stab"):
        assert personal not in text


async def test_same_idempotency_key_gives_the_same_referral_and_one_alert(app: Embedded) -> None:
    first = await post_referral(app.client, UHB, "key-0002")
    again = await post_referral(app.client, UHB, "key-0002")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    await wait_status(app.client, first.json()["status_url"], UHB, {"alert-sent"})
    await asyncio.sleep(0.5)
    assert len(app.smtp.mailbox.for_reference(first.json()["reference"])) == 1
    async with app.runtime.db.engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(decisions))).scalar_one()
    assert n == 1


async def test_same_key_with_a_different_body_is_refused(app: Embedded) -> None:
    await post_referral(app.client, UHB, "key-0003")
    r = await post_referral(app.client, UHB, "key-0003", example(risk="medium"))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_bad_nhs_number_is_a_problem_naming_the_field_without_echoing_it(
    app: Embedded,
) -> None:
    r = await post_referral(app.client, UHB, "key-0004", example(subject__nhs_number="9434765918"))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["errors"][0]["field"] == "subject.nhs_number"
    assert "9434765918" not in r.text


async def test_missing_or_wrong_key_is_401_and_others_referrals_are_invisible(
    app: Embedded,
) -> None:
    r = await app.client.post(
        "/v1/referrals", json=example(), headers={"Idempotency-Key": "k-000005"}
    )
    assert r.status_code == 401
    accepted = await submit(app.client, UHB, "key-0006")
    other = bearer(demo_key("wmp"))
    assert (await app.client.get(accepted["status_url"], headers=other)).status_code == 404


async def test_intake_router_and_notifier_spans_share_one_trace(
    app: Embedded, spans: InMemorySpanExporter
) -> None:
    accepted = await submit(app.client, UHB, "key-0007")
    await wait_status(app.client, accepted["status_url"], UHB, {"alert-sent"})
    mine = [
        s
        for s in spans.get_finished_spans()
        if (s.attributes or {}).get("vrp.referral_id") == accepted["id"]
    ]
    by_scope = {
        s.instrumentation_scope.name: s.context.trace_id
        for s in mine
        if s.instrumentation_scope is not None
    }
    assert {"vrp-router", "vrp-notifier", "vrp-intake"} <= set(by_scope)
    post = [
        s
        for s in spans.get_finished_spans()
        if s.name == "POST /v1/referrals" and s.context.trace_id in by_scope.values()
    ]
    assert post, "the HTTP request span is in the same trace"
    assert len(set(by_scope.values())) == 1


async def test_referrals_accepted_while_router_is_down_are_routed_after_restart(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    settings = embedded_settings(tmp_path, smtp)
    intake_only = await started(settings, ("intake",))
    async with httpx.AsyncClient(base_url=settings.public_url) as client:
        accepted = [await submit(client, UHB, f"restart-{i:04d}") for i in range(3)]
    await intake_only.stop()
    everything = await started(settings)
    try:
        async with httpx.AsyncClient(base_url=settings.public_url) as client:
            for a in accepted:
                status = await wait_status(client, a["status_url"], UHB, {"alert-sent"})
                assert status["status"] == "routed"
                assert len(smtp.mailbox.for_reference(a["reference"])) == 1
    finally:
        await everything.stop()


async def test_a_poison_event_is_dead_lettered_and_the_next_one_still_routed(
    app: Embedded,
) -> None:
    from datetime import UTC, datetime

    async with app.runtime.db.transaction() as conn:
        await conn.execute(
            outbox.insert().values(
                event_id="poison-1",
                producer="intake",
                topic=topics.RECEIVED,
                key="x",
                value=b'{"not": "an event"}',
                created_at=datetime.now(UTC),
            )
        )
    accepted = await submit(app.client, UHB, "key-0008")
    status = await wait_status(app.client, accepted["status_url"], UHB, {"routed"})
    assert status["status"] == "routed"
    async with app.runtime.db.engine.connect() as conn:
        letters = list(
            await conn.execute(select(outbox.c.value).where(outbox.c.topic == topics.DEAD_LETTER))
        )
    assert len(letters) == 1
    assert b"invalid event" in letters[0].value and b"vrp-router" in letters[0].value


async def test_one_poison_event_in_a_batch_does_not_hold_back_the_others(
    app: Embedded,
) -> None:
    from datetime import UTC, datetime

    from vrp.domain.identifiers import new_id
    from vrp.domain.referral import Referral, ReferralSubmission
    from vrp.events.envelope import Envelope
    from vrp.events.models import ReferralReceived
    from vrp.store import outbox as outbox_store

    def received(source: str) -> Envelope:
        referral = Referral(
            id=str(new_id()),
            source_org=source,
            received_at=datetime.now(UTC).isoformat(),
            local_authority="E08000025",
            submission=ReferralSubmission.model_validate(example()),
        )
        return Envelope.wrap(ReferralReceived(referral=referral), "/test", referral.id)

    events = [received("uhb"), received("not-a-partner"), received("uhb")]
    async with app.runtime.db.transaction() as conn:  # one commit: one batch for the router
        for e in events:
            await outbox_store.add(conn, "intake", topics.RECEIVED, e.subject or "", e)
    good = {events[0].subject, events[2].subject}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        async with app.runtime.db.engine.connect() as conn:
            decided = {
                r[0]
                for r in await conn.execute(
                    select(decisions.c.referral_id).where(decisions.c.referral_id.in_(good))
                )
            }
            letters = [
                r[0]
                for r in await conn.execute(
                    select(outbox.c.value).where(outbox.c.topic == topics.DEAD_LETTER)
                )
            ]
        if decided == good and letters:
            break
        await asyncio.sleep(0.05)
    assert decided == good
    assert len(letters) == 1
    assert b"organisation not in the configuration" in letters[0]
    assert events[1].id.encode() in letters[0]
