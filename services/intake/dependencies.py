"""Request-scoped dependencies: resources from the lifespan, the authenticated partner."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.intake.keys import Partner, authenticate
from services.intake.problems import Problem
from vrp.settings import Settings
from vrp.store.database import Database

_bearer = HTTPBearer(auto_error=False, description="Partner API key: vrp_<key id>_<secret>")


def get_db(request: Request) -> Database:
    """The process's database handle."""
    db: Database = request.app.state.db
    return db


def get_settings(request: Request) -> Settings:
    """The process's settings."""
    settings: Settings = request.app.state.settings
    return settings


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_partner(
    db: DbDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Partner:
    """The organisation behind the API key; 401 when missing, unknown or revoked."""
    unauthorised = Problem(
        401,
        "unauthorised",
        "Unauthorised",
        "Send a valid partner API key as a Bearer token.",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if credentials is None:
        raise unauthorised
    async with db.engine.connect() as conn:
        partner = await authenticate(conn, credentials.credentials)
        await conn.rollback()
    if partner is None:
        raise unauthorised
    return partner


PartnerDep = Annotated[Partner, Depends(get_partner)]


def require(partner: Partner, scope: str) -> None:
    """403 unless the key carries the scope."""
    if scope not in partner.scopes:
        raise Problem(403, "forbidden", "Forbidden", f"This API key lacks the '{scope}' scope.")
