"""Every published contract, written into schemas/: event and configuration JSON Schemas,
the AsyncAPI document for partners and the intake OpenAPI document (which needs the app,
hence here, beside the services, rather than in the shared core)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.intake.api.app import create_app
from vrp.events.asyncapi import document as asyncapi_document
from vrp.events.schemas import configuration_schemas, event_schemas, render
from vrp.settings import Settings


def openapi() -> dict[str, Any]:
    """The intake OpenAPI document."""
    return create_app(Settings()).openapi()


def expected_files() -> dict[str, str]:
    """Relative path under schemas/ -> content."""
    files = {f"events/{name}": render(s) for name, s in event_schemas().items()}
    files.update({f"config/{name}": render(s) for name, s in configuration_schemas().items()})
    files["openapi.json"] = render(openapi())
    files["asyncapi.json"] = render(asyncapi_document())
    return files


def write_all(root: Path) -> list[Path]:
    """Write every contract file under root."""
    written = []
    for rel, content in expected_files().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        written.append(path)
    return written
