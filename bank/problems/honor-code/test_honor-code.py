"""Honor code and warm-up: pool lookups, rejected pins, a key that hides nothing, one page on the cover."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess

import pytest
from pydantic import ValidationError

from generator.build import derive_seed, draw_params
from generator.cli import main
from generator.errors import Reject
from generator.problem import close
from generator.testing import load_problem


P = load_problem(__file__)
BANK = P.bank
HonorCode = P.module.HonorCode
HonorSpace = P.module.HonorSpace
BP = BANK.problems["honor-code"]
GEN = BP.generator
POOL = GEN.space.warmups

# The original exam's cover asked a reflective question; the first pool entry is that kind.
ORIGINAL = {"statement": GEN.space.statement, "warmup": POOL[0].question}


render = P.render  # the problem's LaTeX, as the exam (key=False) or the key shows it


def test_original_instance():
    GEN.validate(ORIGINAL)
    answers = GEN.solve(ORIGINAL)
    assert answers == {"warmup_answer": POOL[0].answer}
    assert "full credit" in answers["warmup_answer"].lower()
    assert GEN.check(ORIGINAL) == answers


def test_every_pool_question_gets_its_own_answer():
    for w in POOL:
        params = {**ORIGINAL, "warmup": w.question}
        assert GEN.solve(params) == GEN.check(params) == {"warmup_answer": w.answer}
    assert len(POOL) >= 11  # the bank harness wants more than 10 distinct versions


@pytest.mark.parametrize("change, reason", [
    ({"warmup": "What is your favourite colour?"}, "one of the spec's warm-up questions"),
    ({"warmup": POOL[0].question.upper()}, "word for word"),
    ({"warmup": None}, "warm-up question"),
    ({"statement": "   "}, "non-empty"),
    ({"statement": 3}, "non-empty"),
])
def test_bad_pins_are_rejected(change, reason):
    with pytest.raises(Reject, match=reason):
        GEN.validate({**ORIGINAL, **change})


def test_mutated_answer_is_caught_by_check():
    answers = copy.deepcopy(GEN.solve(ORIGINAL))
    answers["warmup_answer"] = POOL[1].answer
    assert not close(answers, GEN.check(ORIGINAL))


def test_check_refuses_a_pool_whose_questions_differ_only_in_spacing():
    space = HonorSpace(statement="s", warmups=[{"question": "Why  ReLU?", "answer": "a"},
                                               {"question": "Why ReLU?", "answer": "b"}])
    gen = HonorCode(space)
    assert gen.solve({"statement": "s", "warmup": "Why ReLU?"}) == {"warmup_answer": "b"}
    with pytest.raises(AssertionError, match="2 pool entries"):
        gen.check({"statement": "s", "warmup": "Why ReLU?"})


def test_spec_errors():
    with pytest.raises(ValidationError, match="same"):
        HonorSpace(statement="s", warmups=[{"question": "q", "answer": "a"}, {"question": "q", "answer": "b"}])
    with pytest.raises(ValidationError):
        HonorSpace(statement="s", warmups=[])
    with pytest.raises(ValidationError):
        HonorSpace(statement="s", copy_lines="3 inches", warmups=[{"question": "q", "answer": "a"}])


def test_draws_cover_the_pool():
    seen = {draw_params(BP, derive_seed(1, "A", f"honor-{s}"))["warmup"] for s in range(200)}
    assert seen == {w.question for w in POOL}


def test_exam_has_lines_and_no_answer_key_has_the_model_answer():
    exam, key = render(ORIGINAL, key=False), render(ORIGINAL, key=True)
    assert GEN.space.statement.split()[0] in exam and "Signature:" in exam
    assert "solutionordottedlines" in exam and r"\part[1]" in exam and r"\part[4]" in exam
    assert POOL[0].answer not in exam and "Full credit for a complete" not in exam
    assert POOL[0].answer in key and "Full credit for a complete" in key


def pdf_pages(pdf) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(next(line.split()[1] for line in info.splitlines() if line.startswith("Pages:")))


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_fits_on_the_cover_page_with_the_longest_question_and_answer(runner, tmp_path, monkeypatch):
    """On the midterm's own cover (newpage: false), exam and key stay one page for the longest entries."""
    header = (BANK.root / "bank" / "exams" / "midterm.yaml").read_text().split("\nproblems:")[0]
    tmp_bank = tmp_path  # a course holding only this problem and one exam
    shutil.copytree(P.problem.folder, tmp_bank / "bank" / "problems" / "honor-code")
    (tmp_bank / "bank" / "exams").mkdir()
    (tmp_bank / "bank" / "qbank.yaml").write_text("library: false\n")
    monkeypatch.chdir(tmp_bank)
    longest_q = max(POOL, key=lambda w: len(w.question)).question
    longest_a = max(POOL, key=lambda w: len(w.answer)).question
    for i, question in enumerate(dict.fromkeys([longest_q, longest_a])):
        pinned = json.dumps({**ORIGINAL, "warmup": question})
        (tmp_bank / "bank" / "exams" / "cover.yaml").write_text(
            header + f"\nproblems:\n  - problem: honor-code\n    newpage: false\n    params: {pinned}\n")
        r = runner.invoke(main, ["build", "bank/exams/cover.yaml", "--out", f"o{i}", "--versions", "1"])
        assert r.exit_code == 0, r.output
        assert pdf_pages(tmp_bank / f"o{i}/A/exam.pdf") == 1
        assert pdf_pages(tmp_bank / f"o{i}/A/key.pdf") == 1


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        # The warm-up gist is whole sentences of the model answer: its first one leads.
        answer = " ".join(answers["warmup_answer"].split())
        first = summary["warmup"].split(". Full credit")[0]
        assert answer.startswith(first) and len(first) > 10
        if "Full credit for" in answer and not answer.startswith("Full credit"):
            assert "Full credit for" in summary["warmup"]
        assert "statement" in summary["honor"] and "signed" in summary["honor"]
