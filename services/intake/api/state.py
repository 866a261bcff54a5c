"""The intake process's resources: built once in the app's lifespan, read by requests
through one typed accessor (never as loose attributes of `app.state`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.intake.api.limits import InFlight, RateLimiter
from services.intake.api.lockout import Lockout
from services.intake.auth.keys import AuthCache
from vrp.domain.configuration import RoutingConfiguration
from vrp.metrics import Metrics
from vrp.settings import Settings
from vrp.store.database import Database
from vrp.store.geography import Areas


@dataclass(frozen=True)
class IntakeState:
    """Everything a request may use besides itself."""

    settings: Settings
    db: Database
    config: Callable[[], RoutingConfiguration]
    """The routing configuration in force now (a reload swaps it)."""
    metrics: Metrics
    areas: Areas
    rate_limiter: RateLimiter
    in_flight: InFlight
    credential_lockout: Lockout
    address_lockout: Lockout
    auth_cache: AuthCache
    broker_healthy: Callable[[], bool] | None
    """The relay's view of the broker (None: no broker in this deployment)."""


def intake_state(request: Request) -> IntakeState:
    """This process's resources, as the lifespan left them on the app."""
    state: IntakeState = request.app.state.intake
    return state


StateDep = Annotated[IntakeState, Depends(intake_state)]
