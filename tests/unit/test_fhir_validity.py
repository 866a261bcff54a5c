"""Everything the FHIR door returns or sends, and every example message under
deploy/examples/, is valid FHIR R4 to an independent validator (HAPI FHIR's HL7 validator),
all checked in one validator run."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.demo import demo_key
from services.intake.auth.keys import issue
from testkit import fhir
from testkit.fhir_validator import Validate, errors
from testkit.partner import bearer, inbox_entry, respond
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.store.unit import unit_of_work

pytestmark = pytest.mark.fhir_validator

UHB = bearer(demo_key("uhb"))
PROCESS = "/fhir/$process-message"


@pytest.fixture(scope="module")
async def answers(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    """What the door answered in a walk through every status a referral can have."""
    tmp = tmp_path_factory.mktemp("fhir-valid")
    settings = runtime_settings(sqlite_url(tmp), mail_dir=tmp / "mail")
    base = f"{settings.public_url}/fhir"
    out: dict[str, Any] = {}
    async with serving(settings) as served:
        client = served.client
        async with unit_of_work(served.runtime.db) as unit:
            navigators = bearer(await issue(unit, "navigators"))

        async def refer(name: str) -> str:
            r = await client.post(PROCESS, json=fhir.example(base), headers=fhir.headers(UHB))
            out[name] = r.json()
            referral_id: str = fhir.resource_of(r.json(), "ServiceRequest")["id"]
            await inbox_entry(client, referral_id, navigators)
            return referral_id

        declined = await refer("response to a new message")
        await respond(client, navigators, declined, status="declined", reason="no-capacity")
        completed = await refer("second response")
        await respond(client, navigators, completed, status="accepted")
        await respond(client, navigators, completed, status="completed", outcome="engaged")
        cancelled = fhir.example(base)
        await client.post(PROCESS, json=cancelled, headers=fhir.headers(UHB))
        sr_id = fhir.resource_of(cancelled, "ServiceRequest")["id"]
        cancel = fhir.cancellation(base, sr_id, "duplicate")
        out["response to a cancellation"] = (
            await client.post(PROCESS, json=cancel, headers=fhir.headers(UHB))
        ).json()
        for name, rid in (("declined", declined), ("completed", completed)):
            out[f"ServiceRequest {name}"] = await read(client, f"/fhir/ServiceRequest/{rid}")
            out[f"Tasks {name}"] = await read(
                client, f"/fhir/Task?focus=ServiceRequest/{rid}", auth=UHB
            )
        out["CapabilityStatement"] = await read(client, "/fhir/metadata")
        out["MessageDefinitions"] = await read(client, "/fhir/MessageDefinition")
        out["OperationOutcome 401"] = (await client.get(f"/fhir/ServiceRequest/{declined}")).json()
        out["OperationOutcome 404"] = await read(client, "/fhir/ServiceRequest/none", ok=False)
        bad = fhir.example(base)
        fhir.resource_of(bad, "Patient")["birthDate"] = "2099-01-01"
        out["OperationOutcome 422"] = (
            await client.post(PROCESS, json=bad, headers=fhir.headers(UHB))
        ).json()
        yield out


async def read(
    client: httpx.AsyncClient, path: str, auth: dict[str, str] = UHB, ok: bool = True
) -> dict[str, Any]:
    r = await client.get(path, headers=auth)
    assert (r.status_code == 200) is ok, r.text
    found: dict[str, Any] = r.json()
    return found


def test_what_the_door_returns_and_the_examples_are_valid_r4(
    answers: dict[str, Any], fhir_validator: Validate
) -> None:
    examples = {
        f"deploy/examples/{p.name}": json.loads(p.read_text())
        for p in sorted(fhir.EXAMPLES.glob("fhir-*.json"))
    }
    assert len(examples) == 2
    # The examples the OpenAPI document shows for the door, too.
    spec = json.loads((fhir.EXAMPLES.parents[1] / "schemas" / "openapi.json").read_text())
    for path, operations in spec["paths"].items():
        for method, op in operations.items() if path.startswith("/fhir") else ():
            shown = [(s, r) for s, r in op["responses"].items() if "content" in r]
            for status, response in shown:
                for media, body in response["content"].items():
                    examples[f"OpenAPI {method} {path} {status} {media}"] = body["example"]
    assert {r["resourceType"] for r in answers.values()} >= {
        "Bundle",
        "ServiceRequest",
        "CapabilityStatement",
        "OperationOutcome",
    }
    found = errors(fhir_validator(answers | examples))
    problems = {name: issues for name, issues in found.items() if issues}
    assert not problems, "\n".join(f"{n}: {', '.join(map(str, i))}" for n, i in problems.items())
