"""Request-scoped dependencies: resources from the lifespan, the authenticated partner."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.intake.api.limits import InFlight
from services.intake.api.lockout import Lockout
from services.intake.api.problems import Problem, invalid
from services.intake.api.state import StateDep, intake_state
from services.intake.auth import keys, oauth
from services.intake.auth.keys import Partner
from vrp.settings import Settings
from vrp.store.database import Database
from vrp.store.unit import reading

_bearer = HTTPBearer(
    auto_error=False,
    description="A partner API key (vrp_<key id>_<secret>) or an OAuth access token "
    "from POST /oauth2/token.",
)


async def get_db(state: StateDep) -> Database:
    """The process's database handle."""
    return state.db


async def get_settings(state: StateDep) -> Settings:
    """The process's settings."""
    return state.settings


async def get_in_flight(state: StateDep) -> InFlight:
    """Idempotency keys being committed in this process."""
    return state.in_flight


DbDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
InFlightDep = Annotated[InFlight, Depends(get_in_flight)]


async def get_partner(
    request: Request,
    db: DbDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Partner:
    """The organisation behind the credentials (401 when missing, unknown, revoked or
    expired), rate limited per organisation (429 with Retry-After)."""
    unauthorised = Problem(
        401,
        "unauthorised",
        "Unauthorised",
        "Send a valid partner API key or OAuth access token as a Bearer token.",
        headers={"WWW-Authenticate": "Bearer"},
    )
    if len(request.headers.getlist("authorization")) > 1:
        # Proxies and frameworks disagree on which of two would win: refuse both.
        raise Problem(
            400,
            "malformed-request",
            "Malformed request",
            "Send exactly one Authorization header.",
            [{"field": "Authorization", "detail": "given more than once"}],
        )
    if credentials is None:
        raise unauthorised
    token = credentials.credentials
    cache = intake_state(request).auth_cache
    partner = cache.get(token)
    if partner is None:
        # Only credentials not recently verified are counted and locked out, so a partner
        # already at work is not stopped by someone guessing at its key id.
        subjects = failure_subjects(request, keys.key_id(token))
        check_lockout(request, subjects)
        async with reading(db) as unit:
            if token.startswith(oauth.TOKEN_PREFIX):
                partner = await oauth.authenticate(unit, token)
            else:
                partner = await keys.authenticate(unit, token)
        if partner is None:
            record_failure(request, subjects)
            raise unauthorised
        cache.put(token, partner)
    limiter = intake_state(request).rate_limiter
    wait = limiter.take(partner.organisation)
    if wait:
        raise Problem(
            429,
            "rate-limited",
            "Too many requests",
            f"This organisation may make {limiter.rate:g} requests per second "
            f"(bursts of {limiter.burst:g}); retry after {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    return partner


PartnerDep = Annotated[Partner, Depends(get_partner)]


def failure_subjects(request: Request, credential_id: str | None) -> list[tuple[Lockout, str]]:
    """The lockouts a failed authentication counts against: the client address, and the
    key id or OAuth client id it named (when it named one)."""
    address = request.client.host if request.client else "unknown"
    state = intake_state(request)
    subjects = [(state.address_lockout, address)]
    if credential_id:
        subjects.append((state.credential_lockout, credential_id))
    return subjects


def check_lockout(request: Request, subjects: list[tuple[Lockout, str]]) -> None:
    """429 with Retry-After while any of the subjects is locked out."""
    wait = max(lockout.wait(subject) for lockout, subject in subjects)
    if wait:
        raise too_many_failures(wait)


def record_failure(request: Request, subjects: list[tuple[Lockout, str]]) -> None:
    """Count one failed authentication against each subject."""
    for lockout, subject in subjects:
        lockout.failed(subject)


def reserve(subjects: list[tuple[Lockout, str]]) -> int:
    """Reserve one attempt against every subject (0: go ahead, then `settle` it), or against
    none of them and the whole seconds to wait (for a 429's Retry-After). For checks that
    are costly to make (console passwords): attempts in progress count as failures, so a
    burst of them is refused at once. (Partner credentials are checked, then recorded:
    cheap checks, and a partner's concurrent requests must not count against it.)"""
    taken: list[tuple[Lockout, str]] = []
    for lockout, subject in subjects:
        wait = lockout.reserve(subject)
        if wait:
            settle(taken, failed=False)
            return wait
        taken.append((lockout, subject))
    return 0


def settle(subjects: list[tuple[Lockout, str]], failed: bool) -> None:
    """End a reserved attempt against each subject, counting it if it failed."""
    for lockout, subject in subjects:
        lockout.settle(subject, failed)


def too_many_failures(wait: int) -> Problem:
    """429 with Retry-After: the address or the credentials failed too often."""
    return Problem(
        429,
        "too-many-failures",
        "Too many failed authentications",
        f"Too many failed authentications from this address or for these credentials; "
        f"retry after {wait} s.",
        headers={"Retry-After": str(wait)},
    )


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def known_query_parameters(request: Request) -> None:
    """422 for query parameters the operation does not define (typos must not be ignored)."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return
    allowed = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise invalid(
            [
                {"field": name[:100], "detail": "is not a parameter of this operation"}
                for name in unknown[:10]
            ]
        )


def require(partner: Partner, scope: str) -> None:
    """403 unless the credentials carry the scope."""
    if scope not in partner.scopes:
        raise Problem(403, "forbidden", "Forbidden", f"These credentials lack the '{scope}' scope.")
