"""User use cases: cached profiles, admin accounts and cleanup of inactive users."""

from datetime import timedelta

from sqlalchemy.orm import Session

from cache.redis_cache import Cache
from core.config import get_settings
from database import crud
from database.models import User
from schemas.users import UserOut
from security.passwords import hash_password
from utils.time import utcnow


def profile_cache_key(user_id: int) -> str:
    """Cache key of a user's public profile."""
    return f"user:{user_id}:profile"


def get_user_profile(session: Session, cache: Cache, user_id: int) -> UserOut | None:
    """A user's public profile, served from the cache when possible."""
    key = profile_cache_key(user_id)
    cached = cache.get(key)
    if cached is not None:
        return UserOut.model_validate_json(cached)
    user = crud.get_user(session, user_id)
    if user is None:
        return None
    profile = UserOut.model_validate(user).model_copy(
        update={"message_count": crud.count_user_messages(session, user_id)}
    )
    cache.set(key, profile.model_dump_json(), get_settings().cache_ttl_seconds)
    return profile


def invalidate_profile(cache: Cache, user_id: int) -> None:
    """Drop a cached profile after the user changed."""
    cache.delete(profile_cache_key(user_id))


def create_admin(
    session: Session, user_id: int, username: str, password: str, email: str | None = None
) -> tuple[User, bool]:
    """Create an admin or promote an existing user; returns (user, created)."""
    user = crud.get_user(session, user_id)
    created = user is None
    if user is None:
        user = User(id=user_id)
        session.add(user)
    user.username = username
    user.email = email or user.email
    user.password_hash = hash_password(password)
    user.is_admin = True
    session.flush()
    return user, created


def cleanup_inactive_users(session: Session, inactive_days: int, *, dry_run: bool = False) -> list[int]:
    """Delete non-admin users inactive for `inactive_days`; returns the affected ids."""
    if inactive_days < 0:
        raise ValueError("inactive_days must not be negative")
    user_ids = crud.inactive_user_ids(session, utcnow() - timedelta(days=inactive_days))
    if not dry_run:
        crud.delete_users(session, user_ids)
    return user_ids
