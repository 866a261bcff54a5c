"""The broker enforces who reads what: partners see only their own topics (real SASL + ACLs)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event

from testkit.contracts import validate_against_asyncapi
from testkit.kafka import KafkaEnv, wait_for_access
from vrp.events import topics
from vrp.events.asyncapi import CONTENT_TYPE, document
from vrp.provisioning.topics import ensure_topics

pytestmark = pytest.mark.kafka
KCAT = Path(__file__).resolve().parents[2] / "deploy" / "kcat.sh"
A, B = "navigators", "safe-homes"


@dataclass
class Broker:
    kafka: KafkaEnv
    ns: str
    passwords: dict[str, str]

    def topic(self, org: str) -> str:
        return self.ns + topics.partner_referrals(org)


@pytest.fixture(scope="module")
async def broker(kafka: KafkaEnv) -> AsyncIterator[Broker]:
    if not kafka.secure:
        pytest.fail("the broker must run with SASL and ACLs (deploy/kafka.sh does)", pytrace=False)
    ns = f"acl{uuid.uuid4().hex[:6]}."
    names = [topics.partner_referrals(A), topics.partner_referrals(B), *topics.INTERNAL]
    await ensure_topics(kafka.aiokafka(), names, 1, 1, ns)
    access = kafka.access(ns)
    passwords = access.provision_services()
    passwords |= {A: access.provision_partner(A), B: access.provision_partner(B)}
    for user in (A, B):
        await wait_for_access(kafka, user, passwords[user], ns + topics.partner_referrals(user))
    await wait_for_access(kafka, "vrp-notifier", passwords["vrp-notifier"], ns + topics.DECIDED)
    await wait_for_access(kafka, "vrp-router", passwords["vrp-router"], ns + topics.RECEIVED)
    yield Broker(kafka, ns, passwords)
    for user in (A, B):
        access.remove(user)


async def produce(b: Broker, user: str, topic: str, value: bytes, idempotent: bool = True) -> None:
    producer = AIOKafkaProducer(
        **b.kafka.aiokafka(user, b.passwords[user]),
        enable_idempotence=idempotent,
        acks="all",
        request_timeout_ms=10000,
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value, key=b"k", headers=[("content-type", CONTENT_TYPE.encode())]
        )
    finally:
        await producer.stop()


async def read(b: Broker, user: str, topic: str, group: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        **b.kafka.aiokafka(user, b.passwords[user]),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        out: list[bytes] = []
        for _ in range(10):
            batch = await consumer.getmany(timeout_ms=500)
            out += [r.value for records in batch.values() for r in records if r.value]
            if out:
                break
        return out
    finally:
        await consumer.stop()


def example_event() -> bytes:
    payload = document()["components"]["messages"]["PartnerReferral"]["examples"][0]["payload"]
    return json.dumps(payload).encode()


async def test_an_organisation_reads_its_own_topic_with_its_own_group(broker: Broker) -> None:
    await produce(broker, "vrp-router", broker.topic(A), example_event())
    assert await read(broker, A, broker.topic(A), group=f"{broker.ns}{A}.referral-system")


async def test_reading_another_organisations_topic_is_refused(broker: Broker) -> None:
    await produce(broker, "vrp-router", broker.topic(B), example_event())
    admin = AIOKafkaAdminClient(**broker.kafka.aiokafka(A, broker.passwords[A]))
    await admin.start()
    try:
        [described] = await admin.describe_topics([broker.topic(B)])
    finally:
        await admin.close()
    assert described["error_code"] == TopicAuthorizationFailedError.errno
    command = kcat_command(broker, A)
    command[command.index(broker.topic(A))] = broker.topic(B)
    result = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "authorization failed" in result.stderr.lower()
    assert result.stdout.strip() == ""


async def test_using_another_organisations_consumer_group_is_refused(broker: Broker) -> None:
    with pytest.raises(GroupAuthorizationFailedError):
        await read(broker, A, broker.topic(A), group=f"{broker.ns}{B}.stolen")


async def test_an_organisation_cannot_write_to_any_partner_topic(broker: Broker) -> None:
    for topic in (broker.topic(B), broker.topic(A)):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(broker, A, topic, b"{}", idempotent=False)


async def test_the_notifier_cannot_write_partner_topics(broker: Broker) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(broker, "vrp-notifier", broker.topic(A), b"{}", idempotent=False)


async def test_rotated_and_revoked_credentials_fail_authentication(broker: Broker) -> None:
    org = f"org{uuid.uuid4().hex[:6]}"
    await ensure_topics(broker.kafka.aiokafka(), [topics.partner_referrals(org)], 1, 1, broker.ns)
    access = broker.kafka.access(broker.ns)
    first = access.provision_partner(org)
    await wait_for_access(broker.kafka, org, first, broker.topic(org))
    second = access.set_password(org)  # rotate
    await wait_for_access(broker.kafka, org, second, broker.topic(org))
    with pytest.raises(KafkaConnectionError):
        await _connect(broker.kafka, org, first)
    access.remove(org)  # revoke
    await asyncio.sleep(1.5)
    with pytest.raises(KafkaConnectionError):
        await _connect(broker.kafka, org, second)


async def _connect(kafka: KafkaEnv, user: str, password: str) -> None:
    consumer = AIOKafkaConsumer(**kafka.aiokafka(user, password), request_timeout_ms=5000)
    try:
        await consumer.start()
    finally:
        await consumer.stop()


def kcat_command(b: Broker, org: str) -> list[str]:
    """docs/kafka.md's kcat command for a partner (SASL/SCRAM on the plaintext loopback port)."""
    return [
        str(KCAT),
        "-b",
        b.kafka.bootstrap,
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanisms=SCRAM-SHA-512",
        "-X",
        f"sasl.username={org}",
        "-X",
        f"sasl.password={b.passwords[org]}",
        "-C",
        "-t",
        b.topic(org),
        "-o",
        "beginning",
        "-e",
        "-f",
        "%s\\n",
    ]


async def test_a_partner_reads_its_topic_with_kcat_and_every_message_is_a_valid_event(
    broker: Broker,
) -> None:
    if shutil.which("kcat") is None:  # deploy/kcat.sh runs the Debian package's kcat
        pytest.fail(
            "kcat is not installed (deploy/test.sh installs the Debian package)", pytrace=False
        )
    await produce(broker, "vrp-router", broker.topic(A), example_event())
    result = await asyncio.to_thread(
        subprocess.run, kcat_command(broker, A), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-500:]
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines
    for line in lines:
        event = json.loads(line)
        validate_against_asyncapi("PartnerReferral", event)
        parsed = from_kafka_event(
            KafkaMessage(
                headers={"content-type": CONTENT_TYPE.encode()}, key=None, value=line.encode()
            )
        )
        assert parsed.get_type() == "uk.vrp.partner.referral.v1"


async def test_over_sasl_ssl_with_the_throwaway_ca(broker: Broker) -> None:
    if not broker.kafka.ca_file:
        pytest.fail("no CA file for the SASL_SSL listener (deploy/kafka.sh makes one)")
    options = broker.kafka.aiokafka(A, broker.passwords[A], tls=True)
    router = broker.kafka.aiokafka("vrp-router", broker.passwords["vrp-router"], tls=True)
    producer = AIOKafkaProducer(**router, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(broker.topic(A), b'{"over": "tls"}', key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        broker.topic(A),
        **options,
        group_id=f"{broker.ns}{A}.tls",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen: list[bytes] = []
        for _ in range(20):
            batch = await consumer.getmany(timeout_ms=500)
            seen += [r.value for rs in batch.values() for r in rs if r.value]
            if b'{"over": "tls"}' in seen:
                break
        assert b'{"over": "tls"}' in seen
    finally:
        await consumer.stop()
    untrusted = {**options, "ssl_context": __import__("ssl").create_default_context()}
    with pytest.raises(KafkaError):
        await _start_and_stop(AIOKafkaConsumer(**untrusted, request_timeout_ms=5000))


async def _start_and_stop(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.start()
    finally:
        await consumer.stop()


async def test_partners_command_provisions_rotates_and_revokes_the_kafka_user(
    broker: Broker, tmp_path: Path
) -> None:
    import os
    import sys

    org = "example-park-academy"
    await ensure_topics(broker.kafka.aiokafka(), [topics.partner_referrals(org)], 1, 1, broker.ns)
    admin = broker.kafka.process_env("admin", broker.kafka.admin_password)
    env = {
        **os.environ,
        **admin,
        "VRP_KAFKA_NAMESPACE": broker.ns,
        "VRP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/partners.db",
    }

    def vrp(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-800:]
        return result.stdout

    def kafka_password(output: str) -> str:
        [line] = [x for x in output.splitlines() if x.startswith(f"kafka user {org} password ")]
        return line.rsplit(" ", 1)[1]

    await asyncio.to_thread(vrp, "db", "upgrade")
    first = kafka_password(await asyncio.to_thread(vrp, "partners", "add", org))
    topic = broker.ns + topics.partner_referrals(org)
    await wait_for_access(broker.kafka, org, first, topic)
    second = kafka_password(await asyncio.to_thread(vrp, "partners", "rotate", org))
    await wait_for_access(broker.kafka, org, second, topic)
    with pytest.raises(KafkaConnectionError):
        await _connect(broker.kafka, org, first)
    assert "revoked" in await asyncio.to_thread(vrp, "partners", "revoke", org)
    await asyncio.sleep(1.5)
    with pytest.raises(KafkaConnectionError):
        await _connect(broker.kafka, org, second)
