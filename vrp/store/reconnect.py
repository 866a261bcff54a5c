"""One retry for work that met a pooled connection broken by a database restart."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError

T = TypeVar("T")


async def retried_once(attempt: Callable[[], Awaitable[T]]) -> T:
    """Run attempt; run it once more if it failed on a pooled connection that a database
    restart broke.

    Without pre-ping such a connection fails on first use, and SQLAlchemy then replaces
    the whole pool, so a second attempt gets a fresh connection. Only for work that is safe
    to repeat (a read, or a write its idempotency key dedupes).
    """
    try:
        return await attempt()
    except DBAPIError as exc:
        if not exc.connection_invalidated or isinstance(exc, IntegrityError):
            raise
    return await attempt()
