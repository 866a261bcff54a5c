"""The partner-facing API through real HTTP: one embedded process (intake, router, notifier)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.demo import demo_key
from services.intake.auth.keys import issue
from services.runtime import Runtime
from testkit.partner import (
    assert_problem,
    bearer,
    inbox_entry,
    post_referral,
    submit,
    timeline_types,
    wait_status,
)
from testkit.partner import respond as respond_as
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.store.unit import unit_of_work

UHB = bearer(demo_key("uhb"))
WMP = bearer(demo_key("wmp"))


@dataclass
class Api:
    runtime: Runtime
    client: httpx.AsyncClient
    navigators: dict[str, str]
    submit_only: dict[str, str]


@pytest.fixture(scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    tmp = tmp_path_factory.mktemp("intake-api")
    async with serving(runtime_settings(sqlite_url(tmp), mail_dir=tmp / "mail")) as served:
        async with unit_of_work(served.runtime.db) as unit:
            navigators = await issue(unit, "navigators")
            submit_only = await issue(unit, "uhcw", scopes=("referrals:submit",))
        yield Api(served.runtime, served.client, bearer(navigators), bearer(submit_only))


async def respond(api: Api, referral_id: str, **body: Any) -> httpx.Response:
    return await respond_as(api.client, api.navigators, referral_id, **body)


async def test_originator_sees_status_timeline_and_recipients_but_not_their_data(
    api: Api,
) -> None:
    accepted = await submit(api.client, UHB)
    await inbox_entry(api.client, accepted["id"], api.navigators)
    # The decision and the delivery reach intake through different consumers.
    status = await wait_status(
        api.client, accepted["status_url"], UHB, until=lambda s: s["status"] != "received"
    )
    assert status["status"] == "routed"
    assert {"received", "routed", "delivered"} <= timeline_types(status)
    [recipient] = status["recipients"]
    assert recipient["organisation"] == "navigators"
    assert recipient["status"] == "awaiting" and recipient["received_at"]
    assert "Alex" not in json.dumps(status) and "data" not in recipient


async def test_other_organisations_get_404_at_object_level(api: Api) -> None:
    accepted = await submit(api.client, UHB)
    rid = accepted["id"]
    await inbox_entry(api.client, rid, api.navigators)
    # Another partner, a receiver, and the originator on the receiver's endpoints.
    assert_problem(await api.client.get(f"/v1/referrals/{rid}", headers=WMP), 404)
    assert_problem(await api.client.get(f"/v1/referrals/{rid}", headers=api.navigators), 404)
    cancel = {"reason": "duplicate"}
    assert_problem(
        await api.client.post(f"/v1/referrals/{rid}/cancel", json=cancel, headers=WMP), 404
    )
    assert_problem(
        await api.client.post(f"/v1/referrals/{rid}/cancel", json=cancel, headers=api.navigators),
        404,
    )
    assert_problem(await api.client.get(f"/v1/inbox/{rid}", headers=WMP), 404)
    assert_problem(await api.client.get(f"/v1/inbox/{rid}", headers=UHB), 404)
    ok = {"status": "accepted"}
    assert_problem(
        await api.client.post(f"/v1/referrals/{rid}/response", json=ok, headers=WMP), 404
    )
    assert_problem(
        await api.client.post(f"/v1/referrals/{rid}/response", json=ok, headers=UHB), 404
    )
    wmp_inbox = (await api.client.get("/v1/inbox", headers=WMP)).json()
    assert rid not in {i["referral_id"] for i in wmp_inbox["items"]}
    missing = "00000000-0000-0000-0000-000000000000"
    unknown = assert_problem(await api.client.get(f"/v1/referrals/{missing}", headers=UHB), 404)
    theirs = assert_problem(await api.client.get(f"/v1/referrals/{rid}", headers=WMP), 404)
    assert unknown["detail"] == theirs["detail"], "no existence leak"


async def test_property_level_receivers_cannot_change_the_referral(api: Api) -> None:
    accepted = await submit(api.client, UHB)
    await inbox_entry(api.client, accepted["id"], api.navigators)
    r = await respond(api, accepted["id"], status="accepted", risk="standard")
    assert_problem(r, 422, "accepted.risk")


async def test_cancel_after_acceptance_is_409(api: Api) -> None:
    accepted = await submit(api.client, UHB)
    rid = accepted["id"]
    await inbox_entry(api.client, rid, api.navigators)
    assert (await respond(api, rid, status="accepted")).status_code == 200
    r = await api.client.post(
        f"/v1/referrals/{rid}/cancel", json={"reason": "duplicate"}, headers=UHB
    )
    problem = assert_problem(r, 409)
    assert "before any receiving organisation accepted" in problem["detail"]


async def test_decline_needs_a_coded_reason_and_complete_a_coded_outcome(api: Api) -> None:
    accepted = await submit(api.client, UHB)
    rid = accepted["id"]
    await inbox_entry(api.client, rid, api.navigators)
    assert_problem(await respond(api, rid, status="declined"), 422, "declined.reason")
    assert_problem(
        await respond(api, rid, status="declined", reason="bored"), 422, "declined.reason"
    )
    assert_problem(await respond(api, rid, status="completed"), 422, "completed.outcome")
    assert_problem(await respond(api, rid, status="on-hold"), 422)
    premature = assert_problem(await respond(api, rid, status="completed", outcome="engaged"), 409)
    assert "'awaiting' cannot become 'completed'" in premature["detail"]
    r = await respond(api, rid, status="declined", reason="no-capacity")
    assert r.status_code == 200
    status = (await api.client.get(accepted["status_url"], headers=UHB)).json()
    assert status["status"] == "declined"
    assert status["recipients"][0]["reason"] == "no-capacity"
    assert_problem(await respond(api, rid, status="accepted"), 409)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"subject__nhs_number": "9434765918"}, "subject.nhs_number"),
        ({"subject__postcode": "NOT A POSTCODE"}, "subject.postcode"),
        ({"subject__date_of_birth": "2099-01-01"}, "subject.date_of_birth"),
        ({"reasons": ["assault-injury", "jaywalking"]}, "reasons.1"),
        ({"consent": {"state": "refused"}}, "consent"),
        ({"consent": {"state": "not-sought"}}, "consent"),
        ({"risk": "extreme"}, "risk"),
        ({"summary": "x" * 4001}, "summary"),
        ({"source_org": "wmp"}, "source_org"),
        ({"subject__date_of_birth": 1262304000}, "subject.date_of_birth"),
    ],
)
async def test_invalid_input_is_422_naming_the_field_without_echoing_it(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    r = await post_referral(api.client, UHB, f"invalid-{time.time_ns()}", example(**changes))
    problem = assert_problem(r, 422, field)
    for value in ("9434765918", "NOT A POSTCODE", "jaywalking", "2099-01-01", "extreme"):
        assert value not in r.text
    assert problem["type"].endswith("invalid-request")


async def test_missing_idempotency_key_is_422_and_malformed_json_400(api: Api) -> None:
    r = await api.client.post("/v1/referrals", json=example(), headers=UHB)
    assert_problem(r, 422, "idempotency-key")
    r = await api.client.post(
        "/v1/referrals",
        content=b"{not json",
        headers={**UHB, "Idempotency-Key": "malformed-1", "Content-Type": "application/json"},
    )
    assert_problem(r, 400, "(body)")  # as the OpenAPI document says


async def test_idempotent_replay_and_key_reuse_with_another_body(api: Api) -> None:
    first = await post_referral(api.client, UHB, "replay-0001")
    again = await post_referral(api.client, UHB, "replay-0001")
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await post_referral(api.client, UHB, "replay-0001", example(risk="medium"))
    assert_problem(other, 422, "Idempotency-Key")
    # The key is per organisation: another partner may use the same string.
    theirs = await post_referral(api.client, WMP, "replay-0001")
    assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]


async def test_scopes_are_enforced(api: Api) -> None:
    assert_problem(await api.client.get("/v1/inbox", headers=api.submit_only), 403)
    r = await api.client.get("/v1/referrals/x", headers=api.submit_only)
    assert_problem(r, 403)
    assert_problem(await api.client.get("/v1/inbox"), 401)
    bad = {"Authorization": "Bearer vrp_nope_nope"}
    assert_problem(await api.client.get("/v1/inbox", headers=bad), 401)


async def test_inbox_pages_filters_and_rejects_a_forged_cursor(api: Api) -> None:
    ids = [(await submit(api.client, UHB))["id"] for _ in range(3)]
    for rid in ids:
        await inbox_entry(api.client, rid, api.navigators)
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.client.get("/v1/inbox", params=params, headers=api.navigators)).json()
        seen += [i["referral_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) and set(ids) <= set(seen)
    awaiting = await api.client.get(
        "/v1/inbox", params={"status": "awaiting", "limit": 200}, headers=api.navigators
    )
    assert {i["status"] for i in awaiting.json()["items"]} == {"awaiting"}
    forged = await api.client.get("/v1/inbox", params={"cursor": "!!"}, headers=api.navigators)
    assert_problem(forged, 422, "cursor")


async def test_body_size_limit_is_413_problem(api: Api) -> None:
    big = b'{"summary": "' + b"x" * 70_000 + b'"}'
    headers = {**UHB, "Idempotency-Key": "big-0001", "Content-Type": "application/json"}
    assert_problem(await api.client.post("/v1/referrals", content=big, headers=headers), 413)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(70):
            yield b" " * 1024

    chunked = await api.client.post("/v1/referrals", content=chunks(), headers=headers)
    assert_problem(chunked, 413)


async def test_vocabularies_health_and_readiness(api: Api) -> None:
    vocab = (await api.client.get("/v1/vocabularies")).json()
    assert "no-capacity" in vocab["decline-reasons"]["codes"]
    assert "could-not-contact" in vocab["outcomes"]["codes"]
    assert "knife-crime" in vocab["reasons"]["codes"]
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    # Embedded: no broker to report.
    assert (await api.client.get("/ready")).json() == {"status": "ready", "database": "ok"}


async def test_rate_limit_is_per_organisation_with_retry_after(tmp_path: Path) -> None:
    settings = runtime_settings(
        sqlite_url(tmp_path),
        mail_dir=tmp_path / "mail",
        rate_limit_per_second=0.5,
        rate_limit_burst=3,
    )
    async with serving(settings, ("intake",)) as served:
        client = served.client
        codes = [(await client.get("/v1/inbox", headers=WMP)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        r = await client.get("/v1/inbox", headers=WMP)
        assert_problem(r, 429)
        assert int(r.headers["Retry-After"]) >= 1
        assert (await client.get("/v1/inbox", headers=UHB)).status_code == 200


async def test_unknown_query_parameters_are_422_not_ignored(api: Api) -> None:
    r = await api.client.get("/v1/inbox", params={"stauts": "awaiting"}, headers=api.navigators)
    assert_problem(r, 422, "stauts")
