"""The notifier's transports, built from the settings: SMTP (or .eml files), signed
webhooks, FHIR replies, and GOV.UK Notify when keyed."""

from __future__ import annotations

from collections.abc import Callable

from services.notifier.channels import Channel
from services.notifier.emails import EmailChannel
from services.notifier.fhir import FhirChannel
from services.notifier.mail import FileMailer, Mailer, SmtpMailer
from services.notifier.notify import NotifyChannel
from services.notifier.webhook import WebhookChannel
from vrp.domain.configuration import RoutingConfiguration
from vrp.fhir.systems import fhir_base
from vrp.settings import Settings


def mailer(settings: Settings) -> Mailer:
    """SMTP when configured, else .eml files in the mail folder."""
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port)
    return FileMailer(settings.mail_dir)


def channels(
    settings: Settings, mail: Mailer, config: Callable[[], RoutingConfiguration]
) -> dict[str, Channel]:
    """Every transport, by name; endpoints are read from the configuration in force."""
    built: dict[str, Channel] = {
        "smtp": EmailChannel(mail, settings.smtp_sender),
        "webhook": WebhookChannel(
            lambda org: o.contacts.webhook if (o := config().organisation(org)) else None
        ),
        "fhir": FhirChannel(
            lambda org: o.contacts.fhir if (o := config().organisation(org)) else None,
            fhir_base(settings.public_url),  # the FHIR door's base: replies come from it
        ),
    }
    if settings.notify_api_key is not None:
        built["notify"] = NotifyChannel(
            settings.notify_api_key.get_secret_value(),
            settings.notify_base_url,
            lambda: {str(k): v for k, v in config().notify.templates.items()},
        )
    return built
