"""Dropout as regularization: Γ̌, λ and X̃ for a small X, the exact-expectation check, degenerate draws."""
from __future__ import annotations

import copy
import json

import pytest

from generator.build import derive_seed, draw_params
from generator.errors import Reject
from generator.problem import close
from generator.testing import load_problem
import re
from fractions import Fraction
from generator.texify import escape
from generator.texify import fmt_num
from generator.testing import has_num


P = load_problem(__file__)
BANK = P.bank
DropoutRidge = P.module.DropoutRidge
_frac_tex = P.module._frac_tex
BP = BANK.problems["dropout-ridge"]
GEN = BP.generator

# The instance used for the original exam: columns (3, 4, 0) and (1, 2, 2), keep probability 0.5.
ORIGINAL = {"X": [[3, 1], [4, 2], [0, 2]], "p": 0.5}


render = P.render  # the problem's LaTeX, as the exam (key=False) or the key shows it


def test_original_instance_by_hand():
    GEN.validate(ORIGINAL)
    answers = GEN.solve(ORIGINAL)
    assert answers["gamma"] == [5, 3]                      # ||(3,4,0)|| = 5, ||(1,2,2)|| = 3
    assert answers["lam"] == 1                             # (1 - 0.5) / 0.5
    assert answers["dropout_coeff"] == pytest.approx(0.25)  # 0.5 * 0.5
    assert close(answers["x_tilde"], [[3 / 5, 1 / 3], [4 / 5, 2 / 3], [0, 2 / 3]])
    assert answers["x_tilde_norms"] == [1, 1]
    assert close(answers, GEN.check(ORIGINAL))


@pytest.mark.parametrize("p, lam, coeff", [(0.2, 4, 0.16), (0.4, 1.5, 0.24), (0.8, 0.25, 0.16)])
def test_lambda_for_each_keep_probability(p, lam, coeff):
    params = {"X": [[2, 6], [3, 0], [6, 8]], "p": p}       # norms 7 and 10
    GEN.validate(params)
    answers = GEN.solve(params)
    assert answers["gamma"] == [7, 10]
    assert answers["lam"] == pytest.approx(lam) and answers["dropout_coeff"] == pytest.approx(coeff)
    assert close(answers["x_tilde"], [[2 / 7, 0.6], [3 / 7, 0], [6 / 7, 0.8]])
    assert close(answers, GEN.check(params))


def test_four_samples_and_negative_entries():
    params = {"X": [[1, -2], [1, 0], [1, 4], [1, 4]], "p": 0.5}  # norms 2 and 6
    GEN.validate(params)
    answers = GEN.solve(params)
    assert answers["gamma"] == [2, 6]
    assert close(answers["x_tilde"], [[0.5, -1 / 3], [0.5, 0], [0.5, 2 / 3], [0.5, 2 / 3]])
    assert close(answers, GEN.check(params))


@pytest.mark.parametrize("change, reason", [
    ({"X": [[3, 0], [4, 3], [0, 4]]}, "same norm"),
    ({"X": [[1, 1], [1, 2], [1, 2]]}, "no integer norm"),
    ({"X": [[1, 2], [2, 4], [2, 4]]}, "linearly dependent"),
    ({"X": [[3, 1], [4, 2], [0, 2], [0, 0]]}, "all zeros"),
    ({"X": [[5, 1], [0, 2], [0, 2]]}, "too few non-zero"),
    ({"X": [[3.0, 1], [4, 2], [0, 2]]}, "matrix of integers"),
    ({"X": [[3], [4], [0]]}, "two columns"),
    ({"X": [[3, 1, 2, 2], [4, 2, 1, 1], [0, 2, 2, 2], [0, 0, 0, 3]]}, "too large"),
    ({"p": 0.3}, "short decimal"),        # λ = 7/3
    ({"p": 1.0}, "strictly between"),
    ({"p": 0}, "strictly between"),
])
def test_degenerate_instances_are_rejected(change, reason):
    params = {**copy.deepcopy(ORIGINAL), **change}
    with pytest.raises(Reject, match=reason):
        GEN.validate(params)


@pytest.mark.parametrize("mutate", [
    lambda a: a.update(lam=0.5 / 0.5 + 1),                                    # λ off
    lambda a: a.update(gamma=[a["gamma"][0] ** 2, a["gamma"][1] ** 2]),         # squared norms
    lambda a: a.update(x_tilde=[[r[0] * 1.01, r[1]] for r in a["x_tilde"]]),    # one column off
    lambda a: a.update(dropout_coeff=0.5),                                      # p instead of p(1-p)
])
def test_mutated_answers_are_caught_by_check(mutate):
    answers = copy.deepcopy(GEN.solve(ORIGINAL))
    mutate(answers)
    assert not close(answers, GEN.check(ORIGINAL))


def test_a_solver_with_a_wrong_formula_is_caught():
    class POverOneMinusP(DropoutRidge):
        """The classic slip: λ = p / (1 - p)."""

        def solve(self, params):
            return {**super().solve(params), "lam": params["p"] / (1 - params["p"])}

    wrong = POverOneMinusP(GEN.space)
    params = {"X": [[2, 6], [3, 0], [6, 8]], "p": 0.8}
    assert not close(wrong.solve(params), wrong.check(params))


def test_check_alone_on_another_instance():
    # The check enumerates all 2^6 masks of a 3x2 matrix; its Γ̌ and λ match the hand values.
    out = GEN.check({"X": [[6, 2], [3, 2], [2, -1]], "p": 0.8})
    assert out["gamma"] == pytest.approx([7, 3]) and out["lam"] == pytest.approx(0.25)
    assert out["dropout_coeff"] == pytest.approx(0.16) and out["x_tilde_norms"] == pytest.approx([1, 1])


def test_draws_are_valid_and_versions_differ():
    seen = set()
    for s in range(60):
        params = draw_params(BP, derive_seed(1, "A", f"dropout-{s}"))
        GEN.validate(params)
        assert all(isinstance(x, int) for row in params["X"] for x in row)
        assert params["p"] in (0.2, 0.4, 0.5, 0.8)
        seen.add(json.dumps(params, sort_keys=True))
    assert len(seen) > 50


def test_key_shows_fractions_and_exam_shows_no_answer():
    key, exam = render(ORIGINAL, key=True), render(ORIGINAL, key=False)
    assert r"\frac{3}{5}" in key and r"\frac{1}{3}" in key and r"\frac{2}{3}" in key
    assert r"\operatorname{diag}(5, 3)" in key and r"\lambda = \frac{1 - 0.5}{0.5} = 1" in key
    for answer in (r"\frac{3}{5}", r"\boxed", "diag(5, 3)", "norm 1"):
        assert answer not in exam
    assert "p = 0.5" in exam and r"\part[5]" in exam and r"\part[4]" in exam


def test_fraction_formatting():
    assert _frac_tex(-0.5) == r"-\frac{1}{2}"
    assert _frac_tex(2 / 7) == r"\frac{2}{7}"
    assert _frac_tex(1.0) == "1" and _frac_tex(0) == "0"
    with pytest.raises(ValueError):
        _frac_tex(0.123456789)


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        assert f"\\operatorname{{diag}}({', '.join(fmt_num(g) for g in answers['gamma'])})" in summary["a"]
        assert f"\\lambda = (1-p)/p = {fmt_num(answers['lam'])}" in summary["a"]
        for row in answers["x_tilde"]:
            for v in row:
                f = Fraction(v).limit_denominator(1000)
                assert re.search(r"(?<![\d/-])" + re.escape(str(f)) + r"(?![\d/])", summary["b"]), (v, summary["b"])
        assert all(has_num(summary["c"], v) for v in answers["x_tilde_norms"])


# The original exam: Tikhonov written ||y - Xw||^2 + ||Gamma w||^2 (no separate lambda), symbolic.
REAL = {"X": None, "p": None, "penalty": "gamma"}


def test_the_original_form_symbolic():
    GEN.validate(REAL)
    answers = GEN.solve(REAL)
    assert answers == {"w_scale": "p", "gamma": "Gc*sqrt((1 - p)/p)", "lam": "1", "x_tilde_norm": "sqrt(p/(1 - p))"}
    assert close(answers, GEN.check(REAL))
    exam, key = render(REAL, key=False), render(REAL, key=True)
    assert r"$\|y - Xw\|^2 + \|\Gamma w\|^2$" in exam and r"\lambda\,\|\Gamma w\|" not in exam
    assert "For the computations" not in exam and "Compute $\\tilde X$" not in exam
    assert r"\boxed{\Gamma = \sqrt{\tfrac{1-p}{p}}\;\check\Gamma}" in key and r"\boxed{\lambda = 1}" in key
    assert r"the same norm, $\sqrt{p/(1-p)}$" in key
    assert "sqrt{(1-p)/p}" in str(GEN.summary(REAL, answers)["a"])


def test_the_lambda_form_states_its_convention():
    """Gamma and lambda are not unique (c lambda with Gamma / sqrt c): the question fixes Gamma."""
    exam = render(ORIGINAL, key=False)
    assert r"taking $\Gamma = \check\Gamma$" in exam


def test_a_wrong_symbolic_formula_is_caught():
    answers = GEN.solve(REAL)
    assert not close({**answers, "gamma": "Gc*sqrt(p/(1 - p))"}, GEN.check(REAL))
    bad = {**P.module._FORMULAS["gamma"], "x_tilde_norm": "1"}
    original = P.module._FORMULAS["gamma"]
    try:
        P.module._FORMULAS["gamma"] = bad
        P.module._confirmed_formulas.cache_clear()
        with pytest.raises(AssertionError, match="disagrees"):
            GEN.check(REAL)
    finally:
        P.module._FORMULAS["gamma"] = original
        P.module._confirmed_formulas.cache_clear()


@pytest.mark.parametrize("p, factor", [(0.2, 2), (0.5, 1), (0.8, 0.5)])
def test_the_gamma_form_with_numbers(p, factor):
    params = {"X": [[2, 6], [3, 0], [6, 8]], "p": p, "penalty": "gamma"}   # norms 7 and 10
    GEN.validate(params)
    answers = GEN.solve(params)
    assert answers["gamma"] == [7, 10] and answers["lam"] == 1
    assert close(answers["gamma_t"], [7 * factor, 10 * factor])
    assert close(answers["x_tilde_norms"], [1 / factor, 1 / factor])
    assert close(answers, GEN.check(params))
    with pytest.raises(Reject, match="sqrt"):
        GEN.validate({**params, "p": 0.4})   # sqrt(1.5) is not a short decimal


def test_x_is_printed_by_columns_one_line_for_any_number_of_samples():
    """Three or four samples take the same room, so versions of one build keep one page layout."""
    three = render(ORIGINAL, key=False)
    four = render({"X": [[1, -2], [1, 0], [1, 4], [1, 4]], "p": 0.5}, key=False)
    assert r"x_1 = (3, 4, 0)^\top, \qquad x_2 = (1, 2, 2)^\top" in three
    assert r"x_1 = (1, 1, 1, 1)^\top, \qquad x_2 = (-2, 0, 4, 4)^\top" in four
    assert r"\begin{bmatrix}" not in three and r"\begin{bmatrix}" not in four
