"""Silence TensorFlow's start-up noise, which C++ writes straight to file descriptor 2.

TensorFlow logs through absl before anything can configure it ("All log messages before
absl::InitializeLog() is called are written to STDERR"), so `TF_CPP_MIN_LOG_LEVEL` no
longer hides the oneDNN notice, "Could not find cuda drivers" or `failed call to cuInit`,
which read as failures though they are not. The only reliable switch is the descriptor
itself: point it at a temporary file while TensorFlow loads and builds, then put it back.
What was caught is replayed if the work fails, so nothing that explains an error is lost.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

QUIET_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # what absl honours once it is initialised
    "GRPC_VERBOSITY": "ERROR",
}


@contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[TextIO]:
    """Within the block, file descriptor 2 goes to a temporary file (when `enabled`).

    Yields a stream on the real standard error, for the caller's own messages.
    """
    sys.stderr.flush()
    if not enabled:
        yield sys.stderr
        return
    for name, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    saved = os.dup(2)
    real = os.fdopen(os.dup(saved), "w", encoding="utf-8", errors="replace")
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield real
        except BaseException:
            sys.stderr.flush()
            os.dup2(saved, 2)
            caught.seek(0)
            sys.stderr.write(caught.read().decode(errors="replace"))
            sys.stderr.flush()
            raise
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            real.close()
