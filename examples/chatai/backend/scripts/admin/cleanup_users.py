"""Delete non-admin users inactive for N days, with their conversations: `python -m scripts.admin.cleanup_users`."""

import argparse
import sys

from core.config import get_settings
from database.session import session_scope
from monitoring.logging_config import configure_logging
from services.user_service import cleanup_inactive_users


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Remove inactive non-admin users.")
    parser.add_argument("--inactive-days", type=int, default=90, help="inactivity threshold (default: 90)")
    parser.add_argument("--dry-run", action="store_true", help="only list the users that would be deleted")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(get_settings().log_level)
    if args.inactive_days < 0:
        print("error: --inactive-days must not be negative", file=sys.stderr)
        return 2
    with session_scope() as session:
        user_ids = cleanup_inactive_users(session, args.inactive_days, dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(user_ids)} user(s){': ' + ', '.join(map(str, user_ids)) if user_ids else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
