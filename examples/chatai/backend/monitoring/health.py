"""Database and cache health checks shared by GET /health and the monitoring scripts."""

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from cache.redis_cache import get_cache
from database.session import get_engine

logger = logging.getLogger(__name__)


def check_database() -> bool:
    """Run `SELECT 1` on the configured database."""
    try:
        with get_engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.error("database health check failed: %s", exc)
        return False
    return True


def check_cache() -> bool:
    """Ping the active cache backend."""
    return get_cache().ping()


def health_report() -> dict[str, Any]:
    """Overall status ("ok" or "degraded") with the result of each check."""
    checks = {"database": check_database(), "cache": check_cache()}
    return {
        "status": "ok" if all(checks.values()) else "degraded",
        "checks": {name: "ok" if passed else "error" for name, passed in checks.items()},
        "cache_backend": get_cache().backend_name,
    }
