"""Show whether a moment falls inside the configured support working hours, to debug WORKING_HOURS/TIMEZONE."""

import argparse
import sys
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.config import get_settings
from utils.time import is_within_working_hours, parse_working_hours, utcnow


def build_parser() -> argparse.ArgumentParser:
    settings = get_settings()
    parser = argparse.ArgumentParser(description="Check a time against the working-hours window.")
    parser.add_argument("--at", help="ISO datetime to check (naive = UTC); default: now")
    parser.add_argument("--hours", default=settings.working_hours, help="window HH:MM-HH:MM (default: WORKING_HOURS)")
    parser.add_argument("--tz", default=settings.timezone, help="IANA timezone (default: TIMEZONE)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        window = parse_working_hours(args.hours)
        moment = datetime.fromisoformat(args.at) if args.at else utcnow()
        local = (moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("UTC"))).astimezone(ZoneInfo(args.tz))
    except (ValueError, ZoneInfoNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    inside = is_within_working_hours(moment, window, args.tz)
    print(f"time={local.isoformat()} tz={args.tz} window={args.hours} working_hours={'yes' if inside else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
