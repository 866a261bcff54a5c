"""No personal data where it must not be: an end-to-end run of the three processes with
distinctive identifiers, then every log line, span, metric, dead letter, internal event,
alert and validation problem is scanned for them (0 hits).

The referrals cover the paths that write logs, spans and events: one routed, one held (out
of area), one cancelled, one declined by its receiver, two poison events dead-lettered
(one well-formed, one malformed), and
one request refused as invalid."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.intake.auth.keys import issue
from testkit.kafka import KafkaEnv
from testkit.otlp import OtlpReceiver
from testkit.partner import bearer, inbox_entry, post_referral, respond, submit, wait_status
from testkit.ports import free_port
from testkit.production import Production, production, read_all
from testkit.referrals import example
from testkit.smtp import SmtpServer
from vrp.domain.identifiers import new_id
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralReceived
from vrp.store.unit import unit_of_work

WAIT = 60.0

GIVEN, FAMILY = "Ysoldette", "Thistlewaite"
NHS_NUMBER = "9434765870"
POSTCODE = "B15 2TT"
BORN = "2009-11-17"
SUBJECT_PHONE, SUBJECT_EMAIL = "07700 900461", "ysoldette.t@example.org"
REFERRER, REFERRER_PHONE = "Wilhelmina Crabtreeson", "0121 496 0777"
REFERRER_EMAIL = "w.crabtreeson@uhb.example"
SUMMARY = "Found near the tangerine lighthouse after the midnight orchestra dispersed."
AWAY = "LS1 1AA"  # outside every demo intervention's area: held for the hub
ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def person(**changes: Any) -> dict[str, Any]:
    """The example referral about our distinctive person, from our distinctive referrer."""
    return example(
        **{
            "referrer__name": REFERRER,
            "referrer__contact": {"email": REFERRER_EMAIL, "phone": REFERRER_PHONE},
            "subject__given_name": GIVEN,
            "subject__family_name": FAMILY,
            "subject__date_of_birth": BORN,
            "subject__nhs_number": NHS_NUMBER,
            "subject__postcode": POSTCODE,
            "subject__contact": {"phone": SUBJECT_PHONE, "email": SUBJECT_EMAIL},
            "summary": SUMMARY,
            **changes,
        }
    )


def variants() -> list[str]:
    """Every identifier in the forms it might be written: as sent, upper and lower case,
    postcodes and phone numbers without spaces, the date of birth ISO and dd/mm/yyyy, the
    NHS number spaced 3-3-4, and distinctive parts of the summary."""
    born = datetime.strptime(BORN, "%Y-%m-%d")
    base = [
        GIVEN,
        FAMILY,
        f"{GIVEN} {FAMILY}",
        NHS_NUMBER,
        f"{NHS_NUMBER[:3]} {NHS_NUMBER[3:6]} {NHS_NUMBER[6:]}",
        POSTCODE,
        POSTCODE.replace(" ", ""),
        AWAY,
        AWAY.replace(" ", ""),
        BORN,
        born.strftime("%d/%m/%Y"),
        born.strftime("%Y%m%d"),
        SUBJECT_PHONE,
        SUBJECT_PHONE.replace(" ", ""),
        SUBJECT_EMAIL,
        REFERRER,
        "Crabtreeson",
        "Wilhelmina",
        REFERRER_PHONE,
        REFERRER_PHONE.replace(" ", ""),
        REFERRER_EMAIL,
        SUMMARY,
        "tangerine lighthouse",
        "midnight orchestra",
    ]
    return sorted({v for b in base for v in (b, b.upper(), b.lower())})


PERSONAL = variants()


@dataclass
class Scan:
    """Where each text came from, what was found, and how much was looked at."""

    hits: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def look(self, where: str, kind: str, text: str) -> None:
        """Count one scanned item of `kind` and record each identifier found in it."""
        self.counts[kind] = self.counts.get(kind, 0) + 1
        folded = text.casefold()
        for p in PERSONAL:
            if p.casefold() in folded:
                self.hits.append(f"{where}: {p!r} in {text[:300]!r}")

    def fail(self, where: str, why: str) -> None:
        """Something that is a failure in itself (a log line that is not JSON)."""
        self.hits.append(f"{where}: {why}")


def poison_event() -> Envelope:
    """An event naming our person, of a type the router does not know: it can never
    process it, so it is dead-lettered. (A referral from an organisation the configuration
    does not know is no longer poison: the router holds it for the hub.)"""
    referral = Referral(
        id=str(new_id()),
        source_org="uhb",
        received_at=datetime.now(UTC).isoformat(),
        local_authority="E08000025",
        submission=ReferralSubmission.model_validate(person()),
    )
    event = Envelope.wrap(ReferralReceived(referral=referral), "/test", referral.id)
    return event.model_copy(update={"type": "uk.vrp.referral.unheard-of.v1"})


def malformed(event: Envelope) -> bytes:
    """The event broken where validation might quote it: identifiers as wrong values, and
    an unexpected field named after the person."""
    raw = json.loads(event.to_bytes())
    submission = raw["data"]["referral"]["submission"]
    submission.update(risk=FAMILY, reasons=[GIVEN], **{GIVEN: SUMMARY})
    submission["subject"]["date_of_birth"] = "17/11/2009"
    return json.dumps(raw).encode()


async def inject(run: Production, records: list[tuple[str, bytes]]) -> None:
    """Put (key, value) records on vrp.referral.received as the broker's admin."""
    producer = AIOKafkaProducer(**run.kafka.aiokafka())
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(
                run.namespace + topics.RECEIVED, value=value, key=key.encode()
            )
    finally:
        await producer.stop()


def span_texts(span: Any) -> Iterator[tuple[str, str]]:
    """(part, text) for a span's name, each attribute, each event and its attributes."""
    yield "name", span.name
    for key, val in span.attributes.items():
        yield f"attribute {key}", f"{key}={val}"
    for name, attrs in span.events:
        yield "event", name
        for key, val in attrs.items():
            yield f"event {name} {key}", f"{key}={val}"
    if span.status_message:
        yield "status", span.status_message


async def drive(run: Production, client: httpx.AsyncClient, navigators: dict[str, str]) -> str:
    """The referrals, the poison event and the invalid request; waits until all settled.
    Returns the 422 problem's body."""
    uhb = run.auth
    routed = await submit(client, uhb, body=person())
    held = await submit(client, uhb, body=person(subject__postcode=AWAY))
    cancelled = await submit(client, uhb, body=person())
    declined = await submit(client, uhb, body=person())
    r = await client.post(
        f"/v1/referrals/{cancelled['id']}/cancel",
        json={"reason": "entered-in-error"},
        headers=uhb,
    )
    assert r.status_code == 200, r.text
    await inbox_entry(
        client, declined["id"], navigators, timeout=WAIT, explain=lambda: run.cluster.tail("intake")
    )
    r = await respond(client, navigators, declined["id"], status="declined", reason="no-capacity")
    assert r.status_code == 200, r.text
    poison, broken = poison_event(), poison_event()
    await inject(
        run, [(poison.subject or "", poison.to_bytes()), (broken.subject or "", malformed(broken))]
    )
    # Invalid where the identifiers themselves are the wrong values (and a field name).
    invalid = person(reasons=[GIVEN], risk=FAMILY, subject__date_of_birth="17/11/2009")
    invalid["subject"][FAMILY] = SUMMARY
    refused = await post_referral(client, uhb, body=invalid)
    assert refused.status_code == 422, refused.text

    def is_in(state: str) -> Callable[[dict[str, Any]], bool]:
        return lambda status: bool(status["status"] == state)

    for accepted, events, state in (
        (routed, {"alert-sent"}, "routed"),
        (held, set(), "held"),
        (cancelled, set(), "cancelled"),
        (declined, set(), "declined"),
    ):
        status = await wait_status(
            client,
            accepted["status_url"],
            uhb,
            events,
            until=is_in(state),
            timeout=WAIT,
        )
        assert status["status"] == state, (status, run.cluster.tail("router"))
    deadline = time.monotonic() + WAIT
    lettered: set[str] = set()
    while not {poison.id, broken.id} <= lettered:
        assert time.monotonic() < deadline, run.cluster.tail("router")
        letters = await read_all(run, topics.DEAD_LETTER, 1)
        lettered = {str(e["data"].get("event_id")) for e in letters}
    # The referrer hears of the decline; the hub of the held referral.
    refs = {routed["reference"], declined["reference"], held["reference"]}
    assert await run.smtp.mailbox.until(
        lambda ms: refs <= {m["X-VRP-Referral"] for m in ms}, WAIT
    ), run.cluster.tail("notifier")
    await asyncio.sleep(3)  # the last spans (batched every 200 ms) and log lines
    return refused.text


@pytest.mark.kafka
@pytest.mark.postgres
async def test_no_personal_data_in_logs_spans_metrics_dead_letters_or_internal_topics(
    postgres_url: str, kafka: KafkaEnv, smtp: SmtpServer, tmp_path: Path
) -> None:
    ports = {"router": free_port(), "notifier": free_port()}
    role_env = {role: {"VRP_METRICS_PORT": str(port)} for role, port in ports.items()}
    scan = Scan()
    with OtlpReceiver(free_port()) as otlp:
        env = {
            "VRP_LOG_FORMAT": "json",
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        async with production(postgres_url, kafka, smtp, tmp_path, env, role_env=role_env) as run:
            async with unit_of_work(run.db) as unit:
                navigators = bearer(await issue(unit, "navigators"))
            async with httpx.AsyncClient(base_url=run.cluster.intake_url, timeout=30) as client:
                problem = await drive(run, client, navigators)
                scan.look("422 problem", "422 body", problem)
                urls = {
                    "intake": "/metrics",
                    **{r: f"http://127.0.0.1:{p}/metrics" for r, p in ports.items()},
                }
                for role, url in urls.items():
                    r = await client.get(url)
                    assert r.status_code == 200, r.text
                    for n, line in enumerate(r.text.splitlines(), 1):
                        scan.look(f"{role} /metrics line {n}", "metric lines", line)
                        # Nor a referral's (or anything's) id: routes are templates.
                        assert not ID.search(line), f"{role} /metrics line {n}: {line}"
                    if role == "intake":  # the partner API's requests, by template
                        assert 'route="/v1/referrals/{referral_id}/cancel"' in r.text
            internal = (
                topics.DEAD_LETTER,
                topics.DECIDED,
                topics.STATUS,
                topics.UPDATES,
                topics.ALERTS,
                topics.partner_status("uhb"),
            )
            for topic in internal:
                for n, event in enumerate(await read_all(run, topic, 2)):
                    scan.look(f"{topic} #{n}", "topic messages", json.dumps(event))
                    scan.counts[topic] = scan.counts.get(topic, 0) + 1
        for role in ("intake", "router", "notifier"):
            lines = run.cluster.log(role).splitlines()
            assert lines, f"{role} wrote no log"
            for n, line in enumerate(lines, 1):
                where = f"{role}.log line {n}"
                try:
                    entry = json.loads(line)
                except ValueError:
                    scan.fail(where, f"not JSON: {line[:300]!r}")
                    entry = None
                if not isinstance(entry, dict) and entry is not None:
                    scan.fail(where, f"not a JSON object: {line[:300]!r}")
                scan.look(where, "log lines", line)
        for n, span in enumerate(list(otlp.spans)):
            for part, text in span_texts(span):
                scan.look(f"span #{n} {span.service} {span.name!r} {part}", "span texts", text)
            scan.counts["spans"] = scan.counts.get("spans", 0) + 1
    for n, message in enumerate(smtp.mailbox.snapshot()):
        for key, val in message.items():
            scan.look(f"email #{n} header {key}", "email headers", f"{key}: {val}")
        for body in message.walk():
            payload = body.get_payload(decode=True)
            if isinstance(payload, bytes):
                scan.look(f"email #{n} {body.get_content_type()}", "email parts", payload.decode())
        scan.counts["emails"] = scan.counts.get("emails", 0) + 1
    print("scanned:", json.dumps(scan.counts, sort_keys=True))
    for kind in ("log lines", "spans", "metric lines", "emails", topics.DEAD_LETTER):
        assert scan.counts.get(kind, 0) > 0, f"nothing scanned: {kind} ({scan.counts})"
    assert not scan.hits, "personal data found:\n" + "\n".join(scan.hits)
