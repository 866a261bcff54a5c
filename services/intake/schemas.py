"""HTTP response models (wire schemas, distinct from tables and domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class AcceptedResponse(BaseModel):
    """202 body: the referral is stored durably and will be routed."""

    id: str = Field(examples=["0193a5b2-7c4e-7d21-9f3a-1b2c3d4e5f60"])
    reference: str = Field(examples=["VRP-3D4E5F6071"])
    status: str = Field(examples=["received"])
    status_url: str


class TimelineEntry(BaseModel):
    """One thing that happened to a referral."""

    type: str = Field(examples=["routed"])
    at: datetime
    detail: dict[str, Any]


class StatusResponse(BaseModel):
    """What the originator may see: status and timeline, never the recipients' data."""

    id: str
    reference: str
    status: str = Field(examples=["routed"])
    received_at: datetime
    timeline: list[TimelineEntry]


class Vocabulary(BaseModel):
    """A coded vocabulary."""

    codes: dict[str, str]
