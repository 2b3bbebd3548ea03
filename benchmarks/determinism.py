"""Run the full suite several times on the reference backend and compare outcomes per test id.

    .venv/bin/python benchmarks/determinism.py --runs 5

Prints the tests whose outcome changed between runs (none, when the suite is deterministic)
and exits 1 if any did.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def outcomes(junit: Path) -> dict[str, str]:
    result = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        result[name] = kinds[0] if kinds else "passed"
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("pytest_args", nargs="*", default=["-n", "auto"])
    args = parser.parse_args()
    seen: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="conformance-determinism-") as tmp:
        for number in range(args.runs):
            junit = Path(tmp) / f"run{number}.xml"
            subprocess.run([sys.executable, "-m", "pytest", "-q", f"--junitxml={junit}", *args.pytest_args],
                           cwd=PROJECT, capture_output=True, timeout=1800)
            seen.append(outcomes(junit))
            print(f"run {number + 1}: {sum(v == 'passed' for v in seen[-1].values())} passed of {len(seen[-1])}")
    names = sorted(set().union(*seen))
    unstable = [n for n in names if len({run.get(n, 'missing') for run in seen}) > 1]
    for name in unstable:
        print(f"UNSTABLE {name}: {[run.get(name, 'missing') for run in seen]}")
    print(f"{len(names)} tests, {len(unstable)} with differing outcomes over {args.runs} runs")
    return 1 if unstable else 0


if __name__ == "__main__":
    sys.exit(main())
