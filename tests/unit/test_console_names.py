"""Pages read without a code book: names for codes, time left to respond, a referral's
history in words (scoped to who reads it), chart labels shown whole, and the referrer's
status alert (its words, and a link a person can open)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from services.intake.console import charts, history, names
from services.intake.console.figures import Line
from services.notifier.emails import render
from services.notifier.sender import alert_of
from vrp.config_files import load_configuration
from vrp.domain.audit import READ, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store import audit, reads
from vrp.store.database import Database
from vrp.store.reads import Read
from vrp.store.referrals import Happened
from vrp.store.unit import snapshot

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
NAV = {"organisation": "navigators", "intervention": "navigators-birmingham"}
NAV_NAME = "Hospital Youth Violence Navigators (fictional charity)"


@pytest.fixture(scope="module")
def config() -> RoutingConfiguration:
    return load_configuration(DEMO_CONFIG_DIR)


def test_codes_get_their_names(config: RoutingConfiguration) -> None:
    assert names.area("E08000025") == "Birmingham"
    assert names.area("E09999999") == "E09999999"  # unknown: the code, not nothing
    assert names.organisation(config, "navigators") == NAV_NAME
    assert names.organisation(config, "gone") == "gone"
    assert names.intervention(config, "navigators-birmingham") != "navigators-birmingham"
    assert names.label(config, "decline-reasons", "no-capacity") != "no-capacity"
    assert names.label(config, "risk-levels", "high") == "High risk"
    assert names.state("in-progress") == "In progress"
    assert names.state("held") == "Held for hub triage"
    assert names.risk_class("high") == "tag-risk-high"
    assert names.risk_class("standard") == ""


@pytest.mark.parametrize(
    ("left", "text", "overdue"),
    [
        (timedelta(hours=5), "due in 5 h", False),
        (timedelta(hours=5, minutes=20), "due in 5 h 20 min", False),
        (timedelta(hours=30, minutes=20), "due in 30 h", False),
        (timedelta(minutes=35), "due in 35 min", False),
        (timedelta(days=3, hours=2), "due in 3 days", False),
        (timedelta(seconds=20), "due in less than a minute", False),
        (-timedelta(hours=2), "overdue by 2 h", True),
        (-timedelta(minutes=1), "overdue by 1 min", True),
    ],
)
def test_time_left_reads_as_a_person_says_it(left: timedelta, text: str, overdue: bool) -> None:
    assert names.due(T0 + left, T0) == names.Due(text, overdue)


def test_no_deadline_has_no_time_left() -> None:
    assert names.due(None, T0) is None


def _timeline() -> list[Happened]:
    other = {"organisation": "birmingham-yjs", "intervention": "yjs-early-help"}
    return [
        Happened("e1", "received", T0, {}),
        Happened("e2", "routed", T0 + timedelta(seconds=1), {"recipients": [NAV, other]}),
        Happened("e3", "delivered", T0 + timedelta(seconds=2), NAV),
        Happened("e4", "delivered", T0 + timedelta(seconds=2), other),
        Happened(
            "e5",
            "alert-sent",
            T0 + timedelta(seconds=3),
            {"organisation": "navigators", "channel": "email", "kind": "new-referral"},
        ),
        Happened(
            "e6",
            "alert-sent",
            T0 + timedelta(seconds=4),
            {"organisation": "birmingham-yjs", "channel": "sms", "kind": "new-referral"},
        ),
        Happened("e7", "declined", T0 + timedelta(hours=1), NAV | {"reason": "no-capacity"}),
        Happened("e8", "accepted", T0 + timedelta(hours=2), other),
    ]


def _texts(happenings: list[history.Happening]) -> list[str]:
    return [h.text for h in happenings]


def test_the_whole_history_names_everyone_and_labels_the_reasons(
    config: RoutingConfiguration,
) -> None:
    reads = [Read(T0 + timedelta(minutes=5), "org:navigators/user:nadia", {"via": "console"})]
    whole = history.describe(config, _timeline(), reads, history.Scope())
    texts = _texts(whole)
    title = names.intervention(config, "navigators-birmingham")
    assert f"Routed to {title} at {NAV_NAME}" in texts
    assert f"New-referral alert sent to {NAV_NAME} by email" in texts
    reason = names.label(config, "decline-reasons", "no-capacity")
    assert f"Declined by {NAV_NAME}: {title}. Reason: {reason}" in texts
    assert not any("nadia" in t for t in texts)  # views listed only when asked
    assert [h.at for h in whole] == sorted(h.at for h in whole)
    codes = ("navigators-birmingham", "birmingham-yjs", "no-capacity", "alert-sent", "routed ")
    assert not [t for t in texts for c in codes if c in t]  # names and labels, not codes


def test_a_receiving_team_sees_only_what_concerns_it(config: RoutingConfiguration) -> None:
    reads = [
        Read(T0 + timedelta(minutes=5), "org:navigators/user:nadia", {"via": "console"}),
        Read(T0 + timedelta(minutes=6), "org:birmingham-yjs/user:yan", {"via": "console"}),
        Read(T0 + timedelta(minutes=7), "org:navigators/key:demo-navigators", {"via": "api"}),
    ]
    scope = history.Scope("navigators", views=True)
    texts = _texts(history.describe(config, _timeline(), reads, scope))
    yjs = names.organisation(config, "birmingham-yjs")
    assert not any(yjs in t for t in texts), texts
    assert not any("yan" in t for t in texts)
    assert "Referral received" not in texts  # the referrer's business
    assert f"Viewed by nadia ({NAV_NAME})" in texts
    assert f"Read through the API by {NAV_NAME}" in texts
    assert sum(t.startswith("Declined by") for t in texts) == 1


def test_a_withdrawal_is_everyones_business(config: RoutingConfiguration) -> None:
    gone = Happened("e9", "cancelled", T0, {"reason": "no-longer-needed"})
    texts = _texts(history.describe(config, [gone], [], history.Scope("navigators")))
    label = names.label(config, "cancel-reasons", "no-longer-needed")
    assert texts == [f"Withdrawn by the referrer. Reason: {label}"]


def test_chart_labels_are_wrapped_whole_never_cut_off() -> None:
    long = "Gunshot or other firearm injury (West Midlands partnership code)"
    chart = charts.bar_chart("c", "Reasons", [Line("a", long, 7), Line("b", "Short", 3)])
    first, second = chart.bars
    assert " ".join(first.lines) == long and "…" not in "".join(first.lines)
    assert all(len(line) <= charts.LABEL_CHARS for line in first.lines)
    assert len(first.lines) > 1 and first.height > charts.ROW
    assert second.y == first.height  # the next bar starts below the wrapped label
    assert chart.height == first.height + second.height


def _status_row(**detail: Any) -> dict[str, Any]:
    return {
        "id": "n1",
        "kind": "status",
        "channel": "email",
        "organisation": "uhb",
        "address": "ed-safeguarding@uhb.example",
        "referral_id": str(uuid.UUID(int=7)),
        "detail": detail,
    }


def test_a_status_alert_links_people_to_the_console_and_systems_to_the_api(
    config: RoutingConfiguration,
) -> None:
    title = names.intervention(config, "navigators-birmingham")
    row = _status_row(
        status="routed",
        intervention="navigators-birmingham",
        intervention_title=title,
        receiver="navigators",
    )
    alert = alert_of(SimpleNamespace(**row), config, "https://vrp.example")
    assert alert.link == f"https://vrp.example/console/sent/{row['referral_id']}"
    assert alert.api == f"https://vrp.example/v1/referrals/{row['referral_id']}"
    fields = alert.fields()
    assert (fields["link"], fields["api"]) == (alert.link, alert.api)
    body = render(alert, "vrp@example").data.decode()
    assert f"routed to {title} at {NAV_NAME}." in body.replace("=\n", "")
    assert "routed by" not in body


def test_a_declined_status_alert_says_why_in_words(config: RoutingConfiguration) -> None:
    row = _status_row(
        status="declined",
        reason="no-capacity",
        intervention="navigators-birmingham",
        receiver="navigators",
    )
    alert = alert_of(SimpleNamespace(**row), config, "https://vrp.example")
    label = names.label(config, "decline-reasons", "no-capacity")
    assert alert.reason == "no-capacity"  # systems keep the code
    assert alert.reason_label == label
    body = render(alert, "vrp@example").data.decode().replace("=\n", "")
    assert f"(reason: {label}, code no-capacity)." in body


def test_receiving_teams_and_the_hub_keep_their_own_links(
    config: RoutingConfiguration,
) -> None:
    team = alert_of(
        SimpleNamespace(**_status_row() | {"kind": "new-referral", "organisation": "navigators"}),
        config,
        "https://vrp.example",
    )
    rid = team.referral_id
    assert team.link == f"https://vrp.example/console/referrals/{rid}"
    assert team.api == f"https://vrp.example/v1/inbox/{rid}"
    hub = alert_of(
        SimpleNamespace(**_status_row() | {"kind": "new-referral", "organisation": config.hub}),
        config,
        "https://vrp.example",
    )
    assert hub.link == f"https://vrp.example/console/triage/{rid}" and hub.api == ""


async def views_chained_or_pending(db: Database) -> None:
    """A referral's reads are found both chained and still pending, and only its own."""
    rid = str(uuid.UUID(int=9))
    seen = [Entry(READ, f"org:navigators/user:u{n}", rid, None, {"via": "console"}) for n in (1, 2)]
    other = Entry(READ, "org:navigators/user:u3", str(uuid.UUID(int=10)), None, {})
    async with db.transaction() as conn:
        await audit.append_many(conn, [seen[0], other])
    async with db.transaction() as conn:
        await audit.seal(conn)  # the first is chained now, the second still waits
    async with db.transaction() as conn:
        await audit.append_many(conn, [seen[1]])
    async with snapshot(db) as unit:
        found = await reads.of_referral(unit, rid)
    assert [r.actor for r in found] == ["org:navigators/user:u1", "org:navigators/user:u2"]


async def test_views_are_read_whether_chained_or_still_pending(sqlite_db: Database) -> None:
    await views_chained_or_pending(sqlite_db)


@pytest.mark.postgres
async def test_views_are_read_whether_chained_or_still_pending_on_postgres(
    pg_db: Database,
) -> None:
    await views_chained_or_pending(pg_db)
