"""Input validation rules shared by the API schemas and the Telegram integration."""
