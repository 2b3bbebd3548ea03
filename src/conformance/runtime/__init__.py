"""What runs the backend for a check: the sandbox copy, its interpreter, the app server, the
fake Telegram Bot API, database URLs, listening sockets.
"""
