#!/usr/bin/env bash
# Prometheus and promtool from Debian's `prometheus` package, unpacked into
# .cache/prometheus/ without root and without installing or starting any system service:
# the tests check deploy/monitoring/ with promtool and run a throwaway Prometheus server.
#
#   deploy/prometheus.sh        fetch (once) and print where the two binaries are
#   deploy/prometheus.sh bin    the same, then the binaries' directory alone on stdout
#                               (for scripts: PROM="$(deploy/prometheus.sh bin)")
#
# `apt-get download` fetches the .deb as any user (apt checks it against the signed
# package lists) and `dpkg-deb -x` unpacks it here; nothing is configured or run. When the
# download fails (no package lists yet on a fresh machine, or stale ones), apt-get update
# runs (with sudo when not root) and the download is tried once more.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$REPO/.cache/prometheus"
ROOT="$CACHE/root"             # the unpacked package
BIN="$ROOT/usr/bin"
LOGFILE="$CACHE/apt.log"

log() { printf '[prometheus] %s\n' "$*" >&2; }
die() { printf '[prometheus] error: %s\n' "$*" >&2; exit 1; }

# True if both binaries are there and answer --version.
present() {
    "$BIN/prometheus" --version >/dev/null 2>&1 && "$BIN/promtool" --version >/dev/null 2>&1
}

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root (or sudo) to run: $*"
    fi
}

# Download the candidate .deb into $1; the apt output goes to $LOGFILE.
download() { (cd "$1" && apt-get download -q prometheus) >>"$LOGFILE" 2>&1; }

fetch() {
    if present; then
        log "present ($("$BIN/prometheus" --version 2>&1 | head -n1))"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found (a Debian machine is expected)"
    command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
    mkdir -p "$CACHE"
    : >"$LOGFILE"
    local t0=$SECONDS tmp="$CACHE/tmp.$$" deb candidate
    rm -rf "$tmp"
    mkdir -p "$tmp/download"
    # As root, apt downloads as its sandbox user, who must own the directory (else it warns
    # and downloads as root).
    if [[ $EUID -eq 0 ]]; then chown _apt "$tmp/download" 2>/dev/null || true; fi
    candidate="$(apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p' || true)"
    log "downloading Debian package prometheus (${candidate:-not in the package lists yet})"
    if ! download "$tmp/download"; then
        log "download failed; refreshing the package lists (apt-get update) and retrying"
        as_root apt-get update -q >>"$LOGFILE" 2>&1 || {
            cat "$LOGFILE" >&2
            rm -rf "$tmp"
            die "apt-get update failed (log: $LOGFILE)"
        }
        if ! download "$tmp/download"; then
            cat "$LOGFILE" >&2
            rm -rf "$tmp"
            die "apt-get download prometheus failed (log: $LOGFILE)"
        fi
    fi
    deb="$(find "$tmp/download" -name 'prometheus_*.deb' | head -n1)"
    [[ -n "$deb" ]] || { rm -rf "$tmp"; die "no prometheus_*.deb downloaded (log: $LOGFILE)"; }
    # Unpack beside the old copy and swap, so an interrupted run never looks complete.
    dpkg-deb -x "$deb" "$tmp/root"
    rm -rf "$ROOT"
    mv "$tmp/root" "$ROOT"
    rm -rf "$tmp"
    present || die "unpacked $(basename "$deb") but $BIN/prometheus or promtool does not run"
    log "unpacked $(basename "$deb") in $((SECONDS - t0))s"
}

case "${1:-}" in
    "")
        fetch
        printf 'prometheus: %s\npromtool:   %s\n' "$BIN/prometheus" "$BIN/promtool"
        ;;
    bin)
        fetch
        printf '%s\n' "$BIN"
        ;;
    *)
        echo "usage: $0 [bin]" >&2
        exit 2
        ;;
esac
