#!/usr/bin/env bash
# The three services (intake, router, notifier) as background processes on Kafka +
# PostgreSQL, each logged in to the broker as its own principal. Bound to 127.0.0.1.
#
#   deploy/services.sh start            migrate, create topics, start what is not running,
#                                       wait until each answers /ready (intake on its port,
#                                       router and notifier on their metrics ports)
#   deploy/services.sh stop             SIGTERM each service by its PID file, wait, SIGKILL
#   deploy/services.sh status           each PID alive or dead, each one's readiness
#                                       (exit 0 if all run and are ready, else 3)
#   deploy/services.sh logs [-f] [SVC]  last lines of the logs (or follow them)
#
# Needs deploy/postgres.sh and deploy/kafka.sh running (start does not start them).
# State in var/services/ (VRP_SERVICES_STATE moves it):
#   common.env         shared settings, written on the first start (edit it; mode 600)
#   <svc>.env          that service's Kafka login (mode 600); made on the first start by
#                      `vrp kafka services` as the broker admin (var/kafka/admin.password),
#                      which rotates all three passwords, then reused
#   <svc>.pid <svc>.log (previous run's log: <svc>.log.1)
# The files are the services' whole VRP_* configuration (like systemd EnvironmentFile=):
# VRP_* variables of the calling shell are not passed on. Format: KEY=value lines, no quotes.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${VRP_SERVICES_STATE:-$REPO/var/services}"
KAFKA_STATE="${VRP_KAFKA_STATE:-$REPO/var/kafka}"
VRP="$REPO/.venv/bin/vrp"
COMMON="$STATE/common.env"
ROLES=(intake router notifier)
STARTED=() # the services this invocation launched

log() { printf '[services] %s\n' "$*"; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The value of KEY in an env file (last one wins), or empty.
env_value() { sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n1; }

intake_port() { local p; p="$(env_value "$COMMON" VRP_PORT)"; printf '%s\n' "${p:-8000}"; }

# Where a role answers /health and /ready: intake on its API port; router and notifier on
# their metrics port (VRP_METRICS_PORT in <svc>.env, else the API port + 1 and + 2).
role_port() {
    local p offset
    case "$1" in
        intake) intake_port; return ;;
        router) offset=1 ;;
        notifier) offset=2 ;;
    esac
    p="$(env_value "$STATE/$1.env" VRP_METRICS_PORT)"
    printf '%s\n' "${p:-$(($(intake_port) + offset))}"
}

ready_url() { printf 'http://127.0.0.1:%s/ready\n' "$(role_port "$1")"; }

# Export every KEY=value line of a file (comments and blank lines skipped; no quoting).
load_env() {
    local line
    while IFS= read -r line || [[ -n "$line" ]]; do
        [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
        [[ "$line" =~ ^([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] || die "$1: not KEY=value: $line"
        export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
    done <"$1"
}

# Drop the caller's VRP_* so only the files configure the services.
clear_vrp_env() {
    local v
    for v in $(compgen -v VRP_ || true); do unset "$v"; done
}

# The pid from the role's pid file if that process is alive and is our `vrp <role>`.
running_pid() {
    local pidfile="$STATE/$1.pid" pid cmdline
    [[ -s "$pidfile" ]] || return 1
    pid="$(<"$pidfile")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$VRP $1 "* ]] || return 1
    printf '%s\n' "$pid"
}

write_common() {
    [[ -s "$COMMON" ]] && return 0
    local port="${VRP_PORT:-8010}"
    (umask 077 && cat >"$COMMON" <<EOF
# Settings shared by the three services (deploy/services.sh); KEY=value, no quotes.
VRP_TRANSPORT=kafka
VRP_DATABASE_URL=${VRP_DATABASE_URL:-postgresql+asyncpg://vrp:vrp@127.0.0.1:${VRP_PG_PORT:-5432}/vrp}
VRP_KAFKA_BOOTSTRAP=${VRP_KAFKA_BOOTSTRAP:-127.0.0.1:${VRP_KAFKA_PORT:-9092}}
VRP_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT
# Keep it secret and stable: it links referrals of one person across organisations.
VRP_PSEUDONYM_KEY=$(openssl rand -hex 32)
VRP_PORT=$port
VRP_PUBLIC_URL=http://127.0.0.1:$port
# Without an SMTP server, alerts are .eml files in var/mail/.
#VRP_SMTP_HOST=127.0.0.1
#VRP_SMTP_PORT=2525
EOF
    )
    log "wrote $COMMON (edit it to change settings)"
}

# `vrp <args>` as the broker admin with the common settings (migrations, topics, users).
as_admin() {
    local pwfile="$KAFKA_STATE/admin.password"
    [[ -s "$pwfile" ]] || die "no $pwfile: start the broker with deploy/kafka.sh start"
    (
        clear_vrp_env
        load_env "$COMMON"
        export VRP_KAFKA_USERNAME=admin
        VRP_KAFKA_PASSWORD="$(<"$pwfile")"
        export VRP_KAFKA_PASSWORD
        cd "$REPO"
        "$VRP" "$@"
    )
}

credentials_present() {
    local r
    for r in "${ROLES[@]}"; do [[ -s "$STATE/$r.env" ]] || return 1; done
}

provision() {
    local r out line user
    credentials_present && return 0
    for r in "${ROLES[@]}"; do
        if running_pid "$r" >/dev/null; then
            die "no stored login for every service but $r runs; deploy/services.sh stop first"
        fi
    done
    log "creating the services' Kafka users (vrp kafka services, as admin)"
    out="$(as_admin kafka services 2>"$STATE/provision.err")" \
        || { cat "$STATE/provision.err" >&2; die "vrp kafka services failed"; }
    for r in "${ROLES[@]}"; do
        user="vrp-$r"
        line="$(sed -n "s/^$user: //p" <<<"$out")"
        [[ "$line" =~ ^VRP_KAFKA_USERNAME=$user\ VRP_KAFKA_PASSWORD=([^[:space:]]+)$ ]] \
            || die "unexpected output of vrp kafka services for $user"
        (umask 077 && printf '# Kafka login of %s (deploy/services.sh)\nVRP_KAFKA_USERNAME=%s\nVRP_KAFKA_PASSWORD=%s\n' \
            "$user" "$user" "${BASH_REMATCH[1]}" >"$STATE/$r.env")
    done
    rm -f "$STATE/provision.err"
    log "stored the logins in $STATE/{intake,router,notifier}.env (mode 600)"
    sleep 2 # new SCRAM credentials take a moment to reach the broker's listeners
}

start_role() {
    local r="$1" logfile="$STATE/$1.log" pid
    if pid="$(running_pid "$r")"; then
        log "$r already running (pid $pid)"
        return 0
    fi
    rm -f "$STATE/$r.pid"
    if port_open "$(role_port "$r")"; then
        die "port $(role_port "$r") ($r) is in use by another process; set VRP_PORT in $COMMON or VRP_METRICS_PORT in $STATE/$r.env"
    fi
    if [[ -f "$logfile" ]]; then mv -f "$logfile" "$logfile.1"; fi
    (
        clear_vrp_env
        load_env "$COMMON"
        load_env "$STATE/$r.env"
        export VRP_HOST=127.0.0.1 VRP_METRICS_HOST=127.0.0.1 # loopback only, whatever the files say
        if [[ "$r" != intake ]]; then export VRP_METRICS_PORT="$(role_port "$r")"; fi
        cd "$REPO"
        # setsid: its own session, so it outlives this shell and a Ctrl-C there;
        # setsid and nohup exec, so $! is the service's pid.
        exec setsid nohup "$VRP" "$r" >"$logfile" 2>&1 </dev/null
    ) &
    pid=$!
    printf '%s\n' "$pid" >"$STATE/$r.pid"
    STARTED+=("$r")
    log "$r started (pid $pid, log $logfile)"
}

fail_role() {
    local logfile="$STATE/$1.log"
    printf '[services] error: %s\n' "$2" >&2
    # Services this start launched are of no use half-ready: stop them (by PID).
    local s
    for s in "${STARTED[@]}"; do stop_role "$s" >&2; done
    if [[ -f "$logfile" ]]; then
        printf '[services] last 20 lines of %s:\n' "$logfile" >&2
        tail -n 20 "$logfile" >&2
        if grep -qE 'SaslAuthenticationFailed|invalid credentials' "$logfile"; then
            printf '[services] the broker rejects the stored login (rotated since, e.g. by\n' >&2
            printf '[services] `vrp kafka services`); run: %s stop; rm %s/{intake,router,notifier}.env; %s start\n' \
                "$0" "$STATE" "$0" >&2
        fi
    fi
    exit 1
}

# Wait until each role answers /ready (intake: database reachable; router and notifier:
# database reachable and every consumer joined and making progress).
wait_ready() {
    local deadline=$((SECONDS + ${VRP_SERVICES_READY_SECONDS:-90})) r pending
    while :; do
        pending=()
        for r in "${ROLES[@]}"; do
            # Alive by PID (its command line may still be the exec chain's for a moment).
            kill -0 "$(cat "$STATE/$r.pid" 2>/dev/null)" 2>/dev/null \
                || fail_role "$r" "$r exited during startup"
            curl -sf -o /dev/null --max-time 2 "$(ready_url "$r")" || pending+=("$r")
        done
        ((${#pending[@]} == 0)) && break
        ((SECONDS < deadline)) || fail_role "${pending[0]}" \
            "${pending[*]} not ready after ${VRP_SERVICES_READY_SECONDS:-90}s ($(curl -s --max-time 2 "$(ready_url "${pending[0]}")" || true))"
        sleep 0.5
    done
    # A service announces itself before its first broker login: one whose login is
    # refused exits a moment later. Those just launched must survive a few seconds.
    if ((${#STARTED[@]})); then
        deadline=$((SECONDS + 5))
        while ((SECONDS < deadline)); do
            for r in "${STARTED[@]}"; do
                kill -0 "$(cat "$STATE/$r.pid" 2>/dev/null)" 2>/dev/null \
                    || fail_role "$r" "$r exited just after starting"
            done
            sleep 0.5
        done
    fi
    log "ready: intake $(ready_url intake), router $(ready_url router), notifier $(ready_url notifier)"
}

cmd_start() {
    local r all=1
    command -v curl >/dev/null || die "curl not found"
    [[ -x "$VRP" ]] || die "no $VRP: run deploy/install.sh (or deploy/test.sh) first"
    mkdir -p "$STATE"
    chmod 700 "$STATE"
    write_common
    for r in "${ROLES[@]}"; do running_pid "$r" >/dev/null || all=0; done
    if ((all)); then
        log "all running"
        wait_ready
        return 0
    fi
    provision
    as_admin db upgrade >/dev/null \
        || die "vrp db upgrade failed: is PostgreSQL running (deploy/postgres.sh start)?"
    as_admin topics create || die "vrp topics create failed (see above)"
    for r in "${ROLES[@]}"; do start_role "$r"; done
    wait_ready
}

stop_role() {
    local r="$1" pid deadline
    if ! pid="$(running_pid "$r")"; then
        rm -f "$STATE/$r.pid"
        log "$r not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        log "$r (pid $pid) still alive after 30s; SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$STATE/$r.pid"
    log "$r stopped (pid $pid)"
}

cmd_stop() {
    # Intake first (no new referrals), then the consumers downstream of it.
    local r
    for r in "${ROLES[@]}"; do stop_role "$r"; done
}

cmd_status() {
    local r pid ok=1 code
    for r in "${ROLES[@]}"; do
        if pid="$(running_pid "$r")"; then
            log "$r: running (pid $pid)"
        elif [[ -s "$STATE/$r.pid" ]]; then
            log "$r: dead (pid $(<"$STATE/$r.pid") in $STATE/$r.pid is gone; see $STATE/$r.log)"
            ok=0
        else
            log "$r: stopped"
            ok=0
        fi
    done
    if [[ -s "$COMMON" ]]; then
        for r in "${ROLES[@]}"; do
            code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$(ready_url "$r")" || true)"
            case "$code" in
                200) log "$r $(ready_url "$r"): ready" ;;
                000 | "") log "$r $(ready_url "$r"): not answering"; ok=0 ;;
                *) log "$r $(ready_url "$r"): not ready (HTTP $code: $(curl -s --max-time 3 "$(ready_url "$r")" || true))"; ok=0 ;;
            esac
        done
    fi
    ((ok)) || return 3
}

cmd_logs() {
    local follow=0 files=() r
    if [[ "${1:-}" == -f ]]; then follow=1; shift; fi
    (($#)) || set -- "${ROLES[@]}"
    for r in "$@"; do
        [[ " ${ROLES[*]} " == *" $r "* ]] || die "unknown service $r (${ROLES[*]})"
        [[ -f "$STATE/$r.log" ]] && files+=("$STATE/$r.log")
    done
    ((${#files[@]})) || die "no logs in $STATE yet"
    if ((follow)); then
        exec tail -n 20 -F "${files[@]}"
    fi
    tail -n "${VRP_LOG_LINES:-40}" "${files[@]}"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    logs) shift; cmd_logs "$@" ;;
    *)
        echo "usage: $0 {start|stop|status|logs [-f] [intake|router|notifier]}" >&2
        exit 2
        ;;
esac
