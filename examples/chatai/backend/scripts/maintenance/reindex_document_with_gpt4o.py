"""Recompute stored token counts of messages (the "document" index) after changing the tokenizer/model."""

import argparse
import sys

from ai.token_manager import estimate_tokens
from database import crud
from database.session import session_scope


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Re-tokenize stored messages with the current token estimator (historically GPT-4o)."
    )
    parser.add_argument("--conversation-id", type=int, help="only this conversation (default: all)")
    parser.add_argument("--dry-run", action="store_true", help="report changes without writing them")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with session_scope() as session:
        messages = crud.messages_for_reindex(session, args.conversation_id)
        changed = 0
        for message in messages:
            tokens = estimate_tokens(message.content)
            if message.tokens != tokens:
                changed += 1
                if not args.dry_run:
                    message.tokens = tokens
    verb = "would update" if args.dry_run else "updated"
    print(f"{verb} {changed} of {len(messages)} message(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
