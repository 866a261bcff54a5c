"""Intake on PostgreSQL through real HTTP: in-flight duplicates and racing state changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from services.demo import demo_key
from services.intake.api.app import create_app
from services.intake.api.state import IntakeState
from services.intake.auth.keys import issue
from services.runtime import Runtime
from testkit.partner import bearer, inbox_entry, post_referral, submit
from testkit.runtime import runtime_settings, serving
from vrp.config_files import load_configuration
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import PartnerReferral
from vrp.metrics import Metrics
from vrp.store import outbox
from vrp.store.database import Database
from vrp.store.unit import unit_of_work

pytestmark = pytest.mark.postgres
UHB = bearer(demo_key("uhb"))


@dataclass
class Pg:
    runtime: Runtime
    client: httpx.AsyncClient
    navigators: dict[str, str]


@pytest.fixture
async def pg(pg_db: Database, postgres_url: str) -> AsyncIterator[Pg]:
    # Intake alone: the test plays the router by writing partner events to the outbox.
    async with serving(runtime_settings(postgres_url), ("intake",), timeout=30) as served:
        async with unit_of_work(served.runtime.db) as unit:
            navigators = await issue(unit, "navigators")
        yield Pg(served.runtime, served.client, bearer(navigators))


async def route_to_navigators(db: Database, accepted: dict[str, Any]) -> None:
    """Publish what the router would: the minimised referral on the navigators' topic."""
    event = PartnerReferral(
        referral_id=accepted["id"],
        reference=accepted["reference"],
        intervention="navigators-birmingham",
        intervention_title="A&E youth violence navigators, Birmingham and Solihull",
        from_organisation="uhb",
        agreement_id="isa-ae-navigators",
        agreement_version=2,
        flow_id="ae-to-navigators",
        respond_by=datetime.now(UTC) + timedelta(hours=24),
        data={"risk": "high", "reasons": ["knife-crime"]},
    )
    async with db.transaction() as conn:
        await outbox.add(
            conn,
            "router",
            topics.partner_referrals("navigators"),
            accepted["id"],
            Envelope.wrap(event, "/vrp/router", accepted["id"]),
        )


async def test_a_duplicate_while_the_first_is_in_flight_is_409_then_replays(pg: Pg) -> None:
    blocker = await pg.runtime.db.engine.connect()
    await blocker.begin()
    # An uncommitted row with the same (organisation, key) holds the first request inside
    # its INSERT until we roll back.
    await blocker.execute(
        text(
            "INSERT INTO referrals (id, reference, source_org, idempotency_key, request_hash,"
            " status, body, created_at, updated_at) VALUES ('blocker', 'X', 'uhb',"
            " 'inflight-0001', 'h', 'received', '{}', now(), now())"
        )
    )
    first = asyncio.create_task(post_referral(pg.client, UHB, "inflight-0001"))
    await asyncio.sleep(0.5)
    assert not first.done()
    second = await post_referral(pg.client, UHB, "inflight-0001")
    assert second.status_code == 409, second.text
    assert second.headers["Retry-After"] == "1"
    assert second.headers["content-type"] == "application/problem+json"
    await blocker.rollback()
    await blocker.close()
    done = await first
    assert done.status_code == 202, done.text
    replay = await post_referral(pg.client, UHB, "inflight-0001")
    assert replay.status_code == 202 and replay.json() == done.json()


async def test_concurrent_identical_requests_make_one_referral(pg: Pg) -> None:
    results = await asyncio.gather(*(post_referral(pg.client, UHB, "burst-0001") for _ in range(8)))
    ok = [r for r in results if r.status_code == 202]
    assert ok and all(r.status_code in (202, 409) for r in results)
    assert len({r.json()["id"] for r in ok}) == 1
    async with pg.runtime.db.engine.connect() as conn:
        n = await conn.execute(
            text("SELECT count(*) FROM referrals WHERE idempotency_key = 'burst-0001'")
        )
        assert n.scalar_one() == 1


async def test_cancel_racing_accept_has_exactly_one_winner(pg: Pg) -> None:
    accepted = [await submit(pg.client, UHB, f"race-{i:04d}") for i in range(6)]
    for a in accepted:
        await route_to_navigators(pg.runtime.db, a)
    for a in accepted:
        assert (await inbox_entry(pg.client, a["id"], pg.navigators))["status"] == "awaiting"

    async def cancel(rid: str) -> httpx.Response:
        return await pg.client.post(
            f"/v1/referrals/{rid}/cancel", json={"reason": "duplicate"}, headers=UHB
        )

    async def accept(rid: str) -> httpx.Response:
        return await pg.client.post(
            f"/v1/referrals/{rid}/response", json={"status": "accepted"}, headers=pg.navigators
        )

    for a in accepted:
        c, r = await asyncio.gather(cancel(a["id"]), accept(a["id"]))
        assert sorted([c.status_code, r.status_code]) == [200, 409], (c.text, r.text)
        final = (await pg.client.get(a["status_url"], headers=UHB)).json()["status"]
        assert final == ("cancelled" if c.status_code == 200 else "accepted")


async def test_a_referral_reaching_the_inbox_after_cancellation_is_stored_cancelled(
    pg: Pg,
) -> None:
    a = await submit(pg.client, UHB, "late-0001")
    r = await pg.client.post(
        f"/v1/referrals/{a['id']}/cancel", json={"reason": "entered-in-error"}, headers=UHB
    )
    assert r.status_code == 200
    await route_to_navigators(pg.runtime.db, a)
    assert (await inbox_entry(pg.client, a["id"], pg.navigators))["status"] == "cancelled"
    refused = await pg.client.post(
        f"/v1/referrals/{a['id']}/response", json={"status": "accepted"}, headers=pg.navigators
    )
    assert refused.status_code == 409


async def test_submissions_survive_broken_pooled_connections_without_pre_ping(
    pg_db: Database, postgres_url: str
) -> None:
    settings = runtime_settings(postgres_url, database_pre_ping=False)
    port = settings.port
    async with unit_of_work(pg_db) as unit:
        key = bearer(await issue(unit, "uhb"))
    # The HTTP API alone (no consumers, which poll the database and would stop the process).
    config = load_configuration(settings.config_dir)
    db = Database(settings.database_url, pre_ping=False)
    state = IntakeState.of(settings, db, lambda: config, Metrics("vrp-intake"))
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, state), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            async def post_one(idempotency_key: str) -> httpx.Response:
                return await post_referral(client, key, idempotency_key)

            warm = await asyncio.gather(*(post_one(f"warm-{i:04d}") for i in range(5)))
            assert {r.status_code for r in warm} == {202}
            # Break every pooled connection, as a database restart would.
            async with pg_db.engine.connect() as conn:
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                        " AND usename = current_user AND backend_type = 'client backend'"
                    )
                )
                await conn.commit()
            r = await post_one("after-restart-0001")
            assert r.status_code == 202, r.text
            again = await client.get(r.json()["status_url"], headers=key)
            assert again.status_code in (200, 503), again.text
            if again.status_code == 503:
                assert again.headers["Retry-After"] == "1"
                again = await client.get(r.json()["status_url"], headers=key)
            assert again.status_code == 200
    finally:
        server.should_exit = True
        await task
        await db.dispose()
