"""A demo configuration whose navigators team is alerted by email, SMS (through a Notify
stand-in) and a signed webhook, with a fallback intervention; and a clock tests can move."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from testkit.notify import NotifyStandIn
from vrp.settings import DEMO_CONFIG_DIR

SECRET_ENV = "VRP_TEST_WEBHOOK_NAVIGATORS"
TEAM_PHONE = "07700 900456"
"""The navigators team's SMS number (not the example subject's, 07700 900123)."""
FALLBACK = "navigators-outreach"
PLACEHOLDERS = "((reference)) ((intervention)) ((urgency)) ((respond_by)) ((link))"


@dataclass
class Templates:
    """The Notify template ids written into the configuration."""

    new_referral: str
    reminder: str


def alerting_config(folder: Path, notify: NotifyStandIn, webhook_url: str) -> Path:
    """Write the demo configuration, changed so navigators-birmingham alerts on three
    channels and falls back to navigators-outreach; returns the directory."""
    target = folder / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    orgs = _load(target / "organisations.yaml")
    for org in orgs["organisations"]:
        if org["id"] == "navigators":
            org["contacts"] = {
                "email": "referrals@navigators.example",
                "sms": TEAM_PHONE,
                "webhook": {"url": webhook_url, "secrets": [{"env": SECRET_ENV}]},
            }
    _dump(target / "organisations.yaml", orgs)
    interventions = _load(target / "interventions.yaml")
    for i in interventions["interventions"]:
        if i["id"] == "navigators-birmingham":
            i["channels"] = ["email", "sms", "webhook"]
            i["fallback"] = FALLBACK
            outreach = dict(i, id=FALLBACK, title="Navigators outreach (fallback)")
            outreach["channels"] = ["email"]
            outreach.pop("fallback")
    interventions["interventions"].append(outreach)
    _dump(target / "interventions.yaml", interventions)
    templates = {
        kind: {"sms": notify.add_template("sms", f"{kind}: {PLACEHOLDERS}")}
        for kind in ("new-referral", "reminder")
    }
    _dump(target / "notify.yaml", {"notify": {"templates": templates}})
    return target


def template_ids(config_dir: Path) -> Templates:
    """The Notify template ids alerting_config wrote."""
    t = _load(config_dir / "notify.yaml")["notify"]["templates"]
    return Templates(t["new-referral"]["sms"], t["reminder"]["sms"])


class MovableClock:
    """A clock that stands still until a test moves it."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move forward by timedelta(**delta)."""
        self.now += timedelta(**delta)


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _dump(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
