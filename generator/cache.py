"""qbank's cache folder, shared by every command and run: precompiled preamble formats, the settled
``.aux`` of earlier builds' documents (a rebuild's first pass then reads the page references it
ends with), and the ``.tex`` and ``.log`` of compiles that failed (so an error message can point at them).

The folder is ``$QBANK_CACHE_DIR`` when set, else the user's cache folder (``$XDG_CACHE_HOME/qbank``,
``~/.cache/qbank`` on Linux; platformdirs picks the right one elsewhere). Nothing in it is ever
needed: deleting it only makes the next compile slower. It keeps the most recently used entries of
each kind (see KEPT), so it does not grow without bound.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import platformdirs

ENV = "QBANK_CACHE_DIR"
KEPT = {"formats": 6, "aux": 300, "failed": 20}
"""How many entries of each kind the cache keeps, the most recently used ones: a format is about
7 MB, and every other preamble (a qbank release, an edit of a course's own exam template) makes another."""
FORMAT_IN_USE_S = 3600
"""A format used this recently is never removed: a long build may still be reading it."""


def cache_dir() -> Path:
    """The cache folder (created on first use)."""
    folder = Path(os.environ.get(ENV) or platformdirs.user_cache_dir("qbank", appauthor=False))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@lru_cache(maxsize=1)
def tex_version() -> str:
    """What a precompiled format depends on besides its preamble: the engine's version, and the
    installed LaTeX format (rebuilt by TeX Live whenever packages are updated).

    Asking TeX costs two processes; the answer is kept in the cache beside the engine's file
    stamp, so a warm run only looks at two files' modification times."""
    engine = shutil.which("pdflatex")
    if engine is None:
        return ""
    stamp = _stamp(os.path.realpath(engine))
    try:
        memo: Path | None = cache_dir() / "tex-version.json"
    except OSError:  # no cache folder: ask TeX every time
        memo = None
    try:
        known = json.loads(memo.read_text()) if memo is not None else {}
        if known and known["engine"] == stamp and _stamp(known["format"]) == known["format_stamp"]:
            return known["version"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    version = _run("pdflatex", "--version").split("\n", 1)[0]
    fmt = _run("kpsewhich", "-engine=pdftex", "pdflatex.fmt").strip()
    value = f"{version}|{_stamp(fmt)}"
    if memo is not None:
        tmp = memo.with_suffix(f".{os.getpid()}")
        try:
            tmp.write_text(json.dumps({"engine": stamp, "format": fmt, "format_stamp": _stamp(fmt), "version": value}))
            os.replace(tmp, memo)
        except OSError:  # no cache folder: ask TeX again next time
            pass
    return value


def _stamp(path: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return ""
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _run(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def format_key(preamble: str) -> str:
    """The cache key of a format: the preamble's hash and the TeX version."""
    return hashlib.sha256(f"{tex_version()}\0{preamble}".encode()).hexdigest()[:24]


def cached(kind: str, key: str) -> Path:
    """Where the entry ``key`` of ``kind`` lives (it may not exist yet)."""
    return cache_dir() / kind / key


def publish(kind: str, key: str, make) -> Path | None:
    """The cached entry, made by ``make(folder) -> bool`` in a private folder and renamed into place
    (so concurrent runs never see half a format); None when ``make`` fails or the cache is not writable."""
    try:
        return _publish(kind, key, make)
    except OSError:
        return None


def _publish(kind: str, key: str, make) -> Path | None:
    final = cached(kind, key)
    if final.is_dir():
        _used(final)
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=final.parent))
    try:
        if not make(work):
            return None
        try:
            work.rename(final)
        except OSError:  # another run published it first: use theirs
            pass
        prune(kind)
        return final if final.is_dir() else None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def read_aux(keys: list[str]) -> bytes | None:
    """The ``.aux`` stored under the first of ``keys`` that has one (None when none has, or unreadable)."""
    for key in keys:
        path = cached("aux", f"{key}.aux")
        try:
            aux = path.read_bytes()
        except OSError:
            continue
        _used(path)
        return aux
    return None


def save_aux(keys: list[str], aux: bytes) -> None:
    """Store a settled ``.aux`` under each of ``keys`` (renamed into place: readers never see half a file)."""
    try:
        folder = cache_dir() / "aux"
        folder.mkdir(exist_ok=True)
        for key in keys:
            fd, tmp = tempfile.mkstemp(prefix=f".{key}-", dir=folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(aux)
                os.replace(tmp, folder / f"{key}.aux")
            except OSError:
                Path(tmp).unlink(missing_ok=True)
                raise
        prune("aux")
    except OSError:  # no cache folder: the next build only compiles one pass more
        pass


def _used(path: Path) -> None:
    """Mark a cache entry as just used (its modification time orders what prune() keeps)."""
    try:
        os.utime(path)
    except OSError:
        pass


def prune(kind: str) -> None:
    """Remove all but the KEPT[kind] most recently used entries of ``kind`` (formats: and any used in
    the last FORMAT_IN_USE_S seconds); entries being made (names starting with a dot) are left alone."""
    folder = cache_dir() / kind
    entries = []
    for entry in folder.iterdir() if folder.is_dir() else ():
        if entry.name.startswith("."):
            continue
        try:
            entries.append((entry.lstat().st_mtime, entry))
        except OSError:  # removed meanwhile by another run's prune
            continue
    entries.sort(reverse=True)
    recent = time.time() - FORMAT_IN_USE_S if kind == "formats" else float("inf")
    for mtime, entry in entries[KEPT[kind]:]:
        if mtime >= recent:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def keep_failure(files: list[Path], name: str) -> Path | None:
    """Copy the files of a failed compile into ``failed/<name>-<hash>/`` and return that folder
    (None when the cache is not writable)."""
    try:
        return _keep(files, name)
    except OSError:
        return None


def _keep(files: list[Path], name: str) -> Path:
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files if f.is_file())).hexdigest()[:10]
    folder = cache_dir() / "failed" / f"{name}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        if f.is_file():
            shutil.copyfile(f, folder / f.name)
    _used(folder)
    prune("failed")
    return folder
