"""Outgoing email: renders templates and sends via SMTP only when SMTP_HOST is configured, else logs."""

import logging
import smtplib
from email.message import EmailMessage

from core.config import get_settings
from templates import render

logger = logging.getLogger(__name__)


def send_email(to: str, subject: str, html_body: str) -> bool:
    """Send an HTML email; returns False (after logging) when SMTP is not configured."""
    settings = get_settings()
    if not settings.smtp_host:
        logger.info("SMTP not configured; email to %s not sent (subject=%r)", to, subject)
        return False
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content("This message requires an HTML-capable mail client.")
    message.add_alternative(html_body, subtype="html")
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        if settings.smtp_username:
            smtp.starttls()
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)
    logger.info("email sent to %s (subject=%r)", to, subject)
    return True


def send_welcome_email(to: str, username: str) -> bool:
    """Render and send the welcome email for a new account."""
    app_name = get_settings().app_name
    html_body = render("welcome_email.html", app_name=app_name, username=username)
    return send_email(to, f"Welcome to {app_name}", html_body)
