"""What every running system offers a flow test, whatever its transport: the `System`
interface, the outbox `Record`s and the spans it saw (testkit/systems.py runs it)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from email.message import Message
from typing import Any

import httpx
from cloudevents.core.bindings.kafka import KafkaMessage

from testkit.smtp import SmtpServer
from vrp.events import topics
from vrp.store.database import Database

TIMEOUT = 30.0
"""How long a flow waits for something the system does asynchronously."""


@dataclass(frozen=True)
class Record:
    """One event on a topic, as a consumer of that topic receives it."""

    key: str | None
    value: dict[str, Any]
    """The CloudEvent (JSON, structured mode): id, type, subject, data, ..."""
    payload: bytes
    """The bytes as stored or sent."""
    headers: dict[str, str]
    raw: KafkaMessage
    """What a partner's CloudEvents tooling reads (embedded: what the relay would send)."""


@dataclass(frozen=True)
class SeenSpan:
    """A finished span: which service made it, its name, trace and referral."""

    service: str
    name: str
    trace_id: str
    referral_id: str | None
    messaging_system: str | None = None


Until = Callable[[list[Record]], object]


class System(ABC):
    """A running deployment a flow test drives as partners would.

    `client` talks to intake; `uhb` (an originator), `navigators` (a receiver) and `wmp`
    (an organisation with nothing to do with the flows) are Authorization headers."""

    kind: str
    client: httpx.AsyncClient
    smtp: SmtpServer
    uhb: dict[str, str]
    navigators: dict[str, str]
    wmp: dict[str, str]

    @property
    @abstractmethod
    def db(self) -> Database:
        """The system's database (to count decisions)."""

    @abstractmethod
    async def read(self, topic: str, until: Until, timeout: float = TIMEOUT) -> list[Record]:
        """Every event on `topic` from the beginning, read until `until(records)` is true
        or `timeout` passes (the caller asserts on what it got)."""

    @abstractmethod
    async def inject(self, records: list[tuple[str, bytes]]) -> None:
        """Put (key, raw bytes) records on vrp.referral.received in one go, as a broken or
        hostile producer could (the router has to survive them)."""

    @abstractmethod
    async def restart_router(self) -> None:
        """Kill the router and start it again; returns once it runs again."""

    @abstractmethod
    def router_down(self) -> AbstractAsyncContextManager[None]:
        """The router is dead inside the block (intake still accepts referrals) and runs
        again after it."""

    @abstractmethod
    def router_starts(self) -> int:
        """How many times a router has started in this system."""

    @abstractmethod
    def spans(self) -> list[SeenSpan]:
        """The finished spans received so far from every service."""

    @abstractmethod
    def explain(self, role: str) -> str:
        """What to show when a role did not do what a flow waited for (its log's tail)."""

    async def dead_letters(self, until: Until, timeout: float = TIMEOUT) -> list[Record]:
        """What was dead-lettered (the vrp.dead-letter topic)."""
        return await self.read(topics.DEAD_LETTER, until, timeout)

    async def alerts(self, reference: str, timeout: float = TIMEOUT) -> list[Message]:
        """The receiving team's new-referral alerts for a referral, once there is at least
        one (or none after `timeout`); the referrer's status updates are not among them."""
        await self.smtp.mailbox.until(
            lambda _: bool(self.smtp.mailbox.for_reference(reference)), timeout
        )
        return self.smtp.mailbox.for_reference(reference)
