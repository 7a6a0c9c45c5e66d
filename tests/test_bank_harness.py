"""One harness over every problem in the bank: many seeds, solver vs independent check, rendering."""
from __future__ import annotations

import json

import numpy as np
import pytest

from generator.bank import load_bank
from generator.build import Instance, derive_seed, draw_params, jsonable, problem_body, solve_params
from generator.problem import close
from generator.registry import get_kind
from generator.texify import make_env

from .conftest import ROOT, SEEDS

BANK = load_bank(ROOT)
IDS = sorted(BANK.problems)


@pytest.mark.parametrize("pid", IDS)
def test_every_seed_solves_and_checks(pid):
    """Over many seeds: a valid draw, solve == independent check, items agree with their kind."""
    bp = BANK.problems[pid]
    distinct = set()
    for s in range(SEEDS):
        seed = derive_seed(7, "A", f"{pid}-{s}")
        params = jsonable(draw_params(bp, seed), "params")
        bp.generator.validate(params)  # a drawn instance is never degenerate
        answers, items = solve_params(bp, params)
        check = jsonable(bp.generator.check(params), "check")
        assert close(answers, check), f"{pid} seed {seed}: solve {answers} != check {check}"
        for it in items:
            independent = jsonable(get_kind(it["kind"]).check(it["params"]), "kind check")
            assert close(it["answers"], independent), f"{pid} seed {seed}: {it['kind']} disagrees"
        json.dumps({"p": params, "a": answers, "i": items}, allow_nan=False)
        distinct.add(json.dumps(params, sort_keys=True))
    assert len(distinct) > min(SEEDS, 20) // 2, f"{pid}: only {len(distinct)} distinct instances"


@pytest.mark.parametrize("pid", IDS)
def test_same_seed_same_draw(pid):
    bp = BANK.problems[pid]
    assert draw_params(bp, 12345) == draw_params(bp, 12345)


@pytest.mark.parametrize("pid", IDS)
def test_renders_exam_and_key(pid):
    """Both documents render; the exam's LaTeX holds no solution environment content."""
    bp = BANK.problems[pid]
    env = make_env(BANK.template_dirs)
    for s in range(5):
        seed = derive_seed(3, "B", pid) + s
        params = jsonable(draw_params(bp, seed), "params")
        answers, items = solve_params(bp, params)
        inst = Instance(1, pid, seed, dict(bp.spec.points), params, answers, items)
        exam = problem_body(BANK, env, inst, "A", key=False)
        key = problem_body(BANK, env, inst, "A", key=True)
        assert key != exam and len(key) > len(exam)
        for part, pts in bp.spec.points.items():
            if len(bp.spec.points) > 1:
                assert f"\\part[{pts}]" in exam, f"{pid}: part {part} ({pts} points) not printed"
