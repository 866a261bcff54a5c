"""The FHIR door through real HTTP on one embedded process: a hospital's BaRS message is
routed and alerted like the JSON example, read back as a ServiceRequest and Tasks, and
cancelled; retries, refusals and other organisations' referrals behave as BaRS says."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.demo import demo_key
from services.intake.auth.keys import issue
from services.runtime import Runtime
from testkit import fhir
from testkit.partner import bearer, inbox_entry, respond, submit, team_alerted, wait_status
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.store.tables import fhir_messages, referrals
from vrp.store.unit import reading, unit_of_work

UHB = bearer(demo_key("uhb"))
WMP = bearer(demo_key("wmp"))
PROCESS = "/fhir/$process-message"


@dataclass
class Door:
    runtime: Runtime
    client: httpx.AsyncClient
    base: str
    navigators: dict[str, str]
    read_only: dict[str, str]


@pytest.fixture(scope="module")
async def door(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Door]:
    tmp = tmp_path_factory.mktemp("fhir-door")
    settings = runtime_settings(sqlite_url(tmp), mail_dir=tmp / "mail")
    async with serving(settings) as served:
        async with unit_of_work(served.runtime.db) as unit:
            navigators = await issue(unit, "navigators")
            read_only = await issue(unit, "uhb", scopes=("referrals:read",))
        yield Door(
            served.runtime,
            served.client,
            f"{settings.public_url}/fhir",
            bearer(navigators),
            bearer(read_only),
        )


def outcome(r: httpx.Response, status: int) -> dict[str, Any]:
    """The OperationOutcome of a refusal, checked for its status, media type and BaRS code."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = r.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["details"]["coding"][0]["code"].startswith("REC_")
    return body


def expressions(body: dict[str, Any]) -> list[str]:
    return [x for i in body["issue"] for x in i.get("expression", [])]


async def count(door: Door, table: Any, **where: str) -> int:
    async with reading(door.runtime.db) as unit:
        q = select(func.count()).select_from(table)
        for column, value in where.items():
            q = q.where(table.c[column] == value)
        return int((await unit.conn.execute(q)).scalar_one())


async def test_the_example_is_routed_alerted_read_back_and_cancelled(door: Door) -> None:
    bundle = fhir.example(door.base)
    r = await door.client.post(PROCESS, json=bundle, headers=fhir.headers(UHB))
    assert r.status_code == 200, r.text
    reply = r.json()
    header = fhir.resource_of(reply, "MessageHeader")
    assert header["eventCoding"]["code"] == "servicerequest-response"
    assert header["response"] == {"identifier": bundle["id"], "code": "ok"}
    referral_id = fhir.resource_of(reply, "ServiceRequest")["id"]
    assert r.headers["Location"] == f"{door.base}/ServiceRequest/{referral_id}"
    # The same referral the JSON API would have made: routed, and the team alerted.
    status = await wait_status(door.client, f"/v1/referrals/{referral_id}", UHB, until=team_alerted)
    assert status["status"] == "routed"
    # The team receives exactly what the JSON API's example gives it.
    as_json = await submit(door.client, UHB)  # deploy/examples/referral.json
    via_fhir = await inbox_entry(door.client, referral_id, door.navigators)
    via_json = await inbox_entry(door.client, as_json["id"], door.navigators)
    assert via_fhir["referral"]["data"] == via_json["referral"]["data"]
    assert via_fhir["referral"]["flow_id"] == via_json["referral"]["flow_id"]
    assert via_fhir["referral"]["data"]["subject.name"]["given_name"] == "Alex"
    sr = (await door.client.get(f"/fhir/ServiceRequest/{referral_id}", headers=UHB)).json()
    assert sr["status"] == "active" and sr["intent"] == "order"
    assert "Alex" not in json.dumps(sr) and "9434765919" not in json.dumps(sr)
    ours = fhir.resource_of(bundle, "ServiceRequest")["id"]
    assert ours in {i["value"] for i in sr["identifier"]}
    tasks = await task_search(door, referral_id, UHB)
    [task] = [e["resource"] for e in tasks["entry"]]
    assert task["owner"]["identifier"]["value"] == "navigators"
    assert task["status"] == "received", "the team was alerted"
    # Cancelled with an update message: withdrawn for everyone.
    cancel = fhir.cancellation(door.base, ours, "no-longer-needed")
    r = await door.client.post(PROCESS, json=cancel, headers=fhir.headers(UHB))
    assert r.status_code == 200, r.text
    assert fhir.resource_of(r.json(), "ServiceRequest")["status"] == "revoked"
    status = (await door.client.get(f"/v1/referrals/{referral_id}", headers=UHB)).json()
    assert status["status"] == "cancelled"
    [task] = [e["resource"] for e in (await task_search(door, referral_id, UHB))["entry"]]
    assert task["status"] == "cancelled"
    assert task["statusReason"]["coding"][0]["code"] == "no-longer-needed"


async def task_search(door: Door, referral_id: str, auth: dict[str, str]) -> dict[str, Any]:
    r = await door.client.get(
        "/fhir/Task", params={"focus": f"ServiceRequest/{referral_id}"}, headers=auth
    )
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    assert found["resourceType"] == "Bundle" and found["type"] == "searchset"
    return found


async def test_a_team_response_shows_in_its_task(door: Door) -> None:
    r = await door.client.post(PROCESS, json=fhir.example(door.base), headers=fhir.headers(UHB))
    referral_id = fhir.resource_of(r.json(), "ServiceRequest")["id"]
    await inbox_entry(door.client, referral_id, door.navigators)
    declined = {"status": "declined", "reason": "out-of-area"}
    assert (await respond(door.client, door.navigators, referral_id, **declined)).status_code == 200
    [task] = [e["resource"] for e in (await task_search(door, referral_id, UHB))["entry"]]
    assert task["status"] == "rejected"
    assert task["businessStatus"]["coding"][0]["code"] == "declined"
    assert task["statusReason"]["coding"][0]["code"] == "out-of-area"


async def test_identical_retry_is_409_duplicate_and_nothing_is_stored_twice(door: Door) -> None:
    bundle = fhir.example(door.base)
    sent = fhir.headers(UHB)
    first = await door.client.post(PROCESS, json=bundle, headers=sent)
    assert first.status_code == 200, first.text
    again = outcome(await door.client.post(PROCESS, json=bundle, headers=sent), 409)
    assert again["issue"][0]["code"] == "duplicate"
    referral_id = fhir.resource_of(first.json(), "ServiceRequest")["id"]
    key = "fhir " + sent["X-Request-ID"]
    assert await count(door, referrals, source_org="uhb", idempotency_key=key) == 1
    assert await count(door, fhir_messages, referral_id=referral_id) == 1
    # The same X-Request-ID with another body is refused, and stores nothing.
    changed = copy.deepcopy(bundle)
    fhir.resource_of(changed, "ServiceRequest")["note"] = [{"text": "Another summary"}]
    refused = outcome(await door.client.post(PROCESS, json=changed, headers=sent), 422)
    assert expressions(refused) == ["X-Request-ID"]
    assert await count(door, referrals, source_org="uhb", idempotency_key=key) == 1


async def test_the_same_service_request_sent_again_refers_once(door: Door) -> None:
    bundle = fhir.example(door.base)
    first = await door.client.post(PROCESS, json=bundle, headers=fhir.headers(UHB))
    referral_id = fhir.resource_of(first.json(), "ServiceRequest")["id"]
    # Resent as a new request (a new X-Request-ID): the ServiceRequest is already referred.
    again = await door.client.post(PROCESS, json=bundle, headers=fhir.headers(UHB))
    body = outcome(again, 409)
    assert body["issue"][0]["code"] == "duplicate"
    assert again.headers["Location"] == f"ServiceRequest/{referral_id}"
    sr_id = fhir.resource_of(bundle, "ServiceRequest")["id"]
    made = await count(door, fhir_messages, service_request_id=sr_id, reason="new")
    assert made == 1


async def test_a_retry_while_the_first_is_in_flight_is_425(door: Door) -> None:
    sent = fhir.headers(UHB)
    in_flight = door.runtime.server.config.app.state.intake.in_flight  # type: ignore[union-attr]
    with in_flight.claim("uhb", "fhir " + sent["X-Request-ID"]):
        r = await door.client.post(PROCESS, json=fhir.example(door.base), headers=sent)
    outcome(r, 425)
    assert r.headers["Retry-After"] == "1"
    # Once the first is done, the retry goes through.
    after = await door.client.post(PROCESS, json=fhir.example(door.base), headers=sent)
    assert after.status_code == 200


def _without_header(b: dict[str, Any]) -> None:
    del b["entry"][0]


def _patient_first(b: dict[str, Any]) -> None:
    b["entry"].insert(0, b["entry"].pop(2))


def _unresolved(b: dict[str, Any]) -> None:
    fhir.resource_of(b, "ServiceRequest")["subject"] = {"reference": "urn:uuid:nowhere"}


def _two_patients(b: dict[str, Any]) -> None:
    twin = copy.deepcopy(b["entry"][2])
    twin["fullUrl"] = "urn:uuid:00000000-0000-4000-8000-000000000001"
    twin["resource"]["id"] = "00000000-0000-4000-8000-000000000001"
    b["entry"].append(twin)


def _unknown_category(b: dict[str, Any]) -> None:
    fhir.resource_of(b, "ServiceRequest")["category"][0]["coding"][0]["code"] = "bowls-club"


def _elsewhere(b: dict[str, Any]) -> None:
    fhir.resource_of(b, "MessageHeader")["destination"] = [{"endpoint": "https://x.example/fhir"}]


def _future_birth(b: dict[str, Any]) -> None:
    fhir.resource_of(b, "Patient")["birthDate"] = "2099-01-01"


def _bad_nhs_number(b: dict[str, Any]) -> None:
    fhir.resource_of(b, "Patient")["identifier"][0]["value"] = "9434765918"


def _unknown_reason(b: dict[str, Any]) -> None:
    fhir.resource_of(b, "ServiceRequest")["reasonCode"][1]["coding"][0]["code"] = "bad-hair-day"


def _other_event(b: dict[str, Any]) -> None:
    fhir.resource_of(b, "MessageHeader")["eventCoding"]["code"] = "booking-request"


def _endpoint_not_text(b: dict[str, Any]) -> None:
    # fhir.resources raised AttributeError on this, not a ValidationError (hypothesis found it).
    fhir.resource_of(b, "MessageHeader")["destination"] = [{"endpoint": False}]


def _disguised_name(b: dict[str, Any]) -> None:
    fhir.resource_of(b, "Patient")["name"][0]["given"] = ["Al\u202eex"]


MALFORMED: dict[str, tuple[Callable[[dict[str, Any]], None], int, str]] = {
    "missing MessageHeader": (_without_header, 422, "Bundle.entry[0].resource"),
    "wrong first entry": (_patient_first, 422, "Bundle.entry[0].resource"),
    "unresolved reference": (_unresolved, 422, "Bundle.entry[1].resource.subject"),
    "two Patients": (_two_patients, 422, "Bundle.entry[7].resource"),
    "unknown category": (_unknown_category, 422, "Bundle.entry[1].resource.category"),
    "wrong destination": (_elsewhere, 422, "Bundle.entry[0].resource.destination"),
    "birth date in the future": (_future_birth, 422, "Bundle.entry[2].resource.birthDate"),
    "NHS number check digit": (
        _bad_nhs_number,
        422,
        "Bundle.entry[2].resource.identifier[0].value",
    ),
    "unknown reason code": (_unknown_reason, 422, "Bundle.entry[1].resource.reasonCode[1]"),
    "another BaRS event": (_other_event, 422, "Bundle.entry[0].resource.eventCoding"),
    "an endpoint that is not text": (_endpoint_not_text, 422, "Bundle"),
    "a name with a bidirectional control": (
        _disguised_name,
        422,
        "Bundle.entry[2].resource.name[0].given",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_each_malformed_message_gets_its_operation_outcome(door: Door, case: str) -> None:
    change, status, where = MALFORMED[case]
    bundle = fhir.example(door.base)
    change(bundle)
    r = await door.client.post(PROCESS, json=bundle, headers=fhir.headers(UHB))
    body = outcome(r, status)
    assert where in expressions(body), body
    assert "Alex" not in r.text and "Fictional" not in r.text


async def test_bodies_that_are_not_bundles_are_refused_plainly(door: Door) -> None:
    h = fhir.headers(UHB)
    outcome(await door.client.post(PROCESS, content=b"{not json", headers=h), 400)
    outcome(await door.client.post(PROCESS, json={"resourceType": "Patient"}, headers=h), 400)
    no_id = {k: v for k, v in h.items() if k != "X-Request-ID"}
    body = outcome(
        await door.client.post(PROCESS, json=fhir.example(door.base), headers=no_id), 400
    )
    assert expressions(body) == ["X-Request-ID"]
    as_text = h | {"Content-Type": "text/plain"}
    outcome(await door.client.post(PROCESS, content=b"{}", headers=as_text), 415)


async def test_credentials_scopes_and_other_organisations(door: Door) -> None:
    outcome(await door.client.post(PROCESS, json=fhir.example(door.base)), 401)
    read_only = fhir.headers(door.read_only)
    outcome(await door.client.post(PROCESS, json=fhir.example(door.base), headers=read_only), 403)
    r = await door.client.post(PROCESS, json=fhir.example(door.base), headers=fhir.headers(UHB))
    referral_id = fhir.resource_of(r.json(), "ServiceRequest")["id"]
    # Another organisation sees nothing of it: 404 as for an id that does not exist.
    theirs = outcome(await door.client.get(f"/fhir/ServiceRequest/{referral_id}", headers=WMP), 404)
    missing = "00000000-0000-0000-0000-000000000000"
    unknown = outcome(await door.client.get(f"/fhir/ServiceRequest/{missing}", headers=UHB), 404)
    assert theirs == unknown
    assert (await task_search(door, referral_id, WMP))["total"] == 0
    # Nor can it cancel it by naming the sender's ServiceRequest.
    sr = (await door.client.get(f"/fhir/ServiceRequest/{referral_id}", headers=UHB)).json()
    sr_id = next(
        i["value"] for i in sr["identifier"] if i["system"].endswith("sender-service-request")
    )
    cancel = fhir.cancellation(door.base, sr_id)
    outcome(await door.client.post(PROCESS, json=cancel, headers=fhir.headers(WMP)), 404)


async def test_the_capability_is_the_configurations(door: Door) -> None:
    r = await door.client.get("/fhir/metadata")
    assert r.status_code == 200 and "max-age" in r.headers["Cache-Control"]
    statement = r.json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    supported = {m["definition"] for m in statement["messaging"][0]["supportedMessage"]}
    config = door.runtime.config()
    purposes = {i.purpose for i in config.interventions}
    assert {d.rsplit("-request-", 1)[1] for d in supported} == purposes
    listed = (await door.client.get("/fhir/MessageDefinition")).json()
    assert {e["resource"]["url"] for e in listed["entry"]} == supported
    one = listed["entry"][0]["resource"]
    got = await door.client.get(f"/fhir/MessageDefinition/{one['id']}")
    assert got.json() == one
    outcome(await door.client.get("/fhir/MessageDefinition/nope"), 404)
