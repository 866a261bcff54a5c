"""Shared fixtures. Real PostgreSQL and Kafka come from deploy/; missing infrastructure fails."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from testkit.browser import CHROMIUM, chromium
from testkit.fhir_validator import SCRIPT_VARIABLE, Issue, Validate, unavailable, validate
from testkit.infrastructure import reachable_kafka, reachable_postgres, reset_postgres
from testkit.kafka import KafkaEnv
from testkit.ports import free_port
from testkit.smtp import SmtpServer
from vrp.store.database import Database
from vrp.store.migrate import upgrade

REQUIRE_INFRA = os.environ.get("VRP_REQUIRE_INFRA") == "1"
ZIPKIN_URL = os.environ.get("VRP_TEST_ZIPKIN_URL", "")
"""The trace viewer deploy/test.sh starts (deploy/zipkin.sh); unset, its tests skip."""

_passed: dict[str, int] = {"kafka": 0, "postgres": 0}
if ZIPKIN_URL and REQUIRE_INFRA:
    _passed["zipkin"] = 0
if REQUIRE_INFRA:
    _passed["browser"] = 0
    _passed["prometheus"] = 0
    _passed["fhir_validator"] = 0

PROMETHEUS_BIN = (
    Path(__file__).resolve().parents[1] / ".cache" / "prometheus" / "root" / "usr" / "bin"
)
"""Where deploy/prometheus.sh unpacks Debian's prometheus package (VRP_TEST_PROMETHEUS and
VRP_TEST_PROMTOOL, which deploy/test.sh exports, win)."""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback for one test."""
    with SmtpServer(free_port()) as server:
        yield server


@pytest.fixture(scope="session")
async def postgres_url() -> str:
    """The test database URL; fails (never skips) when PostgreSQL is unreachable."""
    return await reachable_postgres()


@pytest.fixture
async def pg_db(postgres_url: str) -> AsyncIterator[Database]:
    """A freshly migrated PostgreSQL database."""
    await reset_postgres(postgres_url)
    db = Database(postgres_url)
    yield db
    await db.dispose()


@pytest.fixture
async def sqlite_db(tmp_path: object) -> AsyncIterator[Database]:
    """A freshly migrated SQLite file."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/vrp.db")
    await upgrade(db)
    yield db
    await db.dispose()


@pytest.fixture(scope="session")
async def kafka() -> KafkaEnv:
    """The test broker; fails (never skips) when Kafka is unreachable."""
    return await reachable_kafka()


def reachable_zipkin() -> str:
    """The trace viewer's base URL. With VRP_TEST_ZIPKIN_URL unset the test skips; set but
    unreachable, it fails under VRP_REQUIRE_INFRA=1 (deploy/test.sh) and skips otherwise.
    A test calling it must be marked zipkin."""
    if not ZIPKIN_URL:
        pytest.skip("VRP_TEST_ZIPKIN_URL is unset (deploy/test.sh starts deploy/zipkin.sh)")
    url = ZIPKIN_URL.rstrip("/")
    try:
        up = httpx.get(f"{url}/health", timeout=5).json().get("status") == "UP"
        problem = "" if up else "health is not UP"
    except (httpx.HTTPError, ValueError) as exc:
        problem = type(exc).__name__
    if problem:
        message = f"Zipkin is not reachable at {url} ({problem}); deploy/zipkin.sh start starts it"
        if REQUIRE_INFRA:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def zipkin_url() -> str:
    """The Zipkin server's base URL (see reachable_zipkin)."""
    return reachable_zipkin()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless Debian Chromium; fails under VRP_REQUIRE_INFRA=1 when it is missing and
    skips otherwise. A test using it must be marked browser."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing; deploy/browser.sh installs it"
        if REQUIRE_INFRA:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    async with chromium() as launched:
        yield launched


def prometheus_binary(name: str) -> Path:
    """The `prometheus` or `promtool` executable: VRP_TEST_<NAME>, else the copy
    deploy/prometheus.sh unpacked. Missing or not answering --version, the test fails under
    VRP_REQUIRE_INFRA=1 (deploy/test.sh) and skips otherwise. A test using it must be marked
    prometheus."""
    path = Path(os.environ.get(f"VRP_TEST_{name.upper()}") or PROMETHEUS_BIN / name)
    try:
        answered = (
            subprocess.run([str(path), "--version"], capture_output=True, timeout=30).returncode
            == 0
        )
    except OSError:
        answered = False
    if not answered:
        message = f"{path} does not run; deploy/prometheus.sh fetches it"
        if REQUIRE_INFRA:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def promtool() -> Path:
    """Prometheus' promtool (see prometheus_binary)."""
    return prometheus_binary("promtool")


@pytest.fixture(scope="session")
def prometheus_server() -> Path:
    """The Prometheus server's executable (see prometheus_binary)."""
    return prometheus_binary("prometheus")


@pytest.fixture(scope="session")
def fhir_validator() -> Validate:
    """testkit.fhir_validator.validate on the validator VRP_TEST_FHIR_VALIDATOR names
    (deploy/test.sh builds it and sets that). Unset or not built, the test fails under
    VRP_REQUIRE_INFRA=1 and skips otherwise. A test using it must be marked fhir_validator."""
    configured = os.environ.get(SCRIPT_VARIABLE, "")
    if configured:
        problem = unavailable(Path(configured))
    else:
        problem = f"{SCRIPT_VARIABLE} is unset (deploy/test.sh builds the validator and sets it)"
    if problem:
        message = f"no FHIR validator: {problem}"
        if REQUIRE_INFRA:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)

    def run(resources: Mapping[str, Mapping[str, object]]) -> dict[str, list[Issue]]:
        return validate(resources, Path(configured))

    return run


def pytest_addoption(parser: pytest.Parser) -> None:
    """--slow adds the long fault scenarios (minutes each) to the run."""
    parser.addoption("--slow", action="store_true", help="also run tests marked slow")


# The fixture that reaches each server, and the marker a test using it must carry, so that
# `-m "not kafka and not postgres and not prometheus and not fhir_validator"` (deploy/test.sh
# --fast) leaves out every test needing one (browser and zipkin tests skip there).
SERVER_FIXTURES = {
    "kafka": "kafka",
    "postgres_url": "postgres",
    "zipkin_url": "zipkin",
    "browser": "browser",
    "promtool": "prometheus",
    "prometheus_server": "prometheus",
    "fhir_validator": "fhir_validator",
}
# Parametrised fixtures whose param reaches the servers without those fixtures (so that
# their other params need none): (fixture, param) -> the markers it needs.
SERVER_PARAMS = {("system", "kafka"): ("kafka", "postgres")}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test that uses a server without its marker; deselect slow tests unless
    --slow was given."""
    unmarked = [
        f"{item.nodeid} uses the {fixture} fixture but is not marked {marker}"
        for item in items
        for fixture, marker in SERVER_FIXTURES.items()
        if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None
    ]
    unmarked += [
        f"{item.nodeid} uses {fixture}[{param}] but is not marked {marker}"
        for item in items
        for (fixture, param), markers in SERVER_PARAMS.items()
        if getattr(getattr(item, "callspec", None), "params", {}).get(fixture) == param
        for marker in markers
        if item.get_closest_marker(marker) is None
    ]
    if unmarked:
        raise pytest.UsageError("\n".join(unmarked))
    if config.getoption("--slow"):
        return
    slow = [i for i in items if "slow" in i.keywords]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if "slow" not in i.keywords]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count passed tests that used the real infrastructure."""
    if report.when == "call" and report.passed:
        for marker in _passed:
            if marker in report.keywords:
                _passed[marker] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With VRP_REQUIRE_INFRA=1 a full run that did not exercise Kafka and PostgreSQL fails."""
    narrowed = session.config.option.keyword or session.config.option.markexpr
    if not REQUIRE_INFRA or narrowed or session.config.args != ["tests"]:
        return
    missing = [name for name, count in _passed.items() if count == 0]
    if missing and exitstatus == 0:
        session.exitstatus = 1
        print(
            f"\nFAILED: no {' or '.join(missing)} test passed; the real-infrastructure "
            "tests must run (VRP_REQUIRE_INFRA=1)"
        )
