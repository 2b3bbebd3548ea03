"""Time the fast subset (`-m "not startup"`) on the reference backend with pathological additions.

    .venv/bin/python benchmarks/pathological.py                 # baseline, deep chain, 2 MB module
    .venv/bin/python benchmarks/pathological.py --many 3000     # also 3000 tiny modules in one folder

Each variant is the reference backend committed as its own repository plus one addition; the
table shows wall time, the ratio to the baseline and which tests fail, so "bounded time, at
most one finding each" can be read off. (A measurement, not a test: too slow for the self-tests.)
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

from selftests.trees import reference_repo  # noqa: E402

PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-m", "not startup",
          "-rf", "--tb=line"]


def deep_chain(depth: int = 120) -> dict[str, str]:
    """A chain of `depth` namespace directories (no __init__.py) under a production package."""
    return {"backend/utils/" + "/".join(f"n{i}" for i in range(depth)) + "/leaf.py": "VALUE = 1\n"}


def big_module(size: int = 2_000_000) -> dict[str, str]:
    """One module of about `size` bytes: a long table of constants, as generated code has."""
    line = 'ENTRY_{0:06d} = "{1}"\n'
    body, number = [], 0
    while sum(map(len, body)) < size:
        body.append(line.format(number, "x" * 60))
        number += 1
    return {"backend/utils/big_table.py": '"""Generated constants."""\n' + "".join(body)}


def many_modules(count: int) -> dict[str, str]:
    """`count` tiny modules in one folder of a production package."""
    files = {"backend/utils/generated/__init__.py": ""}
    files.update({f"backend/utils/generated/m{i}.py": f"VALUE = {i}\n" for i in range(count)})
    return files


def run(root: Path, extra: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([*PYTEST, f"--backend-root={root / 'backend'}", *extra], cwd=PROJECT,
                          capture_output=True, text=True, timeout=1800)
    return time.perf_counter() - started, done.stdout + done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--many", type=int, default=0, help="also a folder of this many modules")
    parser.add_argument("--depth", type=int, default=120)
    parser.add_argument("-n", default="0", help="xdist workers for every run (default: none)")
    args = parser.parse_args()
    variants: dict[str, dict[str, str]] = {"baseline": {}, f"namespace chain x{args.depth}": deep_chain(args.depth),
                                           "2 MB module": big_module()}
    if args.many:
        variants[f"{args.many} modules in one folder"] = many_modules(args.many)
    extra = ["-n", args.n] if args.n != "0" else ["-p", "no:xdist"]
    base = None
    with tempfile.TemporaryDirectory(prefix="conformance-pathological-") as tmp:
        for name, files in variants.items():
            root = Path(tmp) / re.sub(r"\W+", "-", name)
            repo = reference_repo(root)
            if files:
                repo.write(files).commit(name)
            seconds, output = run(root, extra)
            base = base or seconds
            failed = sorted(set(re.findall(r"^FAILED \S+::(\S+)", output, re.MULTILINE)))
            summary = output.strip().splitlines()[-1] if output.strip() else "(no output)"
            print(f"{name:<32} {seconds:7.1f}s  x{seconds / base:4.2f}  {summary}")
            for test in failed:
                print(f"{'':<34}failed: {test}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
