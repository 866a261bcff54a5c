"""The OpenAPI document lists the codes of the vocabularies in force, which a partnership
extends or replaces in its configuration (the models check only a code's shape), and says
when a refused or withdrawn consent needs no override (`consent.refused: hold-for-hub`)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from fastapi import FastAPI

from vrp.config_files import load_configuration
from vrp.domain.configuration import RoutingConfiguration
from vrp.domain.vocabularies import API_NAMES, Vocabularies
from vrp.settings import Settings

FIELDS: dict[tuple[str, str], str] = {
    ("ReferralSubmission", "reasons"): "reasons",
    ("ReferralSubmission", "risk"): "risk_levels",
    ("ConsentOverride", "ground"): "override_grounds",
    ("CancelRequest", "reason"): "cancel_reasons",
    ("Decline", "reason"): "decline_reasons",
    ("Complete", "outcome"): "outcomes",
}
"""(component schema, property) -> the vocabulary its codes come from."""


def apply(document: dict[str, Any], codes: Vocabularies) -> dict[str, Any]:
    """Set each coded property's enum (and description) from the vocabularies; idempotent."""
    components = document.get("components", {}).get("schemas", {})
    for (model, prop), kind in FIELDS.items():
        schema = components.get(model, {}).get("properties", {}).get(prop)
        if schema is None:
            continue
        target = schema["items"] if schema.get("type") == "array" else schema
        target.pop("$ref", None)
        target["type"] = "string"
        target["enum"] = sorted(codes.codes[kind])
        schema["description"] = (
            f"A code from the '{API_NAMES[kind]}' vocabulary of the configuration in force "
            "(GET /v1/vocabularies for the labels)."
        )
    return document


HOLD_FOR_HUB = {
    "properties": {"state": {"enum": ["refused", "withdrawn"]}},
    "description": "Refused or withdrawn with no override: accepted from the senders the "
    "configuration in force holds such referrals for (`consent.refused: hold-for-hub`), "
    "for the hub to decide; refused (422, naming consent) from the others.",
}


def consent_rule(document: dict[str, Any], config: RoutingConfiguration) -> dict[str, Any]:
    """Admit refused or withdrawn consent without an override when some sender's
    configuration holds such referrals for the hub; idempotent."""
    consent = document.get("components", {}).get("schemas", {}).get("Consent")
    if consent is None:
        return document
    # contract.py writes the other alternatives (given, or an override) beside this one.
    alternatives = [a for a in consent.get("anyOf", []) if a != HOLD_FOR_HUB]
    if "hold-for-hub" in config.index.refused_consent.values():
        alternatives.append(HOLD_FOR_HUB)
    consent["anyOf"] = alternatives
    return document


def install(
    app: FastAPI, settings: Settings, config: Callable[[], RoutingConfiguration] | None
) -> None:
    """Serve the OpenAPI document with the codes of the configuration in force (the one
    the app runs with, else the one in settings.config_dir)."""

    @cache
    def from_settings() -> RoutingConfiguration:
        return load_configuration(settings.config_dir)

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        running = getattr(app.state, "intake", None)  # set by the lifespan, once started
        live = config or (running.config if running is not None else from_settings)
        loaded = live()
        return consent_rule(apply(generate(), loaded.codes), loaded)

    app.openapi = openapi  # type: ignore[method-assign]
