"""The demo partnership's published credentials: API keys and console accounts seeded only
with the packaged demo configuration, and retired when any other configuration is in force."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake.auth.keys import issue
from vrp.domain.people import Role as PersonRole
from vrp.store import accounts, credentials
from vrp.store.database import Database
from vrp.store.unit import unit_of_work

DEMO_SECRET = "demo-only-not-a-secret"  # noqa: S105 - published demo key, demo mode only
DEMO_KEY_PREFIX = "demo-"
"""Every published demo key's id starts so (and no other key's should)."""
DEMO_PARTNERS = (
    "uhb",
    "uhcw",
    "rwt",
    "example-road-surgery",
    "wm-probation",
    "wmp",
    "example-park-academy",
    "navigators",
)


def demo_key(org: str) -> str:
    """The published demo API key of an organisation (demo mode only)."""
    return f"vrp_{DEMO_KEY_PREFIX}{org}_{DEMO_SECRET}"


DEMO_ACCOUNTS = (
    ("navigators.member", "Nadia Member (demo)", "navigators", PersonRole.TEAM_MEMBER),
    ("navigators.lead", "Lee Lead (demo)", "navigators", PersonRole.TEAM_LEAD),
    ("hub.coordinator", "Hana Coordinator (demo)", "wm-vru", PersonRole.HUB_COORDINATOR),
    ("ig.lead", "Ivan Governance (demo)", "wm-vru", PersonRole.IG_LEAD),
    ("uhb.referrer", "Rhea Referrer (demo)", "uhb", PersonRole.REFERRER),
    ("wmvru.analyst", "Ada Analyst (demo)", "wm-vru", PersonRole.ANALYST),
)
"""Console accounts of the demo configuration, all with the published DEMO_SECRET."""


async def seed_demo_accounts(db: Database) -> None:
    """Give the demo configuration's people their published accounts (idempotent)."""
    now = datetime.now(UTC)
    async with unit_of_work(db) as unit:
        for username, name, org, role in DEMO_ACCOUNTS:
            if await accounts.find(unit, username) is None:
                await accounts.add(unit, username, name, org, role, DEMO_SECRET, now)


async def retire_demo_keys(db: Database) -> None:
    """Revoke every published demo key (the configuration is not the demo's)."""
    async with unit_of_work(db) as unit:
        await credentials.revoke_keys_named(unit, DEMO_KEY_PREFIX, datetime.now(UTC))


async def retire_demo_accounts(db: Database) -> None:
    """Disable the demo accounts still holding the published password (the configuration is
    not the demo's); an account of that name with a password of its own is someone's."""
    now = datetime.now(UTC)
    async with unit_of_work(db) as unit:
        for username, *_ in DEMO_ACCOUNTS:
            if await accounts.has_password(unit, username, DEMO_SECRET):
                await accounts.disable(unit, username, now)


async def seed_demo_partners(db: Database) -> None:
    """Give the demo organisations their published keys (idempotent)."""
    async with unit_of_work(db) as unit:
        existing = await credentials.key_ids(unit)
        for org in DEMO_PARTNERS:
            key_id = DEMO_KEY_PREFIX + org
            if key_id not in existing:
                await issue(unit, org, key_id=key_id, secret=DEMO_SECRET, actor="demo")


class DemoClockRefused(Exception):
    """The demo clock was asked for where it must never run; the message says why."""


def check_demo_clock(speed: int, environment: str, demo_configuration: bool) -> None:
    """Refuse a demo clock (speed other than 1) outside a demo: with any configuration but
    the packaged demo partnership (the rule that gates the published demo keys), or when
    VRP_ENVIRONMENT says production."""
    if speed == 1:
        return
    if environment.strip().lower() == "production":
        raise DemoClockRefused(
            f"the demo clock (speed {speed}) never runs in production (VRP_ENVIRONMENT="
            "production): unset VRP_DEMO_SPEED or set it to 1"
        )
    if not demo_configuration:
        raise DemoClockRefused(
            f"the demo clock (speed {speed}) runs only with the packaged demo configuration, "
            "and VRP_CONFIG_DIR is another partnership's: unset VRP_DEMO_SPEED or set it to 1"
        )
