"""schemathesis against the published OpenAPI document (schemas/openapi.json), over real HTTP
to `vrp up` (one embedded process) on loopback, authenticated as a demo partner, one
operation at a time and as stateful sequences following the document's links.

Checks enabled, and why:
- not_a_server_error: no 5xx, whatever the input.
- status_code_conformance: every status returned is documented for the operation.
- content_type_conformance: every response's media type is documented (problem+json too).
- response_headers_conformance: documented response headers have the documented shape.
- response_schema_conformance: every body matches its documented schema.
- negative_data_rejection: input that violates the schema is refused with a 4xx
  (413 included: a body above the size limit is refused before it is parsed).
- positive_data_acceptance: input the schema allows is accepted (or 401/403/404/409/429:
  a referral id that does not exist, a state that does not allow the change).
- missing_required_header: leaving out a required header (Idempotency-Key) is a 4xx.
- ignored_auth: operations that declare Bearer auth refuse requests without it.
- unsupported_method: undocumented methods on a path are 405.
None is excluded. Two rules no JSON Schema states are generated here as the document
describes them: the custom format `nhs-number` (the modulus-11 check digit), and `date`,
used only for a date of birth and a consent date, which the server also refuses in the
future or more than 120 years back. Idempotency-Keys are made
unique per request, as the API asks of every client: a generated key used twice for two
bodies is rightly 422. A subject's local authority, when given with a postcode whose area
is known, is made the postcode's (the server refuses the two disagreeing).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from services.demo import demo_key
from testkit.ports import free_port
from vrp.domain.geography import area_for, normalise_postcode

SPEC = Path(__file__).resolve().parents[2] / "schemas" / "openapi.json"
AUTH = {"Authorization": f"Bearer {demo_key('uhb')}"}
CHECKS = [
    not_a_server_error,
    positive_data_acceptance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    missing_required_header,
    ignored_auth,
    unsupported_method,
]
EXAMPLES = int(os.environ.get("VRP_FUZZ_EXAMPLES", "100"))

# 413 (body above the size limit) is a correct refusal of invalid input too.
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            }
        },
    }
)
published = schemathesis.openapi.from_path(SPEC, config=CONFIG)
# schemathesis.Case is generic in the operation type; any OpenAPI operation here.
Case: TypeAlias = schemathesis.Case[Any]


def _nhs_number(digits: list[int]) -> str | None:
    total = sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return None if check == 10 else "".join(map(str, digits)) + str(check)


TODAY = date.today()
schemathesis.openapi.format(
    "nhs-number",
    st.lists(st.integers(0, 9), min_size=9, max_size=9).map(_nhs_number).filter(bool),
)
schemathesis.openapi.format(
    "date",
    st.integers(1, 119 * 365).map(lambda days: (TODAY - timedelta(days=days)).isoformat()),
)
KEY = re.compile(r"^[\x21-\x7e]{8,200}$")
KEY_AREA = re.compile(r"^[ENSW][0-9]{8}$")


def unique_key(case: Case) -> None:
    """A well-formed Idempotency-Key made unique (a malformed one is left to be refused).

    Set under the name the case spells it with: the headers are a case-insensitive dict
    that keeps the spelling of the last write, and the checker's `required` (the document
    says `idempotency-key`) is case-sensitive, so writing `Idempotency-Key` made a valid
    request look like one without its key, "wrongly" accepted."""
    for name in list(case.headers or {}):
        key = case.headers[name]
        if name.lower() == "idempotency-key" and isinstance(key, str) and KEY.match(key):
            case.headers[name] = f"{key[:160]}-{uuid.uuid4().hex}"


def same_area(case: Case) -> None:
    """A local authority that is the postcode's, when the postcode's area is known."""
    subject = case.body.get("subject") if isinstance(case.body, dict) else None
    if not isinstance(subject, dict):
        return
    given = subject.get("local_authority")
    postcode = normalise_postcode(str(subject.get("postcode", "")))
    area = area_for(postcode) if postcode else None
    if area is not None and isinstance(given, str) and KEY_AREA.match(given):
        subject["local_authority"] = area


def as_a_client_would(case: Case) -> None:
    """What a client does that no schema can say: a fresh Idempotency-Key for each new
    request, and a local authority that agrees with the postcode."""
    unique_key(case)
    same_area(case)


@published.auth()
class PartnerKey:
    """Authenticate as a demo partner (so ignored_auth can also try without it)."""

    def get(self, case: Case, ctx: schemathesis.AuthContext) -> str:
        return AUTH["Authorization"]

    def set(self, case: Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = data  # a case-insensitive dict, never None


# The FHIR door's operations take FHIR resources, which the document only outlines (the
# FHIR specification defines them): a body the outline allows need not be a valid message,
# so positive_data_acceptance does not apply there. They get every other check below.
schema = published.exclude(path_regex="^/fhir")
fhir_door = published.include(path_regex="^/fhir")
FHIR_CHECKS = [c for c in CHECKS if c is not positive_data_acceptance]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`vrp up` in its own process with a fresh SQLite file."""
    tmp = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {
        **os.environ,
        "VRP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/vrp.db",
        "VRP_MAIL_DIR": str(tmp / "mail"),
        "VRP_RATE_LIMIT_PER_SECOND": "100000",
        "VRP_RATE_LIMIT_BURST": "100000",
        # ignored_auth sends wrong credentials on purpose, all from this one address.
        "VRP_AUTH_FAILURES_PER_ADDRESS": "100000",
        "VRP_AUTH_FAILURES_PER_KEY": "100000",
    }
    log = (tmp / "vrp.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp / "vrp.log").read_text()
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "vrp up did not become ready"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        server_log = (tmp / "vrp.log").read_text(errors="replace")
        assert "Traceback" not in server_log, server_log[-3000:]


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_openapi_document(case: Case, base_url: str) -> None:
    as_a_client_would(case)
    case.call_and_validate(base_url=base_url, checks=CHECKS)


@fhir_door.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_fhir_door_conforms_and_never_fails_on_any_input(case: Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, checks=FHIR_CHECKS)


def test_linked_operations_conform_statefully(base_url: str) -> None:
    """Submit, then follow the 202's links (status, cancel, inbox entry, response) with the
    id it returned, so the linked operations are fuzzed on a referral that exists."""

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Case) -> None:
            as_a_client_would(case)

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"base_url": base_url}

        def validate_response(
            self, response: schemathesis.Response, case: Case, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS)

    Workflow.run(
        settings=settings(
            max_examples=max(EXAMPLES // 4, 5),
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )
