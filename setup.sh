#!/usr/bin/env bash
# Creates .venv with the suite and the reference backend's pinned dependencies.
# Idempotent: reinstalls only when pyproject.toml or the backend's requirements change.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "setup.sh: need Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
command -v git >/dev/null || { echo "setup.sh: git is required (apt-get install git)" >&2; exit 1; }

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=$(cat pyproject.toml examples/chatai/backend/requirements.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$stamp" ]; then
    echo "setup.sh: installing the suite and the reference backend's requirements into .venv" \
         "(about 30 s on a fresh machine; the log goes to .venv/setup.log) ..."
    if ! { .venv/bin/python -m pip install --disable-pip-version-check --upgrade pip &&
           .venv/bin/python -m pip install --disable-pip-version-check \
               -e ".[dev]" -r examples/chatai/backend/requirements.txt; } > .venv/setup.log 2>&1; then
        tail -n 30 .venv/setup.log >&2
        echo "setup.sh: pip failed; the whole log is in .venv/setup.log" >&2
        exit 1
    fi
    echo "$stamp" > .venv/.setup-stamp
fi
