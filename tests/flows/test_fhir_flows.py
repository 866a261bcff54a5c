"""The README's FHIR example end to end, on both transports (the embedded process, and
intake, router and notifier as three processes on Kafka and PostgreSQL): posted with curl
as the README shows, it is routed and its team alerted like the JSON example, and the
cancellation message withdraws it."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

from testkit import fhir
from testkit.partner import inbox_entry, submit, team_alerted, wait_status
from testkit.systems import TIMEOUT, System, module_system

system = module_system()


async def curl(system: System, bundle: dict[str, object], folder: Path) -> dict[str, object]:
    """POST the bundle as the README's curl command does; the parsed answer and status."""
    path = folder / f"{uuid.uuid4()}.json"
    path.write_text(json.dumps(bundle))
    url = f"{system.client.base_url}".rstrip("/") + "/fhir/$process-message"
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "-w", "\n%{http_code}", "-X", "POST", url,
        "-H", f"Authorization: {system.uhb['Authorization']}",
        "-H", "Content-Type: application/fhir+json",
        "-H", f"X-Request-ID: {uuid.uuid4()}",
        "-H", f"X-Correlation-ID: {uuid.uuid4()}",
        "--data", f"@{path}",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    body, status = out.decode().rsplit("\n", 1)
    answer: dict[str, object] = json.loads(body)
    answer["(status)"] = int(status)
    return answer


async def test_the_readme_fhir_example_is_routed_alerted_and_withdrawn(
    system: System, tmp_path: Path
) -> None:
    base = f"{system.client.base_url}".rstrip("/") + "/fhir"
    bundle = fhir.example(base)
    answer = await curl(system, bundle, tmp_path)
    assert answer["(status)"] == 200, answer
    referral_id = fhir.resource_of(answer, "ServiceRequest")["id"]
    status = await wait_status(
        system.client, f"/v1/referrals/{referral_id}", system.uhb, until=team_alerted,
        timeout=TIMEOUT,
    )  # fmt: skip
    assert status["status"] == "routed" and team_alerted(status)
    [mail] = await system.alerts(status["reference"])
    assert mail["To"] == "referrals@navigators.example"
    for personal in ("Alex", "Fictional", "9434765919", "B10 0AA", "2010-03-14", "Stab"):
        assert personal not in mail.as_string()
    # The team receives what the JSON example gives it.
    as_json = await submit(system.client, system.uhb)
    via_fhir = await inbox_entry(system.client, referral_id, system.navigators, timeout=TIMEOUT)
    via_json = await inbox_entry(system.client, as_json["id"], system.navigators, timeout=TIMEOUT)
    assert via_fhir["referral"]["data"] == via_json["referral"]["data"]
    # Withdrawn by the update message.
    sr_id = fhir.resource_of(bundle, "ServiceRequest")["id"]
    cancelled = await curl(system, fhir.cancellation(base, sr_id, "no-longer-needed"), tmp_path)
    assert cancelled["(status)"] == 200, cancelled
    assert fhir.resource_of(cancelled, "ServiceRequest")["status"] == "revoked"
    status = await wait_status(
        system.client, f"/v1/referrals/{referral_id}", system.uhb,
        until=lambda s: s["recipients"][0]["status"] == "cancelled", timeout=TIMEOUT,
    )  # fmt: skip
    assert status["status"] == "cancelled"
    assert status["recipients"][0]["status"] == "cancelled"
