"""Chat message validation so bad input is rejected before it reaches the database or the AI provider."""

from utils.text import strip_control_chars

MAX_MESSAGE_LENGTH = 4096  # Telegram's own limit for a text message.


class InvalidMessage(ValueError):
    """The message text cannot be accepted."""


def validate_message_text(text: str) -> str:
    """Return cleaned message text or raise InvalidMessage."""
    cleaned = strip_control_chars(text).strip()
    if not cleaned:
        raise InvalidMessage("message text must not be empty")
    if len(cleaned) > MAX_MESSAGE_LENGTH:
        raise InvalidMessage(f"message text exceeds {MAX_MESSAGE_LENGTH} characters")
    return cleaned
