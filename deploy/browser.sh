#!/usr/bin/env bash
# Headless Debian Chromium for the browser tests (console and API documentation pages),
# driven by Playwright from PyPI. Playwright's own browser download is not used: the
# Debian package is what the machine can install and keeps up with security updates.
#   deploy/browser.sh          install chromium from Debian packages if it is missing
#   deploy/browser.sh path     print the executable the tests use
set -euo pipefail

CHROMIUM="${VRP_CHROMIUM:-/usr/bin/chromium}"
log() { printf '[browser] %s\n' "$*"; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "error: need root (or sudo) to run: $*" >&2; exit 1
    fi
}

case "${1:-install}" in
    path) echo "$CHROMIUM" ;;
    install)
        if [[ -x "$CHROMIUM" ]]; then
            log "chromium present ($CHROMIUM)"
        else
            log "installing chromium from Debian packages"
            as_root apt-get update -q
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium </dev/null
            [[ -x "$CHROMIUM" ]] || { log "error: $CHROMIUM missing after install" >&2; exit 1; }
        fi
        ;;
    *) echo "usage: $0 [install|path]" >&2; exit 2 ;;
esac
