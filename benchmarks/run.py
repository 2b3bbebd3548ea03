"""Time the conformance suite as whole processes (median of several runs) and print a table.

    .venv/bin/python benchmarks/run.py                  # reference backend + generated 100/1000 modules
    .venv/bin/python benchmarks/run.py --sizes 100 1000 5000 --runs 5

Each row runs in a fresh process, like a developer's pre-push hook: plugin import, collection,
scanning and graph building all count. Reference figures: an empty pytest session and the
three tools the fast subset wraps, alone on the same backend (lint-imports, deptry, pytest
--import-check); the fast subset cold (empty run cache), warm (nothing changed) and warm after
one changed module of the top layer (`api`). Rows without "cache" run with --no-conformance-cache.
The three tools and the cold run are measured in rounds, side by side, and compared round by round.
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
from typing import Any

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from benchmarks.generate import generate_backend  # noqa: E402

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"]
# Every row runs with Python's default bytecode caching, as on a developer's machine (a shell or
# CI image with PYTHONDONTWRITEBYTECODE=1 would make every row recompile its modules each run).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(argv: list[str], runs: int, cwd: Path = PROJECT, ok: tuple[int, ...] = (0,),
          before: Any = None, env: dict[str, str] | None = None) -> float:
    """Median wall time of `argv` over `runs` runs; the first (cold) run is discarded.
    `before` runs before each attempt, outside the timing (wipe a cache, edit a module)."""
    times = []
    for attempt in range(runs + 1):
        if before is not None:
            before()
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=1800, env=env or ENV)
        elapsed = time.perf_counter() - started
        if done.returncode not in ok:
            raise SystemExit(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        if attempt or not runs:  # runs=0: a single run, timed (interleaved() discards its own first round)
            times.append(elapsed)
    return statistics.median(times)


def interleaved(commands: dict[str, tuple[list[str], Path, tuple[int, ...], dict[str, str] | None, Any]],
                runs: int) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Median wall time of each command, run in rounds (one run of each per round, the first
    round discarded), and every round's times. Commands compared by a ratio run side by side:
    on a shared machine whose speed drifts by a quarter within minutes, a ratio of medians taken
    minutes apart measures the drift; a ratio within one round does not."""
    rounds: list[dict[str, float]] = []
    for attempt in range(runs + 1):
        times = {}
        for name, (argv, cwd, ok, env, before) in commands.items():
            times[name] = timed(argv, 0, cwd=cwd, ok=ok, before=before, env=env)
        if attempt:
            rounds.append(times)
    return {name: statistics.median(r[name] for r in rounds) for name in commands}, rounds


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
        nocache = [*fast, "--no-conformance-cache"]
        rows.append(("reference: -m 'not startup' (serial)", timed(nocache, args.runs), collected(nocache)))
        rows.append(("reference: -m 'not startup' -n auto", timed([*nocache, "-n", "auto"], args.runs), collected(fast)))
        full = [*PYTEST, "-n", "auto", "--no-conformance-cache"]
        rows.append(("reference: full suite -n auto", timed(full, args.runs), collected(full)))
        cold_ratios: dict[int, float] = {}
        for size in args.sizes:
            backend = generate_backend(Path(tmp) / f"gen{size}", size)
            option = f"--backend-root={backend}"
            importlinter = backend.parent / ".importlinter"
            size_rows, cold_ratios[size] = _tools_and_cache_rows(size, backend, args.runs, fast, option, importlinter,
                                                                 Path(tmp))
            rows.extend(size_rows)
            sub = [*fast, option, f"--importlinter-config={importlinter}", "--no-conformance-cache"]
            rows.append((f"{size} modules: -m 'not startup' (serial)", timed(sub, args.runs), collected(sub)))
            rows.append((f"{size} modules: -m 'not startup' -n auto", timed([*sub, "-n", "auto"], args.runs),
                         collected(sub)))

    print(f"machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median of {args.runs} warm runs")
    print()
    times = {name: seconds for name, seconds, _ in rows}
    empty_session = times["empty pytest session"]
    for size in args.sizes:
        cold, warm = times[f"{size} modules: cold cache"], times[f"{size} modules: warm cache"]
        edited = times[f"{size} modules: warm cache, one api module changed"]
        print(f"{size} modules: cold / three tools = {cold_ratios[size]:.2f}x (target <= 1.0x; median of the "
              "rounds' ratios); "
              f"warm / empty session = {warm / empty_session:.2f}x (target <= 3x); "
              f"warm after one api change / cold = {edited / cold:.2f}x (target <= 0.25x)")
    for small, large in zip(args.sizes, args.sizes[1:]):
        growth = times[f"{large} modules: -m 'not startup' (serial)"] / times[f"{small} modules: -m 'not startup' (serial)"]
        print(f"{small} -> {large} modules: time x{growth:.2f} for modules x{large / small:.0f} (target: at most linear)")
    print()
    print("| what | seconds | items |")
    print("|---|---:|---:|")
    for name, seconds, items in rows:
        print(f"| {name} | {seconds:.2f} | {items if items > 0 else ''} |")


def _tools_and_cache_rows(size: int, backend: Path, runs: int, fast: list[str], option: str, importlinter: Path,
                          tmp: Path) -> tuple[list[tuple[str, float, int]], float]:
    """The three standalone tools on the same backend and the fast subset with an empty cache, run
    in rounds side by side (interleaved); then warm, and warm after one changed module of the
    top layer (`api`), all serial. Returns the rows and the median of the rounds' cold / tools ratios."""
    import shutil

    bindir = Path(sys.executable).parent
    ini = tmp / f"empty{size}.ini"
    ini.write_text("[pytest]\n")
    check = [sys.executable, "-m", "pytest", "-q", "--import-check", "-p", "no:python", "-p", "no:cacheprovider",
             "-p", "no:randomly", "-c", str(ini), "--rootdir", str(backend), "-o", "consider_namespace_packages=true",
             str(backend)]
    # the backend's own modules are not cached as bytecode: the suite's child imports them with -B
    check_env = {**ENV, "PYTHONPATH": str(backend), "PYTHONDONTWRITEBYTECODE": "1"}
    cache = tmp / f"cache{size}"
    sub = [*fast, option, f"--importlinter-config={importlinter}", f"--conformance-cache-dir={cache}"]
    tools = {
        "lint-imports alone": ([str(bindir / "lint-imports"), "--config", str(importlinter), "--no-cache"], backend,
                               (0,), None, None),
        "deptry alone": ([str(bindir / "deptry"), ".", "--requirements-files", "requirements.txt"], backend, (0, 1),
                         None, None),
        "pytest --import-check alone": (check, backend, (0, 1, 5), check_env, None),
    }
    medians, rounds = interleaved({**tools, "cold cache": (sub, PROJECT, (0,), None,
                                                           lambda: shutil.rmtree(cache, True))}, runs)
    ratio = statistics.median(r["cold cache"] / sum(r[name] for name in tools) for r in rounds)
    rows = [(f"{size} modules: {name}", medians[name], 0) for name in tools]
    rows.append((f"{size} modules: cold cache", medians["cold cache"], collected(sub)))
    rows.append((f"{size} modules: warm cache", timed(sub, runs), collected(sub)))
    module = sorted((backend / "api").glob("m*.py"))[0]
    original = module.read_text()
    edits = iter(range(1000))

    def edit() -> None:
        module.write_text(original + f"\n\ndef edited_{next(edits)}() -> int:\n    return 1\n")

    rows.append((f"{size} modules: warm cache, one api module changed", timed(sub, runs, before=edit),
                 collected(sub)))
    module.write_text(original)
    return rows, ratio


if __name__ == "__main__":
    main()
