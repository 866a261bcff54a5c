"""The GOV.UK Notify channel over real HTTP against the stand-in: templates, references,
personalisation, and how each failure maps to DeliveryFailed (never with personal data)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import jwt
import pytest

from services.notifier.channels import Alert, DeliveryFailed
from services.notifier.notify import NotifyChannel
from testkit.notify import NotifyStandIn
from vrp.domain.configuration import NotifyTemplate
from vrp.domain.vocabulary import AlertKind
from vrp.domain.vocabulary import Channel as ChannelName

PHONE = "07700 900123"  # Ofcom's range reserved for drama: never a real subscriber
EMAIL = "duty.team@example.org"
SMS_BODY = "New referral ((reference)) for ((organisation)), ((urgency)): ((link))"
EMAIL_SUBJECT = "Referral ((reference))"
EMAIL_BODY = "((organisation)): a ((kind)) about ((intervention)), due ((respond_by)): ((link))"


@pytest.fixture
def notify() -> Iterator[NotifyStandIn]:
    """A Notify stand-in with an SMS and an email template for new referrals."""
    with NotifyStandIn() as server:
        yield server


@pytest.fixture
def templates(notify: NotifyStandIn) -> dict[str, NotifyTemplate]:
    """Registered with the stand-in: new-referral by SMS and email; reminder by email only."""
    sms = notify.add_template("sms", SMS_BODY)
    email = notify.add_template("email", EMAIL_BODY, subject=EMAIL_SUBJECT)
    return {
        "new-referral": NotifyTemplate(sms=sms, email=email),
        "reminder": NotifyTemplate(email=email),
    }


@pytest.fixture
async def channel(
    notify: NotifyStandIn, templates: dict[str, NotifyTemplate]
) -> AsyncIterator[NotifyChannel]:
    """A channel with a valid key for the stand-in, closed after the test."""
    channel = NotifyChannel(notify.api_key(), notify.url, lambda: templates, timeout=5)
    yield channel
    await channel.close()


def alert(channel: ChannelName, address: str, kind: AlertKind = "new-referral") -> Alert:
    """An alert as the sender builds it: ids and codes only."""
    return Alert(
        id=str(uuid.uuid4()),
        kind=kind,
        channel=channel,
        organisation="wm-youth",
        organisation_name="West Midlands Youth Service",
        address=address,
        referral_id=str(uuid.uuid4()),
        reference="VRP-2024-000123",
        link="https://vrp.example.org/referrals/VRP-2024-000123",
        intervention="mentoring",
        intervention_title="Mentoring",
        urgency="urgent",
    )


async def failure(channel: NotifyChannel, sent: Alert) -> DeliveryFailed:
    """The DeliveryFailed the send raises, checked to carry no personal data."""
    with pytest.raises(DeliveryFailed) as caught:
        await channel.send(sent)
    exc = caught.value
    assert sent.address not in str(exc) and PHONE.replace(" ", "") not in str(exc)
    # The client's exception, which may quote Notify's messages, is not chained either.
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    return exc


async def test_sms_is_sent_with_its_template_reference_and_personalisation(
    notify: NotifyStandIn, channel: NotifyChannel, templates: dict[str, NotifyTemplate]
) -> None:
    sms = alert("sms", PHONE)
    assert await channel.send(sms) == 201
    [request] = notify.accepted()
    assert request.path == "/v2/notifications/sms"
    assert request.body == {
        "phone_number": PHONE,
        "template_id": templates["new-referral"].sms,
        "personalisation": sms.fields(),
        "reference": sms.id,
    }
    assert request.response["content"]["body"] == (
        "New referral VRP-2024-000123 for West Midlands Youth Service, urgent: "
        "https://vrp.example.org/referrals/VRP-2024-000123"
    )
    assert request.response["reference"] == sms.id
    assert request.headers["authorization"].startswith("Bearer ")


async def test_email_is_sent_with_its_template_reference_and_personalisation(
    notify: NotifyStandIn, templates: dict[str, NotifyTemplate]
) -> None:
    channel = NotifyChannel(notify.api_key(), notify.url, lambda: templates)
    email = alert("email", EMAIL, kind="reminder")
    assert await channel.send(email) == 201
    await channel.close()
    [request] = notify.accepted()
    assert request.path == "/v2/notifications/email"
    assert request.body == {
        "email_address": EMAIL,
        "template_id": templates["reminder"].email,
        "personalisation": email.fields(),
        "reference": email.id,
    }
    assert request.response["content"]["subject"] == "Referral VRP-2024-000123"


async def test_one_connection_is_reused_and_concurrency_is_bounded(
    notify: NotifyStandIn, templates: dict[str, NotifyTemplate]
) -> None:
    channel = NotifyChannel(notify.api_key(), notify.url, lambda: templates, concurrency=2)
    await channel.send(alert("sms", PHONE))
    await channel.send(alert("sms", PHONE))
    first, second = notify.received()
    assert first.client_port == second.client_port
    notify.stall_next(0.3, times=6)
    results = await asyncio.gather(*(channel.send(alert("sms", PHONE)) for _ in range(6)))
    assert results == [201] * 6
    assert notify.max_in_flight == 2
    await channel.close()


@pytest.mark.parametrize("wrong", ["secret", "service"])
async def test_a_wrong_api_key_is_a_permanent_403(
    notify: NotifyStandIn, templates: dict[str, NotifyTemplate], wrong: str
) -> None:
    name, service, secret = "vrp-test", notify.service_id, str(uuid.uuid4())
    if wrong == "service":
        service, secret = str(uuid.uuid4()), notify.api_key()[-36:]
    channel = NotifyChannel(f"{name}-{service}-{secret}", notify.url, lambda: templates)
    exc = await failure(channel, alert("sms", PHONE))
    assert (exc.retryable, exc.status_code, str(exc)) == (False, 403, "notify 403 AuthError")
    assert notify.accepted() == []
    await channel.close()


async def test_a_missing_placeholder_is_a_permanent_400(notify: NotifyStandIn) -> None:
    needs_more = notify.add_template("sms", "((reference)) for ((caseworker))")
    templates = {"new-referral": NotifyTemplate(sms=needs_more)}
    channel = NotifyChannel(notify.api_key(), notify.url, lambda: templates)
    exc = await failure(channel, alert("sms", PHONE))
    assert (exc.retryable, exc.status_code, str(exc)) == (False, 400, "notify 400 BadRequestError")
    [request] = notify.received()
    assert request.response["errors"][0]["message"] == "Missing personalisation: caseworker"
    await channel.close()


async def test_an_invalid_number_is_permanent(
    notify: NotifyStandIn, channel: NotifyChannel
) -> None:
    exc = await failure(channel, alert("sms", "not a number 0121 496 0000"))
    assert (exc.retryable, str(exc)) == (False, "notify 400 ValidationError")


async def test_error_messages_quoting_the_address_stay_out_of_the_reason(
    notify: NotifyStandIn, channel: NotifyChannel
) -> None:
    notify.fail_next(400, message=f"phone_number {PHONE} is not allowed")
    notify.fail_next(400, error=f"Bad {EMAIL}", message=f"email_address {EMAIL} is not allowed")
    assert str(await failure(channel, alert("sms", PHONE))) == "notify 400 BadRequestError"
    assert str(await failure(channel, alert("email", EMAIL))) == "notify 400"


async def test_429_is_retryable_after_retry_after(
    notify: NotifyStandIn, channel: NotifyChannel
) -> None:
    notify.fail_next(429, times=1, retry_after=2)
    exc = await failure(channel, alert("sms", PHONE))
    assert (exc.retryable, exc.status_code, exc.retry_after) == (True, 429, 2)
    assert str(exc) == "notify 429 RateLimitError"
    await asyncio.sleep(exc.retry_after or 0)  # what the sender does with retry_after
    assert await channel.send(alert("sms", PHONE)) == 201
    refused, accepted = notify.received()
    assert accepted.arrived - refused.arrived >= 2


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(
    notify: NotifyStandIn, channel: NotifyChannel, status: int
) -> None:
    notify.fail_next(status, retry_after=7 if status == 503 else None)
    exc = await failure(channel, alert("email", EMAIL))
    assert (exc.retryable, exc.status_code) == (True, status)
    assert str(exc) == f"notify {status} Exception"
    assert exc.retry_after == (7 if status == 503 else None)


async def test_an_unreachable_notify_is_retryable_without_a_status(
    notify: NotifyStandIn, channel: NotifyChannel
) -> None:
    assert await channel.send(alert("sms", PHONE)) == 201  # leaves a pooled connection
    notify.stop()
    exc = await failure(channel, alert("sms", PHONE))
    assert (exc.retryable, exc.status_code, str(exc)) == (True, None, "notify: ConnectionError")
    notify.restart()
    assert await channel.send(alert("sms", PHONE)) == 201


async def test_a_timeout_is_retryable_without_a_status(
    notify: NotifyStandIn, templates: dict[str, NotifyTemplate]
) -> None:
    channel = NotifyChannel(notify.api_key(), notify.url, lambda: templates, timeout=0.3)
    notify.stall_next(1.5)
    exc = await failure(channel, alert("sms", PHONE))
    assert (exc.retryable, exc.status_code, str(exc)) == (True, None, "notify: ReadTimeout")
    await channel.close()


@pytest.mark.parametrize(
    ("kind", "channel_name", "address"),
    [("escalation", "sms", PHONE), ("reminder", "sms", PHONE), ("new-referral", "webhook", "x")],
)
async def test_a_missing_template_is_permanent_and_sends_nothing(
    notify: NotifyStandIn,
    channel: NotifyChannel,
    kind: AlertKind,
    channel_name: ChannelName,
    address: str,
) -> None:
    with pytest.raises(DeliveryFailed) as caught:
        await channel.send(alert(channel_name, address, kind=kind))
    assert (caught.value.retryable, caught.value.status_code) == (False, None)
    assert str(caught.value) == f"notify: no {channel_name} template for {kind}"
    assert notify.received() == []


async def test_description_malformed_key_and_closed_channel(
    notify: NotifyStandIn, channel: NotifyChannel
) -> None:
    assert channel.describe() == f"GOV.UK Notify at {notify.url}"
    with pytest.raises(ValueError, match="API key") as caught:
        NotifyChannel("hush-hush-not-a-key", notify.url, dict)
    assert "hush" not in str(caught.value)
    await channel.close()
    exc = await failure(channel, alert("sms", PHONE))
    assert (exc.retryable, str(exc)) == (True, "notify: channel closed")
    assert notify.received() == []


async def test_the_stand_in_checks_tokens_as_notify_does(notify: NotifyStandIn) -> None:
    service, secret = notify.service_id, notify.api_key()[-36:]
    stale = jwt.encode({"iss": service, "iat": int(time.time()) - 60}, secret, "HS256")
    fresh = jwt.encode({"iss": service, "iat": int(time.time())}, secret, "HS256")
    url = f"{notify.url}/v2/notifications/sms"
    async with httpx.AsyncClient() as client:
        missing = await client.post(url, json={})
        expired = await client.post(url, json={}, headers={"Authorization": f"Bearer {stale}"})
        valid = await client.post(url, json={}, headers={"Authorization": f"Bearer {fresh}"})
    assert missing.status_code == 401 and missing.json()["errors"][0]["error"] == "AuthError"
    assert expired.status_code == 403 and "clock" in expired.json()["errors"][0]["message"]
    assert valid.json() == {
        "status_code": 400,
        "errors": [{"error": "ValidationError", "message": "phone_number is a required property"}],
    }
