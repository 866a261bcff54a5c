"""The demo partnership's published credentials: API keys and console accounts seeded only
with the packaged demo configuration, and retired when any other configuration is in force."""

from __future__ import annotations

from datetime import UTC, datetime

from services.intake.auth.keys import issue
from vrp.domain.people import Role as PersonRole
from vrp.store import accounts
from vrp.store.database import Database
from vrp.store.tables import api_keys

DEMO_SECRET = "demo-only-not-a-secret"  # noqa: S105 - published demo key, demo mode only
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
    return f"vrp_demo-{org}_{DEMO_SECRET}"


DEMO_ACCOUNTS = (
    ("navigators.member", "Nadia Member (demo)", "navigators", PersonRole.TEAM_MEMBER),
    ("navigators.lead", "Lee Lead (demo)", "navigators", PersonRole.TEAM_LEAD),
    ("hub.coordinator", "Hana Coordinator (demo)", "wm-vru", PersonRole.HUB_COORDINATOR),
    ("ig.lead", "Ivan Governance (demo)", "wm-vru", PersonRole.IG_LEAD),
)
"""Console accounts of the demo configuration, all with the published DEMO_SECRET."""


async def seed_demo_accounts(db: Database) -> None:
    """Give the demo configuration's people their published accounts (idempotent)."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        for username, name, org, role in DEMO_ACCOUNTS:
            if await accounts.find(conn, username) is None:
                await accounts.add(conn, username, name, org, role, DEMO_SECRET, now)


async def retire_demo_keys(db: Database) -> None:
    """Revoke every published demo key (the configuration is not the demo's)."""
    from sqlalchemy import update

    async with db.transaction() as conn:
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id.startswith("demo-"), api_keys.c.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC))
        )


async def retire_demo_accounts(db: Database) -> None:
    """Disable the demo accounts still holding the published password (the configuration is
    not the demo's); an account of that name with a password of its own is someone's."""
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        for username, *_ in DEMO_ACCOUNTS:
            if await accounts.has_password(conn, username, DEMO_SECRET):
                await accounts.disable(conn, username, now)


async def seed_demo_partners(db: Database) -> None:
    """Give the demo organisations their published keys (idempotent)."""
    from sqlalchemy import select

    async with db.transaction() as conn:
        existing = set((await conn.execute(select(api_keys.c.key_id))).scalars())
        for org in DEMO_PARTNERS:
            if f"demo-{org}" not in existing:
                await issue(conn, org, key_id=f"demo-{org}", secret=DEMO_SECRET, actor="demo")
