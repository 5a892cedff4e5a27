"""Static tools, timed: whole-process `resnet-dsl summary`/`check`, and in-process parse + validate.

    python bench/bench_static.py [--runs N]

Goals (issue 2): `summary specs/torchvision/resnet152.arch` under 0.3 s whole-process (median), parse +
validate of ResNet-152 under 20 ms in-process. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def median_seconds(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def whole_process(*args: str) -> Callable[[], object]:
    command = [sys.executable, "-m", "resnet_dsl", *args]
    return lambda: subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs

    sys.path.insert(0, str(REPO))
    from resnet_dsl.network.loader import load_program

    spec = str(REPO / "specs" / "torchvision" / "resnet152.arch")
    load_program(spec).expand()  # warm: grammar built, modules imported
    every_spec = sorted(str(p.relative_to(REPO)) for p in REPO.glob("specs/**/*.arch"))
    interpreter = [sys.executable, "-c", "pass"]
    rows = [
        ("python -c pass (interpreter start)", median_seconds(lambda: subprocess.run(interpreter), runs)),
        (
            "resnet-dsl summary specs/torchvision/resnet152.arch",
            median_seconds(whole_process("summary", "specs/torchvision/resnet152.arch"), runs),
        ),
        ("resnet-dsl check specs/*.arch (8 specs)", median_seconds(whole_process("check", *every_spec), runs)),
        ("parse + validate ResNet-152, in-process", median_seconds(lambda: load_program(spec).expand(), runs * 5)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'benchmark'.ljust(width)}  median")
    for name, seconds in rows:
        print(f"{name.ljust(width)}  {seconds * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
