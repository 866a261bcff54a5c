"""The audit chain: what is recorded, `vrp audit subject`, and `vrp audit verify` catching
each kind of tampering (and passing on an untouched chain)."""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.cli import main
from services.demo import demo_key
from services.intake.auth import keys, oauth
from testkit.partner import bearer, inbox_entry, submit
from testkit.referrals import example
from testkit.runtime import runtime_settings, serving, sqlite_url
from vrp.domain.audit import DISCLOSURE, GENESIS, READ, Entry, digest
from vrp.settings import Settings
from vrp.store import audit
from vrp.store.database import Database
from vrp.store.unit import reading, unit_of_work

NHS = "9434765919"
OVERRIDE = {
    "state": "refused",
    "override": {
        "ground": "prevent-serious-harm",
        "legal_condition": "UK GDPR Art 6(1)(e); DPA 2018 Sch 1 para 10",
        "justification": "Imminent risk of serious harm",
        "decision_maker": "Dr Jo Decider",
    },
}


def _run(db_file: Path, *argv: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """Run `vrp <argv>` against db_file, as an operator would; (exit code, stdout)."""
    import contextlib
    import io

    monkeypatch.setenv("VRP_DATABASE_URL", sqlite_url(db_file.parent))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


async def _cli(db_file: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str]:
    # main() runs its own event loop, so it runs on a thread of its own.
    return await asyncio.to_thread(_run, db_file, *argv, monkeypatch=monkeypatch)


async def _wait_records(url: str, kind: str, count: int, timeout: float = 10) -> None:
    db = Database(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with reading(db) as unit:
                found = [r for r in await audit.records(unit) if r.kind == kind]
            if len(found) >= count or time.monotonic() > deadline:
                assert len(found) >= count, found
                return
            await asyncio.sleep(0.05)
    finally:
        await db.dispose()


async def _scenario(folder: Path) -> tuple[Path, dict[str, str]]:
    """One person referred twice, to two organisations, read once by the first receiver."""
    settings = runtime_settings(sqlite_url(folder), mail_dir=folder / "mail")
    async with serving(settings) as s:
        knife = await submit(s.client, bearer(demo_key("uhb")), body=example())
        abuse = example(reasons=["domestic-abuse"], risk="medium")
        gp = await submit(s.client, bearer(demo_key("example-road-surgery")), body=abuse)
        await _wait_records(settings.database_url, DISCLOSURE, 2)
        await inbox_entry(s.client, knife["id"], bearer(demo_key("navigators")))
    return folder / "vrp.db", {"knife": knife["id"], "abuse": gp["id"]}


def _copy(db_file: Path, folder: Path) -> Path:
    folder.mkdir()
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{db_file}{suffix}").exists():
            shutil.copy(f"{db_file}{suffix}", folder / f"vrp.db{suffix}")
    return folder / "vrp.db"


def _update(db: sqlite3.Connection, seq: int) -> None:
    db.execute("UPDATE audit_log SET detail = ? WHERE seq = ?", (json.dumps({"items": []}), seq))


def _delete(db: sqlite3.Connection, seq: int) -> None:
    db.execute("DELETE FROM audit_log WHERE seq = ?", (seq,))


def _insert(db: sqlite3.Connection, seq: int) -> None:
    """A careful forger: renumber the rest, chain a valid record in, move the head."""
    last = db.execute("SELECT max(seq) FROM audit_log").fetchone()[0]
    for n in range(last, seq - 1, -1):
        db.execute("UPDATE audit_log SET seq = seq + 1 WHERE seq = ?", (n,))
    prev = db.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq - 1,)).fetchone()[0]
    at = datetime.now(UTC)
    detail = {"organisation": "wmp", "items": ["subject.name"]}
    value = digest(seq, at, DISCLOSURE, "service:router", None, None, detail, prev)
    db.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
        (
            seq,
            at.replace(tzinfo=None),
            DISCLOSURE,
            "service:router",
            json.dumps(detail),
            prev,
            value,
        ),
    )
    head = db.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    db.execute("UPDATE audit_head SET seq = ?, hash = ?", head)


def _swap(db: sqlite3.Connection, seq: int) -> None:
    db.execute("UPDATE audit_log SET seq = -1 WHERE seq = ?", (seq,))
    db.execute("UPDATE audit_log SET seq = ? WHERE seq = ?", (seq, seq + 1))
    db.execute("UPDATE audit_log SET seq = ? WHERE seq = -1", (seq + 1,))


TAMPERING: dict[str, Callable[[sqlite3.Connection, int], None]] = {
    "altered": _update,
    "deleted": _delete,
    "inserted": _insert,
    "reordered": _swap,
}


async def test_subject_lists_both_disclosures_and_the_read_and_verify_catches_tampering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_file, ids = await _scenario(tmp_path / "live")

    # Without the services' pseudonym key an NHS number's pseudonym would match nothing: the
    # command refuses rather than answer "no records".
    monkeypatch.delenv("VRP_PSEUDONYM_KEY", raising=False)
    code, out = await _cli(db_file, monkeypatch, "audit", "subject", "--nhs-number", NHS)
    assert code == 2 and out == "", out
    monkeypatch.setenv("VRP_PSEUDONYM_KEY", Settings().pseudonym_key.get_secret_value())
    code, out = await _cli(db_file, monkeypatch, "audit", "subject", "--nhs-number", NHS)
    assert code == 0, out
    lines = out.splitlines()
    disclosed = [line for line in lines if "disclosed to" in line]
    assert len(disclosed) == 2, out
    knife = next(line for line in disclosed if ids["knife"] in line)
    abuse = next(line for line in disclosed if ids["abuse"] in line)
    assert "disclosed to navigators (navigators-birmingham)" in knife
    assert "subject.name" in knife and "flow " in knife
    assert "disclosed to safe-homes (gp-domestic-abuse-advocates)" in abuse
    assert "isa-gp-domestic-abuse v1 flow gp-to-advocates" in abuse
    reads = [line for line in lines if "read by" in line]
    assert len(reads) == 1 and "org:navigators/key:demo-navigators" in reads[0], out
    assert ids["knife"] in reads[0] and "inbox-entry" in reads[0]
    assert NHS not in out and "Fictional" not in out  # ids and codes only

    code, head = await _cli(db_file, monkeypatch, "audit", "head")
    assert code == 0
    code, out = await _cli(db_file, monkeypatch, "audit", "verify", "--against", head.strip())
    assert code == 0, out
    seq, value = head.strip().split(":")
    assert out.startswith(f"chain intact: {seq} records, head {value}")

    # The first disclosure: a record with records both before and after it.
    with sqlite3.connect(db_file) as db:
        target = db.execute("SELECT min(seq) FROM audit_log WHERE kind = ?", (DISCLOSURE,))
        target = target.fetchone()[0]
    assert 1 < target < int(seq)
    for kind, tamper in TAMPERING.items():
        copy = _copy(db_file, tmp_path / kind)
        with sqlite3.connect(copy) as db:
            tamper(db, target)
        code, out = await _cli(copy, monkeypatch, "audit", "verify")
        assert code == 1, (kind, out)
        assert out.startswith(f"chain broken at seq {target}: {kind}:"), (kind, out)

    # A head exported before a record was rewritten no longer matches.
    copy = _copy(db_file, tmp_path / "rewritten")
    with sqlite3.connect(copy) as db:
        _delete(db, int(seq))
        db.execute(
            "UPDATE audit_head SET seq = seq - 1, hash = (SELECT hash FROM audit_log "
            "WHERE seq = ?)",
            (int(seq) - 1,),
        )
    code, out = await _cli(copy, monkeypatch, "audit", "verify", "--against", head.strip())
    assert code == 1 and f"seq {seq}: deleted" in out, out


async def test_reads_overrides_credentials_and_configuration_are_recorded(
    tmp_path: Path,
) -> None:
    settings = runtime_settings(sqlite_url(tmp_path), mail_dir=tmp_path / "mail")
    async with serving(settings) as s:
        uhb = bearer(demo_key("uhb"))
        accepted = await submit(s.client, uhb, body=example(consent=OVERRIDE))
        assert (await s.client.get(f"/v1/referrals/{accepted['id']}", headers=uhb)).status_code
        db = s.runtime.db
        async with unit_of_work(db) as unit:
            await keys.rotate(unit, "wmp", timedelta(hours=1), actor="cli:ops")
            assert await keys.revoke(unit, "wmp", actor="cli:ops") == 2
            assert await oauth.revoke_clients(unit, "wmp", actor="cli:ops") == 0
        await audit.seal_all(db)
        async with reading(db) as unit:
            chain = await audit.records(unit)
            assert await audit.verify(unit) is None
    kinds = [r.kind for r in chain]
    assert kinds[:8] == ["credential"] * 8  # the demo keys, issued before start
    assert "config-loaded" in kinds
    override = next(r for r in chain if r.kind == "consent-override")
    assert override.referral_id == accepted["id"]
    assert override.detail == {"ground": "prevent-serious-harm", "consent_state": "refused"}
    assert "Decider" not in json.dumps([r.detail for r in chain])
    status_read = next(r for r in chain if r.kind == READ)
    assert status_read.actor == "org:uhb/key:demo-uhb"
    assert status_read.detail == {"via": "api", "operation": "status"}
    changes = [r.detail for r in chain if r.actor == "cli:ops"]
    assert [c["action"] for c in changes] == [
        "api-key-rotated",
        "api-key-issued",
        "api-key-revoked",
        "oauth-clients-revoked",
    ]
    assert changes[0]["ids"] == ["demo-wmp"] and len(changes[2]["ids"]) == 2
    assert "secret" not in json.dumps(changes) and "hash" not in json.dumps(changes)


@pytest.mark.postgres
async def test_concurrent_writers_and_sealers_make_one_gap_free_chain(pg_db: Database) -> None:
    # Writers take no lock; three sealers (as three processes would) chain what they find.
    done = asyncio.Event()

    async def writer(n: int) -> None:
        for i in range(5):
            async with pg_db.transaction() as conn:
                entries = [
                    Entry("read", f"writer-{n}", None, None, {"i": i, "j": j}) for j in (1, 2)
                ]
                await audit.append_many(conn, entries)

    async def sealer() -> None:
        while not done.is_set():
            async with pg_db.transaction() as conn:
                await audit.seal(conn, limit=7)
            await asyncio.sleep(0)

    sealers = [asyncio.create_task(sealer()) for _ in range(3)]
    await asyncio.gather(*(writer(n) for n in range(12)))
    done.set()
    await asyncio.gather(*sealers)
    await audit.seal_all(pg_db)
    async with reading(pg_db) as unit:
        chain = await audit.records(unit)
        finding = await audit.verify(unit)
        head = await audit.current_head(unit)
    assert [r.seq for r in chain] == list(range(1, 121))
    assert finding is None and head.seq == 120 and chain[0].prev_hash == GENESIS
    # Each writer's records keep the order it wrote them in, and time never runs backwards.
    for n in range(12):
        mine = [(r.detail["i"], r.detail["j"]) for r in chain if r.actor == f"writer-{n}"]
        assert mine == [(i, j) for i in range(5) for j in (1, 2)]
    assert all(a.at <= b.at for a, b in itertools.pairwise(chain))
