#!/usr/bin/env bash
# README command 2 (and what .ci/run calls): install, start the real PostgreSQL and
# Kafka, then lint, type-check and run the whole test suite against them.
# Extra arguments go to pytest, e.g.  deploy/test.sh -k router -x
# Kafka and PostgreSQL are left running afterwards (reruns are then quick).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$REPO/.venv/bin"
START=$SECONDS

banner() { printf '\n==> %s\n' "$*"; }

# Report elapsed time and the stop commands however the run ends.
finish() {
    local rc=$?
    if ((rc == 0)); then
        banner "all passed in $((SECONDS - START))s"
    else
        banner "FAILED (exit $rc) after $((SECONDS - START))s"
    fi
    echo "Kafka and PostgreSQL are left running; stop them with:"
    echo "  deploy/kafka.sh stop"
    echo "  deploy/postgres.sh stop"
}
trap finish EXIT

banner "install (.venv)"
"$REPO/deploy/install.sh"

banner "PostgreSQL"
"$REPO/deploy/postgres.sh" start

banner "Kafka"
"$REPO/deploy/kafka.sh" start

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
export VRP_REQUIRE_INFRA=1

cd "$REPO"

banner "ruff check"
"$BIN/ruff" check .

banner "ruff format --check"
"$BIN/ruff" format --check .

banner "mypy"
"$BIN/mypy"

banner "pytest $*"
"$BIN/pytest" -q "$@"
