"""The CloudEvents 1.0 envelope every event travels in (structured JSON mode)."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from vrp.domain.identifiers import new_id


class EventData(BaseModel):
    """Base of event payloads; TYPE is the CloudEvents type, carrying the major version."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    TYPE: ClassVar[str]


E = TypeVar("E", bound=EventData)


class Envelope(BaseModel):
    """CloudEvents attributes plus the W3C traceparent extension; data is the payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(description="Unique event id; consumers deduplicate on it.")
    source: str = Field(description="URI reference of the producing service, e.g. /vrp/intake.")
    type: str = Field(description="Event type with major version, e.g. uk.vrp.referral.received.v1")
    subject: str | None = Field(default=None, description="The referral id the event is about.")
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: str | None = Field(default=None, description="W3C trace context of the producer.")
    data: dict[str, Any]

    @classmethod
    def wrap(cls, payload: EventData, source: str, subject: str | None = None) -> Self:
        """A new envelope around payload with a fresh id and the current time."""
        return cls(
            id=str(new_id()),
            source=source,
            type=payload.TYPE,
            subject=subject,
            time=datetime.now(UTC),
            data=payload.model_dump(mode="json"),
        )

    def payload(self, model: builtins.type[E]) -> E:
        """The typed payload; raises if the type or data do not match the model."""
        if self.type != model.TYPE:
            raise ValueError(f"expected event type {model.TYPE}, got {self.type}")
        return model.model_validate(self.data)

    def to_bytes(self) -> bytes:
        """The JSON wire form."""
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Self:
        """Parse the JSON wire form; raises pydantic.ValidationError when malformed."""
        return cls.model_validate_json(raw)
