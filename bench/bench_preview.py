"""Benchmark ``qbank preview``: a warm preview of one problem against one bare pdflatex pass.

A warm preview is the second and later preview of an author's loop: the preamble format is in
the cache and the previous .aux files are in the preview folder. Two figures:

- ``cli``: a whole ``qbank preview PROBLEM`` process (Python start-up and imports included);
- ``watch``: one more preview inside a running process, which is what ``qbank preview --watch``
  does on every save (render, compile exam and key, unite).

The baseline is one plain ``pdflatex`` pass over the preview's own key.tex (no format), in a
scratch folder, measured in the same run. Best of ``--repeat`` each. Target: ratio at most 1.0.

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
        os.environ["QBANK_CACHE_DIR"] = env["QBANK_CACHE_DIR"]
        os.chdir(ROOT)
        sys.path.insert(0, str(ROOT))
        from generator.preview import preview

        preview(args.problem, seed=int(args.seed))
        watch = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            preview(args.problem, seed=int(args.seed))
            watch.append(time.perf_counter() - start)
    results = {"cores": os.cpu_count(), "load_average": os.getloadavg()[0], "cold_cli_preview_s": cold,
               "warm_cli_preview_s": min(warm), "warm_watch_preview_s": min(watch),
               "bare_pdflatex_pass_s": min(bare)}
    results["cli_ratio"] = results["warm_cli_preview_s"] / results["bare_pdflatex_pass_s"]
    results["watch_ratio"] = results["warm_watch_preview_s"] / results["bare_pdflatex_pass_s"]
    print(json.dumps(results, indent=2))
    print(f"warm `qbank preview {args.problem}` / one bare pdflatex pass over its key.tex: "
          f"{results['cli_ratio']:.2f} (target <= 1.0)")
    print(f"warm preview in a running process (--watch, per save) / the same pass: {results['watch_ratio']:.2f}")
    return 0 if results["cli_ratio"] <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
