#!/usr/bin/env bash
# Production entrypoint: apply migrations, then serve the API (workers run separately, see README).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
PYTHON="${PYTHON:-python3}"

mkdir -p logs data
"$PYTHON" -m alembic upgrade head
exec "$PYTHON" -m uvicorn main:app \
    --host "${HOST:-0.0.0.0}" \
    --port "${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-1}"
