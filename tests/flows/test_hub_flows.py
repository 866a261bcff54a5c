"""The hub acting on what it is alerted about, over real HTTP and SMTP on the embedded
runtime: escalation and undelivered-alert links open its page, each action (chase, route by
hand, enable a webhook) is audited and takes effect, hand routing is checked as the router
checks (capacity included), and the page says what the router really did."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from testkit.alerting import SECRET_ENV, MovableClock, alerting_config
from testkit.console import csrf_of, signed_in
from testkit.drained import drained
from testkit.hub import (
    HELD,
    NAVIGATORS,
    TEAM,
    UHB,
    WAIT,
    escalated,
    hub_alert,
    link_in,
    small_config,
)
from testkit.notify import NotifyStandIn
from testkit.partner import inbox_entry, submit, wait_status
from testkit.referrals import example
from testkit.runtime import Served, runtime_settings, serving, sqlite_url
from testkit.smtp import SmtpServer
from testkit.webhooks import WebhookReceiver, new_secret
from vrp.settings import Settings
from vrp.store import audit
from vrp.store.database import Database
from vrp.store.tables import audit_log, disabled_endpoints, notifications

HUB_PERSON = "org:wm-vru/user:hub.coordinator"
NAVIGATORS_NAME = "Hospital Youth Violence Navigators (fictional charity)"


def hub(served: Served) -> httpx.AsyncClient:
    """The hub coordinator's browser-like client (its own cookie jar)."""
    return httpx.AsyncClient(base_url=served.client.base_url, timeout=30)


def path_of(link: str, served: Served) -> str:
    return link.removeprefix(str(served.client.base_url).rstrip("/"))


async def hub_actions(db: Database, referral_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, actor, detail) of the referral's audit records of the hub acting."""
    await audit.seal_all(db)
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(audit_log).where(audit_log.c.referral_id == referral_id))
        return [
            (r.kind, r.actor, r.detail) for r in rows if r.kind in ("hub-action", "manual-routing")
        ]


async def chases(db: Database, referral_id: str) -> list[Any]:
    async with db.engine.connect() as conn:
        rows = await conn.execute(
            select(notifications).where(
                notifications.c.referral_id == referral_id,
                notifications.c.dedupe_key.like("chase:%"),
            )
        )
        return list(rows)


async def test_an_escalation_link_opens_the_hub_page_and_the_hub_chases_the_team(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    clock = MovableClock()
    settings = runtime_settings(sqlite_url(tmp_path), smtp=smtp)
    async with serving(settings, clock=clock) as s, hub(s) as browser:
        accepted = await escalated(s, smtp, clock)
        rid, ref = accepted["id"], accepted["reference"]
        link = link_in(await hub_alert(smtp, ref, "escalation"))
        assert link.endswith(f"/console/triage/{rid}")
        await signed_in(browser, "hub.coordinator")
        queue = await browser.get("/console/triage")
        # Listed although routed: escalated, from whom by name, and how long it has waited.
        assert ref in queue.text and "escalated" in queue.text
        assert "University Hospitals Birmingham" in queue.text and "waiting " in queue.text
        page = await browser.get(path_of(link, s))
        assert page.status_code == 200, page.text
        team, title = NAVIGATORS_NAME, "A&amp;E youth violence navigators, Birmingham and Solihull"
        assert f"Escalated to the hub: {team} did not accept {title} in time" in page.text
        assert "Send Hospital Youth Violence Navigators (fictional charity) a reminder" in page.text
        assert "Close the referral" not in page.text  # routed: only a held one is closed
        reminders = len(smtp.mailbox.for_reference(ref, "reminder"))
        form = {"csrf_token": csrf_of(page.text), "intervention": TEAM}
        click = page.text.split('name="click" value="')[1][:32]
        for _ in range(2):  # a double submit is one chase
            done = await browser.post(f"/console/triage/{rid}/chase", data=form | {"click": click})
            assert done.status_code == 303 and done.headers["location"].endswith("?done=chased")
        mailbox = smtp.mailbox
        assert await mailbox.until(
            lambda _: len(mailbox.for_reference(ref, "reminder")) == reminders + 1, WAIT
        )
        await drained(s.runtime.db)
        assert len(mailbox.for_reference(ref, "reminder")) == reminders + 1
        (chase,) = await chases(s.runtime.db, rid)
        assert chase.organisation == "navigators" and chase.status == "sent"
        actions = await hub_actions(s.runtime.db, rid)
        assert [(k, a, d["action"]) for k, a, d in actions] == [("hub-action", HUB_PERSON, "chase")]
        after = await browser.get(f"/console/triage/{rid}")
        assert "The hub chased Hospital Youth Violence Navigators" in after.text
        # A second press of the button (a new page) is a second chase.
        again = await browser.post(
            f"/console/triage/{rid}/chase",
            data={"csrf_token": csrf_of(after.text), "intervention": TEAM}
            | {"click": after.text.split('name="click" value="')[1][:32]},
        )
        assert again.status_code == 303
        assert len(await chases(s.runtime.db, rid)) == 2


async def test_the_hub_cannot_see_or_chase_a_referral_it_was_never_alerted_about(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    settings = runtime_settings(sqlite_url(tmp_path), smtp=smtp)
    async with serving(settings) as s, hub(s) as browser:
        accepted = await submit(s.client, UHB)
        rid = accepted["id"]
        await inbox_entry(s.client, rid, NAVIGATORS)
        await signed_in(browser, "hub.coordinator")
        token = csrf_of((await browser.get("/console/triage")).text)
        assert (await browser.get(f"/console/triage/{rid}")).status_code == 404
        for action, form in (
            ("chase", {"intervention": TEAM, "click": "0" * 32}),
            ("enable-webhook", {"organisation": "navigators"}),
        ):
            r = await browser.post(
                f"/console/triage/{rid}/{action}", data=form | {"csrf_token": token}
            )
            assert r.status_code == 404 and "navigators" not in r.text.lower(), action
        await drained(s.runtime.db)
        assert await chases(s.runtime.db, rid) == []
        assert accepted["reference"] not in (await browser.get("/console/triage")).text


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[WebhookReceiver, NotifyStandIn]]:
    secret = new_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    with WebhookReceiver([secret]) as receiver, NotifyStandIn() as notify:
        yield receiver, notify


async def test_a_delivery_failure_link_opens_the_hub_page_which_enables_the_webhook_again(
    tmp_path: Path, smtp: SmtpServer, hooks: tuple[WebhookReceiver, NotifyStandIn]
) -> None:
    receiver, notify = hooks
    receiver.respond_with([410])
    settings = runtime_settings(
        sqlite_url(tmp_path),
        smtp=smtp,
        config_dir=alerting_config(tmp_path, notify, receiver.url),
        notify_api_key=notify.api_key(),
        notify_base_url=notify.url,
    )
    async with serving(settings) as s, hub(s) as browser:
        accepted = await submit(s.client, UHB)
        rid, ref = accepted["id"], accepted["reference"]
        link = link_in(await hub_alert(smtp, ref, "delivery-failed"))
        assert link.endswith(f"/console/triage/{rid}")
        await signed_in(browser, "hub.coordinator")
        page = await browser.get(path_of(link, s))
        assert page.status_code == 200, page.text
        assert "An alert could not be delivered" in page.text
        button = "Enable Hospital Youth Violence Navigators (fictional charity)'s webhook again"
        assert button in page.text
        done = await browser.post(
            f"/console/triage/{rid}/enable-webhook",
            data={"csrf_token": csrf_of(page.text), "organisation": "navigators"},
        )
        assert done.status_code == 303 and done.headers["location"].endswith("?done=enabled")
        async with s.runtime.db.engine.connect() as conn:
            assert list(await conn.execute(select(disabled_endpoints))) == []
        # The alert that failed on it goes again, and now arrives.
        assert await receiver.until(lambda got: any(d.status == 204 for d in got), WAIT)
        actions = await hub_actions(s.runtime.db, rid)
        assert [(a, d["action"], d["organisation"]) for _, a, d in actions] == [
            (HUB_PERSON, "enable-webhook", "navigators")
        ]
        page = await browser.get(f"/console/triage/{rid}")
        assert "webhook again" not in page.text


@pytest.fixture
def small(tmp_path: Path, smtp: SmtpServer) -> Settings:
    """Navigators-birmingham with one place."""
    return runtime_settings(
        sqlite_url(tmp_path), smtp=smtp, config_dir=small_config(tmp_path, capacity=1)
    )


async def held(served: Served) -> dict[str, Any]:
    accepted = await submit(served.client, UHB, body=example(**HELD))
    await wait_status(
        served.client, accepted["status_url"], UHB, until=lambda s: s["status"] == "held"
    )
    return accepted


async def test_hand_routing_to_a_full_service_is_refused_up_front_with_the_reason(
    small: Settings,
) -> None:
    async with serving(small) as s, hub(s) as browser:
        taken = await submit(s.client, UHB)  # takes the one place
        await inbox_entry(s.client, taken["id"], NAVIGATORS)
        waiting = await held(s)
        rid = waiting["id"]
        await signed_in(browser, "hub.coordinator")
        page = await browser.get(f"/console/triage/{rid}")
        assert "not permitted, full (no places left) (1 of 1 places taken)" in page.text
        refused = await browser.post(
            f"/console/triage/{rid}/route",
            data={
                "csrf_token": csrf_of(page.text),
                "intervention": TEAM,
                "justification": "professional-judgement",
            },
        )
        assert refused.status_code == 422
        assert "Routing to A&amp;E youth violence navigators" in refused.text
        assert "full (no places left)" in refused.text and "Nothing was shared" in refused.text
        await drained(s.runtime.db)
        status = (await s.client.get(waiting["status_url"], headers=UHB)).json()
        assert "manual-routing" not in {e["type"] for e in status["timeline"]}
        assert await hub_actions(s.runtime.db, rid) == []


async def test_the_page_says_routed_once_the_router_routed_it(small: Settings) -> None:
    async with serving(small) as s, hub(s) as browser:
        waiting = await held(s)
        rid = waiting["id"]
        await signed_in(browser, "hub.coordinator")
        page = await browser.get(f"/console/triage/{rid}")
        assert "(navigators): permitted" in page.text
        form = {"csrf_token": csrf_of(page.text), "justification": "professional-judgement"}
        done = await browser.post(
            f"/console/triage/{rid}/route", data=form | {"intervention": TEAM}
        )
        assert done.status_code == 303
        await inbox_entry(s.client, rid, NAVIGATORS)
        await drained(s.runtime.db)
        after = await browser.get(done.headers["location"])
        assert "Routed to A&amp;E youth violence navigators, Birmingham and Solihull." in after.text
        assert "waiting for the router" not in after.text


async def test_a_routing_the_router_refuses_shows_held_again_with_its_reasons(
    small: Settings,
) -> None:
    async with serving(small) as s:
        waiting = await held(s)
    rid = waiting["id"]
    # The router is away: a referral that will take the last place arrives, and the hub
    # routes the held one by hand, still permitted (the place is free as far as anyone knows).
    async with serving(small, roles=("intake",)) as s, hub(s) as browser:
        taker = await submit(s.client, UHB)
        await signed_in(browser, "hub.coordinator")
        page = await browser.get(f"/console/triage/{rid}")
        assert "(navigators): permitted" in page.text
        form = {"csrf_token": csrf_of(page.text), "justification": "professional-judgement"}
        done = await browser.post(
            f"/console/triage/{rid}/route", data=form | {"intervention": TEAM}
        )
        assert done.status_code == 303
        after = await browser.get(done.headers["location"])
        title = "A&amp;E youth violence navigators, Birmingham and Solihull"
        assert f"Routing to {title} requested, waiting for the router." in after.text
        assert "Check again" in after.text
    # The router is back: it routes the other referral first, then refuses the offer.
    async with serving(small) as s, hub(s) as browser:
        await inbox_entry(s.client, taker["id"], NAVIGATORS)
        await signed_in(browser, "hub.coordinator")
        deadline = asyncio.get_running_loop().time() + WAIT
        while "waiting for the router" in (
            text := (await browser.get(f"/console/triage/{rid}")).text
        ):
            assert asyncio.get_running_loop().time() < deadline, text
            await asyncio.sleep(0.2)
        assert (
            "Held again: the router did not route it to A&amp;E youth violence navigators" in text
        )
        assert "full (no places left) (1 of 1 places taken)" in text
        queue = await browser.get("/console/triage")
        assert "held again" in queue.text
