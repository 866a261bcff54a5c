"""Every operation of the published OpenAPI document carries examples partners can copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SPEC = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "openapi.json").read_text())


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref:
        resolved: dict[str, Any] = SPEC["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        return resolved
    return schema


def _has_example(media: dict[str, Any]) -> bool:
    if "example" in media or "examples" in media:
        return True
    schema = _resolve(media.get("schema", {}))
    return "examples" in schema or "example" in schema


def test_every_operation_has_request_and_response_examples() -> None:
    missing = []
    for path, operations in SPEC["paths"].items():
        for method, op in operations.items():
            body = op.get("requestBody", {}).get("content", {})
            if body and not any(_has_example(m) for m in body.values()):
                missing.append(f"{method.upper()} {path} request")
            for status, response in op["responses"].items():
                content = response.get("content", {})
                if content and not any(_has_example(m) for m in content.values()):
                    missing.append(f"{method.upper()} {path} {status}")
    assert not missing, missing


PROBLEM = "application/problem+json"


def test_errors_are_documented_as_problem_json() -> None:
    for path, operations in SPEC["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    # The FHIR door answers errors as FHIR OperationOutcomes.
                    media = "application/fhir+json" if path.startswith("/fhir") else PROBLEM
                    assert set(response["content"]) == {media}, (
                        method,
                        path,
                        status,
                    )
