#!/usr/bin/env bash
# Local Zipkin trace viewer (server, web UI and HTTP API in one JVM), run from its
# executable jar on Maven Central, bound to 127.0.0.1 only, spans kept in memory.
#
#   deploy/zipkin.sh fetch    download the pinned jar into .cache/zipkin (once), checked
#                             against Maven Central's .sha1 and the sha256 pinned below
#   deploy/zipkin.sh start    fetch, start, wait until /health answers UP
#   deploy/zipkin.sh stop     SIGTERM the server from var/zipkin/zipkin.pid, wait, SIGKILL
#   deploy/zipkin.sh status   exit 0 if running, 3 if stopped
#
# The services send it their spans with the standard OpenTelemetry variables:
#   OTEL_TRACES_EXPORTER=zipkin OTEL_EXPORTER_ZIPKIN_ENDPOINT=http://127.0.0.1:9411/api/v2/spans
# UI: http://127.0.0.1:9411/zipkin/ (search by the tag vrp.referral_id=<referral id>).
#
# VRP_ZIPKIN_PORT (default 9411) moves the port; VRP_ZIPKIN_STATE moves var/zipkin;
# VRP_ZIPKIN_MAX_SPANS (default 200000) bounds what the in-memory store keeps (oldest
# traces are dropped first). Nothing is kept across restarts.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${VRP_ZIPKIN_PORT:-9411}"
MAX_SPANS="${VRP_ZIPKIN_MAX_SPANS:-200000}"
URL="http://127.0.0.1:$PORT"

VERSION="3.5.1"
ARTIFACT="io.zipkin:zipkin-server:$VERSION:jar:exec"
# sha256 of zipkin-server-3.5.1-exec.jar as published on Maven Central (its .sha1 is
# checked by Maven during the download; this pins the exact bytes on every start).
SHA256="7ac633a6832647e71e50012a5e3e91fbc7054414955261724526030faf271d8d"
CACHE="$REPO/.cache/zipkin"
JAR="$CACHE/zipkin-server-$VERSION-exec.jar"
M2="$REPO/.cache/m2"                      # Maven's download cache, shared with kafka.sh
MVN_LOG="$CACHE/mvn.log"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"
STATE="${VRP_ZIPKIN_STATE:-$REPO/var/zipkin}"
LOGFILE="$STATE/zipkin.log"
PIDFILE="$STATE/zipkin.pid"

# A 2-core CI machine runs Kafka, PostgreSQL and the services beside it: a small heap
# (ample for a test suite's traces in memory) and no more threads than cores.
JVM_OPTS=(-Xms64m -Xmx384m -XX:+UseSerialGC -XX:ActiveProcessorCount=2
    -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)
# Spring Boot properties of the Zipkin server: loopback only, in-memory storage, no
# tracing of itself.
ZIPKIN_OPTS=(
    "--armeria.ports[0].ip=127.0.0.1"
    "--armeria.ports[0].port=$PORT"
    "--armeria.ports[0].protocols[0]=http"
    "--zipkin.storage.type=mem"
    "--zipkin.storage.mem.max-spans=$MAX_SPANS"
    "--zipkin.self-tracing.enabled=false"
    "--zipkin.collector.grpc.enabled=false"
)

log() { printf '[zipkin] %s\n' "$*"; }
die() { printf '[zipkin] error: %s\n' "$*" >&2; exit 1; }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# True if Zipkin answers its health check with UP.
healthy() {
    local body
    body="$(curl -fsS --max-time 2 "$URL/health" 2>/dev/null)" || return 1
    [[ "$body" == *'"UP"'* ]]
}

# running_pid, daemon_launch, daemon_stop (deploy/daemon.sh): our Zipkin is the java process
# whose command line matches (never a stale pid file's number reused by another process).
DAEMON_MATCH="*zipkin-server-*-exec.jar*"
# shellcheck source=deploy/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon.sh"

verify_jar() {
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    [[ "$got" == "$SHA256" ]] || {
        printf '[zipkin] %s: sha256 %s, expected %s\n' "$1" "$got" "$SHA256" >&2
        return 1
    }
}

cmd_fetch() {
    if [[ -s "$JAR" ]]; then
        verify_jar "$JAR" || die "cached jar does not match the pinned sha256; remove $JAR"
        log "jar present ($JAR)"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
    command -v java >/dev/null || die "java not found (apt-get install -y openjdk-17-jre-headless)"
    log "downloading $ARTIFACT from Maven Central"
    local t0=$SECONDS tmp="$CACHE/tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    # --strict-checksums: Maven fails unless the bytes match the repository's .sha1.
    # Copy into a temp dir and rename, so an interrupted download never looks complete.
    if ! mvn -q -B --strict-checksums -Dmaven.repo.local="$M2" \
        "$DEPENDENCY_PLUGIN:copy" -Dartifact="$ARTIFACT" -DoutputDirectory="$tmp" \
        </dev/null >"$MVN_LOG" 2>&1; then
        cat "$MVN_LOG" >&2
        rm -rf "$tmp"
        die "maven download failed (log: $MVN_LOG)"
    fi
    if ! verify_jar "$tmp/zipkin-server-$VERSION-exec.jar"; then
        rm -rf "$tmp"
        die "downloaded jar does not match the pinned sha256"
    fi
    mv "$tmp/zipkin-server-$VERSION-exec.jar" "$JAR"
    rm -rf "$tmp" "$M2/io/zipkin/zipkin-server/$VERSION" # no second copy of 130 MB
    log "fetched $(du -h "$JAR" | cut -f1) in $((SECONDS - t0))s"
}

fail_start() {
    printf '[zipkin] error: %s\n' "$1" >&2
    if [[ -f "$LOGFILE" ]]; then
        printf '[zipkin] last 40 lines of %s:\n' "$LOGFILE" >&2
        tail -n 40 "$LOGFILE" >&2
    fi
    # A server that never became ready is of no use; stop it so the next start is clean.
    cmd_stop >&2
    exit 1
}

wait_ready() {
    local pid="$1" t0="$2" deadline=$((SECONDS + 90))
    until healthy; do
        kill -0 "$pid" 2>/dev/null || fail_start "zipkin exited during startup"
        ((SECONDS < deadline)) || fail_start "$URL/health not UP within 90s"
        sleep 0.5
    done
    log "ready at $URL/zipkin/ ($((SECONDS - t0))s after start)"
}

cmd_start() {
    local pid t0
    command -v curl >/dev/null || die "curl not found (apt-get install -y curl)"
    mkdir -p "$STATE"
    if pid="$(running_pid)"; then
        if healthy; then
            log "already running (pid $pid, $URL)"
            return 0
        fi
        log "pid $pid alive but not ready yet; waiting for it"
        wait_ready "$pid" "$SECONDS"
        return 0
    fi
    rm -f "$PIDFILE"
    if port_open "$PORT"; then
        die "port $PORT is in use by another process (not ours); set VRP_ZIPKIN_PORT"
    fi

    cmd_fetch

    log "starting Zipkin $VERSION (log: $LOGFILE)"
    t0=$SECONDS
    daemon_launch java "${JVM_OPTS[@]}" -jar "$JAR" "${ZIPKIN_OPTS[@]}"
    pid=$DAEMON_PID
    wait_ready "$pid" "$t0"
}

cmd_stop() { daemon_stop 20 "SIGTERM"; }

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        if healthy; then
            log "running (pid $pid, $URL/zipkin/)"
        else
            log "running (pid $pid), not ready yet"
        fi
        return 0
    fi
    log "stopped"
    return 3
}

case "${1:-}" in
    fetch) cmd_fetch ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 {fetch|start|stop|status}" >&2
        exit 2
        ;;
esac
