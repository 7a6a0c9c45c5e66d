"""Benchmark qbank builds as ratios against baselines measured in the same run.

The machines are shared and noisy, so absolute seconds mean little; each figure is a ratio
against a baseline taken minutes apart on the same machine:

1. A 10-version build with PDFs (``qbank build``, default --jobs) against one bare pdflatex pass
   over each .tex file it produced, run one after another. Target: at most 0.6.
2. A 200-version build with --no-pdf against a 1-version build with --no-pdf (whole processes,
   start-up included). Target: at most 3.

Usage: .venv/bin/python bench/bench_build.py [--exam bank/exams/midterm.yaml] [--repeat 1]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exam", default="bank/exams/midterm.yaml")
    ap.add_argument("--versions", type=int, default=10)
    ap.add_argument("--many", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=1, help="repeat each measurement, keep the best")
    args = ap.parse_args()
    results = {"cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        build_s, bare_s = [], []
        for r in range(args.repeat):
            out = tmp / f"pdf{r}"
            build_s.append(timed(QBANK + ["build", args.exam, "--versions", str(args.versions), "--out", str(out)], ROOT))
            texs = sorted(out.rglob("*.tex"))  # every .tex the build produced
            scratch = tmp / f"scratch{r}"
            scratch.mkdir()
            bare_s.append(bare_pdflatex(texs, scratch))
        results["pdf_build_s"] = min(build_s)
        results["bare_pdflatex_serial_s"] = min(bare_s)
        results["pdf_ratio"] = results["pdf_build_s"] / results["bare_pdflatex_serial_s"]
        one_s, many_s = [], []
        for r in range(args.repeat):
            one_s.append(timed(QBANK + ["build", args.exam, "--no-pdf", "-n", "1", "--out", str(tmp / f"one{r}")], ROOT))
            many_s.append(timed(QBANK + ["build", args.exam, "--no-pdf", "-n", str(args.many),
                                         "--out", str(tmp / f"many{r}")], ROOT))
        results["nopdf_1_s"] = min(one_s)
        results[f"nopdf_{args.many}_s"] = min(many_s)
        results["nopdf_ratio"] = results[f"nopdf_{args.many}_s"] / results["nopdf_1_s"]
    print(json.dumps(results, indent=2))
    print(f"{args.versions}-version PDF build / serial bare pdflatex: {results['pdf_ratio']:.2f} (target <= 0.6)")
    print(f"{args.many} versions --no-pdf / 1 version: {results['nopdf_ratio']:.2f} (target <= 3)")
    ok = results["pdf_ratio"] <= 0.6 and results["nopdf_ratio"] <= 3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
