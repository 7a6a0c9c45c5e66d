"""Benchmark qbank builds as ratios against baselines measured in the same run.

The machines are shared and noisy, so absolute seconds mean little; each figure is a ratio
against a baseline taken minutes apart on the same machine, the best of ``--repeat`` runs each
(whole ``qbank`` processes, start-up included):

1. A 1,000-student roster, 4 versions, with PDFs, against the same 4-version build without a
   roster. Target: at most 4.
2. A 10-version build with PDFs (default --jobs) against one bare pdflatex pass over each .tex
   file it produced, run one after another. Target: at most 0.45.
3. ``--per-student`` for 1,000 students with --no-pdf against one version with --no-pdf.
   Target: at most 5.
4. 200 versions with --no-pdf against one version with --no-pdf. Target: at most 3.

Usage: .venv/bin/python bench/bench_build.py [--exam bank/exams/midterm.yaml] [--repeat 3]
       [--only roster,pdf,nopdf]   (nopdf: measurements 3 and 4, which share their baseline)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QBANK = [sys.executable, "-m", "generator.cli"]
TARGETS = {"roster_ratio": 4, "pdf_ratio": 0.45, "per_student_ratio": 5, "nopdf_ratio": 3}


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)
    return time.perf_counter() - start


def bare_pdflatex(texs: list[Path], scratch: Path) -> float:
    """One plain pdflatex pass over each file, serially, in a scratch copy."""
    total = 0.0
    for i, tex in enumerate(texs):
        d = scratch / f"bare{i}"
        d.mkdir()
        shutil.copy(tex, d / tex.name)
        total += timed(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], d)
    return total


def du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exam", default="bank/exams/midterm.yaml")
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--students", type=int, default=1000)
    ap.add_argument("--many", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="repeat each measurement, keep the best")
    ap.add_argument("--only", default="roster,pdf,nopdf", help="comma-separated: roster, pdf, nopdf")
    args = ap.parse_args()
    only = set(args.only.split(","))
    if not only <= {"roster", "pdf", "nopdf"}:
        ap.error(f"--only: unknown measurement(s) {', '.join(sorted(only - {'roster', 'pdf', 'nopdf'}))}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    r: dict = {"commit": commit or None, "cores": os.cpu_count(), "repeat": args.repeat,
               "load_at_start": os.getloadavg()[0]}
    best = lambda runs: min(runs)  # noqa: E731
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        roster = tmp / "roster.csv"
        roster.write_text("name,sid\n" + "".join(f"Student Number {i},{20260000 + i}\n" for i in range(args.students)))
        build = QBANK + ["build", args.exam]

        plain, rostered = [], []
        for k in range(args.repeat if "roster" in only else 0):
            plain.append(timed(build + ["-n", "4", "--out", str(tmp / f"v4-{k}")], ROOT))
            rostered.append(timed(build + ["-n", "4", "--roster", str(roster), "--out", str(tmp / f"r-{k}")], ROOT))
        if plain:
            r["four_versions_s"], r["roster_s"] = best(plain), best(rostered)
            r["roster_ratio"] = r["roster_s"] / r["four_versions_s"]
            r["roster_students_mb"] = du(tmp / "r-0" / "students") / 1e6
            r["roster_print_all_mb"] = (tmp / "r-0" / "print-all.pdf").stat().st_size / 1e6
            for k in range(args.repeat):
                shutil.rmtree(tmp / f"r-{k}")

        build_s, bare_s = [], []
        for k in range(args.repeat if "pdf" in only else 0):
            out = tmp / f"pdf{k}"
            build_s.append(timed(build + ["--versions", str(args.versions), "--out", str(out)], ROOT))
            scratch = tmp / f"scratch{k}"
            scratch.mkdir()
            bare_s.append(bare_pdflatex(sorted(out.rglob("*.tex")), scratch))  # every .tex the build produced
        if build_s:
            r["pdf_build_s"], r["bare_pdflatex_serial_s"] = best(build_s), best(bare_s)
            r["pdf_ratio"] = r["pdf_build_s"] / r["bare_pdflatex_serial_s"]

        one, per_student, many = [], [], []
        for k in range(args.repeat if "nopdf" in only else 0):
            one.append(timed(build + ["--no-pdf", "-n", "1", "--out", str(tmp / f"one{k}")], ROOT))
            per_student.append(timed(build + ["--no-pdf", "--roster", str(roster), "--per-student",
                                              "--out", str(tmp / f"each{k}")], ROOT))
            many.append(timed(build + ["--no-pdf", "-n", str(args.many), "--out", str(tmp / f"many{k}")], ROOT))
        if one:
            r["nopdf_1_s"], r["per_student_s"], r[f"nopdf_{args.many}_s"] = best(one), best(per_student), best(many)
            r["per_student_ratio"] = r["per_student_s"] / r["nopdf_1_s"]
            r["nopdf_ratio"] = r[f"nopdf_{args.many}_s"] / r["nopdf_1_s"]
    r["load_at_end"] = os.getloadavg()[0]
    print(json.dumps(r, indent=2))
    lines = {"roster_ratio": f"{args.students}-student roster, 4 versions, PDFs / 4 versions without a roster",
             "pdf_ratio": f"{args.versions}-version PDF build / serial bare pdflatex",
             "per_student_ratio": f"--per-student {args.students} students --no-pdf / 1 version --no-pdf",
             "nopdf_ratio": f"{args.many} versions --no-pdf / 1 version --no-pdf"}
    ok = True
    for key, label in lines.items():
        if key not in r:
            continue
        met = r[key] <= TARGETS[key]
        ok &= met
        print(f"{label}: {r[key]:.2f} (target <= {TARGETS[key]}: {'met' if met else 'NOT met'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
