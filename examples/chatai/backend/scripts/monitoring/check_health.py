"""Probe a running API's /health endpoint; exit 0 when healthy, 1 otherwise (cron/container checks)."""

import argparse
import json
import sys
import urllib.error
import urllib.request


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="GET <url>/health and report the result.")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="base URL of the API")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default: 5)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    url = args.url.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=args.timeout) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        print(f"UNHEALTHY {url}: HTTP {exc.code}")
        return 1
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        print(f"UNREACHABLE {url}: {exc}")
        return 1
    status = body.get("status") if isinstance(body, dict) else None
    print(f"{'OK' if status == 'ok' else 'UNHEALTHY'} {url}: {json.dumps(body)}")
    return 0 if status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
