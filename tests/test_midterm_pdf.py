"""The default midterm, built as `make exam` builds it: totals, layout, and a verified key."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from generator.cli import main

from .conftest import ROOT

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("pdf")]


def text(pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def pages(pdf) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


@pytest.fixture(scope="module")
def midterm(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("midterm") / "out"
    r = CliRunner().invoke(main, ["build", str(ROOT / "bank/exams/midterm.yaml"), "--versions", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    return out, r


def test_points_add_up_everywhere(midterm, in_root):
    out, _ = midterm
    key = json.loads((out / "A" / "key.json").read_text())
    parts = sum(sum(p["points"].values()) for p in key["problems"])
    exam = text(out / "A" / "exam.pdf")
    cover_total = int(re.search(r"(\d+) points in all", exam).group(1))  # LaTeX's own count of \part points
    table_total = int(re.search(r"^\s*Points(?:\s+\d+)+\s+(\d+)\s*$", exam, re.M).group(1))  # the grading table
    assert parts == key["total_points"] == cover_total == table_total == 139


def test_versions_share_one_layout_and_differ_in_numbers(midterm, in_root):
    out, result = midterm
    assert "warning" not in result.stderr
    assert pages(out / "A" / "exam.pdf") == pages(out / "B" / "exam.pdf") == pages(out / "C" / "exam.pdf")
    assert (out / "A" / "exam.tex").read_text() != (out / "B" / "exam.tex").read_text()


def test_every_kind_of_the_contract_is_in_the_key(midterm, in_root):
    out, _ = midterm
    kinds = {it["kind"] for p in json.loads((out / "B" / "key.json").read_text())["problems"] for it in p["items"]}
    assert kinds == {"argmax-attention", "cnn-shapes", "beam-search", "rnn-backprop", "batchnorm",
                     "gnn-bce-loss", "teacher-forcing"}


def test_exam_hides_solutions_and_the_build_verifies(midterm, runner, in_root):
    out, _ = midterm
    assert "Solution" not in text(out / "A" / "exam.pdf")
    assert text(out / "A" / "key.pdf").count("Solution:") >= 25
    r = runner.invoke(main, ["verify", str(out)])
    assert r.exit_code == 0, r.output
    marks = sum(len(p["marks"]) for v in json.loads((out / "manifest.json").read_text())["versions"] for p in v["problems"])
    assert f", {marks} marked answers found in key PDFs, " in r.stdout and marks > 150
    assert pages(out / "grader-summary.pdf") == 3
    assert pages(out / "print-all.pdf") == 3 * (pages(out / "A" / "exam.pdf") + pages(out / "A" / "exam.pdf") % 2)


def test_no_overfull_boxes(midterm, tmp_path):
    """Text running into the margin is a defect a student would see."""
    out, _ = midterm
    for version in "ABC":
        for doc in ("exam.tex", "key.tex"):
            work = tmp_path / f"{version}-{doc}"
            work.mkdir()
            (work / doc).write_bytes((out / version / doc).read_bytes())
            subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc], cwd=work,
                           stdout=subprocess.DEVNULL, check=True)
            log = (work / doc).with_suffix(".log").read_text(errors="replace")
            assert "Overfull" not in log, f"{version}/{doc}: " + log[log.index("Overfull"):][:200]


def test_no_key_page_ends_with_a_lone_solution_heading(midterm):
    out, _ = midterm
    for version in "ABC":
        for number, page in enumerate(text(out / version / "key.pdf").split("\f"), 1):
            lines = [l for l in page.splitlines() if l.strip() and "SID:" not in l and "Page " not in l]
            assert not lines or "Solution:" not in lines[-1], f"{version} key page {number}"


def test_the_pinned_original_with_pdfs_verifies(runner, tmp_path, in_root):
    """verify once failed a correct key here: pdftotext read the big brackets and the root sign of
    two marked formulas (GNN's symbolic loss, dropout's Gamma) as letters, and \\ln was dropped from
    the LaTeX side but printed in the PDF."""
    out = tmp_path / "original"
    r = runner.invoke(main, ["build", str(ROOT / "bank/exams/midterm-original.yaml"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["verify", str(out)])
    assert r.exit_code == 0, r.output
    assert "68 marked answers found in key PDFs" in r.stdout
