"""Helpers for Telegram Bot API payloads, so services handle plain data instead of raw update dicts."""

from dataclasses import dataclass
from typing import Any

from utils.text import chunk

MAX_MESSAGE_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """The parts of a Telegram text message the chat service needs."""

    update_id: int
    user_id: int
    chat_id: int
    text: str
    username: str | None


def parse_update(update: dict[str, Any]) -> IncomingMessage | None:
    """Extract a text message from an Update object; None for anything else (edits, stickers, joins...)."""
    message = update.get("message")
    if not isinstance(message, dict):
        return None
    sender, chat, text = message.get("from"), message.get("chat"), message.get("text")
    if not (isinstance(sender, dict) and isinstance(chat, dict) and isinstance(text, str)):
        return None
    try:
        return IncomingMessage(
            update_id=int(update.get("update_id", 0)),
            user_id=int(sender["id"]),
            chat_id=int(chat["id"]),
            text=text,
            username=sender.get("username") or sender.get("first_name"),
        )
    except (KeyError, TypeError, ValueError):
        return None


def send_message_payloads(chat_id: int, text: str) -> list[dict[str, Any]]:
    """sendMessage parameters for `text`, split to respect Telegram's length limit."""
    return [{"chat_id": chat_id, "text": part} for part in chunk(text, MAX_MESSAGE_LENGTH)]


def webhook_reply(chat_id: int, text: str) -> dict[str, Any]:
    """A webhook response body that makes Telegram send the reply itself (first chunk only)."""
    return {"method": "sendMessage", **send_message_payloads(chat_id, text)[0]}
