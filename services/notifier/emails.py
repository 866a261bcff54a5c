"""Alert emails over SMTP (or the file sink): the words, and the channel that sends them."""

from __future__ import annotations

from datetime import UTC, datetime
from email.charset import QP, Charset
from email.message import Message
from email.utils import formatdate

from services.notifier.channels import Alert
from services.notifier.mail import Mail, Mailer

_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in any mail client's source view, 7-bit safe


def wording(alert: Alert) -> tuple[str, str]:
    """Subject and first paragraph for an alert: codes, times and the reference only."""
    ref, what = alert.reference, alert.intervention_title or alert.intervention or ""
    by = f" by {alert.respond_by:%d %b %Y %H:%M} UTC" if alert.respond_by else ""
    risk = f" (risk level {alert.risk})" if alert.risk else ""
    urgency = f" Urgency: {alert.urgency}{risk}." if alert.urgency else ""
    if alert.kind == "new-referral" and alert.status == "held":
        return (
            f"Referral {ref} is held for hub triage",
            f"No partner could lawfully take referral {ref}; it awaits triage.{urgency}",
        )
    if alert.kind == "new-referral":
        return (
            f"New referral {ref} awaits your team",
            f"A referral ({ref}) for {what} has been routed to {alert.organisation_name} "
            f"and awaits a response{by}.{urgency}",
        )
    if alert.kind == "reminder":
        # An intervention's remind_after may remind a team before its respond-by time.
        ahead = alert.respond_by is not None and alert.respond_by > datetime.now(UTC)
        due = "it is due" if ahead else "it was due"
        return (
            f"Reminder: referral {ref} still awaits your team",
            f"Referral {ref} for {what} has not been accepted; {due}{by}.{urgency}",
        )
    if alert.kind == "escalation":
        return (
            f"Escalated: referral {ref} was not accepted",
            f"Referral {ref} for {what} was not accepted in time ({alert.reason}).{urgency}",
        )
    if alert.kind == "status":
        return f"Referral {ref}: {alert.status}", f"Your referral {ref} {_status(alert)}."
    return (
        f"Alert for referral {ref} could not be delivered",
        f"An alert about referral {ref} could not be delivered: {alert.reason}.",
    )


_STATUS_WORDS = {
    "routed": "was routed to",
    "accepted": "was accepted for",
    "declined": "was declined for",
    "in-progress": "is in progress for",
    "completed": "was completed for",
}


def _status(alert: Alert) -> str:
    """What happened, with whom ('was routed to <intervention> at <organisation>'), and
    the coded reason's label."""
    what = alert.intervention_title or alert.intervention or ""
    if alert.status in _STATUS_WORDS and what:
        at = f" at {alert.receiver_name}" if alert.receiver_name else ""
        text = f"{_STATUS_WORDS[alert.status]} {what}{at}"
    elif alert.status == "held":
        text = "is held for the hub's triage"
    else:
        text = f"is now {alert.status}"
    if alert.reason_label:  # the words, and the code the partner API shows
        text += f" (reason: {alert.reason_label}, code {alert.reason})"
    elif alert.reason:
        text += f" (reason: {alert.reason})"
    return text


def render(alert: Alert, sender: str) -> Mail:
    """The alert email: a reference and a link, never personal data."""
    subject, opening = wording(alert)
    # A stable Message-ID lets mail systems drop a resend after a crash mid-delivery.
    message_id = f"<{alert.id}@vrp.referrals>"
    # compat32 Message: the same RFC 5322 output as EmailMessage for these ASCII headers,
    # at a fraction of the cost of the default policy's header parsing.
    msg = Message()
    msg["From"] = sender
    msg["To"] = alert.address
    msg["Date"] = formatdate(usegmt=True)
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["X-VRP-Referral"] = alert.reference
    msg["X-VRP-Alert"] = alert.kind
    msg["MIME-Version"] = "1.0"
    msg.set_payload(
        f"{opening}\n\nOpen it here: {alert.link}\n\n"
        "This message deliberately contains no personal details.\n",
        _UTF8,
    )
    return Mail(sender, alert.address, message_id, msg.as_bytes())


class EmailChannel:
    """Email through a Mailer (SMTP, or .eml files for demos)."""

    def __init__(self, mailer: Mailer, sender: str) -> None:
        self._mailer = mailer
        self._sender = sender

    async def send(self, alert: Alert) -> int | None:
        """Render and send; SMTP has no status code worth recording beyond success."""
        await self._mailer.send(render(alert, self._sender))
        return 250

    async def close(self) -> None:
        """Close the mailer's connections."""
        await self._mailer.close()

    def describe(self) -> str:
        """Where mail goes."""
        return self._mailer.describe()
