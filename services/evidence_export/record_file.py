"""Writing the record-level file without holding it: on PostgreSQL the database shapes the
rows and COPY streams them out as CSV (Parquet: converted a block at a time); on SQLite the
rows are read in batches and shaped in Python (records.py). Both write the same file."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import BinaryIO

from services.evidence_export.files import Format, Opened, parquet_from_csv
from services.evidence_export.records import Numbering, records
from vrp.domain.evidence.periods import Period
from vrp.domain.evidence_dictionary import FileEntry
from vrp.store.database import Database
from vrp.store.evidence_records import copy_records, fact_batches


async def write_records(
    db: Database, period: Period, fmt: Format, out: Path, entry: FileEntry, batch: int
) -> tuple[Path, int, int]:
    """Write the record-level file into `out`; its path, rows and referrals."""
    if db.is_sqlite:
        return await _in_batches(db, period, fmt, out, entry, batch)
    return await _copied(db, period, fmt, out, entry)


async def _in_batches(
    db: Database, period: Period, fmt: Format, out: Path, entry: FileEntry, batch: int
) -> tuple[Path, int, int]:
    numbering = Numbering()
    opened = Opened(out, entry, fmt)
    with opened as sink:
        async for rows in fact_batches(db, *period.bounds(), batch):
            sink.write(records(rows, numbering))
    return opened.path, sink.rows, numbering.count


def _header(entry: FileEntry) -> bytes:
    text = io.StringIO()
    csv.writer(text).writerow([c.name for c in entry.columns])
    return text.getvalue().encode()


def _start(path: Path, header: bytes) -> BinaryIO:
    """Open the file COPY streams into (its folder made), its header written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = path.open("wb")
    f.write(header)
    return f


async def _copied(
    db: Database, period: Period, fmt: Format, out: Path, entry: FileEntry
) -> tuple[Path, int, int]:
    final = out / f"{entry.name}.{fmt.value}"
    path = final if fmt is Format.CSV else out / f".{entry.name}.csv.part"
    try:
        with _start(path, _header(entry) if fmt is Format.CSV else b"") as f:

            async def write(chunk: bytes) -> None:
                f.write(chunk)

            rows, referrals = await copy_records(db, *period.bounds(), write)
        if fmt is Format.PARQUET:
            parquet_from_csv(path, final, entry)
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    finally:
        if path != final:
            path.unlink(missing_ok=True)
    return final, rows, referrals
