"""Text helpers shared by validators, scripts and integrations."""

import re
import unicodedata

_WHITESPACE = re.compile(r"\s+")


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace into single spaces and trim the ends."""
    return _WHITESPACE.sub(" ", text).strip()


def strip_control_chars(text: str) -> str:
    """Remove control characters except newlines and tabs."""
    return "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) != "Cc")


def truncate(text: str, limit: int, suffix: str = "…") -> str:
    """Shorten text to at most `limit` characters, marking the cut with `suffix`."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(suffix), 0)] + suffix[:limit]


def chunk(text: str, size: int) -> list[str]:
    """Split text into pieces of at most `size` characters (Telegram caps messages at 4096)."""
    if size <= 0:
        raise ValueError("size must be positive")
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]
