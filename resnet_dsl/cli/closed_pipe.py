"""Standard output that outlives its reader: `resnet-dsl diff A B | head -3` ends quietly, with the
status the command earned (errors 1, usage 2), not a `BrokenPipeError` traceback nor a 0.

When the reader leaves, the descriptor is pointed at /dev/null and the command runs on to its
end, so its exit status says what it found, as if the output had been read. Only a closed pipe
is absorbed; a full disk still raises, for the CLI to report.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Iterator
from typing import Any, TextIO


class PipeGuard(io.TextIOBase):
    """Wraps `sys.stdout` (its text and its `.buffer`)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_left = False

    def _call(self, action: Any, *args: Any) -> None:
        if self.reader_left:
            return
        try:
            action(*args)
        except BrokenPipeError:
            self._left()

    def _left(self) -> None:
        self.reader_left = True
        with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def write(self, text: str) -> int:
        self._call(self._stream.write, text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._call(self._stream.flush)

    @property
    def buffer(self) -> _BinaryGuard:
        return _BinaryGuard(self)

    def fileno(self) -> int:
        return self._stream.fileno()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _BinaryGuard:
    def __init__(self, guard: PipeGuard) -> None:
        self._guard = guard

    def write(self, data: bytes) -> int:
        self._guard._call(self._guard._stream.buffer.write, data)
        return len(data)

    def flush(self) -> None:
        self._guard._call(self._guard._stream.buffer.flush)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._guard._stream.buffer, name)


@contextlib.contextmanager
def guarded(module: Any) -> Iterator[PipeGuard]:
    """`module.stdout` (the `sys` module) guarded for the duration."""
    original = module.stdout
    guard = PipeGuard(original)
    module.stdout = guard
    try:
        yield guard
    finally:
        module.stdout = original
