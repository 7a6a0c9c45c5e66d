"""The exam is rendered from the parameters and given(params) alone: no answers, items or
key_context() values, so an exam template cannot print an answer (issue 11)."""
from __future__ import annotations

import pytest

from generator.bank import load_bank
from generator.build import Instance, derive_seed, draw_params, problem_body, solve_params
from generator.cli import main

from .conftest import ROOT, make_course

BANK = load_bank(ROOT)
SHIPPED = sorted(BANK.problems)


class Sealed(dict):
    """Answers the exam must never read: any access fails the test."""

    def __getitem__(self, key):
        raise AssertionError(f"the exam render read answers[{key!r}]")

    get = __contains__ = __getitem__

    def __iter__(self):
        raise AssertionError("the exam render iterated over the answers")


@pytest.mark.parametrize("pid", SHIPPED)
def test_the_exam_of_every_shipped_problem_renders_without_its_answers(pid):
    bp = BANK.problems[pid]
    env = BANK.env()
    for s in range(3):
        params = draw_params(bp, derive_seed(11, "A", f"{pid}-{s}"))
        answers, items = solve_params(bp, params)
        full = Instance(1, pid, None, dict(bp.spec.points), params, answers, items)
        sealed = Instance(1, pid, None, dict(bp.spec.points), params, Sealed(), [])
        assert str(problem_body(BANK, env, sealed, "A", key=False)) == str(problem_body(BANK, env, full, "A", key=False))


@pytest.fixture
def course(tmp_path, monkeypatch):
    make_course(tmp_path, ["cnn"])
    monkeypatch.chdir(tmp_path)
    return tmp_path


TEMPLATE = "bank/problems/cnn/template.tex.j2"
GENERATOR = "bank/problems/cnn/generator.py"


def test_an_exam_template_printing_a_key_only_value_fails_at_render_time(runner, course):
    """`moves` (how each image is shifted: the answer's reasoning) is a key_context() value."""
    path = course / TEMPLATE
    lines = path.read_text().splitlines(keepends=True)
    n = next(i for i, line in enumerate(lines) if line.startswith("What feature vector does the network output"))
    lines[n] = "(hint: << moves|join(', ') >>) " + lines[n]
    path.write_text("".join(lines))
    r = runner.invoke(main, ["build", "bank/exams/tiny.yaml", "--no-pdf", "--out", "o"])
    assert r.exit_code == 2
    assert r.stderr.strip() == (
        f"qbank: {TEMPLATE}:{n + 1}: undefined template variable: 'moves' is the key's only: the exam is rendered "
        "without answers, items and key_context() (print it inside <% if key %>, or give what the exam shows from "
        "the parameters in given())")
    assert not (course / "o").exists()


def test_an_exam_template_may_print_a_given_value(runner, course):
    path = course / TEMPLATE
    text = path.read_text()
    path.write_text(text.replace("What feature vector does the network output",
                                 "(<< n_classes >> classes in (a)) What feature vector does the network output", 1))
    r = runner.invoke(main, ["build", "bank/exams/tiny.yaml", "--no-pdf", "--out", "o"])
    assert r.exit_code == 0, r.output
    assert "classes in (a)) What feature vector" in (course / "o" / "A" / "exam.tex").read_text()


def test_a_given_value_read_once_is_read_by_the_exam_and_by_the_key(runner, course):
    """given() runs once per version for both documents, but a value that can be read only once
    (a generator) is asked for again: the exam shows it too."""
    gen = course / GENERATOR
    old = '        return {"cells": cells, "even_kernel": even,'
    gen.write_text(gen.read_text().replace(old, old.replace("{", '{"once": (w for w in ("ab", "cd")), ', 1), 1))
    path = course / TEMPLATE
    path.write_text(path.read_text().replace("What feature vector does the network output",
                                             "(<% for w in once %><< w >><% endfor %>) What feature vector does the network output", 1))
    r = runner.invoke(main, ["build", "bank/exams/tiny.yaml", "--no-pdf", "--out", "o"])
    assert r.exit_code == 0, r.output
    for doc in ("exam", "key"):
        assert "(abcd) What feature vector" in (course / "o" / "A" / f"{doc}.tex").read_text(), doc


def test_a_generator_with_the_old_context_hook_is_refused(runner, course):
    path = course / GENERATOR
    text = path.read_text()
    path.write_text(text.replace("    def given(self, params: dict) -> dict:",
                                 "    def context(self, params, answers):\n        return {}\n\n"
                                 "    def given(self, params: dict) -> dict:", 1))
    r = runner.invoke(main, ["build", "bank/exams/tiny.yaml", "--no-pdf", "--out", "o"])
    assert r.exit_code == 2
    line = r.stderr.strip()
    assert "\n" not in line and line.startswith(f"qbank: {GENERATOR}:")
    assert "Cnn defines context(params, answers), which qbank no longer calls: split it into given(params)" in line


@pytest.mark.parametrize("hook, clash, said", [
    ("given", "key", "given() defines key, which qbank sets itself"),
    ("key_context", "answers", "key_context() defines answers, which qbank sets itself"),
    ("key_context", "cells", "both given() and key_context() define cells"),
])
def test_a_generator_cannot_redefine_a_name(runner, course, hook, clash, said):
    path = course / GENERATOR
    text = path.read_text()
    old = '        return {"worked": worked, "moves": moves}' if hook == "key_context" else \
        '        return {"cells": cells, "even_kernel": even,'
    assert old in text
    new = old.replace("return {", f"return {{{clash!r}: None, ", 1)
    path.write_text(text.replace(old, new, 1))
    r = runner.invoke(main, ["build", "bank/exams/tiny.yaml", "--no-pdf", "--out", "o"])
    assert r.exit_code == 2
    assert r.stderr.strip() == f"qbank: generator 'cnn' of problem 'cnn': {said}", r.stderr


def test_a_multiple_choice_exam_cannot_tell_which_options_are_correct(runner, tmp_path, monkeypatch):
    """A course's copy of the multiple-choice template that ticks correct options outside the key fails:
    the parameters name the shown options only."""
    make_course(tmp_path, ["activation-functions"])
    monkeypatch.chdir(tmp_path)
    shipped = (ROOT / "templates" / "multiple_choice.tex.j2").read_text()
    (tmp_path / "templates").mkdir()
    lines = shipped.replace("<% if key and ticked[loop.index0] %>", "<% if o.correct %>").splitlines(keepends=True)
    (tmp_path / "templates" / "multiple_choice.tex.j2").write_text("".join(lines))
    n = next(i for i, line in enumerate(lines) if "o.correct" in line) + 1
    r = runner.invoke(main, ["build", "bank/exams/tiny.yaml", "--no-pdf", "--out", "o"])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"qbank: templates/multiple_choice.tex.j2:{n}: undefined template variable: "), r.stderr
    assert "correct" in r.stderr and not (tmp_path / "o").exists()
