"""Where one version's time goes: CPU milliseconds per version by stage, in one process.

``bench_build.py`` times whole builds; this splits the work of ``--per-student`` (or any many-version
build) into its stages, drawing ``--versions`` versions in label order as a build does, one process,
no workers: drawing (the generator's ``draw``, ``validate`` and ``solve`` on every candidate, the
rejected ones included), the independent checks that every key must pass before it is written,
rendering exam, key and key.json, and writing the three files.

For drawing it also reports the share spent on candidates that were not kept (rejected by
``validate``, by the build's workload, or for repeating an earlier version's final answers): the
calls beyond one per version, at each method's mean cost per call. That is an upper bound on what
drawing without rejection could save (such a draw still costs something).

Usage: .venv/bin/python bench/bench_stages.py [--exam bank/exams/midterm.yaml] [--versions 1000]
"""
from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from generator import build  # noqa: E402
from generator.bank import load_exam  # noqa: E402
from generator.output import write_file  # noqa: E402

DRAW_METHODS = ("draw", "validate", "solve")


def timed_methods(exam, spent: collections.Counter, calls: collections.Counter) -> None:
    """Wrap each problem generator's draw/validate/solve (on the instance) to add up calls and time."""
    for bp in exam.bank.problems.values():
        gen = bp.generator
        for name in DRAW_METHODS:
            def wrapper(*a, _f=getattr(gen, name), _k=name, **k):
                start = time.process_time()
                try:
                    return _f(*a, **k)
                finally:
                    spent[_k] += time.process_time() - start
                    calls[_k] += 1
            setattr(gen, name, wrapper)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exam", default="bank/exams/midterm.yaml")
    ap.add_argument("--versions", type=int, default=1000)
    args = ap.parse_args()
    os.chdir(ROOT)
    exam = load_exam(args.exam)
    labels = build.version_labels(args.versions)
    seed = exam.spec.seed
    for label, instances in build.iter_versions(exam, labels[:2], seed):  # warm-up: templates, caches
        build.render_version(exam, label, instances)

    spent, calls = collections.Counter(), collections.Counter()
    stage = collections.Counter()
    confirm = build.confirm

    def timed_confirm(*a, **k):
        start = time.process_time()
        try:
            return confirm(*a, **k)
        finally:
            stage["check"] += time.process_time() - start

    build.confirm = timed_confirm
    timed_methods(exam, spent, calls)
    draws = build.VersionDraws(seed)
    problems = 0
    with tempfile.TemporaryDirectory() as tmp, build.templates_checked_once(exam):
        for label in labels:
            start = time.process_time()
            instances = [build.make_instance(exam, e, n, label, seed, draws)
                         for n, e in enumerate(build.version_entries(exam, label, seed), 1)]
            problems += len(instances)
            middle = time.process_time()
            rendered = build.render_version(exam, label, instances)
            after = time.process_time()
            for rel, text in rendered.files().items():
                write_file(Path(tmp), rel, text)
            stage["make_instance"] += middle - start
            stage["render"] += after - middle
            stage["write (user+sys of this process)"] += time.process_time() - after
    build.confirm = confirm

    n = len(labels)
    per = lambda seconds: seconds / n * 1000  # noqa: E731
    drawing = stage["make_instance"] - stage["check"]
    wasted = sum(spent[m] * max(0, calls[m] - problems) / calls[m] for m in DRAW_METHODS if calls[m])
    print(f"{n} versions of {args.exam}, {problems // n} problems each; CPU ms per version (process_time):")
    print(f"  drawing and solving  {per(drawing):6.2f}   of which candidates not kept: at most {per(wasted):.2f}")
    for m in DRAW_METHODS:
        print(f"    {m:9s} {calls[m] / n:6.1f} calls per version, {per(spent[m]):6.2f} ms")
    print(f"  independent checks   {per(stage['check']):6.2f}")
    print(f"  rendering            {per(stage['render']):6.2f}")
    print(f"  writing 3 files      {per(stage['write (user+sys of this process)']):6.2f}")
    total = stage["make_instance"] + stage["render"] + stage["write (user+sys of this process)"]
    print(f"  total                {per(total):6.2f}   ({total:.1f} s for {n} versions)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
