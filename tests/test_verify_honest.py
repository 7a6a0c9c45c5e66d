"""Honest builds a course makes with its own templates pass `qbank verify` (no false alarms in CI)."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.latex import compile_pdf

from .conftest import ROOT, make_course

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("pdf")]

ROSTER = "name,sid\nAda Lovelace,3031\nBob Baker,3032\n"


def run_in(root: Path, *commands: list[str]):
    """Run qbank commands in the course folder ``root``; each but the last must succeed. The last one's result."""
    old = os.getcwd()
    os.chdir(root)
    try:
        for cmd in commands[:-1]:
            r = CliRunner().invoke(main, cmd)
            assert r.exit_code == 0, (cmd, r.output)
        return CliRunner().invoke(main, commands[-1])
    finally:
        os.chdir(old)


def build_and_verify(root: Path) -> str:
    """Build the course's tiny exam with a roster and PDFs, then verify it; verify's output."""
    (root / "roster.csv").write_text(ROSTER)
    r = run_in(root, ["build", "bank/exams/tiny.yaml", "--out", "o", "--roster", "roster.csv"], ["verify", "o"])
    assert r.exit_code == 0, r.output
    return r.output


def own_exam_template(root: Path, edit) -> None:
    """The course's templates/exam.tex.j2: qbank's, edited."""
    (root / "templates").mkdir()
    (root / "templates" / "exam.tex.j2").write_text(edit((ROOT / "templates" / "exam.tex.j2").read_text()))


def add_to_problem(root: Path, pid: str, latex: str) -> None:
    """Put some LaTeX before the problem's parts (the exam and the key print it)."""
    path = root / "bank" / "problems" / pid / "template.tex.j2"
    path.write_text(path.read_text().replace("\\begin{parts}", latex + "\n\\begin{parts}", 1))


def test_exam_template_without_t1_fontenc(tmp_path):
    """Without \\usepackage[T1]{fontenc} (LaTeX's default OT1), \\_ is a drawn rule, not a glyph, so
    pdftotext reads a mark's field key_number as "key number"; verify still finds every mark."""
    root = make_course(tmp_path, ["argmax-attention", "translation"])
    own_exam_template(root, lambda t: t.replace("\\usepackage[T1]{fontenc}\n", ""))
    assert "verified o" in build_and_verify(root)


def test_tuple_in_a_tikz_node_label(tmp_path):
    """A tuple printed in a TikZ node's label, as a coordinate is written, is printed by exam.tex."""
    root = make_course(tmp_path, ["argmax-attention"])
    add_to_problem(root, "argmax-attention", "\\begin{tikzpicture}\\draw (0,0) -- (2,1);"
                   "\\node at (1,0) {$(0.5, -1)$}; \\node[right] at (2,1) {(2, 1)};\\end{tikzpicture}")
    assert "verified o" in build_and_verify(root)


TEX_NUMBERS = ("TeX computes $\\fpeval{0.1*3}$, \\fpeval{-3/8}, \\pgfmathparse{<< params.query[0] >>/8}"
               "\\pgfmathprintnumber{\\pgfmathresult} and the point $(\\fpeval{1/4}, -1)$; it formats "
               "\\pgfmathprintnumber{12345.5}, \\numprint{-7.25} and \\pgfmathprintnumber[fixed,precision=2]{-0.125}.")


def course_computing_in_tex(root: Path) -> Path:
    make_course(root, ["argmax-attention"])
    own_exam_template(root, lambda t: t.replace("\\usepackage{pgfplots}", "\\usepackage{pgfplots}\n"
                                                "\\usepackage{xfp}\n\\usepackage{numprint}"))
    add_to_problem(root, "argmax-attention", TEX_NUMBERS)
    return root


def test_numbers_tex_computes_or_formats(tmp_path):
    """Numbers that TeX computes (\\fpeval, \\pgfmathparse) or formats (digit groups, a decimal comma,
    rounding) are not written in exam.tex as the PDF shows them."""
    assert "verified o" in build_and_verify(course_computing_in_tex(tmp_path))


def test_a_number_added_beside_tex_computed_ones_still_fails(tmp_path):
    """exam.pdf compiled from an exam.tex with more decimals than its own prints fails where they
    outnumber the numbers its exam.tex has TeX compute (4 here; 3 of them foreign, 0.3, -0.375 and 0.25,
    the fourth a whole number or foreign)."""
    root = course_computing_in_tex(tmp_path)
    build_and_verify(root)
    work = tmp_path / "forge"
    work.mkdir()
    tex = (root / "o" / "A" / "exam.tex").read_text()
    (work / "exam.tex").write_text(tex.replace("TeX computes", "TeX computes $-0.625$, $-0.875$,", 1))
    compile_pdf(work / "exam.tex")
    shutil.copy(work / "exam.pdf", root / "o" / "A" / "exam.pdf")
    r = CliRunner().invoke(main, ["verify", str(root / "o")])
    assert r.exit_code == 1
    assert "version A, file exam.pdf: shows " in r.output and "which its exam.tex does not print" in r.output


def test_a_dotted_date_tex_prints(tmp_path):
    """A date TeX prints as day.month.year (30.11.2026) is not the decimal 30.11."""
    root = make_course(tmp_path, ["argmax-attention"])
    own_exam_template(root, lambda t: t.replace("\\firstpagefooter{}", "\\firstpagefooter{Printed "
                                                "\\the\\day.\\the\\month.\\the\\year}", 1))
    assert "verified o" in build_and_verify(root)


def test_parts_numbered_with_their_problem(tmp_path):
    """Parts a course's template labels 2.1, 2.2 (a counter, a dot, a counter) are not decimals."""
    root = make_course(tmp_path, ["argmax-attention", "translation"])
    own_exam_template(root, lambda t: t.replace("\\bracketedpoints", "\\bracketedpoints\n\\renewcommand{\\thepartno}"
                                                "{\\thequestion.\\arabic{partno}}\n\\renewcommand{\\partlabel}{\\thepartno}", 1))
    assert "verified o" in build_and_verify(root)


def test_a_given_point_labelled_in_a_tikz_picture(tmp_path):
    """A TikZ node labelled with a given vector ($x = (2, 3)$) that is also an answer (the neuron's
    gradient is x when it is active) is printed by exam.tex: no leak."""
    assert run_in(tmp_path, ["init", "."]).exit_code == 0
    spec = tmp_path / "bank" / "problems" / "example-neuron" / "problem.yaml"
    spec.write_text(re.sub(r"\n  n: 3 ", "\n  n: 2 ", spec.read_text()))
    add_to_problem(tmp_path, "example-neuron", "\\begin{tikzpicture}\\draw[->] (0,0) -- (<< params.x[0] >>,"
                   "<< params.x[1] >>) node[right] {$x = << params.x|vec >>$};\\end{tikzpicture}")
    r = run_in(tmp_path, ["build", "--seed", "1", "--out", "o"], ["verify", "o"])
    assert r.exit_code == 0, r.output


def test_a_range_with_an_en_dash(tmp_path):
    """0.15--0.35 prints an en dash, not the minus of -0.35."""
    root = make_course(tmp_path, ["argmax-attention"])
    add_to_problem(root, "argmax-attention", "A step size in 0.15--0.35 works; see pages 2--3.")
    assert "verified o" in build_and_verify(root)


def test_versions_labelled_form_a(tmp_path):
    """A course's template that labels versions "Form A" (not "Version A") passes; its PDFs'
    labels are still checked: version B's exam as version A's fails."""
    root = make_course(tmp_path, ["argmax-attention"])
    own_exam_template(root, lambda t: t.replace("Version \\qbversion", "Form \\qbversion"))
    build_and_verify(root)
    shutil.copy(root / "o" / "B" / "exam.pdf", root / "o" / "A" / "exam.pdf")
    r = CliRunner().invoke(main, ["verify", str(root / "o")])
    assert r.exit_code == 1 and "version A, file exam.pdf: page 1 says version B, expected A" in r.output, r.output


def test_seated_roster_on_a_cover_without_a_seat_field(tmp_path):
    """An exam whose cover_fields leave out "Row and seat", built with --seating: no seat is stamped
    (there is no field for it), and verify does not look for one."""
    root = make_course(tmp_path, ["argmax-attention"])
    exam = root / "bank" / "exams" / "tiny.yaml"
    exam.write_text(exam.read_text().replace("seed: 5\n", "seed: 5\ncover_fields: [Name (printed), Student ID]\n"))
    (root / "seating.csv").write_text("sid,row,seat\n3031,1,1\n3032,1,2\n")
    (root / "roster.csv").write_text(ROSTER)
    r = run_in(root, ["build", "bank/exams/tiny.yaml", "--out", "o", "--roster", "roster.csv", "--seating",
                      "seating.csv"], ["verify", "o"])
    assert r.exit_code == 0, r.output


def test_problem_prose_that_names_a_version(tmp_path):
    """A problem whose text says "Version B" (of a model, say) is not a version label: every version
    passes. A swapped PDF is still caught: version B's exam as version A's fails."""
    root = make_course(tmp_path, ["argmax-attention"])
    add_to_problem(root, "argmax-attention", "Version B of this layer, below, returns the winning value only.")
    build_and_verify(root)
    shutil.copy(root / "o" / "B" / "exam.pdf", root / "o" / "A" / "exam.pdf")
    r = CliRunner().invoke(main, ["verify", str(root / "o")])
    assert r.exit_code == 1 and "version A, file exam.pdf:" in r.output, r.output
