"""One harness over every problem in the bank: many seeds, solver vs independent check, rendering."""
from __future__ import annotations

import re

import pytest

from generator.bank import load_bank
from generator.build import Instance, derive_seed, draw_params, jsonable, problem_body, solve_params
from generator.check import stress

from .conftest import ROOT, SEEDS

BANK = load_bank(ROOT)
IDS = sorted(BANK.problems)


@pytest.mark.parametrize("pid", IDS)
def test_every_seed_solves_and_checks(pid):
    """Over many seeds: valid draws, solve == independent check, items agree with their kind's check."""
    result = stress(BANK.problems[pid], SEEDS)
    assert result.seeds == SEEDS
    assert result.failures == []
    assert result.distinct > min(SEEDS, 20) // 2, f"{pid}: only {result.distinct} distinct instances"


@pytest.mark.parametrize("pid", IDS)
def test_renders_exam_and_key(pid):
    """Both documents render; every part's points are printed; the key adds the solutions."""
    bp = BANK.problems[pid]
    env = BANK.env()
    for s in range(5):
        seed = derive_seed(3, "B", pid) + s
        params = jsonable(draw_params(bp, seed), "params")
        answers, items = solve_params(bp, params)
        inst = Instance(1, pid, seed, dict(bp.spec.points), params, answers, items)
        exam = problem_body(BANK, env, inst, "A", key=False)
        key = problem_body(BANK, env, inst, "A", key=True)
        assert len(key) > len(exam)
        if len(bp.spec.points) > 1:
            for part, pts in bp.spec.points.items():
                assert f"\\part[{pts}]" in exam, f"{pid}: part {part} ({pts} points) not printed"


SOLUTION_ENV = re.compile(r"\\begin\{(solution\w*)\}(\[[^\]]*\])?(.*?)\\end\{\1\}", re.S)


@pytest.mark.parametrize("pid", IDS)
def test_the_exam_latex_holds_no_solution_text(pid):
    """Solutions live only in the key's .tex: every solution environment of the exam is empty."""
    bp = BANK.problems[pid]
    env = BANK.env()
    for s in range(10):
        params = jsonable(draw_params(bp, derive_seed(5, "C", pid) + s), "params")
        answers, items = solve_params(bp, params)
        inst = Instance(1, pid, s, dict(bp.spec.points), params, answers, items)
        exam = problem_body(BANK, env, inst, "A", key=False)
        key = problem_body(BANK, env, inst, "A", key=True)
        bodies = [re.sub(r"(?<!\\)%.*", "", m.group(3)).strip() for m in SOLUTION_ENV.finditer(exam)]
        assert all(b == "" for b in bodies), f"{pid}: solution text in the exam: {[b for b in bodies if b][:1]}"
        assert any(m.group(3).strip() for m in SOLUTION_ENV.finditer(key)), f"{pid}: the key shows no solution"
