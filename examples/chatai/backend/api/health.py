"""Liveness/readiness endpoint for load balancers and an admin-only metrics endpoint."""

from typing import Any

from fastapi import APIRouter, Depends, Response, status

from core.auth import require_admin
from monitoring.health import health_report
from monitoring.metrics import metrics

router = APIRouter(tags=["health"])


@router.get("/health")
def health(response: Response) -> dict[str, Any]:
    """200 with status "ok" when the database and cache respond, 503 "degraded" otherwise."""
    report = health_report()
    if report["status"] != "ok":
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return report


@router.get("/metrics", dependencies=[Depends(require_admin)])
def read_metrics() -> dict[str, dict[str, int]]:
    """In-process counters (requires ADMIN_TOKEN)."""
    return {"counters": metrics.snapshot()}
