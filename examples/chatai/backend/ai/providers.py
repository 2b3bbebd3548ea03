"""Provider protocol and a deterministic offline provider, so the bot works with no network or API key."""

from collections.abc import Callable, Sequence
from typing import Protocol

from ai.prompts import HELP_TEXT, PromptMessage

GREETINGS = frozenset({"hi", "hello", "hey", "good morning", "good evening", "привет"})


class Provider(Protocol):
    """Anything that turns a prompt into a reply."""

    name: str

    def generate(self, messages: Sequence[PromptMessage]) -> str: ...


class OfflineProvider:
    """Rule-based replies derived only from the prompt: same input, same output."""

    name = "offline"

    def generate(self, messages: Sequence[PromptMessage]) -> str:
        user_turns = [m.content.strip() for m in messages if m.role == "user"]
        if not user_turns:
            return "Hello! Send me a message to get started."
        text = user_turns[-1]
        command = text.split(maxsplit=1)[0].lower() if text else ""
        if command == "/start":
            return "Welcome to ChatAI! Ask me anything, or send /help."
        if command == "/help":
            return HELP_TEXT
        if text.lower().strip("!.? ") in GREETINGS:
            return "Hello! How can I help you today?"
        if text.endswith("?"):
            return f"Good question! You asked: {text}"
        earlier = len(user_turns) - 1
        memory = f" (I remember {earlier} earlier message{'s' if earlier != 1 else ''})" if earlier else ""
        return f"You said: {text}{memory}"


PROVIDERS: dict[str, Callable[[], Provider]] = {"offline": OfflineProvider}


def get_provider(name: str) -> Provider:
    """Instantiate the provider registered under `name` (AI_PROVIDER)."""
    try:
        factory = PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown AI provider {name!r}; available: {', '.join(sorted(PROVIDERS))}") from None
    return factory()
