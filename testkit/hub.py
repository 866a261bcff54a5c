"""What the hub's tests share: a demo configuration with a small intervention, the link in an
alert email, and a referral escalated by moving the notifier's clock."""

from __future__ import annotations

import re
import shutil
from email.message import Message
from pathlib import Path
from typing import Any

import yaml

from testkit.alerting import MovableClock
from testkit.partner import inbox_entry, submit
from testkit.runtime import Served
from testkit.smtp import SmtpServer
from vrp.settings import DEMO_CONFIG_DIR

LINK = re.compile(r"Open it here: (\S+)")
UHB = {"Authorization": "Bearer vrp_demo-uhb_demo-only-not-a-secret"}
NAVIGATORS = {"Authorization": "Bearer vrp_demo-navigators_demo-only-not-a-secret"}
HELD = {"reasons": ["gang-association"]}
"""From A&E: held (the exploitation rule's interventions lack a usable agreement); the
navigators' agreement would permit routing it there by hand."""
TEAM = "navigators-birmingham"
WAIT = 20.0


def small_config(folder: Path, capacity: int, source: Path = DEMO_CONFIG_DIR) -> Path:
    """A copy of the configuration in `source` whose navigators-birmingham intervention has
    `capacity` places; returns the directory."""
    target = folder / "config-small"
    shutil.copytree(source, target)
    path = target / "interventions.yaml"
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    for i in data["interventions"]:
        if i["id"] == TEAM:
            i["capacity"] = capacity
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def link_in(message: Message) -> str:
    """The console link an alert email carries."""
    raw = message.get_payload(decode=True)
    assert isinstance(raw, bytes)
    found = LINK.search(raw.decode())
    assert found, raw
    return found.group(1)


async def hub_alert(smtp: SmtpServer, reference: str, kind: str) -> Message:
    """The hub's first alert of this kind about the referral, once it arrived."""
    mailbox = smtp.mailbox
    assert await mailbox.until(lambda _: bool(mailbox.for_reference(reference, kind)), WAIT), kind
    return mailbox.for_reference(reference, kind)[0]


async def escalated(served: Served, smtp: SmtpServer, clock: MovableClock) -> dict[str, Any]:
    """A referral routed to the navigators and not accepted: the notifier's clock moved past
    the acceptance SLA and the escalation time, so the hub is alerted; returns the accepted
    submission once the escalation email arrived."""
    timers = served.runtime.timers
    assert timers is not None
    accepted = await submit(served.client, UHB)
    await inbox_entry(served.client, accepted["id"], NAVIGATORS)
    mailbox = smtp.mailbox
    ref = accepted["reference"]
    assert await mailbox.until(lambda _: bool(mailbox.for_reference(ref)), WAIT)
    # Past the acceptance SLA (a reminder) and then past the escalation time: each moves
    # the clock a day, so the escalation comes after the reminder, as in production.
    for _ in range(2):
        clock.advance(hours=24, minutes=1)
        timers.wake()
        assert await mailbox.until(lambda _: bool(mailbox.for_reference(ref, "reminder")), WAIT)
    await hub_alert(smtp, ref, "escalation")
    return accepted
