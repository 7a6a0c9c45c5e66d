"""``qbank export``: each version's LaTeX as a standalone folder or zip that compiles without qbank."""
from __future__ import annotations

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
    missing = [f"{label}/{name}" for label in labels for name in ("exam.tex", "key.tex")
               if not (build_dir / label / name).is_file()]
    if missing:
        raise QbankError(f"{build_dir}: missing {', '.join(missing)}; rebuild before exporting")
    with locked(out), staged(out, force) as stage:
        for label in labels:
            files = {name: (build_dir / label / name).read_bytes() for name in ("exam.tex", "key.tex")}
            files["README.txt"] = README.format(version=label, exam=exam_id).encode()
            if as_zip:
                target = safe_child(stage, f"{exam_id}-{label}.zip")
                with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
                    for name, data in sorted(files.items()):
                        # fixed timestamps: the same build exports to the same bytes
                        info = zipfile.ZipInfo(f"{exam_id}-{label}/{name}", date_time=(2020, 1, 1, 0, 0, 0))
                        info.compress_type = zipfile.ZIP_DEFLATED
                        z.writestr(info, data)
            else:
                folder = safe_child(stage, label)
                for name, data in files.items():
                    write_file(folder, name, data)
    return out
