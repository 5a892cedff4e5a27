"""Review tools, timed: whole-process `fmt --check`, `diff`, `graph` and `describe` on ResNet-152.

    python bench/bench_review.py [--runs N]

Goal (issue 5): each well under 0.3 s whole-process (median), never importing TensorFlow.
The interpreter start and `check` of the same spec are timed too: the floor every command
pays (Python, pydantic, the IR). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = "specs/torchvision/resnet152.arch"


def medians(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of the child process, in seconds.

    CPU time hardly moves when other work shares the machine; wall time is what a user waits."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        action()
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def whole_process(*args: str) -> Callable[[], object]:
    """`python -m resnet_dsl ARGS`; exit 1 allowed (`diff` of two different networks)."""
    command = [sys.executable, "-m", "resnet_dsl", *args]

    def run() -> None:
        result = subprocess.run(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if result.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(args)} failed: {result.stderr.decode()}")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs

    with tempfile.TemporaryDirectory() as scratch:
        dot = str(Path(scratch) / "resnet152.dot")
        cases = [
            ("python -c pass (interpreter start)", lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)),
            (f"check {SPEC} (the floor)", whole_process("check", SPEC)),
            (f"fmt --check {SPEC}", whole_process("fmt", "--check", SPEC)),
            (
                f"diff specs/torchvision/resnet101.arch {SPEC}",
                whole_process("diff", "specs/torchvision/resnet101.arch", SPEC),
            ),
            (
                "diff ... --format json",
                whole_process("diff", "specs/torchvision/resnet101.arch", SPEC, "--format", "json"),
            ),
            (f"graph {SPEC} -o x.dot", whole_process("graph", SPEC, "-o", dot)),
            (f"graph {SPEC} -o x.dot --expand", whole_process("graph", SPEC, "-o", dot, "--expand")),
            (f"describe {SPEC}", whole_process("describe", SPEC)),
        ]
        width = max(len(name) for name, _ in cases)
        title = f"whole process, median of {runs}"
        width = max(width, len(title))
        print(f"{title.ljust(width)}  {'wall':>9}  {'cpu':>9}")
        for name, action in cases:
            try:
                wall, cpu = medians(action, runs)
                figure = f"{wall * 1000:6.1f} ms  {cpu * 1000:6.1f} ms"
            except SystemExit as failure:
                figure = f"failed ({str(failure).splitlines()[-1]})"
            print(f"{name.ljust(width)}  {figure}")


if __name__ == "__main__":
    main()
