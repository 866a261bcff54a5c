"""The transport interface every consumer and the relay are written against."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.store.outbox import OutboxRow


@dataclass(frozen=True)
class Message:
    """One record as delivered, whatever the transport."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def position(self) -> str:
        """Where it came from, for dead letters and logs."""
        return f"{self.topic}/{self.partition}@{self.offset}"


class Subscription(Protocol):
    """A consumer-group member's view of its topics."""

    system: str
    """The messaging system, as spans name it (`messaging.system`)."""

    async def start(self) -> None:
        """Connect and join."""

    async def fetch(self, max_records: int, timeout: float) -> list[Message]:
        """The next records, in order per partition; empty after timeout."""

    async def stage(self, conn: AsyncConnection, batch: list[Message]) -> None:
        """Record progress inside the consumer's own transaction (if the transport can)."""

    async def commit(self, batch: list[Message]) -> None:
        """Acknowledge the batch after the consumer's transaction committed."""

    async def stop(self) -> None:
        """Leave the group and close."""


class Publisher(Protocol):
    """Delivers outbox rows to the broker; returns only once all are acknowledged."""

    async def start(self) -> None:
        """Connect."""

    async def publish(self, rows: list[OutboxRow], headers: list[dict[str, str]]) -> None:
        """Send rows (with per-row headers); raise if any was not acknowledged."""

    async def ping(self) -> None:
        """Raise unless the broker answers."""

    async def restart(self) -> None:
        """Drop the connection and producer state; the next publish starts afresh."""

    async def stop(self) -> None:
        """Flush and close."""
