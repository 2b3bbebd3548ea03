"""Adapters to external systems: Telegram update formats and outgoing email."""
