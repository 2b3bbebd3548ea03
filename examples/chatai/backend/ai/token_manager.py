"""Approximate token counting and history trimming to keep prompts within a provider's context budget."""

import math
from collections.abc import Sequence

from ai.prompts import PromptMessage

CHARS_PER_TOKEN = 4  # Common rule of thumb for English text with BPE tokenizers.
MESSAGE_OVERHEAD = 4  # Role and separators per message.


def estimate_tokens(text: str) -> int:
    """Rough token count of `text` (0 for empty text)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def count_prompt_tokens(messages: Sequence[PromptMessage]) -> int:
    """Rough token count of a whole prompt."""
    return sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD for m in messages)


def trim_history(messages: Sequence[PromptMessage], max_tokens: int) -> list[PromptMessage]:
    """Keep system messages and the newest other messages that fit; the last message is always kept."""
    system = [m for m in messages if m.role == "system"]
    others = [m for m in messages if m.role != "system"]
    budget = max_tokens - count_prompt_tokens(system)
    kept: list[PromptMessage] = []
    for message in reversed(others):
        cost = estimate_tokens(message.content) + MESSAGE_OVERHEAD
        if kept and cost > budget:
            break
        kept.append(message)
        budget -= cost
    return system + kept[::-1]
