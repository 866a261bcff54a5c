#!/usr/bin/env bash
# README command 1: the embedded all-in-one (no Kafka, no PostgreSQL needed).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$REPO/deploy/install.sh"
exec "$REPO/.venv/bin/vrp" up "$@"
