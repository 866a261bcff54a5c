"""One export: the aggregates (protected), then, for an analyst, the record-level facts
streamed to their file and audited, then the data dictionary of whatever was written."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.evidence_export.aggregates import Aggregate, aggregates
from services.evidence_export.files import Format, write_file
from services.evidence_export.record_file import write_records
from vrp.domain.audit import EVIDENCE_EXPORT, Entry
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.evidence.periods import Period, partnership_areas
from vrp.domain.evidence_dictionary import (
    DICTIONARY_COLUMNS,
    OFFER_STATUS_CODES,
    FileEntry,
    code_list,
    dictionary_rows,
    records_entry,
)
from vrp.domain.geography import AREAS
from vrp.domain.vocabulary import OrgKind
from vrp.store import evidence
from vrp.store.accounts import Person
from vrp.store.database import Database
from vrp.store.unit import reading, unit_of_work

DICTIONARY = "data-dictionary"
BATCH = 20_000


@dataclass(frozen=True, slots=True)
class Written:
    """What an export wrote: each file and its rows; the record rows (None: not asked)."""

    files: dict[Path, int]
    records: int | None


def _codes(config: RoutingConfiguration) -> dict[str, str]:
    """The record-level file's code lists, from the configuration."""
    vocab = config.codes.by_api_name()
    areas = partnership_areas(config) or tuple(AREAS)
    return {
        "source_kind": code_list([k.value for k in OrgKind]),
        "local_authority": code_list({a: AREAS.get(a, a) for a in areas}),
        "reason": code_list(vocab["reasons"]),
        "decline_reason": code_list(vocab["decline-reasons"]),
        "outcome": code_list(vocab["outcomes"]),
        "intervention": code_list({i.id: i.title for i in config.interventions}),
        "organisation": code_list({o.id: o.name for o in config.organisations}),
        "offer_status": code_list(OFFER_STATUS_CODES),
    }


def _write_aggregates(
    out: Path, written: list[Aggregate], fmt: Format
) -> tuple[dict[Path, int], list[FileEntry]]:
    out.mkdir(parents=True, exist_ok=True)
    names = [a.entry.name for a in written]
    if len(set(names)) != len(names):  # two tables would share a file
        raise ValueError(f"duplicate evidence table names: {sorted(names)}")
    files = {write_file(out, a.entry, fmt, a.rows): len(a.rows) for a in written}
    return files, [a.entry for a in written]


def _dictionary(out: Path, entries: list[FileEntry], fmt: Format) -> Path:
    path = out / f"{DICTIONARY}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, DICTIONARY_COLUMNS)
        writer.writeheader()
        for row in dictionary_rows(entries):
            writer.writerow(row | {"file": f"{row['file']}.{fmt.value}"})
    return path


async def export(
    db: Database,
    config: RoutingConfiguration,
    period: Period,
    fmt: Format,
    out: Path,
    threshold: int,
    analyst: Person | None = None,
    operator: str = "cli",
    batch: int = BATCH,
) -> Written:
    """Write the period's aggregates (and, for `analyst`, the record-level file, audited)
    with their dictionary into `out`."""
    async with reading(db) as unit, evidence.roomy(unit):
        evaluations = await evidence.evaluation(
            unit, config, period.start, period.end, as_of=datetime.now(UTC)
        )
        needs = await evidence.needs(unit, config, period.start, period.end)
    tables = aggregates(evaluations, needs, config, period, threshold)
    files, entries = _write_aggregates(out, tables, fmt)
    count: int | None = None
    if analyst is not None:
        entry = records_entry(_codes(config))
        path, count, referrals = await write_records(db, period, fmt, out, entry, batch)
        try:
            async with unit_of_work(db) as unit:
                unit.audit(_audit(analyst, period, fmt, count, referrals, operator))
        except BaseException:
            path.unlink(missing_ok=True)  # not audited, so not released
            raise
        files[path] = count
        entries.append(entry)
    path = _dictionary(out, entries, fmt)
    files[path] = sum(1 + len(e.columns) for e in entries)
    return Written(files, count)


def _audit(
    analyst: Person, period: Period, fmt: Format, rows: int, referrals: int, operator: str
) -> Entry:
    detail = {
        "account": analyst.username,
        "organisation": analyst.organisation,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "rows": rows,
        "referrals": referrals,
        "format": fmt.value,
        "operator": operator,
    }
    return Entry(EVIDENCE_EXPORT, analyst.actor, None, None, detail)
