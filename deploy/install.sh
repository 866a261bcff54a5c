#!/usr/bin/env bash
# Create $REPO/.venv (Python >= 3.11) and install the project with its dev extra.
# Idempotent: pip only runs when pyproject.toml changed since the last successful
# install (sha256 recorded in a stamp file inside the venv).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.vrp-install.sha256"
PYTHON="${PYTHON:-python3}"

log() { printf '[install] %s\n' "$*"; }

# A venv whose interpreter vanished (e.g. Python upgraded) is useless: rebuild it.
if [[ -d "$VENV" ]] && ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    log "existing $VENV is broken; recreating it"
    rm -rf "$VENV"
fi

if [[ ! -x "$PY" ]]; then
    command -v "$PYTHON" >/dev/null || { log "error: $PYTHON not found on PATH" >&2; exit 1; }
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
        log "error: $PYTHON is $("$PYTHON" -V 2>&1); Python >= 3.11 is required" >&2
        exit 1
    }
    log "creating $VENV with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

want="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"

# The stamp alone is not enough if someone uninstalled the project by hand.
# (-I: keep the egg-info in the current directory from answering for it.)
if [[ "$want" == "$have" ]] \
    && "$PY" -I -c 'import importlib.metadata as m; m.version("vrp-referrals")' >/dev/null 2>&1; then
    log "up to date ($VENV, pyproject.toml sha256 ${want:0:12})"
    exit 0
fi

log "pip install -e \"${REPO}[dev]\" into $VENV"
rm -f "$STAMP"   # only a fully successful install writes the stamp back
"$PY" -m pip install --disable-pip-version-check --no-input -q -e "${REPO}[dev]"
printf '%s\n' "$want" > "$STAMP"
log "done"
