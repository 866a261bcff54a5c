#!/usr/bin/env bash
# Create $REPO/.venv (Python >= 3.11) and install the project with its dev extra, every
# package at the version and hash deploy/requirements.lock pins (deploy/lock.sh makes it).
# Idempotent: pip only runs when pyproject.toml or the lock changed since the last
# successful install (sha256 recorded in a stamp file inside the venv).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.vrp-install.sha256"
LOCK="$REPO/deploy/requirements.lock"
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

want="$(cat "$REPO/pyproject.toml" "$LOCK" | sha256sum | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"

# The stamp alone is not enough if someone uninstalled the project by hand.
# (-I: keep the egg-info in the current directory from answering for it.)
if [[ "$want" == "$have" ]] \
    && "$PY" -I -c 'import importlib.metadata as m; m.version("vrp-referrals")' >/dev/null 2>&1; then
    log "up to date ($VENV, pyproject.toml + lock sha256 ${want:0:12})"
    exit 0
fi

# A lock that no longer covers pyproject.toml would install something untested.
for name in $(sed -n '/^dependencies = \[/,/^\]/p;/^dev = \[/,/^\]/p' "$REPO/pyproject.toml" \
        | grep -o '^  "[A-Za-z0-9_.-]*' | tr -d ' "' | tr '[:upper:]_.' '[:lower:]--'); do
    grep -qi "^${name}==" "$LOCK" || {
        log "error: $name is in pyproject.toml but not in deploy/requirements.lock; run deploy/lock.sh" >&2
        exit 1
    }
done

log "pip install -r deploy/requirements.lock (hashes required), then -e $REPO into $VENV"
rm -f "$STAMP"   # only a fully successful install writes the stamp back
PIP=("$PY" -m pip install --disable-pip-version-check --no-input -q)
"${PIP[@]}" --require-hashes --no-deps -r "$LOCK"
"${PIP[@]}" --no-deps --no-build-isolation -e "$REPO"
printf '%s\n' "$want" > "$STAMP"
log "done"
