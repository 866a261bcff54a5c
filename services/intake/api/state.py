"""The intake process's resources: built once in the app's lifespan, read by requests
through one typed accessor (never as loose attributes of `app.state`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request

from services.intake.api.hashing import PasswordChecks
from services.intake.api.limits import InFlight, RateLimiter, Slots
from services.intake.api.lockout import Lockout
from services.intake.auth.keys import AuthCache
from services.intake.console.evidence_results import EvidenceResults
from vrp.configuration_watch import ReloadFailure
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
    password_checks: PasswordChecks
    sign_in_slots: Slots
    """Sign-ins in progress per typed name: no more than the lockout allows."""
    evidence: EvidenceResults
    """The evidence pages' figures, prepared and reused."""
    broker_healthy: Callable[[], bool] | None
    """The relay's view of the broker (None: no broker in this deployment)."""
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    """When this process started serving (the date of its FHIR capability statement)."""
    reload_failure: Callable[[], ReloadFailure | None] = lambda: None
    """Why the configuration files on disk failed to load while the old version stays in
    force (None: the files loaded, or nothing watches them)."""

    @classmethod
    def of(
        cls,
        settings: Settings,
        db: Database,
        config: Callable[[], RoutingConfiguration],
        metrics: Metrics,
        broker_healthy: Callable[[], bool] | None = None,
        reload_failure: Callable[[], ReloadFailure | None] | None = None,
    ) -> IntakeState:
        """The state for these resources (the composition root owns and closes them), with
        this process's limits, lockouts and caches built from settings."""
        lockout = (
            settings.auth_failure_window_seconds,
            settings.auth_backoff_seconds,
            settings.auth_backoff_max_seconds,
        )
        return cls(
            settings=settings,
            db=db,
            config=config,
            metrics=metrics,
            areas=Areas(db, settings.geography_refresh_seconds),
            rate_limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
            in_flight=InFlight(),
            credential_lockout=Lockout(settings.auth_failures_per_key, *lockout),
            address_lockout=Lockout(settings.auth_failures_per_address, *lockout),
            auth_cache=AuthCache(settings.auth_cache_seconds),
            password_checks=PasswordChecks(
                settings.console_password_workers, settings.console_password_queue
            ),
            sign_in_slots=Slots(settings.console_lockout_after),
            evidence=EvidenceResults(db, settings.console_evidence_fresh_seconds),
            broker_healthy=broker_healthy,
            reload_failure=reload_failure or (lambda: None),
        )


def intake_state(request: Request) -> IntakeState:
    """This process's resources, as the lifespan left them on the app."""
    state: IntakeState = request.app.state.intake
    return state


StateDep = Annotated[IntakeState, Depends(intake_state)]
