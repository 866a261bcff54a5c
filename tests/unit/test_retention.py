"""Personal data does not linger: a dead letter only refers to its original (kept in a
restricted table), and outbox rows go once published (Kafka) or read by every consumer
group of their topic (embedded), after the retention period. Time is injected, never
waited for. The database tests run on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from testkit.referrals import example
from vrp.domain.identifiers import new_id
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralCancelled, ReferralReceived
from vrp.settings import Settings
from vrp.store import outbox as outbox_store
from vrp.store.database import Database
from vrp.store.dead_letters import original
from vrp.store.outbox import OutboxRow
from vrp.store.retention import Pruned, prune_consumed, prune_published
from vrp.store.tables import consumer_positions, dead_letter_originals, outbox
from vrp.store.unit import Unit
from vrp.transport.base import Message
from vrp.transport.embedded import LogRetention
from vrp.transport.relay import Relay
from vrp.transport.worker import Delivery, PoisonEvent, Worker

KEEP = timedelta(hours=24)
NAME, NHS_NUMBER, POSTCODE = "Quillonby", "4010232137", "DY99 9ZZ"


def referral_event() -> Envelope:
    """A received referral naming a distinctive person."""
    submission = example(
        subject__family_name=NAME, subject__nhs_number=NHS_NUMBER, subject__postcode=POSTCODE
    )
    referral = Referral(
        id=str(new_id()),
        source_org="not-a-partner",
        received_at=datetime.now(UTC).isoformat(),
        local_authority="E08000027",
        submission=ReferralSubmission.model_validate(submission),
    )
    return Envelope.wrap(ReferralReceived(referral=referral), "/test", referral.id)


# -- dead letters -----------------------------------------------------------------------


class OneBatch:
    """A subscription that hands out one batch, then stops the worker; the first attempt
    to record progress fails as a lost database connection would."""

    system = "test"

    def __init__(self, messages: list[Message], stopping: asyncio.Event) -> None:
        self._messages = messages
        self._stopping = stopping
        self.stage_failures = 1

    async def start(self) -> None:
        """Nothing to join."""

    async def fetch(self, max_records: int, timeout: float) -> list[Message]:
        """The batch once; then stop."""
        batch, self._messages = self._messages, []
        if not batch:
            self._stopping.set()
        return batch

    async def stage(self, conn: AsyncConnection, batch: list[Message]) -> None:
        """Fail once, after the handler and the dead letters wrote their rows."""
        if self.stage_failures:
            self.stage_failures -= 1
            raise OperationalError("stage", {}, ConnectionResetError("connection lost"))

    async def commit(self, batch: list[Message]) -> None:
        """Nothing to acknowledge."""

    async def stop(self) -> None:
        """Nothing to leave."""


async def refuse(unit: Unit, run: list[Delivery]) -> None:
    """A handler that can never process a referral from this source."""
    raise PoisonEvent("organisation not in the configuration")


async def test_a_dead_letter_refers_to_the_original_and_carries_no_personal_data(
    db: Database,
) -> None:
    event = referral_event()
    garbage = f"not json: {NAME} {NHS_NUMBER}".encode()
    messages = [
        Message(topics.RECEIVED, 1, 7, event.subject, event.to_bytes()),
        Message(topics.RECEIVED, 1, 8, "x", garbage),
    ]
    stopping = asyncio.Event()
    subscription = OneBatch(messages, stopping)
    worker = Worker("vrp-router", "router", db, subscription, {ReferralReceived.TYPE: refuse})
    await asyncio.wait_for(worker.run(stopping), 30)
    assert subscription.stage_failures == 0, "the batch was retried after the failure"

    async with db.engine.connect() as conn:
        rows = await outbox_store.read_log(conn, 0, (topics.DEAD_LETTER,), 100)
        # The first attempt rolled back: each original is kept once, with its one letter.
        refs = (await conn.execute(select(dead_letter_originals.c.id))).scalars().all()
        letters = [json.loads(r.value) for r in rows]
        assert len(refs) == 2 and sorted(refs) == sorted(e["data"]["original_ref"] for e in letters)
        kept = {
            e["data"]["position"]: await original(conn, e["data"]["original_ref"]) for e in letters
        }
    for row, letter in zip(rows, letters, strict=True):
        assert letter["type"] == "uk.vrp.dead-letter.v2"
        assert set(letter["data"]) == {
            "consumer", "topic", "position", "event_id", "reason", "original_ref"
        }  # fmt: skip
        for personal in (NAME, NHS_NUMBER, POSTCODE, "Alex", "2010-03-14"):
            assert personal.encode() not in row.value, personal
    handled, unparsed = kept[messages[0].position], kept[messages[1].position]
    assert handled is not None and unparsed is not None
    assert handled.original == event.to_bytes() and handled.event_id == event.id
    assert handled.reason == "organisation not in the configuration"
    assert NAME.encode() in handled.original and NHS_NUMBER.encode() in handled.original
    assert unparsed.original == garbage and unparsed.event_id is None
    assert unparsed.reason.startswith("invalid event") and NAME not in unparsed.reason
    assert handled.consumer == unparsed.consumer == "vrp-router"
    assert handled.topic == topics.RECEIVED


# -- Kafka mode: the relay's published rows ---------------------------------------------


async def add(db: Database, producer: str, topic: str, created_at: datetime | None = None) -> int:
    """Stage an event carrying a referral (created at `created_at`, or now); returns its id."""
    values = outbox_store.row_values(producer, topic, str(uuid.uuid4()), referral_event())
    if created_at is not None:
        values["created_at"] = created_at
    async with db.transaction() as conn:
        result = await conn.execute(outbox.insert().values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


async def publish(db: Database, ids: list[int]) -> None:
    """Mark rows published now, as the relay does once Kafka acknowledged them."""
    async with db.transaction() as conn:
        await outbox_store.mark_published(conn, ids)


async def ids(db: Database) -> set[int]:
    """The ids of every row left in the outbox."""
    async with db.engine.connect() as conn:
        return set((await conn.execute(select(outbox.c.id))).scalars())


async def test_published_rows_go_after_the_retention_period_and_nothing_else(
    db: Database,
) -> None:
    published = [await add(db, "intake", topics.RECEIVED) for _ in range(3)]
    pending = await add(db, "intake", topics.RECEIVED)
    others = await add(db, "router", topics.DECIDED)
    await publish(db, [*published, others])
    now = datetime.now(UTC)

    assert await prune_published(db, "intake", now + KEEP - timedelta(minutes=5), KEEP) == Pruned(
        0, more=False
    )
    assert await ids(db) == {*published, pending, others}
    assert await prune_published(db, "intake", now + KEEP + timedelta(minutes=5), KEEP) == Pruned(
        3, more=False
    )
    # Not yet published (Kafka does not have it), or another relay's: kept.
    assert await ids(db) == {pending, others}


async def test_a_backlog_is_pruned_in_small_batches(db: Database) -> None:
    rows = [await add(db, "intake", topics.RECEIVED) for _ in range(5)]
    await publish(db, rows)
    later = datetime.now(UTC) + 2 * KEEP
    assert await prune_published(db, "intake", later, KEEP, batch=2, budget=2) == Pruned(4, True)
    assert len(await ids(db)) == 1
    assert await prune_published(db, "intake", later, KEEP, batch=2, budget=2) == Pruned(1, False)
    assert await ids(db) == set()


class Acknowledging:
    """A broker that acknowledges everything it is sent."""

    def __init__(self) -> None:
        self.sent: list[OutboxRow] = []

    async def start(self) -> None:
        """Nothing to connect."""

    async def publish(self, rows: list[OutboxRow], headers: list[dict[str, str]]) -> None:
        """Acknowledge them all."""
        self.sent.extend(rows)

    async def ping(self) -> None:
        """Always answers."""

    async def restart(self) -> None:
        """Nothing to replace."""

    async def stop(self) -> None:
        """Nothing to close."""


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    """Wait (without blocking the loop) until an async check returns true."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "never happened"
        await asyncio.sleep(0.02)


class Passes:
    """Counts a pruner's passes by its clock readings (one per pass), so a test waits for
    passes to happen rather than for time to go by."""

    def __init__(self) -> None:
        self.count = 0

    def clock(self, now: list[datetime]) -> Callable[[], datetime]:
        """A clock reading now[0] that counts its readings."""

        def read() -> datetime:
            self.count += 1
            return now[0]

        return read

    async def more(self, n: int) -> None:
        """Wait until n more passes have run."""
        target = self.count + n

        async def done() -> bool:
            return self.count >= target

        await eventually(done)


async def test_the_relay_prunes_its_own_rows_once_published_long_enough_ago(
    db: Database,
) -> None:
    producer, other = f"t-{uuid.uuid4().hex[:12]}", f"t-{uuid.uuid4().hex[:12]}"
    mine = [await add(db, producer, topics.RECEIVED) for _ in range(3)]
    theirs = await add(db, other, topics.RECEIVED)  # published by nobody yet
    now, passes = [datetime.now(UTC)], Passes()
    broker, stopping = Acknowledging(), asyncio.Event()
    relay = Relay(db, broker, producer, 0.05, keep=KEEP, clock=passes.clock(now), prune_every=0.05)
    task = asyncio.create_task(relay.run(stopping))

    async def published() -> bool:
        return len(broker.sent) == 3

    async def only_theirs() -> bool:
        return await ids(db) == {theirs}

    try:
        await eventually(published)
        await passes.more(3)  # prune passes at the real time: too recent to go
        assert await ids(db) == {*mine, theirs}
        now[0] += KEEP + timedelta(minutes=1)
        await eventually(only_theirs)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)
    assert [r.id for r in broker.sent] == mine


# -- embedded mode: the log consumers read by position ----------------------------------


async def read_up_to(db: Database, group: str, position: int) -> None:
    """Store a consumer group's position, as its embedded subscription does."""
    async with db.transaction() as conn:
        if not await db.insert_ignore(conn, consumer_positions, consumer=group, position=position):
            await conn.execute(
                consumer_positions.update()
                .where(consumer_positions.c.consumer == group)
                .values(position=position)
            )


async def test_an_embedded_row_goes_only_once_every_reader_of_its_topic_has_read_it(
    db: Database,
) -> None:
    old = datetime.now(UTC) - KEEP - timedelta(hours=1)
    received = await add(db, "intake", topics.RECEIVED, old)  # read by the router
    decided = await add(db, "router", topics.DECIDED, old)  # by intake and the notifier
    letter = await add(db, "router", topics.DEAD_LETTER, old)  # by intake's dead letters
    status = await add(db, "router", topics.partner_status("uhb"), old)  # by no consumer
    partner = await add(db, "router", topics.partner_referrals("navigators"), old)  # inbox
    unread = await add(db, "intake", topics.RECEIVED, old)
    recent = await add(db, "intake", topics.RECEIVED)
    await read_up_to(db, topics.ROUTER_GROUP, received)  # behind: has not read `unread`
    await read_up_to(db, topics.INTAKE_GROUP, status)
    await read_up_to(db, topics.INTAKE_DEAD_LETTERS_GROUP, letter)
    await read_up_to(db, topics.NOTIFIER_GROUP, received)  # behind: has not read `decided`
    # The inbox group has no position yet: it has read nothing, the partner row stays.
    now = datetime.now(UTC)

    assert await prune_consumed(db, now, KEEP) == Pruned(3, more=False)
    assert await ids(db) == {decided, partner, unread, recent}
    # A consumer that is behind still gets every row it has not read.
    async with db.engine.connect() as conn:
        behind = await outbox_store.read_log(conn, received, (topics.DECIDED,), 100)
        assert [r.id for r in behind] == [decided]

    await read_up_to(db, topics.NOTIFIER_GROUP, decided)
    await read_up_to(db, topics.INTAKE_INBOX_GROUP, partner)
    await read_up_to(db, topics.ROUTER_GROUP, recent)
    assert await prune_consumed(db, now, KEEP) == Pruned(3, more=False)
    assert await ids(db) == {recent}, "read by all, but within the retention period"
    assert await prune_consumed(db, now + KEEP + timedelta(minutes=1), KEEP) == Pruned(1, False)
    assert await ids(db) == set()


async def test_the_embedded_retention_task_prunes_by_its_clock(db: Database) -> None:
    rows = [await add(db, "intake", topics.RECEIVED) for _ in range(3)]
    cancelled = Envelope.wrap(
        ReferralCancelled(
            referral_id="r", source_org="uhb", reason="x", cancelled_at=datetime.now(UTC)
        ),
        "/test",
    )
    async with db.transaction() as conn:
        await outbox_store.add(conn, "intake", topics.RECEIVED, "r", cancelled)
    await read_up_to(db, topics.ROUTER_GROUP, rows[1])  # the last two not read yet
    now, passes = [datetime.now(UTC)], Passes()
    stopping = asyncio.Event()
    retention = LogRetention(db, KEEP, passes.clock(now), every=0.05)
    task = asyncio.create_task(retention.run(stopping))
    try:
        await passes.more(3)  # passes at the real time: everything is too recent
        assert len(await ids(db)) == 4
        now[0] += KEEP + timedelta(minutes=1)

        async def read_ones_gone() -> bool:
            return len(await ids(db)) == 2

        await eventually(read_ones_gone)
        assert min(await ids(db)) == rows[2]
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)


def test_the_retention_period_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VRP_OUTBOX_RETENTION_HOURS", raising=False)
    assert Settings().outbox_retention_hours == 24
    monkeypatch.setenv("VRP_OUTBOX_RETENTION_HOURS", "2.5")
    assert Settings().outbox_retention_hours == 2.5
