"""Writing builds safely: a lock per output folder, a staging folder moved into place whole."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError


def write_file(base: Path, rel: str, data: str | bytes) -> None:
    """Write ``base/rel`` in a staged build; refuses any path that would leave ``base``.

    (The staging folder becomes visible only whole, once synced, so no temporary file is needed.)
    """
    path = safe_child(base, rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _sync_filesystem(folder: Path) -> None:
    """Put everything written under ``folder`` on disk before it is swapped in (one syncfs call)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def safe_child(base: Path, rel: str) -> Path:
    """``base/rel`` for a relative path made by qbank; refuses anything that is not inside ``base``."""
    child = base / rel
    if (not rel or "\0" in rel or "\\" in rel or Path(rel).is_absolute()
            or not child.resolve().is_relative_to(base.resolve()) or child.resolve() == base.resolve()):
        raise OutputError(f"refusing to write {rel!r}: outside the output folder")
    return child


_LOCK_FDS: set[int] = set()


def forget_locks_after_fork() -> None:
    """In a forked worker: close inherited lock descriptors, so only the parent holds the lock.

    (An flock is held while any descriptor of it is open; a worker outliving a killed parent
    must not keep the output folder locked.)
    """
    for fd in list(_LOCK_FDS):
        with contextlib.suppress(OSError):
            os.close(fd)
    _LOCK_FDS.clear()


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the lock of output folder ``out``; a second build refuses, naming the holder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise OutputError(f"{out} is being built by {holder}; wait for it to finish") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"qbank pid {os.getpid()}\n".encode(), 0)
        _LOCK_FDS.add(fd)
        yield
    finally:
        _LOCK_FDS.discard(fd)
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    if renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def recover(out: Path) -> None:
    """Tidy what a killed build left beside ``out``: restore a build caught mid-swap, drop staging."""
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        if not out.exists() and (old / "build").is_dir():
            os.replace(old / "build", out)
        shutil.rmtree(old, ignore_errors=True)
    for stale in out.parent.glob(f".{out.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def staged(out: Path, force: bool) -> Iterator[Path]:
    """A fresh staging folder beside ``out``; on success it replaces ``out`` whole.

    Any failure (or interrupt) removes the staging folder and leaves ``out`` as it was; a SIGKILL
    leaves at most a hidden staging folder, which the next build removes.
    """
    recover(out)
    if out.exists() and not force:  # an existing build is never replaced without --force
        raise OutputError(f"{out} already exists; use --force to replace it or --out to choose another folder")
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(stage, 0o777 & ~umask)  # mkdtemp makes it private; a build is shared like any folder
    try:
        yield stage
        _sync_filesystem(stage)
        if not out.exists():
            os.replace(stage, out)
        elif not _exchange(stage, out):  # no atomic swap here: move the old build aside first
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old-"))
            os.replace(out, old / "build")
            os.replace(stage, out)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(out.parent)
    finally:
        if stage.exists():  # after an exchange it holds the previous build
            shutil.rmtree(stage, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
