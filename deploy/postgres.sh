#!/usr/bin/env bash
# The machine's Debian PostgreSQL cluster, prepared for the project:
# role vrp (password vrp) and databases vrp, vrp_test, reachable on 127.0.0.1.
#
#   deploy/postgres.sh start    install if missing, start the cluster, create role/dbs
#   deploy/postgres.sh stop     stop the cluster
#   deploy/postgres.sh status   exit 0 if accepting connections, 3 otherwise
#
# Port: VRP_PG_PORT (default 5432); the cluster listening on it is used.
set -euo pipefail

PORT="${VRP_PG_PORT:-5432}"
HOST=127.0.0.1
ROLE=vrp
PASSWORD=vrp
DATABASES=(vrp vrp_test)

log() { printf '[postgres] %s\n' "$*"; }
die() { printf '[postgres] error: %s\n' "$*" >&2; exit 1; }

# Run as root: directly when we are root, else through non-interactive sudo.
as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo -n "$@"
    else
        die "need root (or sudo) for: $*"
    fi
}

# psql as the postgres superuser over the local socket (peer auth). cd / so the
# postgres user is not left in a directory it may not read.
psql_admin() {
    if ((EUID == 0)); then
        (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@")
    else
        (cd / && sudo -n -u postgres psql -X -q -v ON_ERROR_STOP=1 -p "$PORT" "$@")
    fi
}

ensure_installed() {
    if command -v pg_ctlcluster >/dev/null && command -v pg_lsclusters >/dev/null; then
        return 0
    fi
    log "PostgreSQL not installed; installing the Debian package"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql </dev/null
}

# Sets VER, NAME, STATUS for the cluster on $PORT (creating one if there is none).
find_cluster() {
    local lines ver name port status
    lines="$(pg_lsclusters -h 2>/dev/null || true)"
    if [[ -z "$lines" ]]; then
        ver="$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null \
            | sort -n | tail -n1)"
        [[ -n "$ver" ]] || die "no PostgreSQL server version under /usr/lib/postgresql"
        log "no cluster found; creating $ver/main on port $PORT"
        as_root pg_createcluster -p "$PORT" "$ver" main >/dev/null
        lines="$(pg_lsclusters -h)"
    fi
    while read -r ver name port status _; do
        if [[ "$port" == "$PORT" ]]; then
            VER="$ver" NAME="$name" STATUS="$status"
            return 0
        fi
    done <<<"$lines"
    # Not rewriting an existing cluster's config behind the user's back.
    die "no cluster on port $PORT (have: $(awk '{print $1"/"$2":"$3}' <<<"$lines" | xargs)); set VRP_PG_PORT"
}

pg_ready() { pg_isready -q -h "$HOST" -p "$PORT" >/dev/null 2>&1; }

# Password login over TCP as the project role into database $1.
can_login() {
    PGPASSWORD="$PASSWORD" PGCONNECT_TIMEOUT=5 psql -X -q -w -h "$HOST" -p "$PORT" \
        -U "$ROLE" -d "$1" -tA -c 'select 1' >/dev/null 2>&1
}

can_login_all() {
    local db
    for db in "${DATABASES[@]}"; do can_login "$db" || return 1; done
}

ensure_role_and_dbs() {
    local db
    # Fast path for reruns: the role logs in to every database, nothing to do.
    if can_login_all; then
        return 0
    fi
    log "creating role $ROLE and databases ${DATABASES[*]} (where missing)"
    psql_admin -d postgres <<SQL
DO \$\$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
        CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD';
        RAISE NOTICE 'created role $ROLE';
    END IF;
END
\$\$;
SQL
    for db in "${DATABASES[@]}"; do
        # CREATE DATABASE cannot run inside DO/transactions; \gexec runs it only if missing.
        psql_admin -d postgres <<SQL
SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db')
\gexec
SQL
    done
    if ! can_login_all; then
        # Role existed with another password or without LOGIN: put it right.
        log "resetting login/password of role $ROLE"
        psql_admin -d postgres -c "ALTER ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'"
        can_login_all || die "cannot log in as $ROLE over TCP ($HOST:$PORT); check pg_hba.conf"
    fi
}

cmd_start() {
    local t0=$SECONDS deadline
    ensure_installed
    find_cluster
    if [[ "$STATUS" != online* ]]; then
        log "starting cluster $VER/$NAME"
        as_root pg_ctlcluster "$VER" "$NAME" start
    fi
    deadline=$((SECONDS + 30))
    until pg_ready; do
        ((SECONDS < deadline)) || die "not accepting connections on $HOST:$PORT after 30s \
(see /var/log/postgresql/postgresql-$VER-$NAME.log)"
        sleep 0.5
    done
    ensure_role_and_dbs
    log "ready: cluster $VER/$NAME on $HOST:$PORT, role $ROLE, databases ${DATABASES[*]} \
($((SECONDS - t0))s)"
}

cmd_stop() {
    command -v pg_lsclusters >/dev/null || { log "not installed"; return 0; }
    find_cluster
    if [[ "$STATUS" == online* ]]; then
        as_root pg_ctlcluster "$VER" "$NAME" stop
        log "stopped cluster $VER/$NAME"
    else
        log "cluster $VER/$NAME not running"
    fi
}

cmd_status() {
    command -v pg_lsclusters >/dev/null || { log "not installed"; return 3; }
    find_cluster
    if [[ "$STATUS" == online* ]] && pg_ready; then
        log "running (cluster $VER/$NAME, $HOST:$PORT)"
        return 0
    fi
    log "stopped (cluster $VER/$NAME: $STATUS)"
    return 3
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 {start|stop|status}" >&2
        exit 2
        ;;
esac
