"""Public user profile model (never exposes email or password hash)."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class UserOut(BaseModel):
    """A user as returned by GET /api/users/{id}."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str | None
    is_admin: bool
    created_at: datetime
    last_seen_at: datetime | None
    message_count: int = 0
