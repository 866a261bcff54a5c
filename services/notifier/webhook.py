"""Signed webhooks: each alert is POSTed as JSON and signed per Standard Webhooks with every
secret currently configured for the receiving organisation (two during a rotation). The
signed POST itself (`SignedPost`) also carries FHIR replies (`fhir.py`)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from standardwebhooks import Webhook as Signer

from services.notifier.channels import Alert, DeliveryFailed
from vrp.domain.configuration import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's marker, not a secret
# Standard Webhooks asks for a random key of 24 to 64 bytes; anything else is a typo or a
# truncated copy, better refused at send time than signed with.
_KEY_BYTES = range(24, 65)
USER_AGENT = "vrp-notifier (signed webhooks; +https://www.standardwebhooks.com/)"
# Enough of a reply body to keep the connection reusable; a receiver's body is never read
# beyond this, nor used (reasons must not carry whatever a receiver chose to say).
_DRAIN_LIMIT = 64 * 1024


class MissingSecret(Exception):
    """A secret the configuration names is unset or not a `whsec_` secret; says which variable,
    never its value."""

    def __init__(self, variable: str) -> None:
        super().__init__(f"{variable} is unset or not a whsec_ secret")
        self.variable = variable


def signing_secrets(webhook: Webhook, environ: Mapping[str, str], now: datetime) -> list[str]:
    """The secrets to sign with at `now`, in configuration order; raises MissingSecret."""
    now = _utc(now)
    active: list[str] = []
    for secret in webhook.secrets:
        if secret.until is not None and _utc(secret.until) <= now:
            # Retired: operators may already have removed its variable, so it is not read.
            continue
        value = environ.get(secret.env, "").strip()
        if not _well_formed(value):
            raise MissingSecret(secret.env)
        active.append(value)
    return active


def _well_formed(value: str) -> bool:
    """Whether `value` is `whsec_` and base64 of a key of an acceptable length."""
    if not value.startswith(SECRET_PREFIX):
        return False
    encoded = value[len(SECRET_PREFIX) :]
    # The library pads and decodes leniently (it drops stray characters), so check strictly
    # here: a mangled secret would otherwise sign with a different key and fail silently.
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(key) in _KEY_BYTES


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time is taken to be UTC already (as configuration writes it)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utcnow() -> datetime:
    """The time now, in UTC (the channels' default clock)."""
    return datetime.now(UTC)


class SignedPost:
    """POSTs bodies signed per Standard Webhooks with an endpoint's current secrets over one
    shared HTTP client, and reads the answer: webhooks and FHIR replies alike.

    2xx is delivered; 410 is gone; 429 and 5xx are retryable (with Retry-After); redirects and
    other 4xx are permanent; network errors are retryable. Reasons start with `label`."""

    def __init__(
        self,
        label: str,
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], datetime] = utcnow,
        timeout: float = 10.0,
    ) -> None:
        self._label = label
        self._environ = environ
        self._clock = clock
        # Redirects are never followed: the target was not vetted, and a signed alert sent
        # there could be replayed to the real endpoint within the timestamp tolerance.
        self._client = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers={"user-agent": USER_AGENT}
        )

    def now(self) -> datetime:
        """The instant to sign at (and to write into a body that states when it was sent)."""
        return _utc(self._clock())

    def secrets(self, endpoint: Webhook, now: datetime) -> list[str]:
        """The secrets to sign with at `now`; DeliveryFailed when one is missing or none is
        left (checked before a body is built: nothing can be sent unsigned)."""
        try:
            secrets = signing_secrets(endpoint, self._environ, now)
        except MissingSecret as exc:
            raise DeliveryFailed(f"{self._label} secret missing: {exc.variable}", False) from None
        if not secrets:
            raise DeliveryFailed(f"{self._label} secrets all retired", retryable=False)
        return secrets

    async def post(
        self,
        url: str,
        message_id: str,
        body: str,
        headers: Mapping[str, str],
        secrets: list[str],
        now: datetime,
    ) -> int:
        """POST `body` to `url` signed as message `message_id` at `now` with `headers` besides
        the signature's; the status code, or DeliveryFailed."""
        signed = {
            **headers,
            # The notification id, unchanged on retries, so the receiver can de-duplicate.
            "webhook-id": message_id,
            # The library signs floor(seconds); the header must state the same second.
            "webhook-timestamp": str(math.floor(now.timestamp())),
            "webhook-signature": " ".join(Signer(s).sign(message_id, now, body) for s in secrets),
        }
        try:
            async with self._client.stream(
                "POST", url, content=body.encode(), headers=signed
            ) as response:
                status, retry_after = response.status_code, response.headers.get("retry-after")
                await _drain(response)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            # A bad address stays bad: retrying cannot help.
            raise DeliveryFailed(f"{self._label} {type(exc).__name__}", retryable=False) from None
        except httpx.TransportError as exc:
            raise DeliveryFailed(f"{self._label} {type(exc).__name__}", retryable=True) from None
        return _outcome(self._label, status, retry_after, now)

    async def close(self) -> None:
        """Close the shared HTTP client and its connections."""
        await self._client.aclose()


class WebhookChannel:
    """Delivers alerts to each organisation's configured webhook, as JSON."""

    def __init__(
        self,
        endpoints: Callable[[str], Webhook | None],
        environ: Mapping[str, str] = os.environ,
        clock: Callable[[], datetime] = utcnow,
        timeout: float = 10.0,
    ) -> None:
        self._endpoints = endpoints
        self._post = SignedPost("webhook", environ, clock, timeout)

    async def send(self, alert: Alert) -> int | None:
        """POST the alert to `alert.address`, signed; the status code, or DeliveryFailed."""
        webhook = self._endpoints(alert.organisation)
        if webhook is None:
            raise DeliveryFailed("webhook not configured", retryable=False)
        # One instant for the choice of secrets, the payload and the signed timestamp.
        now = self._post.now()
        secrets = self._post.secrets(webhook, now)
        body = json.dumps(
            {"type": f"referral.{alert.kind}", "timestamp": _iso(now), "data": alert.fields()},
            separators=(",", ":"),
        )
        headers = {"content-type": "application/json"}
        return await self._post.post(alert.address, alert.id, body, headers, secrets, now)

    async def close(self) -> None:
        """Close the shared HTTP client and its connections."""
        await self._post.close()

    def describe(self) -> str:
        """Where alerts go (each organisation's configured endpoint)."""
        return "signed webhooks"


async def _drain(response: httpx.Response) -> None:
    """Read a little of the body so the connection can be reused; the status is already known,
    so a failure here changes nothing."""
    received = 0
    with contextlib.suppress(httpx.HTTPError):
        async for chunk in response.aiter_raw():
            received += len(chunk)
            if received > _DRAIN_LIMIT:
                break


def _outcome(label: str, status: int, retry_after: str | None, now: datetime) -> int:
    """The status when delivered; otherwise the matching DeliveryFailed."""
    if 200 <= status < 300:
        return status
    reason = f"{label} {status}"
    if status == 410:
        raise DeliveryFailed(reason, retryable=False, status_code=status, gone=True)
    if status == 429 or status >= 500:
        raise DeliveryFailed(
            reason, True, status_code=status, retry_after=_retry_after(retry_after, now)
        )
    # Redirects (not followed) and the other 4xx: the same request would fail the same way.
    raise DeliveryFailed(reason, retryable=False, status_code=status)


def _retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), if usable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, (_utc(when) - now).total_seconds())


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
