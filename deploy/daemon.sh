# Sourced by deploy/kafka.sh and deploy/zipkin.sh: one long-running java server per script,
# known by a pid file, started detached and stopped gracefully. The caller defines log(),
# PIDFILE and LOGFILE, and DAEMON_MATCH: a glob its process's command line must match (so
# a recycled pid of some other process is never taken for it, nor killed).

# The server's pid if it is running (and is ours), else status 1.
running_pid() {
    local pid cmdline
    [[ -s "$PIDFILE" ]] || return 1
    pid="$(<"$PIDFILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    # shellcheck disable=SC2053 # DAEMON_MATCH is a glob on purpose
    [[ "$cmdline" == $DAEMON_MATCH ]] || return 1
    printf '%s\n' "$pid"
}

# daemon_launch COMMAND...: start it detached, keep the previous log, record the pid in
# PIDFILE and set DAEMON_PID.
daemon_launch() {
    if [[ -f "$LOGFILE" ]]; then mv -f "$LOGFILE" "$LOGFILE.1"; fi  # for post-mortems
    # setsid: own session, so the server outlives the calling shell/CI step and a Ctrl-C
    # there. setsid and nohup both exec, so $! is the java pid.
    setsid nohup "$@" >"$LOGFILE" 2>&1 </dev/null &
    DAEMON_PID=$!
    printf '%s\n' "$DAEMON_PID" >"$PIDFILE"
    log "pid $DAEMON_PID"
}

# daemon_stop GRACE_SECONDS [WHAT]: SIGTERM, then SIGKILL after the grace period.
daemon_stop() {
    local pid deadline grace="$1" what="${2:-SIGTERM}"
    if ! pid="$(running_pid)"; then
        rm -f "$PIDFILE"
        log "not running"
        return 0
    fi
    log "stopping pid $pid ($what)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "still alive after ${grace}s; SIGKILL $pid"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
    fi
    rm -f "$PIDFILE"
    log "stopped"
}
