"""One referral's trace, read back from a real trace viewer (Zipkin, deploy/zipkin.sh).

Intake, router and notifier run as three OS processes on Kafka + PostgreSQL and export
their spans with the standard OpenTelemetry variables (OTEL_TRACES_EXPORTER=zipkin,
OTEL_EXPORTER_ZIPKIN_ENDPOINT). The test finds the trace through Zipkin's own HTTP API by
the span tag carrying the referral id, then checks it is one tree spanning the three
services and carries no personal data.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.kafka import KafkaEnv
from testkit.partner import submit
from testkit.production import production
from testkit.referrals import example
from testkit.smtp import SmtpServer

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.zipkin]

WAIT = 45.0
"""Seconds for the alert, and then for every expected span to reach Zipkin."""

# Distinctive personal details of the person referred and of the referrer: none may appear
# in any span name, tag or annotation.
PERSON = {
    "subject__given_name": "Zebedee",
    "subject__family_name": "Quartermaine",
    "subject__date_of_birth": "2009-07-23",
    "subject__nhs_number": "9434765870",
    "subject__postcode": "B15 2TT",
    "subject__contact": {"phone": "07700 900987"},
    "referrer__name": "Persephone Ollerenshaw",
    "referrer__contact": {"email": "p.ollerenshaw@uhb.example", "phone": "0121 496 0777"},
    "summary": "Injured near the Xylophone Marmalade works; wants help to stay away.",
}
PERSONAL = (
    "Zebedee",
    "Quartermaine",
    "2009-07-23",
    "23/07/2009",
    "9434765870",
    "943 476 5870",
    "B15 2TT",
    "B152TT",
    "07700 900987",
    "07700900987",
    "Persephone",
    "Ollerenshaw",
    "0121 496 0777",
    "Xylophone",
)

REFERRAL_TAG = "vrp.referral_id"
ALERT_KIND_TAG = "vrp.alert_kind"
POST = ("vrp-intake", "SERVER", "post /v1/referrals")
ROUTER = ("vrp-router", "CONSUMER", "vrp-router process vrp.referral.received")
NOTIFIER = ("vrp-notifier", "CONSUMER", "vrp-notifier process vrp.referral.decided")
UPDATES = ("vrp-notifier", "CONSUMER", "vrp-notifier-updates process vrp.referral.updates")
SEND = ("vrp-notifier", "CLIENT", "notifier send email")
INTAKE_RELAY = ("vrp-intake", "PRODUCER", "intake publish")
ROUTER_RELAY = ("vrp-router", "PRODUCER", "router publish")
NOTIFIER_RELAY = ("vrp-notifier", "PRODUCER", "notifier publish")
EXPECTED = (POST, ROUTER, NOTIFIER, UPDATES, SEND, INTAKE_RELAY, ROUTER_RELAY, NOTIFIER_RELAY)
"""(service, kind, name) of the spans the referral's trace must hold; Zipkin lowercases
names, so they are compared in lower case. The demo routes the example to a team alerted
by email and tells the referrer (uhb) by email too: two sends, one per alert kind. Each
service's outbox relay publishes the events written in a span as a child of that span."""

Span = dict[str, Any]


def shape(span: Span) -> tuple[str, str, str]:
    """A Zipkin v2 span's (service, kind, name), the name in lower case."""
    service = str(span.get("localEndpoint", {}).get("serviceName", ""))
    return service, str(span.get("kind", "")), str(span.get("name", "")).lower()


def only(spans: list[Span], wanted: tuple[str, str, str], **tags: str) -> Span:
    """The one span of that shape with those tags (fails when there are none or several)."""
    found = [
        s
        for s in spans
        if shape(s) == wanted and all(s.get("tags", {}).get(k) == v for k, v in tags.items())
    ]
    assert len(found) == 1, (
        f"{len(found)} spans {wanted} {tags}; trace holds {sorted(map(shape, spans))}"
    )
    return found[0]


def complete(spans: list[Span]) -> bool:
    """Whether every expected span has arrived (both sends included)."""
    shapes = [shape(s) for s in spans]
    return set(EXPECTED) <= set(shapes) and shapes.count(SEND) >= 2


async def traces_of(client: httpx.AsyncClient, referral_id: str) -> list[list[Span]]:
    """The traces Zipkin finds by the referral id tag (each a list of spans)."""
    r = await client.get(
        "/api/v2/traces",
        params={
            "annotationQuery": f"{REFERRAL_TAG}={referral_id}",
            "lookback": str(3_600_000),
            "limit": "100",
        },
    )
    assert r.status_code == 200, r.text
    found: list[list[Span]] = r.json()
    return found


async def wait_for_spans(client: httpx.AsyncClient, referral_id: str) -> list[list[Span]]:
    """Search until the found traces hold every expected span (exports come in batches);
    returns the last answer either way, so a timeout fails with what Zipkin held."""
    deadline = time.monotonic() + WAIT
    while True:
        found = await traces_of(client, referral_id)
        if complete([s for trace in found for s in trace]) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def test_a_referrals_trace_in_zipkin_is_one_tree_across_three_services(
    postgres_url: str, kafka: KafkaEnv, smtp: SmtpServer, zipkin_url: str, tmp_path: Path
) -> None:
    env = {
        "OTEL_TRACES_EXPORTER": "zipkin",
        "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin_url}/api/v2/spans",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    async with production(postgres_url, kafka, smtp, tmp_path, env) as run:
        async with httpx.AsyncClient(base_url=run.cluster.intake_url, timeout=30) as client:
            accepted = await submit(client, run.auth, body=example(**PERSON))
        referral_id = accepted["id"]
        assert await smtp.mailbox.until(
            lambda _: bool(smtp.mailbox.for_reference(accepted["reference"])), WAIT
        ), f"no alert; notifier log: {run.cluster.tail('notifier')}"

        async with httpx.AsyncClient(base_url=zipkin_url, timeout=10) as zipkin:
            found = await wait_for_spans(zipkin, referral_id)
            trace_ids = {s["traceId"] for trace in found for s in trace}
            assert len(trace_ids) == 1, f"the referral's spans are in {len(trace_ids)} traces"
            (trace_id,) = trace_ids
            r = await zipkin.get(f"/api/v2/trace/{trace_id}")
            assert r.status_code == 200, r.text
            spans: list[Span] = r.json()
        api_key = run.auth["Authorization"].removeprefix("Bearer ")

    # Spans from each service: intake's request, the router's and the notifier's consumers
    # and the notifier's send.
    services = {shape(s)[0] for s in spans}
    assert {"vrp-intake", "vrp-router", "vrp-notifier"} <= services, services
    post, router, notifier, updates = (only(spans, wanted) for wanted in EXPECTED[:4])
    to_team = only(spans, SEND, **{ALERT_KIND_TAG: "new-referral"})
    to_referrer = only(spans, SEND, **{ALERT_KIND_TAG: "status"})
    assert post["tags"].get("http.response.status_code") == "202"
    for span in (router, notifier, updates, to_team, to_referrer):
        assert span["tags"][REFERRAL_TAG] == referral_id

    # One tree: a single root (the POST), every other span's parent in the trace, and the
    # hops in order: POST -> router -> notifier (decision; the referrer's update) -> send.
    ids = {s["id"] for s in spans}
    assert len(ids) == len(spans), "a span id appears twice"
    roots = [s for s in spans if "parentId" not in s]
    assert [shape(s) for s in roots] == [POST], f"roots: {[shape(s) for s in roots]}"
    orphans = [shape(s) for s in spans if "parentId" in s and s["parentId"] not in ids]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}"
    assert router["parentId"] == post["id"]
    assert notifier["parentId"] == router["id"]
    assert updates["parentId"] == router["id"]
    assert to_team["parentId"] == notifier["id"]
    assert to_referrer["parentId"] == updates["id"]

    # The relays' publishes: the received event's under the POST, the decision's under
    # the router's span, the alert-sent events' under a send; codes only.
    def published(wanted: tuple[str, str, str], *parents: str) -> list[Span]:
        return [s for s in spans if shape(s) == wanted and s.get("parentId") in parents]

    assert len(published(INTAKE_RELAY, post["id"])) == 1, sorted(map(shape, spans))
    assert len(published(ROUTER_RELAY, router["id"])) == 1, sorted(map(shape, spans))
    assert published(NOTIFIER_RELAY, to_team["id"], to_referrer["id"])
    [intake_relay] = published(INTAKE_RELAY, post["id"])
    assert intake_relay["tags"]["vrp.producer"] == "intake"
    assert int(intake_relay["tags"]["messaging.batch.message_count"]) >= 1
    assert "vrp.referral.received" in intake_relay["tags"]["vrp.topics"]

    # No personal data (nor the partner's API key) in any name, tag or annotation.
    text = json.dumps(spans, ensure_ascii=False).lower()
    leaked = [item for item in (*PERSONAL, api_key) if item.lower() in text]
    assert not leaked, f"personal data in the trace: {leaked}"
