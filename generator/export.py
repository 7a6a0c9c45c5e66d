"""``qbank export``: each version's LaTeX as a standalone folder or zip that compiles without qbank."""
from __future__ import annotations

import hashlib
import os
import re
import stat
import zipfile
from pathlib import Path

from .build import read_json
from .errors import QbankError
from .output import locked, safe_child, staged, write_file

README = """Version {version} of {exam}, exported by qbank.

exam.tex is the exam and key.tex its answer key. Each is a single standalone file (figures are
TikZ inside it) that needs only a TeX Live with the exam class, TikZ and pgfplots. Compile each
twice, so that "Page X of Y" and the point totals are filled in:

    pdflatex exam.tex && pdflatex exam.tex
    pdflatex key.tex && pdflatex key.tex
"""


def export_latex(build_dir: str | Path, out: str | Path | None = None, *, as_zip: bool = False,
                 force: bool = False) -> Path:
    """Copy every version's exam.tex and key.tex into ``out`` (one folder or zip per version)."""
    build_dir = Path(build_dir)
    manifest = read_json(build_dir / "manifest.json")
    out = Path(out) if out is not None else build_dir.with_name(build_dir.name + "-latex")
    try:
        labels = [v["label"] for v in manifest["versions"]]
        exam_id = manifest["exam"]["id"]
    except (KeyError, TypeError) as e:
        raise QbankError(f"{build_dir}/manifest.json is malformed ({type(e).__name__}: {e})") from None
    for what, name in [("exam.id", exam_id), *((f"versions[{i}].label", x) for i, x in enumerate(labels))]:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise QbankError(f"{build_dir}/manifest.json: {what} is {name!r}, not a qbank name; "
                             "the manifest was edited or is not qbank's")
    files = {label: {name: _read_plain(build_dir, f"{label}/{name}") for name in ("exam.tex", "key.tex")}
             for label in labels}
    missing = [f"{label}/{name}" for label in labels for name, data in files[label].items() if data is None]
    if missing:
        raise QbankError(f"{build_dir}: missing {', '.join(missing)}; rebuild before exporting")
    hashes = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    changed = [f"{label}/{name}" for label in labels for name, data in files[label].items()
               if hashes.get(f"{label}/{name}") != hashlib.sha256(data).hexdigest()]
    if changed:  # an exported key must be the key the build made and verify checks
        raise QbankError(f"{build_dir}: {', '.join(changed)} differ{'s' * (len(changed) == 1)} from the manifest's "
                         "SHA-256 (changed after the build; `qbank verify` says more); nothing was exported")
    with locked(out), staged(out, force, is_export) as stage:
        for label in labels:
            files[label]["README.txt"] = README.format(version=label, exam=exam_id).encode()
            if as_zip:
                target = safe_child(stage, f"{exam_id}-{label}.zip")
                with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
                    for name, data in sorted(files[label].items()):
                        # fixed timestamps: the same build exports to the same bytes
                        info = zipfile.ZipInfo(f"{exam_id}-{label}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
                        info.compress_type = zipfile.ZIP_DEFLATED
                        z.writestr(info, data)
            else:
                folder = safe_child(stage, label)
                for name, data in files[label].items():
                    write_file(folder, name, data)
    return out


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")  # version labels (A … ZZ) and exam ids


def _read_plain(build_dir: Path, rel: str) -> bytes | None:
    """A regular file of the build, read without following links; None when missing.

    A symbolic link (at the file or its version folder) is refused, so export never copies a
    file from outside the build.
    """
    folder, name = rel.split("/")
    for path in (build_dir / folder, build_dir / rel):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(mode):
            raise QbankError(f"{path} is a symbolic link; export copies only the build's own files")
    try:
        fd = os.open(build_dir / rel, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise QbankError(f"cannot read {build_dir / rel}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        return f.read() if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else None


def is_export(folder: Path) -> bool:
    """True when ``folder`` holds only what an export writes (so ``--force`` may replace it)."""
    entries = list(folder.iterdir())
    for e in entries:
        if e.is_symlink():
            return False
        if e.is_dir():
            readme = e / "README.txt"
            if not readme.is_file() or "exported by qbank" not in readme.read_text(errors="replace")[:200]:
                return False
        elif not e.name.endswith(".zip"):
            return False
    return bool(entries)
