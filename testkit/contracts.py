"""The published partner contract as a checker: an event validated against the AsyncAPI
document's schema for its message, as a partner's own validator would."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from vrp.events.asyncapi import document


def validate_against_asyncapi(message_name: str, event: dict[str, Any]) -> None:
    """Raise jsonschema's ValidationError unless the event fits the message's schema."""
    doc = document()
    registry = Registry().with_resource("urn:asyncapi", DRAFT202012.create_resource(doc))
    schema = {"$ref": f"urn:asyncapi#/components/schemas/{message_name}Event"}
    Draft202012Validator(schema, registry=registry).validate(event)
