"""Telegram bots function: worker scripts parse, packages are sound, each worker answers
a message through the fake Bot API.
"""
