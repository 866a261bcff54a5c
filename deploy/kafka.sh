#!/usr/bin/env bash
# Local single-node Apache Kafka 4.1.1 (KRaft: broker + controller in one JVM),
# run from the Maven Central jars, bound to 127.0.0.1 only.
#
#   deploy/kafka.sh fetch    download the jars into .cache/kafka/libs (once)
#   deploy/kafka.sh start    fetch, format storage (once), start, wait until ready: as
#                            long as the broker's log grows (it is loading partitions),
#                            up to VRP_KAFKA_START_SECONDS (600); stalled for
#                            VRP_KAFKA_STALL_SECONDS (60) it is stopped
#   deploy/kafka.sh stop     SIGTERM the broker from var/kafka/kafka.pid, wait, SIGKILL
#   deploy/kafka.sh status   exit 0 if running, 3 if stopped
#
# Security is on, as in production: clients authenticate with SASL/SCRAM-SHA-512 and the
# standard authorizer denies whatever no ACL allows. The super user `admin` gets a random
# password on first start, kept in var/kafka/admin.password (mode 600).
#
# Ports (all 127.0.0.1): VRP_KAFKA_PORT 9092 (clients, SASL_PLAINTEXT),
# VRP_KAFKA_TLS_PORT 9095 (clients, SASL_SSL with a throwaway CA in var/kafka/tls/),
# VRP_KAFKA_INTERNAL_PORT 9094 (broker to itself), VRP_KAFKA_CONTROLLER_PORT 9093.
# VRP_KAFKA_STATE moves var/kafka (to run a second broker beside the first).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PORT="${VRP_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${VRP_KAFKA_CONTROLLER_PORT:-9093}"
INTERNAL_PORT="${VRP_KAFKA_INTERNAL_PORT:-9094}"
TLS_PORT="${VRP_KAFKA_TLS_PORT:-9095}"
BOOTSTRAP="127.0.0.1:$PORT"

LIBS="$REPO/.cache/kafka/libs"
M2="$REPO/.cache/m2"                      # Maven's download cache, kept with the others
MVN_LOG="$REPO/.cache/kafka/mvn.log"
STATE="${VRP_KAFKA_STATE:-$REPO/var/kafka}"
DATA="$STATE/data"
PROPS="$STATE/server.properties"
LOGFILE="$STATE/kafka.log"
PIDFILE="$STATE/kafka.pid"
CLUSTER_ID_FILE="$STATE/cluster.id"
ADMIN_PASSWORD_FILE="$STATE/admin.password"
SECURE_MARKER="$STATE/data/.vrp-sasl"
TLS_DIR="$STATE/tls"
LOG4J="$REPO/deploy/kafka/log4j2.properties"
POM="$REPO/deploy/kafka/pom.xml"
VENV_PY="$REPO/.venv/bin/python"
START_LIMIT="${VRP_KAFKA_START_SECONDS:-600}" # at most, while the broker makes progress
STALL="${VRP_KAFKA_STALL_SECONDS:-60}"       # no log line for this long: it is stuck

JVM_OPTS=(-Xms256m -Xmx768m -XX:+UseG1GC -XX:ActiveProcessorCount=2 -Djava.awt.headless=true)
LOG_OPTS=("-Dlog4j2.configurationFile=$LOG4J")

log() { printf '[kafka] %s\n' "$*"; }
die() { printf '[kafka] error: %s\n' "$*" >&2; exit 1; }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# running_pid, daemon_launch, daemon_stop (deploy/daemon.sh): our broker is the java process
# whose command line matches (never a stale pid file's number reused by another process).
DAEMON_MATCH="* kafka.Kafka *"
# shellcheck source=deploy/daemon.sh
source "$(dirname "${BASH_SOURCE[0]}")/daemon.sh"

libs_present() { compgen -G "$LIBS/*.jar" >/dev/null; }

cmd_fetch() {
    if libs_present; then
        log "jars present ($(find "$LIBS" -name '*.jar' | wc -l) in $LIBS)"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
    command -v java >/dev/null || die "java not found (apt-get install -y openjdk-17-jre-headless)"
    log "downloading Kafka jars from Maven Central into $LIBS"
    local t0=$SECONDS tmp="$LIBS.tmp.$$"
    rm -rf "$tmp"
    # Copy into a temp dir and rename, so an interrupted download never looks complete.
    # Output to a file: Maven only prints errors with -q, plus stray ANSI resets.
    mkdir -p "$(dirname "$LIBS")"
    if ! mvn -q -B -f "$POM" -Dmaven.repo.local="$M2" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime </dev/null >"$MVN_LOG" 2>&1; then
        cat "$MVN_LOG" >&2
        rm -rf "$tmp"
        die "maven download failed (log: $MVN_LOG)"
    fi
    rm -rf "$LIBS"
    mv "$tmp" "$LIBS"
    log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars in $((SECONDS - t0))s"
}

admin_password() {
    if [[ ! -s "$ADMIN_PASSWORD_FILE" ]]; then
        mkdir -p "$STATE"
        (umask 077 && openssl rand -hex 24 >"$ADMIN_PASSWORD_FILE")
    fi
    cat "$ADMIN_PASSWORD_FILE"
}

# A throwaway CA and a broker certificate for 127.0.0.1/localhost, for the SASL_SSL
# listener. Production uses the organisation's own CA (see docs/kafka.md, "Over a network use SASL_SSL").
make_tls() {
    [[ -s "$TLS_DIR/broker.pem" && -s "$TLS_DIR/ca.pem" ]] && return 0
    command -v openssl >/dev/null || die "openssl not found (apt-get install -y openssl)"
    mkdir -p "$TLS_DIR"
    (
        umask 077
        cd "$TLS_DIR"
        openssl req -x509 -newkey rsa:2048 -nodes -days 365 -keyout ca.key -out ca.pem \
            -subj "/CN=vrp-dev-ca" >/dev/null 2>&1
        openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr \
            -subj "/CN=127.0.0.1" >/dev/null 2>&1
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 365 -extfile san.ext -out broker.crt >/dev/null 2>&1
        # Kafka's PEM keystore: an unencrypted PKCS#8 key followed by the certificate chain.
        openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.pk8
        cat broker.pk8 broker.crt ca.pem >broker.pem
        rm -f broker.csr broker.key san.ext ca.srl
    ) || die "could not create the development TLS certificates"
    chmod 644 "$TLS_DIR/ca.pem"
}

write_properties() {
    local pw
    pw="$(admin_password)"
    mkdir -p "$DATA"
    # Regenerated on every start so port/env changes take effect. Holds the admin
    # password, so only we may read it.
    (umask 077 && cat >"$PROPS" <<EOF
# Generated by deploy/kafka.sh -- edits are overwritten on the next start.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=EXTERNAL://127.0.0.1:$PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT,TLS://127.0.0.1:$TLS_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=EXTERNAL://127.0.0.1:$PORT,INTERNAL://127.0.0.1:$INTERNAL_PORT,TLS://127.0.0.1:$TLS_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,EXTERNAL:SASL_PLAINTEXT,TLS:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.internal.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$pw";
listener.name.external.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.tls.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.tls.ssl.keystore.type=PEM
listener.name.tls.ssl.keystore.location=$TLS_DIR/broker.pem
# Deny by default; only the broker itself (admin, and ANONYMOUS on the loopback-only
# controller listener) is a super user. Everything else needs an ACL.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
log.dirs=$DATA
num.partitions=3
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# The application creates its own topics (with the partition counts it needs).
auto.create.topics.enable=false
EOF
    )
}

format_storage() {
    local cid
    # Reuse the cluster id: from our file, else from already formatted data.
    if [[ -s "$CLUSTER_ID_FILE" ]]; then
        cid="$(<"$CLUSTER_ID_FILE")"
    elif [[ -f "$DATA/meta.properties" ]]; then
        cid="$(sed -n 's/^cluster\.id=//p' "$DATA/meta.properties")"
    else
        cid="$(java "${LOG_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid | tail -n1)"
    fi
    [[ -n "$cid" ]] || die "could not determine a cluster id"
    printf '%s\n' "$cid" >"$CLUSTER_ID_FILE"
    # Data formatted before security was on has no admin user: it is a development
    # broker's data, so start it afresh rather than run without authentication.
    if [[ -f "$DATA/meta.properties" && ! -f "$SECURE_MARKER" ]]; then
        log "data in $DATA predates SASL; removing it (development broker)"
        rm -rf "$DATA"
        mkdir -p "$DATA"
    fi
    # --ignore-formatted makes this a no-op once the data dir is formatted.
    java "${LOG_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
        -t "$cid" -c "$PROPS" --ignore-formatted \
        --add-scram "SCRAM-SHA-512=[name=admin,password=$(admin_password)]" \
        >"$STATE/format.log" 2>&1 \
        || { cat "$STATE/format.log" >&2; die "storage format failed"; }
    touch "$SECURE_MARKER"
}

fail_start() {
    printf '[kafka] error: %s\n' "$1" >&2
    if [[ -f "$LOGFILE" ]]; then
        printf '[kafka] last 50 lines of %s:\n' "$LOGFILE" >&2
        tail -n 50 "$LOGFILE" >&2
    fi
    if [[ -f "$LOGFILE" ]] && grep -q "Failed authentication" "$LOGFILE"; then
        printf '[kafka] the broker rejects the admin password in %s; if its data is from\n' \
            "$ADMIN_PASSWORD_FILE" >&2
        printf '[kafka] an earlier, different set-up, remove %s and start again\n' "$DATA" >&2
    fi
    # A broker that never became ready is of no use; stop it (if still alive) so the
    # next start begins clean instead of reporting "already running".
    cmd_stop >&2
    exit 1
}

# wait_kafka.py needs aiokafka from the project venv.
ensure_venv() {
    if ! "$VENV_PY" -c 'import aiokafka' >/dev/null 2>&1; then
        "$REPO/deploy/install.sh"
    fi
}

# The broker is making progress while its log grows: it logs each partition and each
# consumer-offsets shard it loads, which after an outage on a busy machine takes minutes.
LOG_SIZE=-1
LOG_GREW_AT=0
progressing() {
    local size
    size="$(stat -c %s "$LOGFILE" 2>/dev/null || echo 0)"
    if ((size != LOG_SIZE)); then
        LOG_SIZE=$size
        LOG_GREW_AT=$SECONDS
    fi
    ((SECONDS - LOG_GREW_AT < STALL))
}

# Wait while the broker makes progress (its log grows) and at most START_LIMIT seconds.
# It is stopped only if it exited or stalled: one still loading is left to finish.
wait_ready() {
    local pid="$1" t0="$2" deadline=$((SECONDS + START_LIMIT)) said=$SECONDS
    ensure_venv
    LOG_SIZE=-1
    progressing || true
    until port_open "$PORT"; do
        kill -0 "$pid" 2>/dev/null || fail_start "broker exited during startup"
        progressing || fail_start "port $PORT not open and the broker's log has not grown for ${STALL}s"
        ((SECONDS < deadline)) || give_up "$pid" "port $PORT not open after ${START_LIMIT}s"
        if ((SECONDS - said >= 15)); then
            log "waiting for port $PORT ($((SECONDS - t0))s; the broker is still loading: its log grows)"
            said=$SECONDS
        fi
        sleep 0.5
    done
    log "port $PORT open after $((SECONDS - t0))s; waiting for metadata"
    until "$VENV_PY" "$REPO/deploy/wait_kafka.py" --bootstrap "$BOOTSTRAP" --timeout 15 \
        --username admin --password-file "$ADMIN_PASSWORD_FILE" 2>"$STATE/wait.err"; do
        kill -0 "$pid" 2>/dev/null || fail_start "broker exited during startup"
        grep -q "Failed authentication" "$LOGFILE" 2>/dev/null \
            && fail_start "broker did not answer admin requests ($(tail -n1 "$STATE/wait.err"))"
        progressing || fail_start "broker did not answer admin requests and its log has not grown for ${STALL}s ($(tail -n1 "$STATE/wait.err"))"
        ((SECONDS < deadline)) || give_up "$pid" "broker did not answer admin requests within ${START_LIMIT}s"
        log "waiting for the broker's metadata ($((SECONDS - t0))s; its log still grows)"
    done
    rm -f "$STATE/wait.err"
    log "ready at $BOOTSTRAP ($((SECONDS - t0))s after start)"
}

# Out of time while the broker still makes progress: leave it running (stopping a broker
# that is recovering only makes the next start longer), say so, fail.
give_up() {
    printf '[kafka] error: %s; the broker (pid %s) is still loading and is left running:
' "$2" "$1" >&2
    printf '[kafka] run deploy/kafka.sh start again to keep waiting (VRP_KAFKA_START_SECONDS=%s)\n' "$START_LIMIT" >&2
    exit 1
}

cmd_start() {
    local pid t0
    mkdir -p "$STATE"
    if pid="$(running_pid)"; then
        if port_open "$PORT"; then
            log "already running (pid $pid, $BOOTSTRAP)"
            return 0
        fi
        # Our broker is alive but not listening yet: probably still starting.
        log "pid $pid alive but port $PORT closed; waiting for it"
        wait_ready "$pid" "$SECONDS"
        return 0
    fi
    rm -f "$PIDFILE"
    if port_open "$PORT"; then
        die "port $PORT is in use by another process (not ours); set VRP_KAFKA_PORT"
    fi
    for p in "$CONTROLLER_PORT" "$INTERNAL_PORT" "$TLS_PORT"; do
        if port_open "$p"; then
            die "port $p is in use by another process; see the VRP_KAFKA_*_PORT variables"
        fi
    done

    cmd_fetch
    make_tls
    write_properties
    format_storage

    log "starting broker (log: $LOGFILE)"
    t0=$SECONDS
    daemon_launch java "${JVM_OPTS[@]}" "${LOG_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$PROPS"
    pid=$DAEMON_PID
    wait_ready "$pid" "$t0"
}

cmd_stop() { daemon_stop 30 "SIGTERM, controlled shutdown"; }

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        if port_open "$PORT"; then
            log "running (pid $pid, $BOOTSTRAP)"
        else
            log "running (pid $pid), port $PORT not open yet"
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
