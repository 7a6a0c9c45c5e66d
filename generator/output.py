"""Writing builds safely: a lock per output folder, a staging folder moved into place whole."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

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


def target(out: str | Path) -> Path:
    """The output folder ``out``, checked: not a link, not a file, not the current folder or above it."""
    out = Path(os.path.normpath(out))
    here = Path.cwd()
    if Path(os.path.abspath(out)) in (here, *here.parents):
        raise OutputError(f"{out}: that is the current folder or holds it; qbank replaces its output folder "
                          "whole, so give a folder of its own (e.g. --out output/NAME)")
    if out.is_symlink():
        dangling = "" if out.exists() else ", which does not exist"
        raise OutputError(f"{out} is a symbolic link (to {os.readlink(out)}{dangling}); qbank does not write "
                          "through links: give a real folder, or remove the link")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file, not a folder; choose another --out")
    return out


def _make_parents(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it created, outermost first."""
    missing = []
    while not os.path.lexists(folder) and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir()
    return list(reversed(missing))


def _open_lock(lock_path: Path) -> int:
    """Open (creating) a lock file that is qbank's own: never through a link, never someone's file."""
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise OutputError(f"{lock_path} is a symbolic link; qbank does not write through links: remove it") from None
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:  # a hard link to another file, a FIFO, ...
        os.close(fd)
        raise OutputError(f"{lock_path} is not a lock file made by qbank (a link or special file): remove it")
    return fd


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold the lock of output folder ``out``; a second build refuses, naming the holder.

    The lock file and any parent folders made for ``out`` are removed again when done (the
    parents only if the build did not happen), so a failed build leaves nothing behind.
    """
    out = target(out)
    created = _make_parents(out.parent)
    lock_path = out.parent / f".{out.name}.lock"
    fd = -1
    try:
        while fd < 0:
            fd = _open_lock(lock_path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
                os.close(fd)
                fd = -1
                raise OutputError(f"{out} is being built by {holder}; wait for it to finish") from None
            here = os.fstat(fd)
            try:
                now = os.lstat(lock_path)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_ino, now.st_dev) != (here.st_ino, here.st_dev):
                os.close(fd)  # the previous holder removed this file as we opened it: take a fresh one
                fd = -1
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"qbank pid {os.getpid()}\n".encode(), 0)
        _LOCK_FDS.add(fd)
        yield
    finally:
        if fd >= 0:
            _LOCK_FDS.discard(fd)
            with contextlib.suppress(OSError):
                os.unlink(lock_path)  # still holding it: a waiting process sees a new inode
            os.close(fd)
        for folder in reversed(created):
            try:
                folder.rmdir()  # only if empty: a finished build keeps its parents
            except OSError:
                break


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


def is_build(folder: Path) -> bool:
    """True when ``folder`` holds a qbank build: its manifest.json is a file qbank writes."""
    manifest = folder / "manifest.json"
    try:
        if not stat.S_ISREG(os.lstat(manifest).st_mode):
            return False
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and {"format", "exam", "versions"} <= data.keys()


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def rmtree(path: Path) -> None:
    """Remove a folder qbank made, read-only parts included; never follows links."""
    def writable_then_retry(func, p, exc):
        parent = os.path.dirname(p)
        with contextlib.suppress(OSError):
            if not os.path.islink(parent):
                os.chmod(parent, 0o700)
            func(p)
    if _real_dir(path):
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=writable_then_retry)
        else:
            shutil.rmtree(path, onerror=writable_then_retry)


def recover(out: Path, ours: Callable[[Path], bool] = is_build) -> None:
    """Tidy what a killed build left beside ``out``: restore a build caught mid-swap, drop staging.

    Only real folders are touched (a link planted under one of these names is left alone).
    """
    for old in sorted(out.parent.glob(f".{out.name}.old-*")):
        if not _real_dir(old):
            continue
        if not os.path.lexists(out) and _real_dir(old / "build") and ours(old / "build"):
            os.replace(old / "build", out)
        rmtree(old)
    for stale in out.parent.glob(f".{out.name}.staging-*"):
        rmtree(stale)


@contextlib.contextmanager
def staged(out: Path, force: bool, ours: Callable[[Path], bool] = is_build) -> Iterator[Path]:
    """A fresh staging folder beside ``out``; on success it replaces ``out`` whole.

    Any failure (or interrupt) removes the staging folder and leaves ``out`` as it was; a SIGKILL
    leaves at most a hidden staging folder, which the next build removes. ``--force`` replaces
    only an empty folder or one that ``ours`` recognises (a previous build), nothing else.
    """
    out = target(out)
    recover(out, ours)
    if out.exists():  # an existing build is never replaced without --force
        if not force:
            raise OutputError(f"{out} already exists; use --force to replace it or --out to choose another folder")
        if any(out.iterdir()) and not ours(out):
            raise OutputError(f"{out} is not a qbank build (no qbank manifest.json); --force replaces only a "
                              "previous build, so nothing was changed: choose another --out")
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
            rmtree(old)
        _fsync_dir(out.parent)
    finally:
        rmtree(stage)  # after an exchange it holds the previous build


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
