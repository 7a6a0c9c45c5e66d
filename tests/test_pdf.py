"""Real PDFs from a real TeX Live: what students and graders see."""
from __future__ import annotations

import json
import subprocess

import pytest

from generator.cli import main

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("pdf")]
EXAM = "bank/exams/tiny.yaml"


def text(pdf) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def test_exam_and_key_pdfs(runner, tmp_bank):
    r = runner.invoke(main, ["build", EXAM, "--out", "o", "--versions", "1"])
    assert r.exit_code == 0, r.output
    exam, key = text(tmp_bank / "o/A/exam.pdf"), text(tmp_bank / "o/A/key.pdf")
    assert "Page 1 of 2" in exam and "Page 2 of 2" in exam
    assert "Version A" in exam and "10 points in all" in exam
    assert "Solution" not in exam and "ANSWER KEY" not in exam
    assert "ANSWER KEY" in key and "Solution:" in key
    assert "Do not turn this page" in exam and "Do not turn this page" not in key  # the proctor's banner
    answers = json.loads((tmp_bank / "o/A/key.json").read_text())["problems"][0]["answers"]
    shown = "(" + ", ".join(str(v) for v in answers["output"]) + ")"
    assert shown in key.replace("−", "-")
    assert not list((tmp_bank / "o/A").glob("*.log")), "LaTeX by-products are cleaned up"
    v = runner.invoke(main, ["verify", "o"])
    assert v.exit_code == 0, v.output
    assert ", 2 marked answers found in key PDFs, " in v.stdout  # argmax and output


HOSTILE = r"\input{/etc/passwd} \write18{touch PWNED} ^^5c 100% $x$ #1 a_b {open ~ ^ < > | [x]"


def test_hostile_and_accented_text_prints_literally(runner, tmp_bank):
    spec = tmp_bank / EXAM
    spec.write_text(spec.read_text()
                    .replace("course: Course 101", "course: '" + HOSTILE.replace("'", "''") + "'")
                    .replace("instructor: Prof. X", "instructor: José Łukasz Zoë Ødegård"))
    r = runner.invoke(main, ["build", EXAM, "--out", "o", "--versions", "1"])
    assert r.exit_code == 0, r.output
    exam = text(tmp_bank / "o/A/exam.pdf")
    assert "José Łukasz Zoë Ødegård" in exam
    assert HOSTILE in " ".join(exam.split())
    assert "root:" not in exam
    assert not list(tmp_bank.rglob("PWNED"))


def test_character_pdflatex_cannot_set_is_refused_before_work(runner, tmp_bank):
    spec = tmp_bank / EXAM
    spec.write_text(spec.read_text().replace("instructor: Prof. X", "instructor: Prof. 王"))
    r = runner.invoke(main, ["build", EXAM, "--out", "o"])
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"qbank: {EXAM}:5: instructor: character '王' (U+738B, CJK UNIFIED IDEOGRAPH-738B) "
                                "cannot be typeset by pdflatex; replace or transliterate it")
    assert not (tmp_bank / "o").exists()


def test_missing_tex_is_reported_before_any_work(runner, tmp_bank):
    r = runner.invoke(main, ["build", EXAM, "--out", "o"], env={"PATH": "/nonexistent"})
    assert r.exit_code == 2
    assert r.stderr.startswith("qbank: pdflatex not found; install TeX Live with `make setup`")
    assert "--no-pdf" in r.stderr
    assert not (tmp_bank / "o").exists()
