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


class InvalidFields(InvalidField):
    """Several fields are well-formed but not acceptable here (the first is `field`)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(*problems[0])
        self.problems = problems


class UnknownOrganisation(DomainError):
    """The caller's organisation is not in the routing configuration in force, so nothing
    it sends could be routed (refused at once rather than accepted and lost)."""

    def __init__(self, organisation: str) -> None:
        super().__init__(
            f"organisation {organisation!r} is not in the routing configuration in force, "
            "so its referrals cannot be routed; ask the partnership's hub to add it"
        )
        self.organisation = organisation


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
