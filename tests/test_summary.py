"""The grader's key summary: one short final answer per part, for every problem in the bank.

Each problem's own test file (``bank/problems/<id>/test_<id>.py``) checks that its summary holds
its key answers; nothing here lists the problems."""
from __future__ import annotations

import re
import subprocess
from fractions import Fraction

import pytest

from generator.bank import load_bank
from generator.build import derive_seed, draw_params, jsonable, solve_params
from generator.texify import escape, fmt_num, vec

from .conftest import ROOT

BANK = load_bank(ROOT)
IDS = sorted(BANK.problems)
N_SEEDS = 50


def instances(pid: str, n: int):
    """``n`` drawn instances of problem ``pid``: (params, answers, summary)."""
    bp = BANK.problems[pid]
    for s in range(n):
        seed = derive_seed(7, "S", pid) + s
        params = jsonable(draw_params(bp, seed), "params")
        answers, _ = solve_params(bp, params)
        yield params, answers, bp.generator.summary(params, answers)


@pytest.mark.parametrize("pid", IDS)
def test_summary_parts_and_answers(pid):
    """Over many seeds: one entry per part of the spec, in order, each a non-empty string that
    holds the part's key numbers."""
    parts = list(BANK.problems[pid].spec.points)
    for params, answers, summary in instances(pid, N_SEEDS):
        assert list(summary) == parts, f"{pid}: summary parts {list(summary)}, spec parts {parts}"
        for part, text in summary.items():
            assert isinstance(text, str) and text.strip(), f"{pid} part {part}: empty summary"
            assert "\n" not in text.strip(), f"{pid} part {part}: a summary is one short paragraph"


@pytest.mark.pdf
def test_summaries_compile(tmp_path):
    """Every summary is valid LaTeX: three seeds of every problem in one document through pdflatex."""
    body = []
    for pid in IDS:
        for s, (_, _, summary) in enumerate(instances(pid, 3)):
            rows = "\n".join(f"({escape(part)}) & {text} \\\\" for part, text in summary.items())
            body.append(f"\\medskip\\noindent\\textbf{{{escape(pid)}, seed {s}}}\\par\\noindent"
                        f"\\begin{{tabular}}{{@{{}}l p{{0.8\\linewidth}}@{{}}}}\n{rows}\n\\end{{tabular}}\n")
    # T1 fonts as in the exam documents: the escaper targets them (\textless, Latin Extended-A).
    doc = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{amsmath}\n\\usepackage{amssymb}\n"
           "\\begin{document}\n" + "\n".join(body) + "\\end{document}\n")
    (tmp_path / "summary.tex").write_text(doc, encoding="utf-8")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "summary.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:]
    assert (tmp_path / "summary.pdf").stat().st_size > 0
