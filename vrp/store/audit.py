"""The audit chain: record entries in the caller's transaction, chain them (seal), and
verify the chain.

Writers never wait for each other: `append` inserts into audit_pending, taking no lock, and
`seal` (run by each process's Sealer right after such a commit, and by the audit commands)
moves pending records onto the chain in one short transaction under the head's lock. A
record is durable with the change it describes; it is chained moments later."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from vrp.domain.audit import CONFIG_LOADED, GENESIS, Entry, digest
from vrp.domain.configuration import RoutingConfiguration
from vrp.store.database import AUDIT_WRITTEN, DATABASE_ERRORS, Database
from vrp.store.tables import audit_head, audit_log, audit_pending, subject_index

if TYPE_CHECKING:  # the unit flushes its audit records through this module
    from vrp.store.unit import Unit

log = logging.getLogger(__name__)
CHAIN = "main"


@dataclass(frozen=True)
class Head:
    """The last record of the chain: what a third party keeps to check the chain later."""

    seq: int
    hash: str

    def __str__(self) -> str:
        """The exported form, `<seq>:<hash>`."""
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """Read an exported head (ValueError when malformed)."""
        seq, _, value = text.partition(":")
        if len(value) != 64:
            raise ValueError("expected <seq>:<64 hex digits>")
        return cls(int(seq), value.lower())


@dataclass(frozen=True)
class Record:
    """One stored record, as read back."""

    seq: int
    at: datetime
    kind: str
    actor: str
    referral_id: str | None
    subject: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def computed(self) -> str:
        """The hash this record's content should have."""
        return digest(
            self.seq,
            self.at,
            self.kind,
            self.actor,
            self.referral_id,
            self.subject,
            self.detail,
            self.prev_hash,
        )


@dataclass(frozen=True)
class Finding:
    """The first thing wrong with a chain: which record, and what was done to it."""

    seq: int
    tampering: str  # altered, deleted, inserted, reordered
    detail: str

    def __str__(self) -> str:
        """One line for the operator."""
        return f"seq {self.seq}: {self.tampering}: {self.detail}"


async def append(conn: AsyncConnection, entry: Entry) -> None:
    """Record one entry in the caller's transaction (chained once committed)."""
    await append_many(conn, [entry])


async def append_many(conn: AsyncConnection, entries: Sequence[Entry]) -> None:
    """Record entries, in order, in the caller's transaction; the sealer chains them once
    it has committed. No lock is taken, so this may come anywhere in a transaction."""
    if not entries:
        return
    at = datetime.now(UTC)
    await conn.execute(audit_pending.insert(), [pending_row(e, at) for e in entries])
    recorded(conn)


def pending_row(entry: Entry, at: datetime) -> dict[str, Any]:
    """The audit_pending row of an entry (for a caller that inserts it in its own
    statement, then calls `recorded`)."""
    return {
        "at": at,
        "kind": entry.kind,
        "actor": entry.actor,
        "referral_id": entry.referral_id,
        "subject": entry.subject,
        "detail": entry.detail,
    }


def recorded(conn: AsyncConnection) -> None:
    """Note that this transaction recorded audit entries: its commit wakes the sealer."""
    conn.info[AUDIT_WRITTEN] = True


async def seal(conn: AsyncConnection, limit: int = 500) -> int:
    """Chain up to `limit` pending records, oldest first, in the caller's transaction;
    how many. Sealers in every process take turns on the head's lock, briefly."""
    if (await conn.execute(select(audit_pending.c.id).limit(1))).first() is None:
        return 0  # nothing to do: no lock taken
    head = await _locked_head(conn)
    pending = (
        await conn.execute(select(audit_pending).order_by(audit_pending.c.id).limit(limit))
    ).all()
    if not pending:
        return 0  # another sealer took them while we waited for the lock
    # Times never run backwards along the chain: a record committed after a later-dated
    # one is chained at that one's time.
    last = await conn.scalar(select(audit_log.c.at).where(audit_log.c.seq == head.seq))
    rows: list[dict[str, Any]] = []
    seq, prev = head.seq, head.hash
    for p in pending:
        at = p.at if last is None or p.at >= last else last
        seq += 1
        value = digest(seq, at, p.kind, p.actor, p.referral_id, p.subject, p.detail, prev)
        rows.append(
            {
                "seq": seq,
                "at": at,
                "kind": p.kind,
                "actor": p.actor,
                "referral_id": p.referral_id,
                "subject": p.subject,
                "detail": p.detail,
                "prev_hash": prev,
                "hash": value,
            }
        )
        prev, last = value, at
    await conn.execute(audit_log.insert(), rows)
    await conn.execute(delete(audit_pending).where(audit_pending.c.id.in_([p.id for p in pending])))
    await conn.execute(
        update(audit_head).where(audit_head.c.chain == CHAIN).values(seq=seq, hash=prev)
    )
    return len(rows)


async def seal_all(db: Database) -> int:
    """Chain every record pending now (the audit commands do, before they read); how many."""
    total = 0
    while True:
        async with db.transaction() as conn:
            sealed = await seal(conn)
        total += sealed
        if sealed == 0:
            return total


async def _locked_head(conn: AsyncConnection) -> Head:
    query = select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.chain == CHAIN)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:  # the migration seeds it; a hand-built schema may not have
        await conn.execute(audit_head.insert().values(chain=CHAIN, seq=0, hash=GENESIS))
        return Head(0, GENESIS)
    return Head(int(row.seq), row.hash)


async def current_head(unit: Unit) -> Head:
    """The recorded head (seq 0 and the genesis hash for an empty chain)."""
    row = (
        await unit.conn.execute(
            select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.chain == CHAIN)
        )
    ).first()
    return Head(0, GENESIS) if row is None else Head(int(row.seq), row.hash)


async def records(unit: Unit) -> list[Record]:
    """Every record, in sequence order."""
    rows = await unit.conn.execute(select(audit_log).order_by(audit_log.c.seq))
    return [Record(**r._asdict()) for r in rows]


async def listed(
    unit: Unit, kinds: Sequence[str] = (), since: datetime | None = None, limit: int = 100
) -> list[Record]:
    """The newest `limit` records of these kinds (all kinds when none) from `since`, in
    sequence order."""
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)
    if kinds:
        query = query.where(audit_log.c.kind.in_(list(kinds)))
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    rows = await unit.conn.execute(query)
    return sorted((Record(**r._asdict()) for r in rows), key=lambda r: r.seq)


async def subject_records(unit: Unit, subject: str) -> list[Record]:
    """Records naming the person's pseudonym, or one of the referrals made about them."""
    # Reads and overrides carry the referral id only (intake never sees the pseudonym key).
    referral_ids = select(subject_index.c.referral_id).where(subject_index.c.pseudonym == subject)
    rows = await unit.conn.execute(
        select(audit_log)
        .where(or_(audit_log.c.subject == subject, audit_log.c.referral_id.in_(referral_ids)))
        .order_by(audit_log.c.seq)
    )
    return [Record(**r._asdict()) for r in rows]


async def verify(unit: Unit, against: Head | None = None) -> Finding | None:
    """The first tampering found in the stored chain, or None when it is intact (and holds
    `against`, a head exported earlier, when given)."""
    chain = await records(unit)
    finding = check(chain, await current_head(unit))
    if finding is None and against is not None:
        finding = _holds(chain, against)
    return finding


def check(chain: list[Record], head: Head) -> Finding | None:
    """Walk the chain in sequence order; name the first record that breaks it."""
    by_hash = {r.hash: r for r in chain}
    prev: Record | None = None
    before: Record | None = None  # the record before prev
    for r in chain:
        expected_seq = 1 if prev is None else prev.seq + 1
        expected_prev = GENESIS if prev is None else prev.hash
        if r.seq > head.seq:
            return Finding(r.seq, "inserted", f"beyond the recorded head (seq {head.seq})")
        if r.seq < expected_seq:
            return Finding(r.seq, "inserted", "a second record with this sequence number")
        if r.seq > expected_seq:
            return Finding(expected_seq, "deleted", f"records {expected_seq}..{r.seq - 1} missing")
        if r.prev_hash != expected_prev:
            return _broken_link(r, prev, before, by_hash)
        if r.computed() != r.hash:
            return Finding(r.seq, "altered", "its content no longer matches its hash")
        before, prev = prev, r
    last = 0 if prev is None else prev.seq
    if last < head.seq:
        return Finding(last + 1, "deleted", f"records {last + 1}..{head.seq} missing at the end")
    if prev is not None and prev.hash != head.hash:
        return Finding(prev.seq, "altered", "the last record does not match the recorded head")
    return None


def _broken_link(
    r: Record, prev: Record | None, before: Record | None, by_hash: dict[str, Record]
) -> Finding:
    """r does not point at the record before it: say what most plausibly happened."""
    assert prev is not None or r.prev_hash != GENESIS
    skipped = GENESIS if before is None else before.hash
    if prev is not None and r.prev_hash == skipped:
        # r was written right after `before`: the record between them was not in the chain.
        return Finding(prev.seq, "inserted", f"seq {r.seq} was chained to seq {prev.seq - 1}")
    if r.prev_hash in by_hash or r.prev_hash == GENESIS:
        # Intact content under another sequence number: the record was moved. (The record
        # it points to may have been moved too, so its current seq proves nothing.)
        for was in range(1, max(by_hash[h].seq for h in by_hash) + 2):
            if was != r.seq and replace(r, seq=was).computed() == r.hash:
                return Finding(r.seq, "reordered", f"this record was written as seq {was}")
    if prev is not None:
        return Finding(prev.seq, "altered", f"seq {r.seq} was chained to a different record")
    return Finding(r.seq, "altered", "the first record does not start from the genesis hash")


def _holds(chain: list[Record], against: Head) -> Finding | None:
    """An exported head must still be in the chain, unchanged."""
    for r in chain:
        if r.seq == against.seq:
            if r.hash == against.hash:
                return None
            return Finding(r.seq, "altered", "its hash differs from the exported head")
    if against.seq == 0 and against.hash == GENESIS:
        return None
    return Finding(against.seq, "deleted", "the exported head is not in the chain")


async def record_configuration(db: Database, actor: str, config: RoutingConfiguration) -> None:
    """Record that a process put a configuration version into force (never fails the caller:
    a database outage here must not stop routing, so it is logged instead)."""
    entry = Entry(CONFIG_LOADED, actor, None, None, {"version": config.version})
    try:
        async with db.transaction() as conn:
            await append(conn, entry)
    except DATABASE_ERRORS as exc:
        log.warning("configuration %s not audited: %s", config.version, type(exc).__name__)
