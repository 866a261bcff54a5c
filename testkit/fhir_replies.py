"""A hospital that hears back over FHIR: the demo configuration with uhb's FHIR endpoint
registered for replies, and the replies it received (through testkit.webhooks' receiver,
which verifies the signatures); testkit.fhir writes its messages."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from testkit.webhooks import Delivery
from vrp.settings import DEMO_CONFIG_DIR

SECRET_ENV = "VRP_TEST_FHIR_UHB"
HOSPITAL = "uhb"


def configuration(folder: Path, url: str) -> Path:
    """The demo configuration with uhb's FHIR endpoint at `url` (signed with the secret in
    SECRET_ENV) and `fhir` among its updates; returns the directory."""
    target = folder / "config"
    shutil.copytree(DEMO_CONFIG_DIR, target)
    path = target / "organisations.yaml"
    orgs: dict[str, Any] = yaml.safe_load(path.read_text())
    for org in orgs["organisations"]:
        if org["id"] == HOSPITAL:
            org["contacts"]["fhir"] = {"url": url, "secrets": [{"env": SECRET_ENV}]}
            org["updates"] = ["email", "fhir"]
    path.write_text(yaml.safe_dump(orgs, sort_keys=False))
    return target


def answering(deliveries: list[Delivery], bundle_id: str) -> list[Delivery]:
    """The replies whose MessageHeader answers the Bundle `bundle_id`, in arrival order."""
    return [d for d in deliveries if header(d)["response"]["identifier"] == bundle_id]


def bundle(d: Delivery) -> dict[str, Any]:
    """The Bundle a reply carried."""
    loaded: dict[str, Any] = json.loads(d.body)
    return loaded


def header(d: Delivery) -> dict[str, Any]:
    """The reply's MessageHeader (its first entry)."""
    found: dict[str, Any] = bundle(d)["entry"][0]["resource"]
    return found


def focus(d: Delivery, resource_type: str) -> list[dict[str, Any]]:
    """The reply's resources of one type (ServiceRequest, Task)."""
    return [
        e["resource"] for e in bundle(d)["entry"] if e["resource"]["resourceType"] == resource_type
    ]
