"""The one place files are written: every command that writes a file goes through `write_output`.

Why one place: a writer has to get several things right that are easy to get wrong one
command at a time, and an attacker (or a typo) finds the one that was forgotten:

- whole or nothing: the data goes to a temporary file beside the target, then is renamed
  over it, so a failure (a full disk, an error half-way) never leaves a truncated file;
- a symlink is written through, to its target (renaming over the link would replace the
  link with a regular file and leave the real file as it was);
- only regular files are replaced: a directory, a character or block device, a FIFO or a
  socket is refused with the reason (`-` is standard output, for when a pipe is meant);
- a regular file keeps its permissions, its owner and its group (as `cp` keeps them; written
  as root, a replaced file became root's); a new one gets what `open(path, "w")` would give;
- a file with other hard links is refused: renaming over one name would leave the others
  with the old content, silently;
- a write-protected file or directory (no write bit at all, so even root is refused: the
  owner said "do not change this"), a file where a directory should be, a full disk: one
  clear `OutputError`, never a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from resnet_dsl.language.errors import ArchError, file_kind, printable
from resnet_dsl.language.ir import Span

STDOUT = "-"
"""The path that means standard output."""

Data = str | bytes | Callable[[Path], Any]
"""Text (written as UTF-8 with `\\n` newlines), bytes, or a function that writes the path it is given."""

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a file stands where a directory should be",
    errno.ELOOP: "too many levels of symbolic links (a symlink loop?)",
    errno.ENAMETOOLONG: "the name is too long",
}


class OutputError(ArchError):
    """An output that cannot be written; the CLI reports it like a spec error (exit 1):
    `out.py: error: cannot write: it is a directory, not a regular file`."""

    def __init__(self, message: str, path: str, hint: str | None = None) -> None:
        super().__init__(message, Span(file=path), hint)


def write_output(path: str | os.PathLike[str], data: Data, inputs: tuple[str, ...] = ()) -> None:
    """Write `data` to `path` whole or not at all; `-` writes it to standard output. A path that
    is one of `inputs` (the same file, through a link or not) is refused: `generate spec.arch
    -o spec.arch` replaced the spec with the code made from it."""
    name = os.fspath(path)
    if name == "":
        raise OutputError("no output path given", "", hint=f"name a file, or {STDOUT} for standard output")
    if name == STDOUT:
        _write_stdout(data)
        return
    target = check_target(name, inputs)
    mode = _existing_mode(name, target)
    owner = _existing_owner(name, target)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=target.suffix)
    try:
        _keep_owner(name, temporary, owner)
        if callable(data):
            os.close(fd)
            data(Path(temporary))
        else:
            with open(fd, "wb") as handle:
                handle.write(data.encode("utf-8") if isinstance(data, str) else data)
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise _failure(name, error) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _same_file(target: Path, source: str) -> bool:
    try:
        return os.path.samefile(target, source)
    except (OSError, ValueError):  # either missing (a zoo name, a new file): not the same
        return False


def check_target(path: str | os.PathLike[str], inputs: tuple[str, ...] = ()) -> Path:
    """Where `write_output(path, ..., inputs)` would write, refusing what it would refuse: for a
    command to fail before its long work (as `build` does before TensorFlow) rather than after."""
    name = os.fspath(path)
    if name in ("", STDOUT):
        return Path(name)
    target = Path(os.path.realpath(name))  # through symlinks, to the file they name
    _existing_mode(name, target)
    for source in inputs:
        if _same_file(target, source):
            raise OutputError(f"cannot write: {name} is the input {source}", name, "name another file for the output")
    _existing_owner(name, target)
    _ensure_directory(name, target.parent)
    return target


def terminal_text(text: str) -> str:
    """Text for a terminal, line by line with its control characters and escape sequences shown
    escaped (`\\x1b`): a spec's comment, string or file name cannot recolour, retitle or clear
    the terminal of whoever runs `blocks`, `describe`, `diff` or `check` on it."""
    return "\n".join(printable(line) for line in text.split("\n"))


def stdout_failed(error: OSError) -> OutputError:
    """Standard output cannot be written (e.g. a full disk): stop writing to it, say why.

    The descriptor is pointed at /dev/null, so Python's final flush at exit does not fail
    a second time with a traceback.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real descriptor (e.g. captured in tests): nothing to silence
        pass
    return OutputError(f"cannot write: {_reason(error)}", "<stdout>")


def _write_stdout(data: Data) -> None:
    if callable(data):
        raise OutputError("cannot write this output to standard output", "<stdout>", "name a file")
    try:
        if isinstance(data, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
        else:
            sys.stdout.write(data)
        sys.stdout.flush()
    except BrokenPipeError:
        raise  # the reader left (`| head`): the CLI ends quietly
    except OSError as error:
        raise stdout_failed(error) from None


def _existing_mode(name: str, target: Path) -> int:
    """The permissions the new file gets: the existing file's, or what `open` would give."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
    except OSError as error:
        raise _failure(name, error) from None
    kind = stat.S_IFMT(info.st_mode)
    if kind != stat.S_IFREG:
        raise OutputError(
            f"cannot write: it is {file_kind(kind)}, not a regular file",
            name,
            f"name a regular file, or {STDOUT} for standard output",
        )
    mode = stat.S_IMODE(info.st_mode)
    if not mode & 0o222:
        raise OutputError(
            f"cannot write: the file is read-only (mode {mode:04o})",
            name,
            "make it writable (chmod u+w) or write elsewhere",
        )
    return mode


def _existing_owner(name: str, target: Path) -> tuple[int, int] | None:
    """The existing file's (owner, group), or None for a new file; a file with other hard links is refused."""
    try:
        info = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _failure(name, error) from None
    if info.st_nlink > 1:
        raise OutputError(
            f"cannot write: the file has {info.st_nlink} hard links; replacing it would leave the others unchanged",
            name,
            "write elsewhere, or remove the other links first",
        )
    return info.st_uid, info.st_gid


def _keep_owner(name: str, temporary: str, owner: tuple[int, int] | None) -> None:
    """The new file gets the old one's owner and group, or the output is refused."""
    if owner is None:
        return
    info = os.stat(temporary)
    if (info.st_uid, info.st_gid) == owner:
        return
    try:
        os.chown(temporary, *owner)
    except PermissionError:
        raise OutputError(
            f"cannot write: the file belongs to user {owner[0]}, group {owner[1]}, and the new one could not keep them",
            name,
            "write elsewhere, or as its owner",
        ) from None


def _ensure_directory(name: str, directory: Path) -> None:
    """The target's directory, made if missing; a read-only one is refused."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        info = os.stat(directory)
    except FileExistsError:
        raise OutputError(f"cannot write: {_REASONS[errno.ENOTDIR]} ({directory})", name) from None
    except OSError as error:
        raise _failure(name, error) from None
    if not stat.S_IMODE(info.st_mode) & 0o222:
        raise OutputError(
            f"cannot write: the directory {directory} is read-only",
            name,
            "make it writable (chmod u+w) or write elsewhere",
        )


def _reason(error: OSError) -> str:
    return _REASONS.get(error.errno or 0) or error.strerror or str(error)


def _failure(name: str, error: OSError) -> OutputError:
    return OutputError(f"cannot write: {_reason(error)}", name)
