"""The partner contract: AsyncAPI examples, the CloudEvents SDK, and no silent breaking change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event
from jsonschema import ValidationError

from testkit.contracts import validate_against_asyncapi
from vrp.events.asyncapi import CONTENT_TYPE, document
from vrp.events.commands import ALL_COMMANDS
from vrp.events.compatibility import breaking_changes
from vrp.events.models import ALL_EVENTS
from vrp.events.schemas import event_schemas

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


@pytest.mark.parametrize(
    "name", ["PartnerReferral", "PartnerReferralCancelled", "PartnerReferralStatus"]
)
def test_every_asyncapi_example_is_valid_and_readable_with_the_cloudevents_sdk(name: str) -> None:
    message = document()["components"]["messages"][name]
    example = message["examples"][0]["payload"]
    validate_against_asyncapi(name, example)
    kafka_message = KafkaMessage(
        headers={"content-type": CONTENT_TYPE.encode()},
        key=example["subject"].encode(),
        value=json.dumps(example).encode(),
    )
    event = from_kafka_event(kafka_message)
    assert event.get_type() == example["type"]
    assert event.get_id() == example["id"]
    assert event.get_data() == example["data"]


def test_an_invalid_event_is_rejected_by_the_published_schema() -> None:
    example = document()["components"]["messages"]["PartnerReferral"]["examples"][0]["payload"]
    broken = {**example, "data": {**example["data"], "agreement_version": "two"}}
    with pytest.raises(ValidationError, match="is not of type 'integer'"):
        validate_against_asyncapi("PartnerReferral", broken)


def test_current_event_schemas_do_not_break_the_released_ones() -> None:
    current = event_schemas()
    problems = []
    for released in sorted((SCHEMAS / "released").glob("*.schema.json")):
        if released.name not in current:
            problems.append(f"{released.name}: released event type no longer produced")
            continue
        old = json.loads(released.read_text())
        problems += [f"{released.name}: {p}" for p in breaking_changes(old, current[released.name])]
    assert not problems, "bump the event type's major version (…v2) instead:\n" + "\n".join(
        problems
    )
    assert {f"{m.TYPE}.schema.json" for m in (*ALL_EVENTS, *ALL_COMMANDS)} <= {
        p.name for p in (SCHEMAS / "released").glob("*.json")
    }, "run `vrp schemas release`"


def test_the_checker_sees_removed_renamed_optionalised_and_widened_fields() -> None:
    old: dict[str, Any] = {
        "type": "object",
        "required": ["a", "b", "c"],
        "properties": {
            "a": {"type": "string"},
            "b": {"type": "integer"},
            "c": {"type": "string"},
            "d": {"enum": ["x", "y"]},
        },
    }
    new: dict[str, Any] = {
        "type": "object",
        "required": ["a", "bee"],
        "properties": {
            "a": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "bee": {"type": "integer"},
            "c": {"type": "string"},
            "d": {"enum": ["x", "y", "z"]},
        },
    }
    assert breaking_changes(old, new) == [
        "b: required field removed or renamed",
        "c: required field became optional",
        "a: type changed (now also null)",
        "d: values outside the released enumeration",
    ]
    added_optional = {**old, "properties": {**old["properties"], "e": {"type": "string"}}}
    assert breaking_changes(old, added_optional) == []
