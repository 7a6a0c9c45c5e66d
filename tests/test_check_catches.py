"""The stress harness itself must fail on a broken generator (a check that cannot fail is a defect)."""
from __future__ import annotations

import dataclasses

from generator.bank import BankProblem
from generator.check import stress
from generator.testing import load_problem

from .conftest import ROOT

SHIPPED = load_problem(ROOT / "bank" / "problems" / "argmax-attention")
ArgmaxAttention = SHIPPED.module.ArgmaxAttention


class WrongSolver(ArgmaxAttention):
    """Returns the runner-up instead of the winner: an off-by-one a key must never have."""

    def solve(self, params):
        answers = super().solve(params)
        order = sorted(range(len(answers["scores"])), key=lambda i: -answers["scores"][i])
        return {**answers, "argmax": order[1], "output": params["values"][order[1]]}


class Unstable(ArgmaxAttention):
    """Draws from a global random source: the same seed gives different instances."""

    def draw(self, rng):
        import random

        return super().draw(__import__("numpy").random.default_rng(random.randrange(10**9)))


def _with(cls) -> BankProblem:
    bp = SHIPPED.problem
    return dataclasses.replace(bp, generator=cls(bp.generator.space))


def test_wrong_solver_is_caught_on_every_seed():
    result = stress(_with(WrongSolver), 20)
    assert len(result.failures) == 20
    assert "solve and independent check disagree: argmax" in result.failures[0]
    # which number is whose: the build's message says so, and check's said "1 vs 0" alone
    assert result.failures[0].endswith(" (solve vs check)")


def test_nondeterministic_draw_is_caught():
    result = stress(_with(Unstable), 20)
    assert any("the same seed gave a different draw" in f for f in result.failures)
