"""GOV.UK Notify alert channel: SMS and email through the official client, off the event loop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from notifications_python_client.errors import APIError
from notifications_python_client.notifications import NotificationsAPIClient

from services.notifier.channels import Alert, DeliveryFailed
from vrp.domain.configuration import NotifyTemplate

# Notify keys are "<key name>-<service id>-<secret>"; the client slices the two UUIDs off the end
# and only asserts that the slices are non-empty, so a malformed key would fail on every send.
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_API_KEY = re.compile(rf".+-{_UUID}-{_UUID}")
# Notify's error codes are class names ("BadRequestError"); anything else in a body is dropped,
# because its messages may quote what we sent.
_ERROR_CODE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,63}")
_MAX_CODES = 3
_SENT = 201


class NotifyChannel:
    """GOV.UK Notify (the official synchronous client, run in worker threads). 400/403 and
    other 4xx are permanent; 408, 429 and 5xx are retried, as are network failures."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        templates: Callable[[], Mapping[str, NotifyTemplate]],
        timeout: float = 10.0,
        concurrency: int = 8,
    ) -> None:
        if not _API_KEY.fullmatch(api_key):
            # Never echo the key: it holds the signing secret.
            raise ValueError("notify: the API key is not <key name>-<service id>-<secret>")
        self._base_url = base_url
        self._templates = templates
        # One client for the channel's life, so its requests session keeps connections alive.
        # The client ships py.typed but leaves its functions unannotated, hence the ignores.
        self._client = NotificationsAPIClient(  # type: ignore[no-untyped-call]
            api_key, base_url=base_url, timeout=timeout
        )
        # The default requests pool keeps 10 connections per host: stay within it.
        self._slots = asyncio.Semaphore(concurrency)
        self._closed = False

    async def send(self, alert: Alert) -> int | None:
        """Send the alert through Notify, returning 201 or raising DeliveryFailed."""
        template_id = self._template_id(alert)
        if self._closed:
            raise DeliveryFailed("notify: channel closed", retryable=True)
        async with self._slots:
            try:
                await asyncio.to_thread(self._post, alert, template_id)
            except APIError as exc:
                # from None: the client's exception text quotes Notify's messages.
                raise _failure(exc) from None
        return _SENT

    async def close(self) -> None:
        """Close the client's HTTP session (its pooled connections)."""
        self._closed = True
        self._client.request_session.close()

    def describe(self) -> str:
        """Where alerts go: Notify's scheme, host and port (never the key)."""
        parts = urlsplit(self._base_url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"GOV.UK Notify at {parts.scheme}://{host}{port}"

    def _template_id(self, alert: Alert) -> str:
        # Looked up on each send so a configuration reload takes effect without a restart.
        template = self._templates().get(alert.kind)
        template_id: str | None = None
        if template is not None and alert.channel == "sms":
            template_id = template.sms
        elif template is not None and alert.channel == "email":
            template_id = template.email
        if not template_id:
            raise DeliveryFailed(
                f"notify: no {alert.channel} template for {alert.kind}", retryable=False
            )
        return template_id

    def _post(self, alert: Alert, template_id: str) -> None:
        # Runs in a worker thread; the client blocks on requests.
        if alert.channel == "sms":
            self._client.send_sms_notification(  # type: ignore[no-untyped-call]
                phone_number=alert.address,
                template_id=template_id,
                personalisation=alert.fields(),
                reference=alert.id,
            )
        else:
            self._client.send_email_notification(  # type: ignore[no-untyped-call]
                email_address=alert.address,
                template_id=template_id,
                personalisation=alert.fields(),
                reference=alert.id,
            )


def _failure(exc: APIError) -> DeliveryFailed:
    """The DeliveryFailed for a client error: status, Notify's error codes, retry advice."""
    response: Any = exc.response
    if response is None:
        # The client turns every requests exception without a response (refused, reset, DNS,
        # connect or read timeout) into an HTTP503Error with no response. That 503 is invented,
        # so report no status, and name the underlying exception class instead.
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else type(exc).__name__
        return DeliveryFailed(f"notify: {cause}", retryable=True)
    status = int(response.status_code)
    codes = " ".join(_error_codes(response))
    reason = f"notify {status} {codes}".rstrip()
    if 200 <= status < 300:
        # InvalidResponse: Notify accepted the request but the body was not JSON. Retrying could
        # send the message twice, so give up and let the failure be seen.
        return DeliveryFailed(f"{reason} unreadable reply", retryable=False, status_code=status)
    if status in (408, 429) or status >= 500:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        return DeliveryFailed(reason, retryable=True, status_code=status, retry_after=retry_after)
    return DeliveryFailed(reason, retryable=False, status_code=status)


def _error_codes(response: Any) -> list[str]:
    """Notify's error codes from an error body ({"errors": [{"error": ...}]}), de-duplicated."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    codes: list[str] = []
    for error in errors if isinstance(errors, list) else []:
        code = error.get("error") if isinstance(error, dict) else None
        if isinstance(code, str) and _ERROR_CODE.fullmatch(code) and code not in codes:
            codes.append(code)
    return codes[:_MAX_CODES]


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
