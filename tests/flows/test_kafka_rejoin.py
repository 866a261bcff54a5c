"""A consumer whose first start failed (the broker was down when the service started, or
went down while it joined) reads its events once the broker is back, instead of starting
and then failing every fetch (which stopped the whole process after an outage)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from testkit.door import Door
from testkit.kafka import KafkaEnv
from vrp.provisioning.topics import ensure_topics
from vrp.transport.kafka import KafkaSubscription

pytestmark = pytest.mark.kafka


async def test_a_subscription_started_again_after_a_failed_start_reads_its_events(
    kafka: KafkaEnv,
) -> None:
    namespace = f"t{uuid.uuid4().hex[:8]}."
    await ensure_topics(kafka.aiokafka(), ["events"], 1, 1, namespace)
    producer = AIOKafkaProducer(**kafka.aiokafka())
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(namespace + "events", f"event {n}".encode(), key=b"k")
    finally:
        await producer.stop()

    host, port = kafka.bootstrap.rsplit(":", 1)
    door = Door(host, int(port))  # closed: the broker is "down" for new connections
    options = kafka.aiokafka() | {"bootstrap_servers": door.address}
    subscription = KafkaSubscription(options, "group", ("events",), "test", namespace)
    with pytest.raises(KafkaError):
        await subscription.start()
    await subscription.stop()  # as the worker does after a failed start

    await door.open()
    try:
        await subscription.start()
        values: list[bytes] = []
        for _ in range(40):
            values += [m.value for m in await subscription.fetch(10, timeout=0.5)]
            if len(values) >= 3:
                break
        assert values == [b"event 0", b"event 1", b"event 2"]
    finally:
        await subscription.stop()
        await door.close()
