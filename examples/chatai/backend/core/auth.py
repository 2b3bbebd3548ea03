"""Admin-token dependency guarding operational endpoints without a full user auth system."""

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.config import get_settings

_bearer = HTTPBearer(auto_error=False, description="ADMIN_TOKEN as a bearer token")


def require_admin(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Allow the request only with `Authorization: Bearer <ADMIN_TOKEN>`; fail closed when unset."""
    expected = get_settings().admin_token.get_secret_value()
    if not expected:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "admin API disabled: ADMIN_TOKEN is not set")
    supplied = credentials.credentials if credentials else ""
    if not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid admin token",
            headers={"WWW-Authenticate": "Bearer"},
        )
