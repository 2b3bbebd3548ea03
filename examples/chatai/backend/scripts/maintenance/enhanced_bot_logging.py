"""Print recent bot traffic from the database with token counts, to debug what the bot actually answered."""

import argparse
import json
import sys

from database import crud
from database.session import session_scope
from utils.text import normalize_whitespace, truncate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Show the latest stored chat messages.")
    parser.add_argument("--limit", type=int, default=20, help="number of messages (default: 20)")
    parser.add_argument("--user-id", type=int, help="only this user's conversations")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.limit <= 0:
        print("error: --limit must be positive", file=sys.stderr)
        return 2
    with session_scope() as session:
        rows = crud.recent_activity(session, args.limit, args.user_id)
        for message, conversation in reversed(rows):
            record = {
                "message_id": message.id,
                "at": message.created_at.isoformat(),
                "user_id": conversation.user_id,
                "chat_id": conversation.chat_id,
                "role": message.role,
                "tokens": message.tokens,
                "text": message.content,
            }
            if args.json:
                print(json.dumps(record, ensure_ascii=False))
            else:
                text = truncate(normalize_whitespace(message.content), 80)
                print(
                    f"{record['at']} user={conversation.user_id} chat={conversation.chat_id} "
                    f"{message.role:<9} tokens={message.tokens:<4} {text}"
                )
    if not rows and not args.json:
        print("no messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
