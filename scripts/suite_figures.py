"""The README's figures about the test suite: how many tests, and how long the whole suite takes
on this machine. Runs the whole suite once (slow ones included) and records what pytest reported in
`tests/suite_figures.json`; `scripts/readme_tables.py` writes the README's sentence from that file,
and a test holds the README to it, so the figure is always one that a run produced.

    .venv/bin/python scripts/suite_figures.py [PYTEST ARGS...]   # on a quiet machine
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURES = REPO / "tests" / "suite_figures.json"
_COUNTS = re.compile(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)")


def measure(args: list[str]) -> dict:
    """The whole suite as `scripts/test.sh` runs it: one pytest-xdist worker per core unless
    `args` say otherwise (`-n 0`: one process)."""
    if not any(arg == "-n" or arg.startswith(("-n", "--numprocesses")) for arg in args):
        args = ["-n", "auto", *args]
    start = time.monotonic()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}  # as test.sh
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.monotonic() - start
    last = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    counts = {kind.rstrip("s") if kind.startswith("error") else kind: int(n) for n, kind in _COUNTS.findall(last)}
    return {
        "failures": [line for line in result.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))],
        "tests": sum(counts.values()),
        "counts": counts,
        "seconds": round(seconds),
        "cores": os.cpu_count(),
        "pytest_args": args,
        "status": result.returncode,
    }


def sentence(figures: dict) -> str:
    """The README's sentence, from the recorded figures."""
    if figures.get("tests") is None:
        return f"The whole suite has not been timed since its last changes: {figures['note']}"
    minutes, seconds = divmod(figures["seconds"], 60)
    counts = ", ".join(f"{n} {kind}" for kind, n in figures["counts"].items())
    args = " ".join(figures.get("pytest_args") or [])
    return (
        f"The last timed run of the whole suite (`scripts/suite_figures.py`: {figures['tests']} tests, {counts}; "
        f"slow ones included; `pytest {args}`) took {minutes} min {seconds:02d} s on a {figures['cores']}-core machine."
    )


def main(argv: list[str]) -> int:
    figures = measure(argv)
    for line in figures.pop("failures"):
        print(line, file=sys.stderr)
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(sentence(figures))
    return 0 if figures["status"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
