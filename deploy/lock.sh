#!/usr/bin/env bash
# Re-resolve deploy/requirements.lock (every dependency of pyproject.toml, its dev extra and
# the editable install's build requirements, pinned with sha256 hashes of every file).
#
#   deploy/lock.sh                          # after editing pyproject.toml: keeps every pin
#                                           # that still satisfies it, resolves the rest
#   deploy/lock.sh --upgrade-package NAME   # move one package to its newest allowed version
#   deploy/lock.sh --upgrade                # move everything (then run the whole suite)
#
# Runs uv (a pinned version, in var/tools, not the project's venv). Commit the lock with the
# change that needed it; deploy/install.sh installs from it alone.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$REPO/var/tools"
UV_VERSION="0.13.9"

if [[ "$("$TOOLS/bin/uv" --version 2>/dev/null)" != "uv $UV_VERSION"* ]]; then
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --disable-pip-version-check --no-input -q "uv==$UV_VERSION"
fi
cd "$REPO"
# --universal: one lock for every platform (markers decide); 3.11 is the oldest we support.
"$TOOLS/bin/uv" pip compile pyproject.toml deploy/build-requirements.in --extra dev \
    --universal --python-version 3.11 --generate-hashes --quiet \
    --custom-compile-command "deploy/lock.sh" -o deploy/requirements.lock "$@"
echo "[lock] deploy/requirements.lock: $(grep -c '==' deploy/requirements.lock) packages"
