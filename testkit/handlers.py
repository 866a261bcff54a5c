"""Calling a consumer's handler table directly, as the worker would, for one event."""

from __future__ import annotations

from opentelemetry.context import Context

from vrp.events.envelope import Envelope
from vrp.store.unit import Unit
from vrp.telemetry import tracer
from vrp.transport.base import Message
from vrp.transport.worker import Delivery, Handlers


def delivery(envelope: Envelope, topic: str = "test") -> Delivery:
    """The delivery of envelope from topic, with no trace to continue."""
    message = Message(topic, 0, 0, envelope.subject, envelope.to_bytes())
    return Delivery(envelope, message, Context(), tracer("test"), "test")


async def handle(unit: Unit, table: Handlers, envelope: Envelope, topic: str = "test") -> None:
    """Hand one event to the handler its type is bound to (KeyError if none is)."""
    await table[envelope.type](unit, [delivery(envelope, topic)])
