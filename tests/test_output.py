"""Writing outputs (`resnet_dsl.output`): whole or nothing, through symlinks, only regular files.

Each hostile target is tried through the CLI, as a user meets it: a one-line located error,
exit 1 (an empty path: usage, exit 2), no traceback, and nothing on disk changed.
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from resnet_dsl.cli import main
from resnet_dsl.cli.output import OutputError, check_target, write_output
from tests.conftest import REPO

SPEC = "specs/torchvision/resnet18.arch"


def _listing(root: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every entry under root with its mode and content (or link target): what must not change."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            content: bytes | str | None = os.readlink(path)
        elif stat.S_ISREG(info.st_mode):
            content = path.read_bytes()
        else:
            content = None
        found[str(path.relative_to(root))] = (info.st_mode, content)
    return found


def _directory(tmp: Path) -> Path:
    (tmp / "out.py").mkdir()
    return tmp / "out.py"


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "out.py")
    return tmp / "out.py"


def _socket(tmp: Path) -> Path:
    import socket

    server, here = socket.socket(socket.AF_UNIX), os.getcwd()
    os.chdir(tmp)  # a relative name: a socket's path may not exceed 107 bytes
    try:
        server.bind("s.py")
    finally:
        os.chdir(here)
        server.close()
    return tmp / "s.py"


def _read_only_file(tmp: Path) -> Path:
    (tmp / "out.py").write_text("kept\n")
    (tmp / "out.py").chmod(0o444)
    return tmp / "out.py"


def _read_only_directory(tmp: Path) -> Path:
    (tmp / "locked").mkdir()
    (tmp / "locked").chmod(0o555)
    return tmp / "locked" / "out.py"


def _file_as_directory(tmp: Path) -> Path:
    (tmp / "plain").write_text("a file\n")
    return tmp / "plain" / "out.py"


def _file_as_grandparent(tmp: Path) -> Path:
    (tmp / "plain").write_text("a file\n")
    return tmp / "plain" / "sub" / "out.py"


def _symlink_loop(tmp: Path) -> Path:
    (tmp / "a.py").symlink_to("b.py")
    (tmp / "b.py").symlink_to("a.py")
    return tmp / "a.py"


def _hard_linked(tmp: Path) -> Path:
    (tmp / "out.py").write_text("kept\n")
    os.link(tmp / "out.py", tmp / "other.py")
    return tmp / "out.py"


# (what, the target made in an empty directory, the error after "PATH: error: ")
HOSTILE_TARGETS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("directory", _directory, "cannot write: it is a directory, not a regular file"),
    ("fifo", _fifo, "cannot write: it is a FIFO (named pipe), not a regular file"),
    ("socket", _socket, "cannot write: it is a socket, not a regular file"),
    ("character device", lambda tmp: Path(os.devnull), "cannot write: it is a character device, not a regular file"),
    ("read-only file", _read_only_file, "cannot write: the file is read-only (mode 0444)"),
    ("read-only directory", _read_only_directory, "cannot write: the directory {tmp}/locked is read-only"),
    ("file as parent", _file_as_directory, "cannot write: a file stands where a directory should be"),
    ("file as grandparent", _file_as_grandparent, "cannot write: a file stands where a directory should be"),
    ("symlink loop", _symlink_loop, "cannot write: too many levels of symbolic links (a symlink loop?)"),
    (
        "hard link",
        _hard_linked,
        "cannot write: the file has 2 hard links; replacing it would leave the others unchanged",
    ),
]


@pytest.mark.parametrize(("what", "make", "message"), HOSTILE_TARGETS, ids=[c[0] for c in HOSTILE_TARGETS])
def test_generate_refuses_a_hostile_target_and_changes_nothing(
    cli, tmp_path: Path, what: str, make: Callable[[Path], Path], message: str
) -> None:
    target = make(tmp_path)
    before = _listing(tmp_path)
    result = cli("generate", SPEC, "-o", str(target))
    assert result.returncode == 1, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"{target}: error: {message.format(tmp=tmp_path)}"), result.stderr
    assert "Traceback" not in result.stderr
    assert _listing(tmp_path) == before  # no temporary file, nothing replaced


@pytest.mark.parametrize(("what", "make", "message"), HOSTILE_TARGETS, ids=[c[0] for c in HOSTILE_TARGETS])
def test_write_output_raises_output_error(
    tmp_path: Path, what: str, make: Callable[[Path], Path], message: str
) -> None:
    target = make(tmp_path)
    before = _listing(tmp_path)
    with pytest.raises(OutputError, match="cannot write"):
        write_output(target, "text\n")
    with pytest.raises(OutputError, match="cannot write"):
        check_target(target)
    assert _listing(tmp_path) == before


@pytest.mark.parametrize(
    "command",
    [
        ["generate", SPEC, "-o", ""],
        ["graph", SPEC, "-o", ""],
        ["build", SPEC, "--save", ""],
    ],
    ids=["generate", "graph", "build"],
)
def test_an_empty_output_path_is_a_usage_error(cli, command: list[str]) -> None:
    result = cli(*command)
    assert result.returncode == 2
    assert "an empty path names no file (use - for standard output)" in result.stderr
    assert "Traceback" not in result.stderr


def test_output_goes_through_a_symlink_to_its_target_keeping_the_mode(cli, tmp_path: Path) -> None:
    real = tmp_path / "real" / "model.py"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.py"
    link.symlink_to(real)
    result = cli("generate", SPEC, "-o", str(link))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == cli("generate", SPEC).stdout
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(os.listdir(real.parent)) == ["model.py"]


def test_fmt_formats_the_spec_a_symlink_points_to(cli, tmp_path: Path) -> None:
    real = tmp_path / "real.arch"
    real.write_text("network N(input=8x8x3) {  head { flatten }  }\n")
    real.chmod(0o600)
    (tmp_path / "link.arch").symlink_to("real.arch")
    result = cli("fmt", str(tmp_path / "link.arch"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "link.arch").is_symlink()
    assert real.read_text() == "network N(input = 8x8x3) {\n  head {\n    flatten\n  }\n}\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_fmt_reports_a_read_only_spec_and_leaves_it(cli, tmp_path: Path) -> None:
    spec = tmp_path / "ro.arch"
    spec.write_text("network N(input=8x8x3) {  head { flatten }  }\n")
    spec.chmod(0o444)
    before = _listing(tmp_path)
    result = cli("fmt", str(spec))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{spec}: error: cannot write: the file is read-only (mode 0444)\n")
    assert "Traceback" not in result.stderr
    assert _listing(tmp_path) == before


def test_graph_refuses_a_fifo_and_writes_dot_to_standard_output(cli, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "net.dot")
    refused = cli("graph", SPEC, "-o", str(tmp_path / "net.dot"))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"{tmp_path}/net.dot: error: cannot write: it is a FIFO (named pipe)")
    shown = cli("graph", SPEC, "-o", "-")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith('digraph "ResNet18" {')


UMASK_027 = "import os, sys; os.umask(0o027); from resnet_dsl.cli import main; sys.exit(main())"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_a_replaced_file_keeps_its_owner_and_group(cli, tmp_path: Path) -> None:
    """Written as root, a replaced file became root's (`cp` keeps the owner: so does every output)."""
    target = tmp_path / "model.py"
    target.write_text("old\n")
    target.chmod(0o640)
    os.chown(target, 12345, 23456)
    result = cli("generate", SPEC, "-o", str(target))
    assert result.returncode == 0, result.stderr
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (12345, 23456, 0o640)
    assert target.read_text() == cli("generate", SPEC).stdout


def test_a_new_file_gets_the_mode_open_would_give(cli, tmp_path: Path) -> None:
    target = tmp_path / "new" / "model.py"  # missing directories are made
    result = subprocess.run(
        [sys.executable, "-c", UMASK_027, "generate", SPEC, "-o", str(target)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


@pytest.mark.parametrize("command", [["generate", SPEC], ["summary", SPEC], ["describe", SPEC], ["ir", SPEC]])
def test_a_full_disk_on_standard_output_is_one_clear_error(command: list[str]) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "resnet_dsl", *command],
            cwd=REPO,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr == "<stdout>: error: cannot write: no space left on the device\n"


def test_a_full_disk_on_a_file_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.py"
    target.write_text("the old module\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputError) as raised:
        write_output(target, "x" * 100_000)
    assert raised.value.render() == f"{target}: error: cannot write: no space left on the device"
    assert os.listdir(tmp_path) == ["model.py"]
    assert target.read_text() == "the old module\n"


def test_a_failing_writer_leaves_nothing(tmp_path: Path) -> None:
    def half(path: Path) -> None:
        path.write_text("half a model")
        raise RuntimeError("the writer broke")

    with pytest.raises(RuntimeError):
        write_output(tmp_path / "model.keras", half)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "command",
    [["generate", "t.arch", "-o"], ["generate", "t.arch", "--target", "torch", "-o"], ["graph", "t.arch", "-o"]],
)
@pytest.mark.parametrize("target", ["t.arch", "link.arch", "hard.arch"])
def test_an_output_never_replaces_its_own_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str], target: str
) -> None:
    """`generate spec.arch -o spec.arch` replaced the spec with the code made from it; through a
    symlink or a hard link as well."""
    monkeypatch.chdir(tmp_path)
    spec = "network N(input = 8x8x3) {\n  head { flatten }\n}\n"
    (tmp_path / "t.arch").write_text(spec)
    (tmp_path / "link.arch").symlink_to("t.arch")
    os.link(tmp_path / "t.arch", tmp_path / "hard.arch")
    if command[0] == "graph":
        command = [*command[:-1], "--format", "dot", "-o"]
    assert main([*command, target]) == 1
    assert "is the input t.arch" in capsys.readouterr().err
    assert (tmp_path / "t.arch").read_text() == spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.arch", "link.arch", "t.arch"], "no temporary left"


@pytest.mark.parametrize("kind", ["directory", "loop", "fifo"])
def test_generate_check_of_an_output_that_is_no_file_is_one_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """The pre-commit hook's `generate --check -o OUT` gave a traceback (exit 0 through a pipe)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.arch").write_text("network N(input = 8x8x3) {\n  head { flatten }\n}\n")
    if kind == "directory":
        (tmp_path / "out.py").mkdir()
    elif kind == "loop":
        (tmp_path / "out.py").symlink_to("out.py")
    else:
        os.mkfifo(tmp_path / "out.py")
    assert main(["generate", "t.arch", "--check", "-o", "out.py"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("out.py: error: cannot read: ") and "Traceback" not in err
