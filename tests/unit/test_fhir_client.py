"""An independent FHIR client library (SMART's `fhirclient`, R4 models) reads the door as
any FHIR server: the CapabilityStatement, a ServiceRequest and its Tasks."""

from __future__ import annotations

import asyncio
from typing import Any

from fhirclient import client
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.servicerequest import ServiceRequest
from fhirclient.models.task import Task

from services.demo import demo_key
from services.intake.auth.keys import issue
from testkit import fhir
from testkit.partner import bearer, inbox_entry, respond
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.store.unit import unit_of_work

UHB = bearer(demo_key("uhb"))


def read_with_fhirclient(base: str, referral_id: str) -> dict[str, Any]:
    """What the library reads, in its own models (blocking: run in a thread)."""
    smart = client.FHIRClient(settings={"app_id": "vrp-tests", "api_base": base + "/"})
    smart.server.session.headers["Authorization"] = UHB["Authorization"]
    capability: CapabilityStatement = smart.server.capabilityStatement
    request = ServiceRequest.read(referral_id, smart.server)
    search = Task.where(struct={"focus": f"ServiceRequest/{referral_id}"})
    tasks: list[Task] = list(search.perform_resources_iter(smart.server))
    return {"capability": capability, "request": request, "tasks": tasks}


async def test_fhirclient_reads_the_capability_a_service_request_and_its_tasks(
    tmp_path: Any,
) -> None:
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path / "mail")
    base = f"{settings.public_url}/fhir"
    async with serving(settings) as served:
        async with unit_of_work(served.runtime.db) as unit:
            navigators = bearer(await issue(unit, "navigators"))
        r = await served.client.post(
            "/fhir/$process-message", json=fhir.example(base), headers=fhir.headers(UHB)
        )
        referral_id = fhir.resource_of(r.json(), "ServiceRequest")["id"]
        await inbox_entry(served.client, referral_id, navigators)
        await respond(served.client, navigators, referral_id, status="accepted")
        found = await asyncio.to_thread(read_with_fhirclient, base, referral_id)
    capability = found["capability"]
    assert capability.fhirVersion == "4.0.1"
    assert {r.type for r in capability.rest[0].resource} >= {"ServiceRequest", "Task"}
    assert capability.messaging[0].supportedMessage
    request = found["request"]
    assert request.id == referral_id and request.status == "active"
    [task] = found["tasks"]
    assert task.status == "accepted"
    assert task.focus.reference == f"ServiceRequest/{referral_id}"
    assert task.owner.identifier.value == "navigators"
