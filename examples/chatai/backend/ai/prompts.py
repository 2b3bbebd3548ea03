"""Prompt construction so every provider receives the same system prompt and history shape."""

from collections.abc import Sequence
from dataclasses import dataclass

SYSTEM_PROMPT = "You are ChatAI, a concise and friendly assistant chatting with a user on Telegram."
HELP_TEXT = "Commands: /start - greeting, /help - this text. Anything else is answered by the assistant."


@dataclass(frozen=True, slots=True)
class PromptMessage:
    """One message in a provider prompt; role is "system", "user" or "assistant"."""

    role: str
    content: str


def build_prompt(history: Sequence[PromptMessage], user_text: str, username: str | None = None) -> list[PromptMessage]:
    """System prompt, then the stored history, then the new user message."""
    system = SYSTEM_PROMPT + (f" The user's name is {username}." if username else "")
    return [PromptMessage("system", system), *history, PromptMessage("user", user_text)]
