"""`quiet_stderr`: C-level writes to descriptor 2 are caught, and replayed on failure."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os, sys
from resnet_dsl.cli.quiet import quiet_stderr
with quiet_stderr(enabled={enabled}) as real:
    os.write(2, b"C-level noise\\n")
    print("python noise", file=sys.stderr)
    print("our message", file=real, flush=True)
    if {fail}:
        raise SystemExit("failed")
print("after", file=sys.stderr)
"""


def run(enabled: bool, fail: bool) -> subprocess.CompletedProcess[str]:
    code = SCRIPT.format(enabled=enabled, fail=fail)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_noise_is_caught_and_own_messages_pass() -> None:
    assert run(enabled=True, fail=False).stderr == "our message\nafter\n"


def test_disabled_keeps_everything() -> None:
    assert run(enabled=False, fail=False).stderr == "C-level noise\npython noise\nour message\nafter\n"


def test_caught_text_is_replayed_when_the_work_fails() -> None:
    result = run(enabled=True, fail=True)
    assert result.returncode == 1
    assert result.stderr == "our message\nC-level noise\npython noise\nfailed\n"
