"""Time the conformance suite as whole processes (median of several runs) and print a table.

    .venv/bin/python benchmarks/run.py                  # reference backend + generated 100/1000 modules
    .venv/bin/python benchmarks/run.py --sizes 100 1000 5000 --runs 5

Each row runs in a fresh process, like a developer's pre-push hook: plugin import, collection,
scanning and graph building all count. Reference figures: an empty pytest session and
`lint-imports` alone on the same contracts.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from benchmarks.generate import generate_backend  # noqa: E402

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"]


def timed(argv: list[str], runs: int, cwd: Path = PROJECT, ok: tuple[int, ...] = (0,)) -> float:
    """Median wall time of `argv` over `runs` runs; the first (cold) run is discarded."""
    times = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=1800)
        elapsed = time.perf_counter() - started
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        if attempt:
            times.append(elapsed)
    return statistics.median(times)


def collected(argv: list[str], cwd: Path = PROJECT) -> int:
    """Number of items the run selects (after -m), from --collect-only's closing line."""
    import re

    done = subprocess.run([*argv, "--collect-only"], cwd=cwd, capture_output=True, text=True, timeout=600)
    match = re.search(r"(\d+)(?:/\d+)? tests? collected", done.stdout)
    return int(match.group(1)) if match else -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as tmp:
        empty = Path(tmp) / "empty"
        empty.mkdir()
        (empty / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
        rows.append(("empty pytest session", timed([*PYTEST, "-p", "no:cacheprovider", str(empty),
                                                    "--rootdir", str(empty)], args.runs, cwd=empty), 1))
        fast = [*PYTEST, "-m", "not startup"]
        rows.append(("reference: -m 'not startup' (serial)", timed(fast, args.runs), collected(fast)))
        rows.append(("reference: -m 'not startup' -n auto", timed([*fast, "-n", "auto"], args.runs), collected(fast)))
        full = [*PYTEST, "-n", "auto"]
        rows.append(("reference: full suite -n auto", timed(full, args.runs), collected(full)))
        for size in args.sizes:
            backend = generate_backend(Path(tmp) / f"gen{size}", size)
            option = f"--backend-root={backend}"
            importlinter = backend.parent / ".importlinter"
            lint = [str(Path(sys.executable).parent / "lint-imports"), "--config", str(importlinter), "--no-cache"]
            rows.append((f"{size} modules: lint-imports alone",
                         timed(lint, args.runs, cwd=backend), 0))
            sub = [*fast, option, f"--importlinter-config={importlinter}"]
            rows.append((f"{size} modules: -m 'not startup' (serial)", timed(sub, args.runs), collected(sub)))
            rows.append((f"{size} modules: -m 'not startup' -n auto", timed([*sub, "-n", "auto"], args.runs),
                         collected(sub)))

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median of {args.runs} warm runs")
    print()
    times = {name: seconds for name, seconds, _ in rows}
    empty_session = times["empty pytest session"]
    for size in args.sizes:
        lint = times[f"{size} modules: lint-imports alone"]
        fast = times[f"{size} modules: -m 'not startup' (serial)"]
        print(f"{size} modules: fast subset / (lint-imports + empty session) = {fast / (lint + empty_session):.2f}x "
              "(target <= 1.5x)")
    for small, large in zip(args.sizes, args.sizes[1:]):
        growth = times[f"{large} modules: -m 'not startup' (serial)"] / times[f"{small} modules: -m 'not startup' (serial)"]
        print(f"{small} -> {large} modules: time x{growth:.2f} for modules x{large / small:.0f} (target: at most linear)")
    print()
    print("| what | seconds | items |")
    print("|---|---:|---:|")
    for name, seconds, items in rows:
        print(f"| {name} | {seconds:.2f} | {items if items > 0 else ''} |")


if __name__ == "__main__":
    main()
