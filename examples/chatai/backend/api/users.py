"""User endpoints: public profile lookup."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, status
from sqlalchemy.orm import Session

from cache.redis_cache import Cache, get_cache
from database.session import get_session
from schemas.users import UserOut
from services.user_service import get_user_profile

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("/{user_id}")
def read_user(
    user_id: Annotated[int, Path(gt=0, le=2**63 - 1)],
    session: Annotated[Session, Depends(get_session)],
    cache: Annotated[Cache, Depends(get_cache)],
) -> UserOut:
    """A user's public profile with their message count."""
    profile = get_user_profile(session, cache, user_id)
    if profile is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "user not found")
    return profile
