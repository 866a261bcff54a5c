"""The console's flows on both transports: the hub routes a held referral by hand through
the router (on Kafka, three processes, in production mode), the team accepts it from its
alert's link, a declined referral comes back to the hub, and the referrer sees each step."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy import select

from testkit.console import DEMO_PASSWORD, csrf_of, signed_in
from testkit.partner import inbox_entry, respond, submit, wait_status
from testkit.referrals import example
from testkit.systems import TIMEOUT, System, module_system
from vrp.domain.people import Role
from vrp.store import accounts, audit
from vrp.store.retention import utc_now
from vrp.store.tables import audit_log
from vrp.store.unit import unit_of_work

HELD = {"reasons": ["gang-association"]}
"""Held from A&E (the exploitation rule's interventions lack a usable agreement); the
navigators' agreement would permit it."""
LINK = re.compile(r"Open it here: (\S+)")


system = module_system()


async def account(system: System, org: str, role: Role) -> str:
    """A new console account; returns its username (the password is DEMO_PASSWORD)."""
    username = f"{role.value}-{uuid.uuid4().hex[:8]}"
    async with unit_of_work(system.db) as unit:
        await accounts.add(unit, username, username, org, role, DEMO_PASSWORD, utc_now())
    return username


async def held(system: System) -> dict[str, str]:
    accepted = await submit(system.client, system.uhb, body=example(**HELD))
    status = await wait_status(
        system.client,
        accepted["status_url"],
        system.uhb,
        until=lambda s: s["status"] == "held",
        timeout=TIMEOUT,
    )
    assert status["status"] == "held"
    return accepted


async def route_by_hand(system: System, rid: str, intervention: str) -> httpx.Response:
    """The hub coordinator signs in and routes the referral; returns the answer."""
    async with httpx.AsyncClient(base_url=system.client.base_url, timeout=30) as hub:
        await signed_in(hub, await account(system, "wm-vru", Role.HUB_COORDINATOR))
        page = await hub.get(f"/console/triage/{rid}")
        assert page.status_code == 200, page.text
        return await hub.post(
            f"/console/triage/{rid}/route",
            data={
                "intervention": intervention,
                "justification": "professional-judgement",
                "csrf_token": csrf_of(page.text),
            },
        )


async def test_the_hub_routes_by_hand_and_the_team_accepts_from_its_alert(
    system: System,
) -> None:
    referral = await held(system)
    rid = referral["id"]
    r = await route_by_hand(system, rid, "navigators-birmingham")
    assert r.status_code == 303 and r.headers["location"].endswith("?done=routed")
    team_link = f"/console/referrals/{rid}"

    def links() -> list[str]:
        found = []
        for m in system.smtp.mailbox.for_reference(referral["reference"], kind=None):
            raw = m.get_payload(decode=True)
            found += LINK.findall(raw.decode() if isinstance(raw, bytes) else "")
        return found

    # The hub's alert (held) opens its triage page; the team's opens the referral.
    wanted = (team_link, f"/console/triage/{rid}")
    assert await system.smtp.mailbox.until(
        lambda _: all(any(x.endswith(w) for x in links()) for w in wanted), TIMEOUT
    ), links()
    link = next(x for x in links() if x.endswith(team_link))
    # The alert and the inbox copy travel separately; the team's copy is what the page shows.
    await inbox_entry(system.client, rid, system.navigators, timeout=TIMEOUT)
    async with httpx.AsyncClient(base_url=system.client.base_url, timeout=30) as team:
        member = await account(system, "navigators", Role.TEAM_MEMBER)
        target = link.removeprefix(str(system.client.base_url).rstrip("/"))
        assert (await team.get(target)).status_code == 303  # sign in first
        await signed_in(team, member)
        page = await team.get(target)
        assert page.status_code == 200 and "Fictional" in page.text
        done = await team.post(
            f"/console/referrals/{rid}/response",
            data={"status": "accepted", "csrf_token": csrf_of(page.text)},
        )
        assert done.status_code == 303 and done.headers["location"].endswith("?done=accepted")
    status = await wait_status(
        system.client,
        referral["status_url"],
        system.uhb,
        # The router's decision reaches the timeline on its own consumer, which may run
        # behind the inbox the team accepted from.
        {"manual-routing", "routed", "accepted"},
        until=lambda s: s["status"] == "accepted",
        timeout=TIMEOUT,
    )
    assert status["status"] == "accepted"
    assert {"manual-routing", "routed", "accepted"} <= {e["type"] for e in status["timeline"]}
    await audit.seal_all(system.db)
    async with system.db.engine.connect() as conn:
        kinds = {
            r.kind
            for r in await conn.execute(
                select(audit_log.c.kind).where(audit_log.c.referral_id == rid)
            )
        }
    assert {"manual-routing", "disclosure", "read"} <= kinds


async def test_a_declined_referral_returns_to_the_hub_which_closes_it(system: System) -> None:
    referral = await held(system)
    rid = referral["id"]
    assert (await route_by_hand(system, rid, "navigators-birmingham")).status_code == 303
    await inbox_entry(system.client, rid, system.navigators, timeout=TIMEOUT)
    declined = await respond(
        system.client, system.navigators, rid, status="declined", reason="no-capacity"
    )
    assert declined.status_code == 200, declined.text
    await wait_status(
        system.client,
        referral["status_url"],
        system.uhb,
        until=lambda s: s["status"] == "declined",
        timeout=TIMEOUT,
    )
    async with httpx.AsyncClient(base_url=system.client.base_url, timeout=30) as hub:
        await signed_in(hub, await account(system, "wm-vru", Role.HUB_COORDINATOR))
        queue = await hub.get("/console/triage")
        assert referral["reference"] in queue.text
        assert "declined (The service has no capacity)" in queue.text  # the code's label
        page = await hub.get(f"/console/triage/{rid}")
        again = await hub.post(
            f"/console/triage/{rid}/route",
            data={
                "intervention": "navigators-birmingham",
                "justification": "declined-elsewhere",
                "csrf_token": csrf_of(page.text),
            },
        )
        assert again.status_code == 409 and "already offered" in again.text
        closed = await hub.post(
            f"/console/triage/{rid}/close",
            data={"reason": "referred-elsewhere", "csrf_token": csrf_of(page.text)},
        )
        assert closed.status_code == 303 and closed.headers["location"].endswith("?done=closed")
    status = await wait_status(
        system.client,
        referral["status_url"],
        system.uhb,
        until=lambda s: s["status"] == "cancelled",
        timeout=TIMEOUT,
    )
    assert status["status"] == "cancelled"
