"""The OpenAPI document states what the server enforces, beyond what the models say.

FastAPI derives the document from the models; some rules live in validators it cannot
see (an NHS number's shape, a postcode, "phone or email", an override unless consent was
given), and the token endpoint takes optional form fields so that a missing one is an
OAuth error rather than a validation error. This module writes those rules in, adds the
links between operations and the statuses every operation may answer at the edge.
Rules a JSON Schema cannot state are named by a custom `format` and described.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from services.intake.api import fhir_errors, fhir_schema, texts
from services.intake.api.schemas import problems
from services.intake.auth import oauth
from services.intake.auth.keys import SCOPES

NHS_NUMBER = {
    "type": "string",
    "pattern": r"^-*[0-9](?:[ -]*[0-9]){9}-*$",
    "format": "nhs-number",
    "description": "Ten digits (spaces and hyphens ignored) whose last is the modulus-11 "
    "check digit (format nhs-number).",
}
POSTCODE = {
    "type": "string",
    "pattern": r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$",
    "description": "A UK postcode, in either case, with or without the space.",
}
TOKEN_FORM = {
    "type": "object",
    "required": ["grant_type", "client_assertion_type", "client_assertion"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_assertion_type": {"type": "string", "enum": [oauth.ASSERTION_TYPE]},
        "client_assertion": {
            "type": "string",
            "maxLength": 8000,
            "pattern": r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$",
            "description": "A JWS (compact) signed with a key registered for the client: "
            "iss = sub = client id, aud = this endpoint's URL, exp at most 5 minutes ahead, "
            "a unique jti of at most 200 characters.",
        },
        "scope": {
            "type": "string",
            "maxLength": 8000,
            "description": "Space-separated scopes, all granted to the client (default: all "
            "of them).",
        },
        "client_id": {
            "type": "string",
            "maxLength": 8000,
            "description": "Optional; when given, it must equal the assertion's iss.",
        },
    },
    "additionalProperties": False,
}
OAUTH = {
    "type": "oauth2",
    "description": "OAuth 2.0 client credentials with a private_key_jwt client assertion "
    "(RFC 7523); the access token is then sent as a Bearer token.",
    "flows": {
        "clientCredentials": {
            "tokenUrl": "/oauth2/token",
            "scopes": {scope: scope for scope in SCOPES},
        }
    },
}
# Answered before a request reaches an operation (services/intake/api/edge.py).
EDGE_STATUSES = (408, 431)
REQUEST_MODELS = (
    "ReferralSubmission",
    "Referrer",
    "Subject",
    "Contact",
    "Consent",
    "ConsentOverride",
    "CancelRequest",
    "Accept",
    "Decline",
    "InProgress",
    "Complete",
)
"""The components a request body is made of: their text fields get the text rules."""
TEXT_RULE = (
    "No white space at either end, and no control, format (zero-width, bidirectional), "
    "separator characters nor blank letters of the Basic Multilingual Plane; stored in "
    "Unicode NFC."
)
_F = texts.forbidden_class(prose=False)
# The models' own patterns, with the text rule: no forbidden characters, nothing to strip.
PHONE = r"^\+?[0-9()-][0-9 ()-]{4,28}[0-9()-]$"
EMAIL = rf"^[^@\s{_F}]+@[^@\s{_F}]+\.[^@\s{_F}]+$"


def _text_rules(name: str, schema: dict[str, Any]) -> None:
    """Give each free-text string (no enum, format or pattern of its own) the text rule."""
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") != "string" or {"enum", "format", "pattern"} & set(branch):
            continue
        prose = name in texts.MULTILINE
        branch["pattern"] = texts.PROSE_PATTERN if prose else texts.TEXT_PATTERN
        rule = TEXT_RULE.replace("No white", "Tab and line breaks allowed inside; no white")
        schema["description"] = rule if prose else TEXT_RULE


def _own_patterns(schemas: dict[str, Any]) -> None:
    for model, prop, pattern in (
        ("Contact", "phone", PHONE),
        ("Contact", "email", EMAIL),
    ):
        schema = schemas.get(model, {}).get("properties", {}).get(prop)
        for branch in schema.get("anyOf", [schema]) if schema else []:
            if branch.get("type") == "string":
                branch["pattern"] = pattern


def _links() -> dict[str, dict[str, Any]]:
    """From a submitted referral to what its originator (or a receiver) does with it next."""
    by_id = {"referral_id": "$response.body#/id"}
    return {
        "GetReferral": {"operationId": "referral_status", "parameters": by_id},
        "CancelReferral": {"operationId": "cancel_referral", "parameters": by_id},
        "GetInboxReferral": {"operationId": "inbox_referral", "parameters": by_id},
        "RespondToReferral": {"operationId": "respond", "parameters": by_id},
    }


def _nullable(schema: dict[str, Any], precise: dict[str, Any]) -> None:
    schema.pop("type", None)
    schema["anyOf"] = [dict(precise), {"type": "null"}]


def apply(document: dict[str, Any]) -> dict[str, Any]:
    """Write the rules in (idempotent: the document is cached and may be passed again)."""
    components = document.setdefault("components", {})
    schemas = components.get("schemas", {})
    if "Subject" in schemas:
        props = schemas["Subject"]["properties"]
        _nullable(props["nhs_number"], NHS_NUMBER)
        props["postcode"] = {**POSTCODE, "title": "Postcode"}
    if "Contact" in schemas:
        schemas["Contact"]["anyOf"] = [
            {"required": ["phone"], "properties": {"phone": {"type": "string"}}},
            {"required": ["email"], "properties": {"email": {"type": "string"}}},
        ]
        schemas["Contact"]["description"] = (
            "How to reach a person: a phone number, an email address or both."
        )
    if "Consent" in schemas:
        base: list[dict[str, Any]] = [
            {"properties": {"state": {"enum": ["given"]}}},
            {
                "required": ["override"],
                "properties": {"override": {"$ref": "#/components/schemas/ConsentOverride"}},
            },
        ]
        # An alternative the configuration in force adds (vocabulary_schema.consent_rule).
        added = [a for a in schemas["Consent"].get("anyOf", []) if a not in base]
        schemas["Consent"]["anyOf"] = base + added
    _own_patterns(schemas)
    for model in REQUEST_MODELS:
        for name, prop in schemas.get(model, {}).get("properties", {}).items():
            _text_rules(name, prop)
    for name in [n for n in schemas if n.startswith("Body_token")]:
        del schemas[name]  # replaced by TOKEN_FORM, inline
    components.setdefault("securitySchemes", {})["OAuth2"] = OAUTH
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            _operation(path, operation)
    return document


def _operation(path: str, operation: dict[str, Any]) -> None:
    edge = (
        fhir_schema.responses(200, *EDGE_STATUSES)
        if fhir_errors.on_fhir_door(path)
        else problems(*EDGE_STATUSES)
    )
    operation["responses"].update({str(k): v for k, v in edge.items() if k != 200})
    if fhir_errors.on_fhir_door(path):
        fhir_schema.describe(path, operation)
    if path == "/oauth2/token":
        content = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]
        content["schema"] = TOKEN_FORM
        operation["requestBody"]["required"] = True
    if path == "/v1/referrals" and "202" in operation["responses"]:
        operation["responses"]["202"]["links"] = _links()


def install(app: FastAPI) -> None:
    """Serve the app's OpenAPI document with these rules written in."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        return apply(generate())

    app.openapi = openapi  # type: ignore[method-assign]
