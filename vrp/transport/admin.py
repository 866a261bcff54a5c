"""Kafka topic administration."""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from vrp.domain.configuration import RoutingConfiguration
from vrp.events import topics


def all_topics(config: RoutingConfiguration) -> list[str]:
    """Internal topics plus one referrals topic per organisation in the configuration."""
    return [*topics.INTERNAL, *(topics.partner_referrals(o.id) for o in config.organisations)]


async def ensure_topics(
    options: dict[str, Any],
    names: list[str],
    partitions: int,
    replication: int,
    namespace: str = "",
) -> list[str]:
    """Create the topics that do not exist yet; returns the ones created."""
    names = [namespace + n for n in names]
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
                await admin.create_topics(
                    [
                        NewTopic(n, num_partitions=partitions, replication_factor=replication)
                        for n in missing
                    ]
                )
        return missing
    finally:
        await admin.close()
