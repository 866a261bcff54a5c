"""The outbox relay's publish span: in the trace of the referral whose events it carries,
linked to the other traces of its batch, codes only; and the log lines written inside it."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from testkit.referrals import example
from testkit.runtime import sqlite_url
from vrp import logs, telemetry
from vrp.domain.identifiers import new_id
from vrp.domain.referral import Referral, ReferralSubmission
from vrp.events import topics
from vrp.events.envelope import Envelope
from vrp.events.models import ReferralReceived
from vrp.store import outbox as outbox_store
from vrp.store.database import Database
from vrp.store.migrate import upgrade
from vrp.store.outbox import OutboxRow
from vrp.store.tables import outbox
from vrp.transport.relay import Relay

NAME, NHS_NUMBER, POSTCODE = "Quillonby", "4010232137", "DY99 9ZZ"


class Acknowledging:
    """A broker that acknowledges everything, noting the active span's log line."""

    def __init__(self) -> None:
        self.sent: list[OutboxRow] = []

    async def start(self) -> None:
        """Nothing to connect."""

    async def publish(self, rows: list[OutboxRow], headers: list[dict[str, str]]) -> None:
        """Acknowledge them all (and log, as a client library would, inside the span)."""
        logging.getLogger("vrp.test.broker").info("acknowledged %d", len(rows))
        self.sent.extend(rows)

    async def ping(self) -> None:
        """Always answers."""

    async def restart(self) -> None:
        """Nothing to replace."""

    async def stop(self) -> None:
        """Nothing to close."""


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    """The process's tracer provider, with an in-memory exporter added."""
    kept = InMemorySpanExporter()
    telemetry.configure("vrp-tests", SimpleSpanProcessor(kept))
    return kept


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A freshly migrated SQLite database."""
    database = Database(sqlite_url(tmp_path))
    await upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """JSON log lines written here; the root logger restored afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    logs.configure(log_format="json", stream=out)
    yield out
    for h in root.handlers:
        if h not in handlers:
            root.removeHandler(h)
    root.setLevel(level)


def received() -> Envelope:
    """A received referral naming a distinctive person."""
    submission = example(
        subject__family_name=NAME, subject__nhs_number=NHS_NUMBER, subject__postcode=POSTCODE
    )
    referral = Referral(
        id=str(new_id()),
        source_org="uhb",
        received_at=datetime.now(UTC).isoformat(),
        local_authority="E08000027",
        submission=ReferralSubmission.model_validate(submission),
    )
    return Envelope.wrap(ReferralReceived(referral=referral), "/test", referral.id)


async def stage(db: Database, producer: str, topic: str, traced: bool = True) -> str | None:
    """One outbox row written inside a span of its own (as a referral's request writes its
    event), or outside any; returns the row's traceparent."""
    if traced:
        with telemetry.tracer("test").start_as_current_span("POST /v1/referrals"):
            values = outbox_store.row_values(producer, topic, str(uuid.uuid4()), received())
    else:
        values = outbox_store.row_values(producer, topic, str(uuid.uuid4()), received())
    async with db.transaction() as conn:
        await conn.execute(outbox.insert().values(**values))
    return values["traceparent"]  # type: ignore[no-any-return]


def publishes(exporter: InMemorySpanExporter, producer: str) -> list[ReadableSpan]:
    """The relay's publish spans for producer."""
    return [s for s in exporter.get_finished_spans() if s.name == f"{producer} publish"]


def ids(traceparent: str | None) -> tuple[int, int]:
    """(trace id, span id) of a traceparent."""
    assert traceparent is not None
    _, trace_id, span_id, _ = traceparent.split("-")
    return int(trace_id, 16), int(span_id, 16)


async def test_a_batch_of_one_referral_is_published_in_its_trace(
    db: Database, exporter: InMemorySpanExporter, stream: io.StringIO
) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    first = await stage(db, producer, topics.RECEIVED)
    assert first is not None
    broker = Acknowledging()
    assert await Relay(db, broker, producer, 0.05).publish_once() == 1
    [span] = publishes(exporter, producer)
    assert span.kind is SpanKind.PRODUCER
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == ids(first)
    assert not span.links
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "publish",
        "messaging.batch.message_count": 1,
        "vrp.producer": producer,
        "vrp.topics": (topics.RECEIVED,),
        "vrp.traces": 1,
    }
    # The line the broker logged while publishing names the publish span.
    [line] = [json.loads(x) for x in stream.getvalue().splitlines() if "acknowledged" in x]
    assert line["trace_id"] == format(span.context.trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")


async def test_a_batch_of_several_referrals_links_the_other_traces(
    db: Database, exporter: InMemorySpanExporter
) -> None:
    producer = f"p{uuid.uuid4().hex[:8]}"
    first = await stage(db, producer, topics.RECEIVED)
    second = await stage(db, producer, topics.DECIDED)
    untraced = await stage(db, producer, topics.DECIDED, traced=False)
    assert untraced is None
    broker = Acknowledging()
    assert await Relay(db, broker, producer, 0.05).publish_once() == 3
    [span] = publishes(exporter, producer)
    assert span.parent is not None
    assert (span.context.trace_id, span.parent.span_id) == ids(first)
    assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [ids(second)]
    attributes = dict(span.attributes or {})
    assert attributes["messaging.batch.message_count"] == 3
    assert attributes["vrp.topics"] == tuple(sorted({topics.RECEIVED, topics.DECIDED}))
    assert attributes["vrp.traces"] == 2
    text = json.dumps({k: str(v) for k, v in attributes.items()}) + span.name
    for personal in (NAME, NHS_NUMBER, POSTCODE):
        assert personal not in text
