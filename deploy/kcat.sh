#!/usr/bin/env bash
# Run kcat (Debian package) with a librdkafka that can authenticate to Kafka 4.
#
# Debian 12's kcat links librdkafka 2.0.2, whose SCRAM client-final message is rejected
# by Kafka 4.x brokers ("invalid credentials"; fixed in librdkafka 2.6.1, see
# confluentinc/librdkafka#4895). The project's virtualenv already holds a current
# librdkafka (bundled with confluent-kafka), so point kcat at that one. Where kcat is
# built against librdkafka >= 2.6.1, plain `kcat` works the same.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
command -v kcat >/dev/null || { echo "kcat not found (apt-get install -y kcat)" >&2; exit 1; }
lib="$(compgen -G "$REPO/.venv/lib/python3*/site-packages/confluent_kafka.libs/librdkafka-*.so.1" \
    | head -n 1 || true)"
[[ -n "$lib" ]] || { echo "no bundled librdkafka; run deploy/install.sh" >&2; exit 1; }
dir="${TMPDIR:-/tmp}/vrp-kcat-$(id -u)"
mkdir -p "$dir"
ln -sf "$lib" "$dir/librdkafka.so.1"
LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec kcat "$@"
