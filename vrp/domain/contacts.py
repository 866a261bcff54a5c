"""Where a partner hears of alerts: its contacts, signed webhooks, its FHIR endpoint and
GOV.UK Notify templates (part of the routing configuration)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from vrp.domain.vocabulary import AlertKind


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSecret(_Model):
    """A Standard Webhooks signing secret, named by the environment variable that holds it
    (configuration files are shared and versioned; secrets are not)."""

    env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,127}$")]
    until: datetime | None = Field(
        default=None,
        description="A retiring secret: deliveries are signed with it too until this time "
        "(the rotation overlap), so receivers can switch over without losing a message.",
    )


class Webhook(_Model):
    """A receiver's HTTPS endpoint, signed per Standard Webhooks."""

    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$")]
    secrets: list[WebhookSecret] = Field(min_length=1)


class FhirEndpoint(Webhook):
    """A referrer's FHIR endpoint: where BaRS `servicerequest-response` messages about the
    referrals it sent through the FHIR door go, signed as webhooks are. Replies go here
    only, whatever endpoint a message names as its source."""


class Contacts(_Model):
    """Where a team is alerted; alerts never carry personal data."""

    email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")] | None = None
    sms: Annotated[str, Field(pattern=r"^\+?[0-9 ]{6,20}$")] | None = None
    webhook: Webhook | None = None
    fhir: FhirEndpoint | None = None


class NotifyTemplate(_Model):
    """GOV.UK Notify template ids for one kind of alert."""

    email: str | None = None
    sms: str | None = None


class Notify(_Model):
    """GOV.UK Notify: SMS always goes through it; email too when `email` is true."""

    email: bool = Field(default=False, description="Send email through Notify, not SMTP.")
    templates: dict[AlertKind, NotifyTemplate] = {}
