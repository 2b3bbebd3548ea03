"""Typed settings read from the environment (and an optional .env) so all layers share one configuration."""

import logging
from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration; every field maps to the upper-case environment variable of the same name."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    app_name: str = "ChatAI"
    database_url: str = "sqlite:///./data/chatai.db"
    redis_url: str = ""
    ai_provider: str = "offline"
    admin_token: SecretStr = SecretStr("")
    log_level: str = "INFO"
    log_dir: Path = Path("logs")
    data_dir: Path = Path("data")
    cache_ttl_seconds: int = 60
    rate_limit_per_minute: int = 60
    history_messages: int = 20
    history_token_budget: int = 1500
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    smtp_from: str = "chatai@localhost"
    working_hours: str = "09:00-18:00"
    timezone: str = "UTC"
    telegram_webhook_secret: SecretStr = SecretStr("")

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if not isinstance(logging.getLevelName(level), int):
            raise ValueError(f"unknown log level {value!r}")
        return level


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, parsed once."""
    return Settings()
