#!/usr/bin/env bash
# README command 2 (and what .ci/run calls): install, start the real PostgreSQL, Kafka
# and the Zipkin trace viewer, then lint, type-check and run the whole test suite against
# them, with coverage. Extra arguments go to pytest, e.g.  deploy/test.sh -k router -x
# Kafka, PostgreSQL and Zipkin are left running afterwards (reruns are then quick).
#
#   deploy/test.sh --fast    the inner loop: ruff, ruff format --check, mypy and the tests
#                            that need no server (not marked kafka, postgres, prometheus or
#                            fhir_validator); installs nothing from Debian and starts nothing
#   deploy/test.sh --slow    also the minutes-long fault scenarios (e.g. --slow -k faults)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$REPO/.venv/bin"
START=$SECONDS

FAST=0
PYTEST_ARGS=()
for arg in "$@"; do
    if [[ "$arg" == "--fast" ]]; then FAST=1; else PYTEST_ARGS+=("$arg"); fi
done

banner() { printf '\n==> %s\n' "$*"; }

# ruff, ruff format --check and mypy: the same in both lanes.
static_checks() {
    cd "$REPO"
    banner "ruff check"
    "$BIN/ruff" check .
    banner "ruff format --check"
    "$BIN/ruff" format --check .
    banner "mypy"
    "$BIN/mypy"
}

fast_finish() {
    local rc=$?
    if ((rc == 0)); then
        banner "fast lane passed in $((SECONDS - START))s"
    else
        banner "fast lane FAILED (exit $rc) after $((SECONDS - START))s"
    fi
}

if ((FAST)); then
    trap fast_finish EXIT
    banner "install (.venv; pip only when pyproject.toml changed)"
    "$REPO/deploy/install.sh"
    static_checks
    banner "pytest (no servers) ${PYTEST_ARGS[*]}"
    # VRP_REQUIRE_INFRA stays unset: the servers are not expected here. The hypothesis
    # properties and the OpenAPI fuzzing run fewer examples than in the full run (300, 100).
    export VRP_PROPERTY_EXAMPLES="${VRP_PROPERTY_EXAMPLES:-50}"
    export VRP_FUZZ_EXAMPLES="${VRP_FUZZ_EXAMPLES:-20}"
    # Two workers: the in-process tests spend much of their time waiting on loopback I/O.
    env -u VRP_REQUIRE_INFRA "$BIN/pytest" -q -n 2 \
        -m "not kafka and not postgres and not prometheus and not fhir_validator" \
        "${PYTEST_ARGS[@]}"
    exit 0
fi

# Report elapsed time and the stop commands however the run ends.
finish() {
    local rc=$?
    if ((rc == 0)); then
        banner "all passed in $((SECONDS - START))s"
    else
        banner "FAILED (exit $rc) after $((SECONDS - START))s"
    fi
    echo "Kafka, PostgreSQL and Zipkin are left running; stop them with:"
    echo "  deploy/kafka.sh stop"
    echo "  deploy/postgres.sh stop"
    echo "  deploy/zipkin.sh stop"
}
trap finish EXIT

banner "install (.venv)"
"$REPO/deploy/install.sh"

banner "PostgreSQL"
"$REPO/deploy/postgres.sh" start

banner "Kafka"
"$REPO/deploy/kafka.sh" start

banner "Zipkin (trace viewer)"
"$REPO/deploy/zipkin.sh" start

banner "Chromium (browser tests)"
"$REPO/deploy/browser.sh"

# The independent validator the FHIR tests check the service's resources with (Java, built
# once into .cache/fhir-validator; nothing is started).
banner "FHIR validator (HAPI FHIR 8.6.5, Maven Central)"
"$REPO/deploy/fhir-validator.sh" build

# Prometheus and promtool (Debian package, unpacked into .cache/prometheus, nothing started
# here): the tests check deploy/monitoring/ and run a throwaway server on the services.
banner "Prometheus + promtool (Debian package, unpacked)"
PROMETHEUS_BIN="$("$REPO/deploy/prometheus.sh" bin)"

# kcat (Debian package) is the "partner's own tool" in the subscription tests.
if ! command -v kcat >/dev/null; then
    banner "kcat (Debian package)"
    SUDO=""
    if [[ $EUID -ne 0 ]] && command -v sudo >/dev/null; then SUDO="sudo"; fi
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q kcat
fi

# Where the tests find the real servers. VRP_REQUIRE_INFRA=1 makes the suite fail
# (not skip) when they are unreachable, so a green run means they were exercised.
export VRP_TEST_DATABASE_URL="postgresql+asyncpg://vrp:vrp@127.0.0.1:${VRP_PG_PORT:-5432}/vrp_test"
export VRP_TEST_KAFKA_BOOTSTRAP="127.0.0.1:${VRP_KAFKA_PORT:-9092}"
# The broker runs with SASL/SCRAM and ACLs; tests act as its admin to create principals.
export VRP_TEST_KAFKA_SECURITY=SASL_PLAINTEXT
VRP_TEST_KAFKA_ADMIN_PASSWORD="$(cat "$REPO/var/kafka/admin.password")"
export VRP_TEST_KAFKA_ADMIN_PASSWORD
export VRP_TEST_KAFKA_TLS_BOOTSTRAP="127.0.0.1:${VRP_KAFKA_TLS_PORT:-9095}"
export VRP_TEST_KAFKA_CA_FILE="$REPO/var/kafka/tls/ca.pem"
export VRP_TEST_ZIPKIN_URL="http://127.0.0.1:${VRP_ZIPKIN_PORT:-9411}"
export VRP_TEST_PROMETHEUS="$PROMETHEUS_BIN/prometheus"
export VRP_TEST_PROMTOOL="$PROMETHEUS_BIN/promtool"
export VRP_TEST_FHIR_VALIDATOR="$REPO/deploy/fhir-validator.sh"
export VRP_REQUIRE_INFRA=1

static_checks

banner "pytest ${PYTEST_ARGS[*]}"
# Coverage of what runs in the pytest process; the services that tests start as separate
# processes (three-process Kafka tests, fault tests) are not measured.
mkdir -p "$REPO/var"
"$BIN/pytest" -q --cov=vrp --cov=services --cov-report=term:skip-covered "${PYTEST_ARGS[@]}"
