"""`vrp evidence export`: the aggregates with disclosure control, readable back as CSV and
Parquet, a data dictionary covering every column, the record-level file for analysts only
(audited), and no identifier in any file."""

from __future__ import annotations

import asyncio
import csv
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Table, select

from services import cli
from services.evidence_export.export import _codes, export
from services.evidence_export.files import Format
from services.evidence_export.record_file import _in_batches, write_records
from vrp.config_files import load_configuration
from vrp.domain.audit import EVIDENCE_EXPORT
from vrp.domain.evidence.periods import Period
from vrp.domain.evidence_dictionary import records_entry
from vrp.domain.people import Role
from vrp.settings import DEMO_CONFIG_DIR
from vrp.store import accounts, audit
from vrp.store.database import Database
from vrp.store.evidence_records import fact_batches
from vrp.store.evidence_tables import deprivation, populations, referral_facts
from vrp.store.migrate import upgrade
from vrp.store.tables import received_referrals
from vrp.store.unit import reading, unit_of_work

BIRMINGHAM, COVENTRY, WOLVERHAMPTON = "E08000025", "E08000026", "E08000031"
PERIOD = Period(date(2026, 1, 1), date(2026, 6, 30))
THRESHOLD = 5
PASSWORD = "a long enough password"
# What the system holds about people that must never leave in an export.
NAME, NHS, PHONE, POSTCODE, DOB = (
    "Zebedee Quillfeather",
    "9434765919",
    "07700900461",
    "B15 2TT",
    "2010-03-14",
)
PSEUDONYM = "5eudon7m0f2a9c4d1b8e6f3a7c5d9e1b"
IDENTIFIERS = (NAME, "Quillfeather", NHS, PHONE, POSTCODE, "B152TT", DOB, PSEUDONYM)


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 1, 1, hour, tzinfo=UTC) + timedelta(days=day)


def _fixture_rows() -> dict[Table, list[dict[str, Any]]]:
    """40 referrals in Birmingham, 12 in Coventry and 2 in Wolverhampton (small: suppressed),
    most offered to the Birmingham navigators, with populations and deciles; every offer's
    payload holds the person's identifiers, as a receiver's copy does."""
    rows: dict[Table, list[dict[str, Any]]] = {
        t: [] for t in (referral_facts, received_referrals, populations, deprivation)
    }
    areas = [BIRMINGHAM] * 40 + [COVENTRY] * 12 + [WOLVERHAMPTON] * 2
    payload = {
        "subject": {
            "name": NAME,
            "nhs_number": NHS,
            "phone": PHONE,
            "postcode": POSTCODE,
            "date_of_birth": DOB,
        },
        "notes": f"{NAME} was seen at {POSTCODE}",
    }
    for i, area in enumerate(areas):
        rid = str(uuid.uuid4())
        at = _at(i * 3)
        rows[referral_facts].append(
            {
                "referral_id": rid,
                "referred_at": at,
                "month": f"{at:%Y-%m}",
                "source_kind": "police",
                "local_authority": area,
                "lsoa": f"E0100{i % 4:04d}",
                "age": 12 + i % 10,
                "sex": ("female", "male")[i % 2],
                "reason": "knife-crime",
                "reasons": "knife-crime",
                "pseudonym": PSEUDONYM if i == 0 else uuid.uuid4().hex,
            }
        )
        if i % 9 == 8:
            continue  # never offered
        status = ("completed", "declined", "accepted", "awaiting")[i % 4]
        offered = at + timedelta(minutes=20)
        accepted = offered + timedelta(hours=6) if status in ("completed", "accepted") else None
        closed = offered + timedelta(days=30) if status in ("completed", "declined") else None
        rows[received_referrals].append(
            {
                "referral_id": rid,
                "intervention": "navigators-birmingham",
                "organisation": "navigators",
                "reference": "VRP-TEST",
                "event_id": str(uuid.uuid4()),
                "payload": payload,
                "status": status,
                "reason": "no-capacity" if status == "declined" else None,
                "outcome": "engaged" if status == "completed" else None,
                "received_at": offered,
                "updated_at": closed or offered,
                "accepted_at": accepted,
                "first_contact_at": accepted + timedelta(hours=20)
                if status == "completed" and accepted
                else None,
                "closed_at": closed,
                "kind": "offer",
            }
        )
    for area in (BIRMINGHAM, COVENTRY, WOLVERHAMPTON):
        for sex in ("female", "male"):
            for age in range(91):
                rows[populations].append(
                    {
                        "local_authority": area,
                        "year": 2025,
                        "sex": sex,
                        "age": age,
                        "population": 3000,
                    }
                )
    for i in range(4):
        rows[deprivation].append(
            {
                "lsoa": f"E0100{i:04d}",
                "local_authority": BIRMINGHAM,
                "decile": 1 + i * 3,
                "population": 1500,
            }
        )
    return rows


async def _seed(db: Database) -> None:
    async with db.transaction() as conn:
        for table, rows in _fixture_rows().items():
            await conn.execute(table.insert(), rows)
    async with unit_of_work(db) as unit:
        now = datetime.now(UTC)
        await accounts.add(unit, "ana.lyst", "Ana Lyst", "wm-vru", Role.ANALYST, PASSWORD, now)
        await accounts.add(
            unit, "team.member", "Tim Member", "navigators", Role.TEAM_MEMBER, PASSWORD, now
        )
        await accounts.add(
            unit, "gone.analyst", "Gone Analyst", "wm-vru", Role.ANALYST, PASSWORD, now
        )
        await accounts.disable(unit, "gone.analyst", now)


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[tuple[Database, str]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/vrp.db"
    db = Database(url)
    await upgrade(db)
    await _seed(db)
    yield db, url
    await db.dispose()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def _vrp(*argv: str) -> int:
    """`vrp ...` as the console script runs it (its own event loop, so in a thread)."""
    return await asyncio.to_thread(cli.main, list(argv))


async def _run(url: str, out: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> int:
    monkeypatch.setenv("VRP_DATABASE_URL", url)
    monkeypatch.setenv("VRP_CONFIG_DIR", str(DEMO_CONFIG_DIR))
    period = ("--from", "2026-01-01", "--to", "2026-06-30")
    return await _vrp("evidence", "export", *period, "--out", str(out), *extra)


async def _exported(db: Database, out: Path, fmt: Format) -> dict[str, Path]:
    """Export without records; each file by its path under `out`, without extension."""
    config = load_configuration(DEMO_CONFIG_DIR)
    written = await export(db, config, PERIOD, fmt, out, THRESHOLD)
    return {p.relative_to(out).with_suffix("").as_posix(): p for p in written.files}


def _blank_with(row: dict[str, str], count: str, *derived: str) -> None:
    if row[count] == "":
        assert all(row[d] == "" for d in derived), (count, row)


async def test_the_aggregates_suppress_small_counts_and_blank_their_rates(
    seeded: tuple[Database, str], tmp_path: Path
) -> None:
    files = await _exported(seeded[0], tmp_path / "out", Format.CSV)
    assert "records" not in files, "the record-level file needs --records --as an analyst"
    area = {r["code"]: r for r in _csv(files["needs/area"])}
    # Wolverhampton's 2 referrals are suppressed, and Coventry's 12 with them (else the
    # total of 54 less Birmingham's 40 would give Wolverhampton away); their rates too.
    assert area[WOLVERHAMPTON]["referrals"] == area[COVENTRY]["referrals"] == ""
    assert area[WOLVERHAMPTON]["rate"] == area[WOLVERHAMPTON]["rate_ci_lower"] == ""
    assert area[BIRMINGHAM]["referrals"] == "40" and area["total"]["referrals"] == "54"
    assert area[BIRMINGHAM]["rate"] != "" and area[BIRMINGHAM]["population"] == "546000"
    dictionary = _csv(files["data-dictionary"])
    counts = {(r["file"], r["column"]) for r in dictionary if r["type"] == "count"}
    checked = 0
    for name, path in files.items():
        if name == "data-dictionary":
            continue
        for row in _csv(path):
            for column, value in row.items():
                counted = (f"{name}.csv", column) in counts
                if counted and column not in ("change", "population") and value != "":
                    assert int(value) == 0 or int(value) >= THRESHOLD, (name, column, row)
                    checked += 1
            if "referrals" in row and "rate" in row:
                _blank_with(row, "referrals", "rate", "rate_ci_lower", "rate_ci_upper", "change")
                _blank_with(row, "referrals_before", "rate_before", "change", "change_percent")
    assert checked > 100
    for row in _csv(files["needs/area-year"]):
        _blank_with(row, "referrals_2026", "rate_2026")


async def test_the_dictionary_describes_every_column_of_every_file(
    seeded: tuple[Database, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert await _run(seeded[1], out, monkeypatch, "--records", "--as", "ana.lyst") == 0
    dictionary = _csv(out / "data-dictionary.csv")
    described: dict[str, set[str]] = {}
    for row in dictionary:
        assert row["meaning"], row
        if row["column"]:
            described.setdefault(row["file"], set()).add(row["column"])
    written = {p.relative_to(out).as_posix() for p in out.rglob("*.csv")}
    assert set(described) == written - {"data-dictionary.csv"}
    assert {
        "records.csv",
        "needs/area.csv",
        "evaluation/navigators-birmingham/funnel.csv",
    } <= written
    for name in described:
        with (out / name).open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f))
        assert set(header) == described[name], name
    coded = {r["column"]: r["codes"] for r in dictionary if r["file"] == "records.csv"}
    assert "knife-crime" in coded["reason"] and "no-capacity" in coded["decline_reason"]
    area = {r["column"]: r["codes"] for r in dictionary if r["file"] == "needs/area.csv"}
    assert f"{WOLVERHAMPTON} = Wolverhampton" in area["code"]


async def test_parquet_reads_back_as_the_csv_does(
    seeded: tuple[Database, str], tmp_path: Path
) -> None:
    as_csv = await _exported(seeded[0], tmp_path / "csv", Format.CSV)
    as_parquet = await _exported(seeded[0], tmp_path / "parquet", Format.PARQUET)
    assert set(as_csv) == set(as_parquet)
    for name, path in as_parquet.items():
        if name == "data-dictionary":
            continue
        table = pq.read_table(path)
        expected = _csv(as_csv[name])
        assert table.num_rows == len(expected), name
        for want, row in zip(expected, table.to_pylist(), strict=True):
            assert {k: "" if v is None else str(v) for k, v in row.items()} == want, name
    funnel = pq.read_table(as_parquet["evaluation/navigators-birmingham/funnel"])
    assert str(funnel.schema.field("offers").type) == "int64"


async def test_records_are_refused_to_anyone_but_an_active_analyst(
    seeded: tuple[Database, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for who in ("team.member", "gone.analyst", "nobody"):
        out = tmp_path / who
        assert await _run(seeded[1], out, monkeypatch, "--records", "--as", who) == 3
        assert "analysts only" in capsys.readouterr().err
        assert not out.exists() or not list(out.glob("records.*"))
    async with reading(seeded[0]) as unit:
        assert await audit.listed(unit, [EVIDENCE_EXPORT], None, 10) == []


async def test_an_analysts_record_export_is_audited_with_its_rows(
    seeded: tuple[Database, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    assert (
        await _run(
            seeded[1], out, monkeypatch, "--records", "--as", "ana.lyst", "--format", "parquet"
        )
        == 0
    )
    records = pq.read_table(out / "records.parquet").to_pylist()
    # 54 referrals, 6 never offered (one row each), 48 with one offer each.
    assert len(records) == 54
    assert max(r["referral"] for r in records) == 54
    declined = [r for r in records if r["offer_status"] == "declined"]
    assert declined and all(r["decline_reason"] == "no-capacity" for r in declined)
    completed = [r for r in records if r["offer_status"] == "completed"]
    assert completed and all(r["hours_to_first_contact"] == 26.0 for r in completed)
    db = seeded[0]
    await audit.seal_all(db)
    async with reading(db) as unit:
        [record] = await audit.listed(unit, [EVIDENCE_EXPORT], None, 10)
    assert record.actor == "org:wm-vru/user:ana.lyst"
    assert record.detail["account"] == "ana.lyst"
    assert (record.detail["from"], record.detail["to"]) == ("2026-01-01", "2026-06-30")
    assert record.detail["rows"] == 54 and record.detail["referrals"] == 54
    capsys.readouterr()
    assert await _vrp("audit", "list", "--kind", "evidence-export") == 0
    listed = capsys.readouterr().out
    assert "evidence export of 54 record rows (2026-01-01 to 2026-06-30, parquet)" in listed
    assert "org:wm-vru/user:ana.lyst" in listed


async def test_no_identifier_appears_in_any_exported_file(
    seeded: tuple[Database, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for fmt in ("csv", "parquet"):
        out = tmp_path / fmt
        assert (
            await _run(
                seeded[1], out, monkeypatch, "--records", "--as", "ana.lyst", "--format", fmt
            )
            == 0
        )
        for path in out.rglob("*.*"):
            text = path.read_bytes().decode("utf-8", "replace")
            if path.suffix == ".parquet":
                text += repr(pq.read_table(path).to_pylist())
            for identifier in IDENTIFIERS:
                assert identifier.lower() not in text.lower(), (path.name, identifier)
            assert "E0100" not in text, (path.name, "an LSOA code")
    async with reading(seeded[0]) as unit:
        ids = [r.referral_id for r in await _facts(unit)]
    exported = "".join(p.read_text("utf-8", "replace") for p in (tmp_path / "csv").rglob("*.csv"))
    assert not any(rid in exported for rid in ids)


async def _facts(unit: Any) -> list[Any]:
    return list((await unit.conn.execute(select(referral_facts.c.referral_id))).all())


@pytest.mark.postgres
async def test_records_stream_in_batches_on_postgresql(pg_db: Database) -> None:
    await _seed(pg_db)
    first, last = PERIOD.bounds()
    batches = [len(b) async for b in fact_batches(pg_db, first, last, batch=7)]
    assert sum(batches) == 54 and max(batches) == 7 and len(batches) == 8


@pytest.mark.postgres
async def test_postgresql_shapes_the_records_as_python_does(
    pg_db: Database, tmp_path: Path
) -> None:
    """The database's COPY path (PostgreSQL) writes what the batch path (SQLite's) writes."""
    await _seed(pg_db)
    entry = records_entry(_codes(load_configuration(DEMO_CONFIG_DIR)))
    for fmt in Format:
        copied = await write_records(pg_db, PERIOD, fmt, tmp_path / "copy", entry, 1000)
        batched = await _in_batches(pg_db, PERIOD, fmt, tmp_path / "batches", entry, 7)
        assert copied[1:] == batched[1:] == (54, 54)
        if fmt is Format.CSV:
            assert copied[0].read_text() == batched[0].read_text()
        else:
            assert pq.read_table(copied[0]).equals(pq.read_table(batched[0]))
