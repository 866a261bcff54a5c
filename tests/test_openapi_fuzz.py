"""schemathesis against the published OpenAPI document (schemas/openapi.json), over real HTTP
to `vrp up` (one embedded process) on loopback, authenticated as a demo partner.

Checks enabled, and why:
- not_a_server_error: no 5xx, whatever the input.
- status_code_conformance: every status returned is documented for the operation.
- content_type_conformance: every response's media type is documented (problem+json too).
- response_headers_conformance: documented response headers have the documented shape.
- response_schema_conformance: every body matches its documented schema.
- negative_data_rejection: input that violates the schema is refused with a 4xx
  (413 included: a body above the size limit is refused before it is parsed).
- missing_required_header: leaving out a required header (Idempotency-Key) is a 4xx.
- ignored_auth: operations that declare Bearer auth refuse requests without it.
- unsupported_method: undocumented methods on a path are 405.
Not enabled: positive_data_acceptance, because schema-valid input can still be refused by
rules a JSON Schema cannot express (NHS number check digit, postcode, referral ids that do
not exist), which is correct behaviour, not a defect.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeAlias

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from services.runtime import demo_key
from tests.conftest import free_port

SPEC = Path(__file__).resolve().parents[1] / "schemas" / "openapi.json"
AUTH = {"Authorization": f"Bearer {demo_key('uhb')}"}
CHECKS = [
    not_a_server_error,
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
schema = schemathesis.openapi.from_path(SPEC, config=CONFIG)
# schemathesis.Case is generic in the operation type; any OpenAPI operation here.
Case: TypeAlias = schemathesis.Case[Any]


@schema.auth()
class PartnerKey:
    """Authenticate as a demo partner (so ignored_auth can also try without it)."""

    def get(self, case: Case, ctx: schemathesis.AuthContext) -> str:
        return AUTH["Authorization"]

    def set(self, case: Case, data: str, ctx: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = data  # a case-insensitive dict, never None


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
    case.call_and_validate(base_url=base_url, checks=CHECKS)
