"""FHIR replies: a hospital that registered its FHIR endpoint hears of every status change of
a referral it sent through the FHIR door, as a signed BaRS `servicerequest-response` message
(role reversal) to that endpoint, over real HTTP; and nothing of one it sent as JSON."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from services.demo import demo_key
from services.intake.auth.keys import issue
from testkit import fhir, fhir_replies
from testkit.drained import drained
from testkit.fhir_replies import answering, focus, header
from testkit.fhir_validator import Validate, errors
from testkit.kafka import KafkaEnv
from testkit.partner import bearer, inbox_entry, respond, submit
from testkit.ports import free_port
from testkit.production import production
from testkit.referrals import example
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from testkit.smtp import SmtpServer
from testkit.webhooks import Delivery, WebhookReceiver, new_secret
from vrp.fhir import systems
from vrp.store.database import Database
from vrp.store.tables import delivery_attempts, notifications
from vrp.store.unit import unit_of_work

WAIT = 30.0
PERSON = {
    "subject__given_name": "Zebedee",
    "subject__family_name": "Quartermaine",
    "subject__date_of_birth": "2009-07-23",
    "subject__nhs_number": "9434765870",
    "subject__postcode": "B15 2TT",
}
PERSONAL = ("Zebedee", "Quartermaine", "2009-07-23", "9434765870", "B15 2TT", "B152TT")
CORRELATION = "corr-3f1c9a"
PROCESS = "/fhir/$process-message"


@dataclass
class Hospital:
    """The hospital's FHIR endpoint (a verifying receiver) and the configuration naming it."""

    endpoint: WebhookReceiver
    config: Path
    secret: str


@pytest.fixture
def hospital(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hospital]:
    secret = new_secret()
    monkeypatch.setenv(fhir_replies.SECRET_ENV, secret)
    with WebhookReceiver([secret], path="/fhir") as endpoint:
        yield Hospital(endpoint, fhir_replies.configuration(tmp_path, endpoint.url), secret)


@asynccontextmanager
async def embedded(hospital: Hospital, folder: Path) -> AsyncIterator[Served]:
    settings = runtime_settings(
        sqlite_url(folder),
        mail_dir=folder / "mail",
        config_dir=hospital.config,
        alert_first_retry=0.5,  # retries after 0.5, 1, 2 s...
    )
    async with serving(settings) as served:
        yield served


async def refer(client: httpx.AsyncClient, auth: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Send a referral as a FHIR message (its source.endpoint is not the registered one);
    the referral's id and the message sent."""
    sent = fhir.message(example(**PERSON), base_of(client))
    headers = fhir.headers(auth) | {"X-Correlation-ID": CORRELATION}
    r = await client.post(PROCESS, json=sent, headers=headers)
    assert r.status_code == 200, r.text
    return r.headers["location"].rsplit("/", 1)[1], sent


def base_of(client: httpx.AsyncClient) -> str:
    """The FHIR door's base URL, as senders address it."""
    return str(client.base_url).rstrip("/") + "/fhir"


async def replies(endpoint: WebhookReceiver, bundle_id: str, count: int) -> list[Delivery]:
    """The first `count` replies answering the Bundle, once they arrived."""
    assert await endpoint.until(lambda got: len(answering(got, bundle_id)) >= count, WAIT)
    return answering(endpoint.deliveries(), bundle_id)[:count]


def check_reply(d: Delivery, sent: dict[str, Any], referral_id: str, url: str) -> None:
    """A valid FHIR message answering `sent` (role reversal), sent to the registered
    endpoint as the signed message the notification id names, with nothing personal."""
    Bundle.model_validate(json.loads(d.body))
    h = header(d)
    assert h["eventCoding"] == {"system": systems.BARS_EVENTS, "code": systems.RESPONSE}
    assert h["response"] == {"identifier": sent["id"], "code": "ok"}
    assert h["destination"] == [{"endpoint": url}]  # the registered one, not the message's
    assert h["source"]["endpoint"].endswith("/fhir")
    assert d.headers["content-type"] == "application/fhir+json"
    assert d.headers["x-request-id"] == d.id == fhir_replies.bundle(d)["id"]
    assert d.headers["x-correlation-id"] == CORRELATION
    (sr,) = focus(d, "ServiceRequest")
    assert sr["id"] == referral_id
    sender_ids = [
        i["value"] for i in sr["identifier"] if i["system"].endswith("sender-service-request")
    ]
    assert sender_ids == [sent["entry"][1]["resource"]["id"]]
    text = d.body.decode() + json.dumps(d.headers)
    for item in PERSONAL:
        assert item not in text, f"{item!r} leaked into a FHIR reply"


def changed(d: Delivery) -> datetime:
    """When the change a reply reports was made."""
    return datetime.fromisoformat(focus(d, "ServiceRequest")[0]["meta"]["lastUpdated"])


def task_of(d: Delivery) -> dict[str, Any]:
    (task,) = focus(d, "Task")
    return task


async def test_the_hospital_hears_of_routing_and_acceptance_as_signed_fhir_replies(
    hospital: Hospital, tmp_path: Path
) -> None:
    async with embedded(hospital, tmp_path) as s:
        referral_id, sent = await refer(s.client, bearer(demo_key("uhb")))
        (routed,) = await replies(hospital.endpoint, sent["id"], 1)
        check_reply(routed, sent, referral_id, hospital.endpoint.url)
        assert focus(routed, "ServiceRequest")[0]["status"] == "active"
        task = task_of(routed)
        assert task["status"] == "requested"
        assert task["businessStatus"]["coding"][0]["code"] == "awaiting"
        assert task["owner"]["identifier"]["value"] == "navigators"
        assert task["focus"] == {"reference": f"ServiceRequest/{referral_id}"}

        team = bearer(demo_key("navigators"))
        await inbox_entry(s.client, referral_id, team)
        accepted = await respond(s.client, team, referral_id, status="accepted")
        assert accepted.status_code == 200, accepted.text
        _, answer = await replies(hospital.endpoint, sent["id"], 2)
        check_reply(answer, sent, referral_id, hospital.endpoint.url)
        assert task_of(answer)["status"] == "accepted"
        assert task_of(answer)["id"] == task["id"]  # the same Task, moved on
        assert answer.id != routed.id  # a new message for a new change
        assert focus(answer, "ServiceRequest")[0]["status"] == "active"
        assert not hospital.endpoint.rejections()


async def test_a_reply_refused_with_503_is_sent_again_as_the_same_message_and_a_400_is_not(
    hospital: Hospital, tmp_path: Path
) -> None:
    hospital.endpoint.respond_with([503])
    async with embedded(hospital, tmp_path) as s:
        referral_id, sent = await refer(s.client, bearer(demo_key("uhb")))
        refused, resent = await replies(hospital.endpoint, sent["id"], 2)
        assert (refused.status, resent.status) == (503, 204)
        assert resent.headers["x-request-id"] == refused.headers["x-request-id"] == refused.id
        assert resent.body == refused.body  # the same Bundle (id, timestamp and all)

        hospital.endpoint.respond_with([400])
        team = bearer(demo_key("navigators"))
        await inbox_entry(s.client, referral_id, team)
        declined = await respond(
            s.client, team, referral_id, status="declined", reason="no-capacity"
        )
        assert declined.status_code == 200, declined.text
        *_, bad = await replies(hospital.endpoint, sent["id"], 3)
        assert bad.status == 400
        await drained(s.runtime.db)
        assert len(answering(hospital.endpoint.deliveries(), sent["id"])) == 3  # not retried
        task = task_of(bad)
        assert task["status"] == "rejected"
        assert task["statusReason"]["coding"][0]["code"] == "no-capacity"
        # Declined by the only organisation offered it: the request ended, not carried out.
        assert focus(bad, "ServiceRequest")[0]["status"] == "revoked"
        tried = await _fhir_attempts(s.runtime.db, referral_id)
        assert [(a.outcome, a.status_code) for a in tried] == [
            ("retry", 503),
            ("sent", 204),
            ("failed", 400),
        ]


async def test_a_json_referral_from_the_same_hospital_gets_no_fhir_reply(
    hospital: Hospital, tmp_path: Path
) -> None:
    async with embedded(hospital, tmp_path) as s:
        accepted = await submit(s.client, bearer(demo_key("uhb")), body=example())
        await inbox_entry(s.client, accepted["id"], bearer(demo_key("navigators")))
        await drained(s.runtime.db)
        async with s.runtime.db.engine.connect() as conn:
            told = list(
                await conn.execute(
                    select(notifications.c.channel).where(
                        notifications.c.referral_id == accepted["id"],
                        notifications.c.kind == "status",
                    )
                )
            )
        assert [t.channel for t in told] == ["email"]  # the update was made, by email only
        assert hospital.endpoint.requests == 0


@pytest.mark.fhir_validator
async def test_a_reply_for_every_change_is_valid_r4_to_the_hl7_validator(
    hospital: Hospital, tmp_path: Path, fhir_validator: Validate
) -> None:
    async with embedded(hospital, tmp_path) as s:
        uhb, team = bearer(demo_key("uhb")), bearer(demo_key("navigators"))
        walks = {
            "completed": [
                {"status": "accepted"},
                {"status": "in-progress"},
                {"status": "completed", "outcome": "engaged"},
            ],
            "declined": [{"status": "declined", "reason": "no-capacity"}],
            "cancelled": [],
        }
        changes = {"completed": 4, "declined": 2, "cancelled": 2}  # routed, then each step
        sent: dict[str, dict[str, Any]] = {}
        for name, steps in walks.items():
            referral_id, sent[name] = await refer(s.client, uhb)
            await inbox_entry(s.client, referral_id, team)
            for step in steps:
                assert (await respond(s.client, team, referral_id, **step)).is_success
        sr = fhir.resource_of(sent["cancelled"], "ServiceRequest")["id"]
        cancel = fhir.cancellation(base_of(s.client), sr, "duplicate")
        r = await s.client.post(PROCESS, json=cancel, headers=fhir.headers(uhb))
        assert r.status_code == 200, r.text
        # Replies may arrive out of order (sent concurrently, retried): a receiver orders
        # them by the change's time, the ServiceRequest's meta.lastUpdated.
        got = {
            name: sorted(await replies(hospital.endpoint, m["id"], changes[name]), key=changed)
            for name, m in sent.items()
        }
    statuses = {
        name: [focus(d, "ServiceRequest")[0]["status"] for d in found]
        for name, found in got.items()
    }
    assert statuses == {
        "completed": ["active", "active", "active", "completed"],
        "declined": ["active", "revoked"],
        "cancelled": ["active", "revoked"],
    }
    assert [task_of(d)["status"] for d in got["completed"]] == [
        "requested",
        "accepted",
        "in-progress",
        "completed",
    ]
    assert (
        task_of(got["completed"][-1])["output"][0]["valueCodeableConcept"]["coding"][0]["code"]
        == "engaged"
    )
    assert focus(got["cancelled"][-1], "Task") == []  # the whole referral's change
    bundles = {
        f"{name} reply {n}": fhir_replies.bundle(d)
        for name, found in got.items()
        for n, d in enumerate(found, 1)
    }
    found = errors(fhir_validator(bundles))
    problems = {name: issues for name, issues in found.items() if issues}
    assert not problems, "\n".join(f"{n}: {', '.join(map(str, i))}" for n, i in problems.items())


@pytest.mark.kafka
@pytest.mark.postgres
async def test_three_processes_reply_to_the_hospital_over_fhir(
    hospital: Hospital, postgres_url: str, kafka: KafkaEnv, tmp_path: Path
) -> None:
    env = {"VRP_CONFIG_DIR": str(hospital.config), fhir_replies.SECRET_ENV: hospital.secret}
    with SmtpServer(free_port()) as smtp:
        async with production(postgres_url, kafka, smtp, tmp_path, env) as run:
            async with unit_of_work(run.db) as unit:
                team = bearer(await issue(unit, "navigators"))
            url = run.cluster.intake_url
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                referral_id, sent = await refer(client, run.auth)
                (routed,) = await replies(hospital.endpoint, sent["id"], 1)
                check_reply(routed, sent, referral_id, hospital.endpoint.url)
                assert header(routed)["source"]["endpoint"] == f"{url}/fhir"
                await inbox_entry(client, referral_id, team, timeout=WAIT)
                assert (await respond(client, team, referral_id, status="accepted")).is_success
                _, answer = await replies(hospital.endpoint, sent["id"], 2)
                check_reply(answer, sent, referral_id, hospital.endpoint.url)
                assert task_of(answer)["status"] == "accepted"


async def _fhir_attempts(db: Database, referral_id: str) -> list[Any]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(delivery_attempts)
            .join(notifications, delivery_attempts.c.notification_id == notifications.c.id)
            .where(notifications.c.referral_id == referral_id, notifications.c.channel == "fhir")
            .order_by(delivery_attempts.c.id)
        )
        return list(rows)
