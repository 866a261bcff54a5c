"""The database handle: one async engine per process, transactions as units of work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.schema import Table

OUTBOX_WRITTEN = "vrp.outbox_written"
AUDIT_WRITTEN = "vrp.audit_written"
_AFTER_COMMIT = "vrp.after_commit"


# SQLSTATE classes meaning "the database is not there right now": connection exception (08),
# operator intervention such as a shutdown or start-up in progress (57), and insufficient
# resources such as too many connections (53).
_UNAVAILABLE_SQLSTATE = ("08", "57", "53")


DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    DBAPIError,
    OSError,
    asyncpg.PostgresError,  # raised unwrapped while connecting, e.g. during start-up
    asyncpg.InterfaceError,
)
"""What a retrying loop catches from the database: unreachable, restarting or busy."""


def unavailable(exc: BaseException) -> bool:
    """True when exc means the database is unreachable or restarting (worth a retry later),
    not that the statement itself was wrong."""
    if isinstance(exc, OSError):  # refused, reset, timed out (TimeoutError is an OSError)
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return True
        exc = exc.orig if exc.orig is not None else exc
    code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if isinstance(code, str) and code[:2] in _UNAVAILABLE_SQLSTATE:
        return True
    # asyncpg's own connection errors (e.g. "connection was closed in the middle of
    # operation") carry no SQLSTATE.
    return type(exc).__module__.startswith("asyncpg") and "Connection" in type(exc).__name__


def missing_schema(exc: BaseException) -> bool:
    """True when exc means a table is missing: the database was never migrated, or to an
    older revision (SQLite: "no such table"; PostgreSQL: undefined_table, 42P01)."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig if exc.orig is not None else exc
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code == "42P01" or "no such table" in str(orig)


def after_commit(conn: AsyncConnection, callback: Callable[[], None]) -> None:
    """Run callback once the current transaction has committed (never on rollback)."""
    conn.info.setdefault(_AFTER_COMMIT, []).append(callback)


@asynccontextmanager
async def savepoint(conn: AsyncConnection) -> AsyncIterator[None]:
    """A nested transaction whose after-commit callbacks are dropped if it rolls back."""
    pending: list[Callable[[], None]] = conn.info.setdefault(_AFTER_COMMIT, [])
    mark = len(pending)
    try:
        async with conn.begin_nested():
            yield
    except BaseException:
        del pending[mark:]
        raise


class Database:
    """Owns the engine; notifies listeners after a commit that wrote outbox rows.

    pre_ping checks every pooled connection before use (three round trips with asyncpg);
    without it a connection broken by a database restart fails on first use instead, and
    SQLAlchemy then replaces the whole pool, so callers must retry (workers and relays do).
    """

    def __init__(self, url: str, pool_size: int = 10, pre_ping: bool = True) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._listeners: list[Callable[[], None]] = []
        self._audit_listeners: list[Callable[[], None]] = []
        if self.is_sqlite:
            _make_parent_dir(url)
            self.engine: AsyncEngine = create_async_engine(url, connect_args={"timeout": 60})
            _sqlite_durable_serial(self.engine)
        else:
            self.engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping
            )

    def on_outbox_commit(self, listener: Callable[[], None]) -> None:
        """Call listener after every commit that added outbox rows (wakes relays/consumers)."""
        self._listeners.append(listener)

    def on_audit_commit(self, listener: Callable[[], None]) -> None:
        """Call listener after every commit that recorded audit entries (wakes the sealer)."""
        self._audit_listeners.append(listener)

    @asynccontextmanager
    async def transaction(self, single_statement: bool = False) -> AsyncIterator[AsyncConnection]:
        """One unit of work: commits on success, rolls back on error.

        single_statement: the caller executes exactly one SQL statement, which PostgreSQL
        runs atomically and durably on its own, so BEGIN and COMMIT (two round trips) are
        skipped. Ignored on SQLite.
        """
        async with self.engine.connect() as conn:
            conn.info.pop(OUTBOX_WRITTEN, None)
            conn.info.pop(AUDIT_WRITTEN, None)
            conn.info.pop(_AFTER_COMMIT, None)
            if single_statement and not self.is_sqlite:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                yield conn
            else:
                async with conn.begin():
                    yield conn
            callbacks: list[Callable[[], None]] = conn.info.pop(_AFTER_COMMIT, [])
            if conn.info.pop(OUTBOX_WRITTEN, False):
                callbacks = [*self._listeners, *callbacks]
            if conn.info.pop(AUDIT_WRITTEN, False):
                callbacks = [*self._audit_listeners, *callbacks]
            for callback in callbacks:
                callback()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads: on PostgreSQL in autocommit, so each statement sees what
        is committed and costs no BEGIN or ROLLBACK round trip (SQLite: a transaction,
        rolled back)."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                yield conn
                await conn.rollback()
            else:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def insert_ignore(self, conn: AsyncConnection, table: Table, **values: Any) -> bool:
        """Insert a row unless its key exists; True when inserted. Keeps the transaction usable."""
        ins = sqlite_insert(table) if self.is_sqlite else pg_insert(table)
        result = await conn.execute(ins.values(**values).on_conflict_do_nothing())
        return bool(result.rowcount == 1)

    async def insert_ignore_returning(
        self, conn: AsyncConnection, table: Table, rows: list[dict[str, Any]], column: Any
    ) -> set[Any]:
        """Insert rows whose key is new, in one statement; returns column of those inserted."""
        if not rows:
            return set()
        ins = sqlite_insert(table) if self.is_sqlite else pg_insert(table)
        # executemany form: one cached compiled statement whatever the number of rows
        # (SQLAlchemy batches it into multi-row VALUES with RETURNING); a .values(rows)
        # statement is compiled afresh for every batch size.
        result = await conn.execute(ins.on_conflict_do_nothing().returning(column), rows)
        return {r[0] for r in result}

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _make_parent_dir(url: str) -> None:
    path = url.split(":///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_durable_serial(engine: AsyncEngine) -> None:
    """WAL + synchronous=FULL so a commit survives power loss; BEGIN IMMEDIATE to serialise
    writers up front instead of failing on lock upgrade."""

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
