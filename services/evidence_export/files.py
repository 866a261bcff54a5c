"""Writing the export's files, CSV or Parquet, a batch at a time: a file is open while its
rows stream in, and no more than one batch is held."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from vrp.domain.evidence_dictionary import FileEntry

Row = Sequence[Any]


class Format(StrEnum):
    """The export's file format."""

    CSV = "csv"
    PARQUET = "parquet"


class Sink(Protocol):
    """An open file taking rows in the entry's column order."""

    rows: int

    def write(self, rows: Sequence[Row]) -> None:
        """Append rows."""

    def close(self) -> None:
        """Finish the file."""


class CsvSink:
    """A CSV file (UTF-8, a header row, blank for None)."""

    def __init__(self, path: Path, entry: FileEntry) -> None:
        self._file = path.open("w", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow([c.name for c in entry.columns])
        self.rows = 0

    def write(self, rows: Sequence[Row]) -> None:
        """Append rows."""
        self._writer.writerows(rows)
        self.rows += len(rows)

    def close(self) -> None:
        """Finish the file."""
        self._file.close()


_ARROW = {"count": "int64", "integer": "int64", "number": "float64", "rate": "float64"}
"""Arrow types by dictionary kind; codes and text are strings."""


class ParquetSink:
    """A Parquet file, one row group per batch; column types from the dictionary (codes
    and text as strings, counts as integers, numbers and rates as doubles)."""

    def __init__(self, path: Path, entry: FileEntry) -> None:
        import pyarrow as pa  # loaded only when Parquet is asked for
        import pyarrow.parquet as pq

        self._pa = pa
        self._schema = _schema(entry)
        self._writer = pq.ParquetWriter(str(path), self._schema)
        self.rows = 0

    def write(self, rows: Sequence[Row]) -> None:
        """Append rows (one row group)."""
        if not rows:
            return
        pa = self._pa
        columns = zip(*rows, strict=True)
        arrays = [
            pa.array(list(v), type=f.type) for v, f in zip(columns, self._schema, strict=True)
        ]
        batch = pa.Table.from_arrays(arrays, schema=self._schema)
        self._writer.write_table(batch)
        self.rows += len(rows)

    def close(self) -> None:
        """Finish the file (its footer)."""
        self._writer.close()


def _schema(entry: FileEntry) -> Any:
    import pyarrow as pa  # loaded only when Parquet is asked for

    return pa.schema(
        [(c.name, pa.type_for_alias(_ARROW.get(c.kind, "string"))) for c in entry.columns]
    )


def parquet_from_csv(source: Path, target: Path, entry: FileEntry) -> int:
    """Convert a header-less CSV of the entry's columns (blank = missing) to Parquet a
    block at a time; how many rows."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    schema = _schema(entry)
    reader = pacsv.open_csv(
        str(source),
        read_options=pacsv.ReadOptions(column_names=schema.names, block_size=8 << 20),
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in schema}, strings_can_be_null=True
        ),
    )
    rows = 0
    with pq.ParquetWriter(str(target), schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


class Opened:
    """A sink for one entry in a directory, closed on leaving (and removed on an error,
    so that no half-written file is left to be mistaken for a whole one)."""

    def __init__(self, out: Path, entry: FileEntry, fmt: Format) -> None:
        self.path = out / f"{entry.name}.{fmt.value}"
        self._entry = entry
        self._fmt = fmt

    def __enter__(self) -> Sink:
        """Open the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sink: Sink = (
            CsvSink(self.path, self._entry)
            if self._fmt is Format.CSV
            else ParquetSink(self.path, self._entry)
        )
        self._sink = sink
        return sink

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close it; remove it when the writing failed."""
        self._sink.close()
        if kind is not None:
            self.path.unlink(missing_ok=True)


def write_file(out: Path, entry: FileEntry, fmt: Format, rows: Sequence[Row]) -> Path:
    """Write a whole (small) file at once; its path."""
    opened = Opened(out, entry, fmt)
    with opened as sink:
        sink.write(rows)
    return opened.path
