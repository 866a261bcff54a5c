"""The event and configuration JSON Schemas (services/contracts.py adds the OpenAPI
document and writes them all into schemas/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vrp.events.commands import ALL_COMMANDS
from vrp.events.envelope import Envelope
from vrp.events.models import ALL_EVENTS


def event_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema for the envelope and every event and command payload."""
    out = {"envelope.schema.json": Envelope.model_json_schema()}
    for model in (*ALL_EVENTS, *ALL_COMMANDS):
        schema = model.model_json_schema()
        schema["$id"] = f"https://vrp.example/schemas/events/{model.TYPE}.schema.json"
        schema["title"] = model.TYPE
        out[f"{model.TYPE}.schema.json"] = schema
    return out


def configuration_schemas() -> dict[str, dict[str, Any]]:
    """Schemas for editors: the merged configuration, and any one YAML file of it."""
    from vrp.domain.configuration import RoutingConfiguration

    merged = RoutingConfiguration.model_json_schema()
    merged["$id"] = "https://vrp.example/schemas/config/routing-configuration.schema.json"
    one_file = dict(merged)
    one_file.pop("required", None)
    one_file["$id"] = "https://vrp.example/schemas/config/configuration-file.schema.json"
    one_file["description"] = (
        "One YAML file of a configuration directory; the files are merged (lists under one "
        "key concatenated, mappings merged key by key) and must together give hub, "
        "organisations, interventions, agreements and rules."
    )
    return {"routing-configuration.schema.json": merged, "configuration-file.schema.json": one_file}


def render(document: dict[str, Any]) -> str:
    """Stable JSON text (sorted keys, trailing newline) so diffs are meaningful."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


RELEASED = "released"


def release(root: Path) -> list[Path]:
    """Record the current event schemas as the released contract (compared by tests)."""
    written = []
    for name, schema in event_schemas().items():
        path = root / RELEASED / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    return written
