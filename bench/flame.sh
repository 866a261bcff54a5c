#!/usr/bin/env bash
# Flame graphs of intake, router and notifier under bench.e2e at one rate (py-spy, 100
# samples/s for 20 s of the load step), as SVG and as raw collapsed stacks.
#
#   bench/flame.sh [OUT_DIR] [RATE]       # default bench/results/flame/<time>, 100/s
#
# Needs Kafka and PostgreSQL up (deploy/test.sh starts them) and ptrace of child
# processes (py-spy attaches to the services bench.e2e started). py-spy counts a thread
# blocked in C as busy, so the executor threads aiokafka's SCRAM login leaves idle show up
# as `_worker (concurrent/futures/thread.py)` with nothing above: ignore them.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$REPO/bench/results/flame/$(date -u +%Y%m%d-%H%M%S)}"
RATE="${2:-100}"
PY="$REPO/.venv/bin/python"
SPY="$REPO/.venv/bin/py-spy"
mkdir -p "$OUT"
cd "$REPO"
"$PY" -m bench.e2e --rates "$RATE" --duration 25 --warmup 3 --baseline-seconds 0 \
    --deadlock-wait 0 --out "$OUT/e2e.json" > "$OUT/e2e.txt" 2>&1 &
bench=$!
for _ in $(seq 1 120); do grep -q "services up" "$OUT/e2e.txt" 2>/dev/null && break; sleep 1; done
sleep 6   # the warm-up, then into the load step
for role in intake router notifier; do
    pid="$(pgrep -f "services.cli $role" -n -P "$bench")"
    "$SPY" record -p "$pid" -d 20 -r 100 -o "$OUT/$role.svg" > /dev/null 2>&1 &
    "$SPY" record -p "$pid" -d 20 -r 100 -f raw -o "$OUT/$role.txt" > /dev/null 2>&1 &
done
wait
echo "flame graphs in $OUT (e2e figures in $OUT/e2e.txt; profiling slows the run)"
