"""Create (or promote) an admin user: `python -m scripts.admin.create_admin --user-id 1 --username alice`."""

import argparse
import os
import secrets
import sys

from core.config import get_settings
from database.session import session_scope
from integrations.email import send_welcome_email
from monitoring.logging_config import configure_logging
from services.user_service import create_admin


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Create an admin user or promote an existing one.")
    parser.add_argument("--user-id", type=int, required=True, help="Telegram user id of the admin")
    parser.add_argument("--username", required=True)
    parser.add_argument("--email", help="also send the welcome email (logged only unless SMTP_HOST is set)")
    parser.add_argument(
        "--password",
        default=os.environ.get("ADMIN_PASSWORD"),
        help="defaults to $ADMIN_PASSWORD; a random one is generated and printed if neither is given",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(get_settings().log_level)
    if args.user_id <= 0:
        print("error: --user-id must be positive", file=sys.stderr)
        return 2
    password = args.password or secrets.token_urlsafe(16)
    with session_scope() as session:
        user, created = create_admin(session, args.user_id, args.username, password, args.email)
        print(f"{'created' if created else 'promoted'} admin id={user.id} username={user.username}")
    if not args.password:
        print(f"generated password: {password}")
    if args.email:
        send_welcome_email(args.email, args.username)
    return 0


if __name__ == "__main__":
    sys.exit(main())
