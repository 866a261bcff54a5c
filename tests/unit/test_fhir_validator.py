"""The independent FHIR validator discriminates, so the tests that trust it cannot pass
vacuously: a sample BaRS message (fictional) is valid R4, and each single fault put into it
is an error at the faulty element. Every resource is validated in one run (one JVM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from testkit.fhir_validator import Issue, Validate, errors

pytestmark = pytest.mark.fhir_validator

SAMPLE = Path(__file__).resolve().parents[1] / "fhir" / "valid-message-bundle.json"
NOT_IN_BASE_R4 = "https://example.org/fhir/StructureDefinition/not-in-base-r4"


def sample() -> dict[str, Any]:
    """A fresh copy of the sample message bundle."""
    bundle: dict[str, Any] = json.loads(SAMPLE.read_text())
    return bundle


def patient(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle's Patient resource."""
    found: dict[str, Any] = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return found


def with_birth_date(value: str) -> dict[str, Any]:
    bundle = sample()
    patient(bundle)["birthDate"] = value
    return bundle


def starting_with_patient() -> dict[str, Any]:
    bundle = sample()
    bundle["entry"].sort(key=lambda e: e["resource"]["resourceType"] != "Patient")
    return bundle


def with_unknown_property() -> dict[str, Any]:
    bundle = sample()
    patient(bundle)["favouriteColour"] = "blue"
    return bundle


def declaring_profile() -> dict[str, Any]:
    bundle = sample()
    bundle["meta"]["profile"] = [NOT_IN_BASE_R4]
    return bundle


def task(status: str) -> dict[str, Any]:
    return {"resourceType": "Task", "status": status, "intent": "order"}


VALID: dict[str, dict[str, Any]] = {
    "message-bundle": sample(),
    "task-requested": task("requested"),
    # An unfetchable profile (UK Core, BaRS) is a limit of the offline validator: a warning.
    "declaring-unknown-profile": declaring_profile(),
}
# name -> (resource, a part of the error's location, a part of its message)
BROKEN: dict[str, tuple[dict[str, Any], str, str]] = {
    "birth-date-2010-02-30": (with_birth_date("2010-02-30"), ".birthDate", "2010-02-30"),
    "message-starting-with-patient": (starting_with_patient(), "Bundle", "bdl-12"),
    "unknown-property": (with_unknown_property(), "Bundle.entry[2]", "favouriteColour"),
    "task-status-bogus": (task("bogus"), "Task.status", "bogus"),
}


@pytest.fixture(scope="module")
def found(fhir_validator: Validate) -> dict[str, list[Issue]]:
    """The issues in every resource above, from one run of the validator."""
    return fhir_validator({**VALID, **{name: case[0] for name, case in BROKEN.items()}})


@pytest.mark.parametrize("name", VALID)
def test_valid_r4_has_no_errors(found: dict[str, list[Issue]], name: str) -> None:
    assert errors(found)[name] == [], "\n".join(map(str, found[name]))


@pytest.mark.parametrize("name", BROKEN)
def test_each_fault_is_an_error_where_it_is(found: dict[str, list[Issue]], name: str) -> None:
    _, location, words = BROKEN[name]
    assert any(location in i.location and words in i.message for i in errors(found)[name]), (
        "\n".join(map(str, found[name]))
    )


def test_unknown_profile_is_reported_as_a_warning(found: dict[str, list[Issue]]) -> None:
    warnings = [i for i in found["declaring-unknown-profile"] if i.severity == "warning"]
    assert any(NOT_IN_BASE_R4 in i.message for i in warnings)
