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

# Where the tests find the real servers. VRP_REQUIRE_INFRA=1 makes the suite fail
# (not skip) when they are unreachable, so a green run means they were exercised.
export VRP_TEST_DATABASE_URL="postgresql+asyncpg://vrp:vrp@127.0.0.1:${VRP_PG_PORT:-5432}/vrp_test"
export VRP_TEST_KAFKA_BOOTSTRAP="127.0.0.1:${VRP_KAFKA_PORT:-9092}"
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
