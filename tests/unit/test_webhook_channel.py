"""The signed-webhook channel, through real HTTP to a receiver that verifies with the
standardwebhooks library."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from standardwebhooks import Webhook as Verifier
from standardwebhooks import WebhookVerificationError

from services.notifier.channels import Alert, DeliveryFailed
from services.notifier.webhook import MissingSecret, WebhookChannel, signing_secrets
from testkit.webhooks import ERROR_BODY, WebhookReceiver, new_secret
from vrp.domain.configuration import Webhook, WebhookSecret

ORG = "acme-care"
OLD, NEW = "VRP_TEST_HOOK_OLD", "VRP_TEST_HOOK_NEW"


def alert(url: str) -> Alert:
    """A new-referral alert for ORG with a fresh notification id."""
    return Alert(
        id=f"ntf-{uuid.uuid4()}",
        kind="new-referral",
        channel="webhook",
        organisation=ORG,
        organisation_name="Acme Care",
        address=url,
        referral_id="ref-1",
        reference="VRP-7K2Q",
        link="https://vrp.example/referrals/ref-1",
        intervention="smoking",
        intervention_title="Stop smoking",
        urgency="routine",
        respond_by=datetime(2030, 1, 2, 9, 30, tzinfo=UTC),
    )


def hook(url: str, *secrets: WebhookSecret) -> Webhook:
    return Webhook(url=url, secrets=list(secrets) or [WebhookSecret(env=NEW)])


@asynccontextmanager
async def channel(
    webhook: Webhook,
    environ: Mapping[str, str],
    clock: Callable[[], datetime] | None = None,
    timeout: float = 5.0,
) -> AsyncIterator[WebhookChannel]:
    endpoints: Callable[[str], Webhook | None] = lambda org: webhook if org == ORG else None  # noqa: E731
    if clock is None:
        sender = WebhookChannel(endpoints, environ=environ, timeout=timeout)
    else:
        sender = WebhookChannel(endpoints, environ=environ, clock=clock, timeout=timeout)
    try:
        yield sender
    finally:
        await sender.close()


async def failure(webhook: Webhook, environ: Mapping[str, str], url: str) -> DeliveryFailed:
    """The DeliveryFailed that sending one alert to `url` raises."""
    async with channel(webhook, environ) as sender:
        with pytest.raises(DeliveryFailed) as caught:
            await sender.send(alert(url))
    return caught.value


@pytest.fixture
def keys() -> dict[str, str]:
    """A fresh old and new secret, as the environment holds them."""
    return {OLD: new_secret(), NEW: new_secret()}


@pytest.fixture
def receiver(keys: dict[str, str]) -> Iterator[WebhookReceiver]:
    with WebhookReceiver([keys[NEW]]) as server:
        yield server


def signatures(headers: Mapping[str, str]) -> list[str]:
    return headers["webhook-signature"].split(" ")


async def test_delivery_verifies_and_carries_the_alert(
    receiver: WebhookReceiver, keys: dict[str, str]
) -> None:
    sent = alert(receiver.url)
    async with channel(hook(receiver.url), keys) as sender:
        assert await sender.send(sent) == 204
        assert await sender.send(sent) == 204  # a resend after a crash
        assert sender.describe() == "signed webhooks"
    first, again = receiver.deliveries()
    assert receiver.rejections() == []
    assert first.id == again.id == sent.id == first.headers["webhook-id"]
    assert first.type == "referral.new-referral"
    assert first.data == sent.fields()
    assert first.headers["content-type"] == "application/json"
    assert "vrp" in first.headers["user-agent"]
    # The library itself, not just the receiver's bookkeeping, accepts it.
    payload = Verifier(keys[NEW]).verify(first.body, first.headers)
    stamped = datetime.fromisoformat(payload["timestamp"])
    assert abs(stamped.timestamp() - int(first.headers["webhook-timestamp"])) < 1


async def test_rotation_overlap_signs_with_both_secrets(
    receiver: WebhookReceiver, keys: dict[str, str]
) -> None:
    retiring = WebhookSecret(env=OLD, until=datetime.now(UTC) + timedelta(hours=1))
    webhook = hook(receiver.url, WebhookSecret(env=NEW), retiring)
    async with channel(webhook, keys) as sender:
        receiver.accept([keys[OLD]])
        assert await sender.send(alert(receiver.url)) == 204
        receiver.accept([keys[NEW]])
        assert await sender.send(alert(receiver.url)) == 204
    assert receiver.rejections() == []
    for delivery in receiver.deliveries():
        assert len(signatures(delivery.headers)) == 2
        for secret in (keys[OLD], keys[NEW]):
            Verifier(secret).verify(delivery.body, delivery.headers)


async def test_after_until_only_the_new_secret_signs(
    receiver: WebhookReceiver, keys: dict[str, str]
) -> None:
    # Two minutes ahead: past `until`, yet within the receivers' five-minute tolerance,
    # which they measure against their own (real) clock.
    start = datetime.now(UTC)
    later: Callable[[], datetime] = lambda: datetime.now(UTC) + timedelta(minutes=2)  # noqa: E731
    webhook = hook(
        receiver.url,
        WebhookSecret(env=NEW),
        WebhookSecret(env=OLD, until=start + timedelta(minutes=1)),
    )
    environ = {NEW: keys[NEW]}  # the retired variable may already be gone
    async with channel(webhook, environ, clock=later) as sender:
        assert await sender.send(alert(receiver.url)) == 204
        receiver.accept([keys[OLD]])
        with pytest.raises(DeliveryFailed) as caught:
            await sender.send(alert(receiver.url))
    assert (caught.value.status_code, caught.value.retryable) == (401, False)
    (delivery,) = receiver.deliveries()
    (rejected,) = receiver.rejections()
    assert rejected.reason == "No matching signature found"
    assert len(signatures(delivery.headers)) == 1
    Verifier(keys[NEW]).verify(delivery.body, delivery.headers)
    with pytest.raises(WebhookVerificationError):
        Verifier(keys[OLD]).verify(delivery.body, delivery.headers)


async def test_a_clock_in_another_zone_signs_the_same_instant(
    receiver: WebhookReceiver, keys: dict[str, str]
) -> None:
    # The library replaces (not converts) the zone of the time it signs; five hours of
    # error would fall outside the receiver's tolerance.
    plus5 = timezone(timedelta(hours=5))
    async with channel(hook(receiver.url), keys, clock=lambda: datetime.now(plus5)) as sender:
        assert await sender.send(alert(receiver.url)) == 204
    assert receiver.rejections() == []


async def test_programmed_replies_then_204(receiver: WebhookReceiver, keys: dict[str, str]) -> None:
    receiver.respond_with([500, 200])
    async with channel(hook(receiver.url), keys) as sender:
        with pytest.raises(DeliveryFailed):
            await sender.send(alert(receiver.url))
        assert await sender.send(alert(receiver.url)) == 200
        assert await sender.send(alert(receiver.url)) == 204
    assert [d.status for d in receiver.deliveries()] == [500, 200, 204]


@pytest.mark.parametrize(
    ("status", "retryable", "gone"),
    [(500, True, False), (503, True, False), (410, False, True), (400, False, False)],
)
async def test_status_outcomes(
    receiver: WebhookReceiver, keys: dict[str, str], status: int, retryable: bool, gone: bool
) -> None:
    receiver.respond_with([status])
    failed = await failure(hook(receiver.url), keys, receiver.url)
    assert (failed.retryable, failed.status_code, failed.gone) == (retryable, status, gone)
    assert failed.retry_after is None
    assert str(failed) == f"webhook {status}"
    assert ERROR_BODY.decode() not in str(failed)


async def test_429_retry_after_seconds(receiver: WebhookReceiver, keys: dict[str, str]) -> None:
    receiver.respond_with([429], retry_after=2)
    failed = await failure(hook(receiver.url), keys, receiver.url)
    assert (failed.retryable, failed.status_code, failed.retry_after) == (True, 429, 2)


async def test_503_retry_after_http_date(receiver: WebhookReceiver, keys: dict[str, str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    receiver.respond_with([503], retry_after=format_datetime(now + timedelta(seconds=30), True))
    async with channel(hook(receiver.url), keys, clock=lambda: now) as sender:
        with pytest.raises(DeliveryFailed) as caught:
            await sender.send(alert(receiver.url))
    assert (caught.value.retryable, caught.value.retry_after) == (True, 30)


async def test_redirect_is_permanent_and_not_followed(
    receiver: WebhookReceiver, keys: dict[str, str]
) -> None:
    receiver.respond_with([302])
    failed = await failure(hook(receiver.url), keys, receiver.url)
    assert (failed.retryable, failed.status_code) == (False, 302)
    assert receiver.requests == 1


async def test_refused_connection_is_retryable(keys: dict[str, str]) -> None:
    with WebhookReceiver([keys[NEW]]) as stopped:
        url = stopped.url
    failed = await failure(hook(url), keys, url)
    assert (failed.retryable, failed.status_code, str(failed)) == (
        True,
        None,
        "webhook ConnectError",
    )


async def test_timeout_is_retryable(receiver: WebhookReceiver, keys: dict[str, str]) -> None:
    receiver.respond_with([204], delay=1.0)
    async with channel(hook(receiver.url), keys, timeout=0.2) as sender:
        with pytest.raises(DeliveryFailed) as caught:
            await sender.send(alert(receiver.url))
    assert (caught.value.retryable, str(caught.value)) == (True, "webhook ReadTimeout")


async def test_missing_or_malformed_secret_is_permanent_and_never_echoed(
    receiver: WebhookReceiver, keys: dict[str, str]
) -> None:
    webhook = hook(receiver.url, WebhookSecret(env=NEW), WebhookSecret(env=OLD))
    malformed = "whsec_c2hvcnQ="  # base64 of a five-byte key
    reasons: list[str] = []
    for environ in ({NEW: keys[NEW]}, {NEW: keys[NEW], OLD: malformed}):
        failed = await failure(webhook, environ, receiver.url)
        assert (failed.retryable, str(failed)) == (False, f"webhook secret missing: {OLD}")
        reasons.append(str(failed))
    receiver.respond_with([500, 410, 400, 302])
    for _ in range(4):
        reasons.append(str(await failure(webhook, keys, receiver.url)))
    values = [keys[OLD], keys[NEW], malformed]
    secrets = values + [v.removeprefix("whsec_") for v in values]
    assert not [r for r in reasons for s in secrets if s in r]
    assert receiver.deliveries() and not receiver.rejections()


async def test_unconfigured_organisation_is_permanent(keys: dict[str, str]) -> None:
    elsewhere = replace(alert("http://127.0.0.1:9/"), organisation="other")
    async with channel(hook("http://127.0.0.1:9/"), keys) as sender:
        with pytest.raises(DeliveryFailed) as caught:
            await sender.send(elsewhere)
    assert (caught.value.retryable, str(caught.value)) == (False, "webhook not configured")


@pytest.mark.parametrize(
    "value", ["", "whsec_", "not-a-secret", "whsec_!!!!", "whsec_c2hvcnQ=", "c2VjcmV0c2VjcmV0"]
)
def test_signing_secrets_rejects_malformed_values(value: str) -> None:
    webhook = hook("https://hooks.example/vrp")
    with pytest.raises(MissingSecret) as caught:
        signing_secrets(webhook, {NEW: value}, datetime.now(UTC))
    assert caught.value.variable == NEW
    assert str(caught.value) == f"{NEW} is unset or not a whsec_ secret"


def test_signing_secrets_order_and_retirement(keys: dict[str, str]) -> None:
    now = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
    webhook = hook(
        "https://hooks.example/vrp",
        WebhookSecret(env=NEW),
        WebhookSecret(env=OLD, until=now + timedelta(seconds=1)),
    )
    assert signing_secrets(webhook, keys, now) == [keys[NEW], keys[OLD]]
    assert signing_secrets(webhook, {NEW: keys[NEW]}, now + timedelta(seconds=1)) == [keys[NEW]]
    naive = hook("https://hooks.example/vrp", WebhookSecret(env=OLD, until=datetime(2030, 1, 1)))
    assert signing_secrets(naive, {}, now) == []
