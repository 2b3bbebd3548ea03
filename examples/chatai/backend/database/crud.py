"""Small, typed query helpers so services never build SQL themselves."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select
from sqlalchemy.orm import Session

from database.models import Conversation, Message, User


def get_user(session: Session, user_id: int) -> User | None:
    """Fetch a user by id."""
    return session.get(User, user_id)


def upsert_user(session: Session, user_id: int, username: str | None, seen_at: datetime) -> User:
    """Create the user on first contact, otherwise refresh username and last-seen time."""
    user = session.get(User, user_id)
    if user is None:
        user = User(id=user_id, username=username, last_seen_at=seen_at)
        session.add(user)
    else:
        user.username = username or user.username
        user.last_seen_at = seen_at
    session.flush()
    return user


def get_or_create_conversation(session: Session, user_id: int, chat_id: int) -> Conversation:
    """Return the conversation for (user, chat), creating it if needed."""
    conversation = session.scalar(
        select(Conversation).where(Conversation.user_id == user_id, Conversation.chat_id == chat_id)
    )
    if conversation is None:
        conversation = Conversation(user_id=user_id, chat_id=chat_id)
        session.add(conversation)
        session.flush()
    return conversation


def add_message(session: Session, conversation_id: int, role: str, content: str, tokens: int) -> Message:
    """Append a message to a conversation."""
    message = Message(conversation_id=conversation_id, role=role, content=content, tokens=tokens)
    session.add(message)
    session.flush()
    return message


def recent_messages(session: Session, conversation_id: int, limit: int) -> list[Message]:
    """The last `limit` messages of a conversation, oldest first."""
    rows = session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id.desc()).limit(limit)
    ).all()
    return list(reversed(rows))


def count_user_messages(session: Session, user_id: int) -> int:
    """Number of messages (both roles) in all of a user's conversations."""
    query = select(func.count(Message.id)).join(Conversation).where(Conversation.user_id == user_id)
    return session.scalar(query) or 0


def inactive_user_ids(session: Session, cutoff: datetime) -> list[int]:
    """Non-admin users not seen since `cutoff` (or created before it and never seen)."""
    last_activity = func.coalesce(User.last_seen_at, User.created_at)
    query = select(User.id).where(User.is_admin.is_(False), last_activity < cutoff).order_by(User.id)
    return list(session.scalars(query))


def delete_users(session: Session, user_ids: Sequence[int]) -> int:
    """Delete users (their conversations and messages cascade in the database)."""
    if not user_ids:
        return 0
    result = cast(CursorResult[Any], session.execute(delete(User).where(User.id.in_(user_ids))))
    return result.rowcount


def recent_activity(session: Session, limit: int, user_id: int | None = None) -> list[tuple[Message, Conversation]]:
    """The newest messages with their conversation, newest first."""
    query = select(Message, Conversation).join(Conversation).order_by(Message.id.desc()).limit(limit)
    if user_id is not None:
        query = query.where(Conversation.user_id == user_id)
    return [(message, conversation) for message, conversation in session.execute(query)]


def messages_for_reindex(session: Session, conversation_id: int | None = None) -> Sequence[Message]:
    """All messages, or those of one conversation, in id order."""
    query = select(Message).order_by(Message.id)
    if conversation_id is not None:
        query = query.where(Message.conversation_id == conversation_id)
    return session.scalars(query).all()
