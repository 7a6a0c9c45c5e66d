"""Exam-spec pools (k of n problems per version) and shuffle groups."""
from __future__ import annotations

import json
import subprocess
import shutil

import pytest

from generator.cli import main

from .conftest import EXAM_HEADER, ROOT

EXAM = "bank/exams/pooled.yaml"


@pytest.fixture
def bank(tmp_bank):
    for pid in ("translation", "vanishing-gradients", "honor-code"):
        shutil.copytree(ROOT / "bank" / "problems" / pid, tmp_bank / "bank" / "problems" / pid)
    return tmp_bank


def write_exam(bank, problems: str):
    (bank / EXAM).write_text(EXAM_HEADER.replace("id: tiny", "id: pooled") + "problems:\n" + problems)


def order(bank, out="o"):
    m = json.loads((bank / out / "manifest.json").read_text())
    return {v["label"]: [p["id"] for p in v["problems"]] for v in m["versions"]}


POOL = """\
  - problem: honor-code
    newpage: false
  - pool: ten-pointers
    choose: 1
    problems:
      - problem: argmax-attention
      - problem: translation
  - problem: vanishing-gradients
"""


def test_each_version_draws_from_the_pool_and_verifies(runner, bank):
    write_exam(bank, POOL)
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "-n", "8"])
    assert r.exit_code == 0, r.output
    orders = order(bank)
    assert all(o[0] == "honor-code" and o[2] == "vanishing-gradients" and len(o) == 3 for o in orders.values())
    assert {o[1] for o in orders.values()} == {"argmax-attention", "translation"}  # both get drawn
    key = json.loads((bank / "o" / "C" / "key.json").read_text())
    assert [p["id"] for p in key["problems"]] == orders["C"] and key["total_points"] == 21
    assert runner.invoke(main, ["verify", "o"]).exit_code == 0
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "again", "-n", "8"])
    assert order(bank, "again") == orders  # the same seed picks the same problems


def test_shuffle_groups_permute_only_their_members(runner, bank):
    write_exam(bank, """\
  - problem: honor-code
  - problem: argmax-attention
    shuffle: g
  - problem: translation
    shuffle: g
  - problem: vanishing-gradients
    shuffle: g
""")
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "-n", "8"]).exit_code == 0
    orders = order(bank)
    assert all(o[0] == "honor-code" for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) > 1
    assert runner.invoke(main, ["verify", "o"]).exit_code == 0


def test_verify_notices_a_version_whose_problems_were_swapped(runner, bank):
    write_exam(bank, POOL)
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "-n", "4"])
    write_exam(bank, POOL.replace("choose: 1", "choose: 2"))
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 1
    assert "field problems differs from what the exam spec and seed give" in r.stderr


@pytest.mark.parametrize("problems,message", [
    ("  - pool: p\n    choose: 3\n    problems:\n      - problem: argmax-attention\n      - problem: translation\n",
     f"{EXAM}:12: problems[0]: choose is 3 but the pool has only 2 problems"),
    ("  - pool: p\n    choose: 1\n    problems:\n      - problem: argmax-attention\n"
     "      - problem: vanishing-gradients\n",
     f"{EXAM}:14: problems[0].problems: pool problems must be worth the same points; got argmax-attention 10, "
     "vanishing-gradients 6"),
    ("  - problem: argmax-attention\n  - problem: argmax-attention\n",
     f"{EXAM}:13: problems[1].problem: problem 'argmax-attention' is already in this exam (line 12)"),
])
def test_bad_pools_are_refused(runner, bank, problems, message):
    write_exam(bank, problems)
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    assert r.exit_code == 2
    assert r.stderr.strip() == f"qbank: {message}"


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_pooled_versions_are_padded_to_one_page_layout(runner, bank):
    """Batch norm takes two pages, translation one: versions drawing translation get a blank page."""
    shutil.copytree(ROOT / "bank" / "problems" / "batchnorm", bank / "bank" / "problems" / "batchnorm")
    write_exam(bank, POOL.replace("argmax-attention", "batchnorm"))
    (bank / "roster.csv").write_text("name,sid\n" + "".join(f"Student {i},{i}\n" for i in range(1, 9)))
    r = runner.invoke(main, ["build", EXAM, "--out", "o", "-n", "4", "--roster", "roster.csv"])
    assert r.exit_code == 0, r.output
    assert "warning" not in r.stderr
    m = json.loads((bank / "o" / "manifest.json").read_text())
    padded = {v["label"] for v in m["versions"] if "padding" in v}
    drew_translation = {v["label"] for v in m["versions"] if v["problems"][1]["id"] == "translation"}
    assert padded == drew_translation and 0 < len(padded) < 4

    def pdf_pages(folder):
        info = subprocess.run(["pdfinfo", str(bank / "o" / folder / "exam.pdf")], capture_output=True, text=True).stdout
        return int(next(l.split()[1] for l in info.splitlines() if l.startswith("Pages:")))
    assert len({pdf_pages(v) for v in "ABCD"} | {pdf_pages(f"students/{i}") for i in range(1, 9)}) == 1
    blank = subprocess.run(["pdftotext", str(bank / "o" / sorted(padded)[0] / "exam.pdf"), "-"],
                           capture_output=True, text=True).stdout
    assert "This page is intentionally left blank." in blank
    v = runner.invoke(main, ["verify", "o"])
    assert v.exit_code == 0, v.output
