"""Benchmark ``qbank preview``: a warm preview of one problem against one bare pdflatex pass.

A warm preview is the second and later ``qbank preview PROBLEM`` of an author's loop: the
preamble format is in the cache and the previous .aux files are in the preview folder. The
baseline is one plain ``pdflatex`` pass over the preview's own key.tex (no format), in a scratch
folder, measured in the same run. Both are whole processes (qbank's Python start-up included),
best of ``--repeat``. Target: ratio at most 1.0.

Usage: .venv/bin/python bench/bench_preview.py [--problem argmax-attention] [--seed 3] [--repeat 5]
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


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", default="argmax-attention")
    ap.add_argument("--seed", default="3")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "QBANK_CACHE_DIR": str(tmp / "cache")}  # a cold cache, warmed by the first run
        cmd = QBANK + ["preview", args.problem, "--seed", args.seed]
        cold = timed(cmd, ROOT, env)
        warm = [timed(cmd, ROOT, env) for _ in range(args.repeat)]
        key = ROOT / ".qbank" / "preview" / args.problem / "key.tex"
        bare = []
        for i in range(args.repeat):
            d = tmp / f"bare{i}"
            d.mkdir()
            shutil.copy(key, d / key.name)
            bare.append(timed(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", key.name], d))
    results = {"cores": os.cpu_count(), "load_average": os.getloadavg()[0], "cold_preview_s": cold,
               "warm_preview_s": min(warm), "bare_pdflatex_pass_s": min(bare)}
    results["ratio"] = results["warm_preview_s"] / results["bare_pdflatex_pass_s"]
    print(json.dumps(results, indent=2))
    print(f"warm preview of {args.problem} / one bare pdflatex pass over its key.tex: {results['ratio']:.2f} (target <= 1.0)")
    return 0 if results["ratio"] <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
