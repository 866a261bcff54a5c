"""What a use case refuses, in domain terms; the HTTP edge decides how to say it."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


class DomainError(Exception):
    """A request the domain refuses. Messages never quote personal data."""


class NotFound(DomainError):
    """No such referral is visible to the caller (same answer as one that does not exist)."""


class Conflict(DomainError):
    """The request conflicts with the referral's current state."""


class ConcurrentRequest(DomainError):
    """A concurrent request with the same key collided with this one; retrying is safe."""


class IdempotencyKeyReused(DomainError):
    """The key was already used for a different request body."""


class InvalidField(DomainError):
    """A field is well-formed but not acceptable here."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail


def error_location(
    error: Mapping[str, Any], skip: int = 0, known: Collection[str] = frozenset()
) -> str:
    """Where a pydantic validation error is, as a dotted path that never quotes the input:
    an unexpected field's name is the caller's own text (it may be personal data), so it
    is named only when it is one of the `known` field names."""
    loc = [str(p) for p in error["loc"][skip:]]
    if error.get("type") == "extra_forbidden" and loc and loc[-1] not in known:
        loc[-1] = "(unexpected field)"
    return ".".join(loc)
