#!/usr/bin/env bash
# The independent FHIR R4 validator the tests use: HAPI FHIR 8.6.5's implementation of the
# HL7 validator (jars from Maven Central) behind a small main, deploy/fhir-validator/.
# Checks resources against the base R4 specification only, offline: no UK Core or BaRS
# profiles, no NHS code systems (a declared profile it cannot fetch is a warning).
#
#   deploy/fhir-validator.sh build    compile vrp.FhirValidate and copy the HAPI jars into
#                                     .cache/fhir-validator/build (only when the pom or the
#                                     source is newer than the jar; downloads once, into
#                                     .cache/m2, and needs no network afterwards)
#   deploy/fhir-validator.sh run      stdin {"name": resource, ...} -> stdout {"name":
#                                     [{"severity", "location", "message"}, ...], ...}
#   deploy/fhir-validator.sh status   exit 0 if built, 3 if not
#
# One run is one JVM: about 5 s of start-up and loading the specification, then tens of
# milliseconds a resource, so give it every resource at once (testkit/fhir_validator.py).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="$REPO/deploy/fhir-validator"
POM="$SRC/pom.xml"
OUT="$REPO/.cache/fhir-validator"
BUILD="$OUT/build"
JAR="$BUILD/fhir-validator.jar"
M2="$REPO/.cache/m2"                      # Maven's download cache, shared with deploy/kafka.sh
MVN_LOG="$OUT/mvn.log"

# Serial GC and the C1 compiler only: a short-lived single-threaded run, where these halve
# the memory (about 480 MB instead of 900 MB+) and start faster. HAPI's INFO log goes nowhere.
JVM_OPTS=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xmx1g -Djava.awt.headless=true
    -Dorg.slf4j.simpleLogger.defaultLogLevel=error)

log() { printf '[fhir-validator] %s\n' "$*" >&2; }
die() { printf '[fhir-validator] error: %s\n' "$*" >&2; exit 1; }

# Built, and not older than the pom or any source file.
up_to_date() {
    [[ -s "$JAR" ]] && [[ -z "$(find "$POM" "$SRC/src" -newer "$JAR" -print -quit)" ]]
}

cmd_build() {
    if up_to_date; then
        log "up to date ($JAR)"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
    command -v java >/dev/null || die "java not found (apt-get install -y openjdk-17-jdk-headless)"
    log "building with Maven (HAPI FHIR jars from Maven Central, cached in $M2)"
    local t0=$SECONDS tmp="$BUILD.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$OUT"
    # Build into a temp dir and rename, so an interrupted build never looks complete.
    # Output to a file: Maven only prints errors with -q, plus stray ANSI resets.
    if ! mvn -q -B -f "$POM" -Dmaven.repo.local="$M2" -Dvrp.build.directory="$tmp" package \
        </dev/null >"$MVN_LOG" 2>&1; then
        cat "$MVN_LOG" >&2
        rm -rf "$tmp"
        die "maven build failed (log: $MVN_LOG)"
    fi
    rm -rf "$BUILD"
    mv "$tmp" "$BUILD"
    log "built $JAR with $(find "$BUILD/lib" -name '*.jar' | wc -l) jars in $((SECONDS - t0))s"
}

cmd_run() {
    # A jar older than its sources would check with code nobody reads any more.
    up_to_date || die "not built, or older than its sources; run deploy/fhir-validator.sh build"
    exec java "${JVM_OPTS[@]}" -jar "$JAR"
}

cmd_status() {
    if up_to_date; then
        log "built ($JAR)"
        return 0
    fi
    log "not built, or older than its sources (deploy/fhir-validator.sh build)"
    return 3
}

case "${1:-}" in
    build) cmd_build ;;
    run) cmd_run ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 {build|run|status}" >&2
        exit 2
        ;;
esac
