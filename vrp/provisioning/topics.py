"""Kafka topic administration."""

from __future__ import annotations

import contextlib
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from vrp.domain.configuration import RoutingConfiguration
from vrp.events import topics


def all_topics(config: RoutingConfiguration) -> list[str]:
    """Internal topics plus a referrals and a status topic per organisation."""
    per_org = [
        (topics.partner_referrals(o.id), topics.partner_status(o.id)) for o in config.organisations
    ]
    return [*topics.INTERNAL, *(name for pair in per_org for name in pair)]


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
