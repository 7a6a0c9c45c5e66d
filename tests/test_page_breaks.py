"""Every answer box of a printed exam sits on the page of its prompt (issue 12, part 3).

Each exam's LaTeX is compiled with a marker line glued to the top of every answer box; a page that
starts (below its running header) with a marker holds a box whose prompt is on the page before.
"""
from __future__ import annotations

import subprocess

import pytest

from generator import api

from .conftest import ROOT

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("pdf")]

MARK = "QBBOXMARK"
# Glued to the box by \nopagebreak on both sides (after the exam's own \par\nopagebreak).
PROBE = (r"\usepackage{etoolbox}" "\n" r"\BeforeBeginEnvironment{solutionorbox}{\noindent " + MARK + r"\par\nopagebreak}"
         "\n" r"\BeforeBeginEnvironment{solutionordottedlines}{\noindent " + MARK + r"\par\nopagebreak}" "\n")


def orphaned_boxes(tex: str, where) -> list[int]:
    """Pages whose first line below the header is a box's marker (its prompt is on the page before)."""
    probe = tex.replace(r"\begin{document}", PROBE + r"\begin{document}", 1)
    (where / "exam.tex").write_text(probe, encoding="utf-8")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "exam.tex"], cwd=where,
                   check=True, capture_output=True)
    text = subprocess.run(["pdftotext", "-layout", "exam.pdf", "-"], cwd=where, check=True,
                          capture_output=True, text=True).stdout
    pages = text.split("\f")
    assert sum(p.count(MARK) for p in pages) > 10  # the probe reached the boxes
    bad = []
    for number, page in enumerate(pages, start=1):
        lines = [line for line in page.splitlines() if line.strip()]
        if number > 1 and len(lines) > 1 and MARK in lines[1]:  # lines[0] is the running header
            bad.append(number)
    return bad


@pytest.mark.parametrize("exam, seed, versions", [("midterm-original", None, 1), ("midterm", 4242, 3)])
def test_no_answer_box_is_separated_from_its_prompt(tmp_path, exam, seed, versions):
    out = api.build(ROOT / f"bank/exams/{exam}.yaml", pdf=False, out=tmp_path / "o", seed=seed,
                    versions=versions).out
    for v in "ABC"[:versions]:
        work = tmp_path / v
        work.mkdir()
        tex = (out / v / "exam.tex").read_text(encoding="utf-8")
        assert orphaned_boxes(tex, work) == [], f"version {v}: a box starts a page, its prompt is on the page before"
