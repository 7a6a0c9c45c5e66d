"""Batch norm of a Gaussian: the solve kind, the generator's answers, its rejections and its figures."""
from __future__ import annotations

import copy
import json
import math
import re

import numpy as np
import pytest

from generator.build import Instance, derive_seed, draw_params, problem_body, solve_params
from generator.errors import ParamError, Reject
from generator.problem import close
from generator.testing import load_problem
from generator.texify import vec
from generator.texify import fmt_num
from generator.testing import has_num


P = load_problem(__file__)
BANK = P.bank
check_kind = P.module.check_kind
solve_kind = P.module.solve_kind
BP = BANK.problems["batchnorm"]
GEN = BP.generator

# The original exam's 1-D instance (mu 1.5, sigma^2 0.16, beta 3, gamma 1) with a 2-D input in its spirit.
ORIGINAL = {"mu": 1.5, "sigma": 0.4, "beta": 3, "gamma": 1, "mean": [1, -2], "cov": [[2.25, 0.9], [0.9, 1]]}


# -- the solve kind ------------------------------------------------------------------------------

def test_kind_hand_worked_2d():
    # s = (2, 3); out_cov[0][1] = 2 * (-1) * 3 / (2 * 3) = -1; variances gamma_i^2 = 4 and 1.
    p = {"mean": [1, 2], "cov": [[4, 3], [3, 9]], "gamma": [2, -1], "beta": [0.5, 3]}
    out = solve_kind(p)
    assert out == {"out_mean": [0.5, 3], "out_cov": [[4, -1], [-1, 1]]}
    assert all(isinstance(x, int) for row in out["out_cov"] for x in row)  # integers where exact
    assert close(check_kind(p), out)


def test_kind_original_1d_and_negative_gamma():
    assert solve_kind({"mean": [1.5], "cov": [[0.16]], "gamma": [1], "beta": [3]}) == {"out_mean": [3], "out_cov": [[1]]}
    # A negative scale: the variance is gamma^2, never negative.
    assert solve_kind({"mean": [-0.5], "cov": [[0.09]], "gamma": [-1.5], "beta": [-2]}) == \
        {"out_mean": [-2], "out_cov": [[2.25]]}


def test_kind_standardisation_keeps_correlation():
    # s = (1.5, 0.5), correlation 0.45 / 0.75 = 0.6; the float noise is tidied away.
    out = solve_kind({"mean": [3, -1], "cov": [[2.25, 0.45], [0.45, 0.25]], "gamma": [1, 1], "beta": [0, 0]})
    assert out == {"out_mean": [0, 0], "out_cov": [[1, 0.6], [0.6, 1]]}


def test_kind_allows_singular_psd_covariance():
    # Perfectly correlated features: positive semi-definite, not definite, still valid.
    out = solve_kind({"mean": [0, 0], "cov": [[1, 2], [2, 4]], "gamma": [1, 1], "beta": [0, 0]})
    assert out["out_cov"] == [[1, 1], [1, 1]]


GOOD = {"mean": [1, 2], "cov": [[4, 1], [1, 9]], "gamma": [1, 1], "beta": [0, 0]}


@pytest.mark.parametrize("change, param", [
    ({"mean": None}, "mean"),
    ({"mean": "12"}, "mean"),
    ({"cov": None}, "cov"),
    ({"cov": [[4, 1], [0, 9]]}, "cov"),             # not symmetric
    ({"cov": [[1, 2], [2, 1]]}, "cov"),             # eigenvalue -1: not positive semi-definite
    ({"cov": [[-1, 0], [0, 1]]}, "cov"),            # a negative variance
    ({"cov": [[0, 0], [0, 1]]}, "cov"),             # a zero variance
    ({"cov": [[4, 1, 0], [1, 9, 0], [0, 0, 1]]}, "cov"),  # 3x3 for a 2-D mean
    ({"cov": [[4, 1], [1]]}, "cov"),                # ragged
    ({"gamma": [1]}, "gamma"),
    ({"gamma": [1, "a"]}, "gamma"),
    ({"beta": None}, "beta"),
    ({"beta": [0, 0, 0]}, "beta"),
])
def test_kind_invalid_params_name_the_parameter(change, param):
    p = dict(GOOD)
    for k, v in change.items():
        if v is None:
            del p[k]
        else:
            p[k] = v
    with pytest.raises(ParamError) as e:
        solve_kind(p)
    assert e.value.param == param


def test_cli_solve(solve_cli):
    result = solve_cli("batchnorm", "mean: [1, 2]\ncov: [[4, 3], [3, 9]]\ngamma: [2, -1]\nbeta: [0.5, 3]\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"out_mean": [0.5, 3], "out_cov": [[4, -1], [-1, 1]]}


def test_cli_bad_params_exit_2_one_line(solve_cli):
    result = solve_cli("batchnorm", {"mean": [0, 0], "cov": [[1, 2], [2, 1]], "gamma": [1, 1], "beta": [0, 0]})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "'cov'" in lines[0] and "semi-definite" in lines[0]
    assert result.stdout == ""


# -- the problem: answers, check, items ------------------------------------------------------------

def test_original_instance():
    GEN.validate(ORIGINAL)
    answers, items = solve_params(BP, ORIGINAL)
    a, b = answers["a"], answers["b"]
    assert (a["in_var"], a["out_mean"], a["out_std"], a["out_var"]) == (0.16, 3, 1, 1)
    assert a["out_peak"] == pytest.approx(1 / math.sqrt(2 * math.pi))
    # s = (1.5, 1): correlation 0.9 / 1.5 = 0.6, the mean goes to the origin.
    assert b["in_std"] == [1.5, 1] and b["rho"] == 0.6
    assert b["out_mean"] == [0, 0] and b["out_cov"] == [[1, 0.6], [0.6, 1]]
    # Standardised contours: axes sqrt(1 +- 0.6) on the +45 degree diagonal.
    assert b["out_ellipse"]["angle"] == 45
    assert b["out_ellipse"]["axes"] == pytest.approx([math.sqrt(1.6), math.sqrt(0.4)])
    assert [it["kind"] for it in items] == ["batchnorm", "batchnorm"]
    assert items[0]["params"] == {"mean": [1.5], "cov": [[0.16]], "gamma": [1], "beta": [3]}
    assert items[0]["answers"] == {"out_mean": [3], "out_cov": [[1]]}
    assert items[1]["params"]["gamma"] == [1, 1] and items[1]["params"]["beta"] == [0, 0]
    assert items[1]["answers"] == {"out_mean": [0, 0], "out_cov": [[1, 0.6], [0.6, 1]]}
    assert close(GEN.check(ORIGINAL), answers)


def test_negative_gamma_and_zero_correlation():
    p = {"mu": -0.5, "sigma": 0.3, "beta": -1, "gamma": -1.5, "mean": [1, 2], "cov": [[2.25, 0], [0, 0.25]]}
    GEN.validate(p)
    answers = GEN.solve(p)
    assert answers["a"]["out_std"] == 1.5 and answers["a"]["out_var"] == 2.25 and answers["a"]["out_mean"] == -1
    b = answers["b"]
    assert b["out_cov"] == [[1, 0], [0, 1]] and b["rho"] == 0
    assert b["out_ellipse"]["axes"] == [1, 1]  # circles
    assert b["in_ellipse"] == {"center": [1, 2], "axes": [1.5, 0.5], "angle": 0}
    assert close(GEN.check(p), answers)


def test_negative_correlation_tilts_minus_45():
    p = dict(ORIGINAL, cov=[[2.25, -0.9], [-0.9, 1]])
    answers = GEN.solve(p)
    assert answers["b"]["rho"] == -0.6 and answers["b"]["out_ellipse"]["angle"] == -45


def test_check_catches_mutated_answers():
    answers = GEN.solve(ORIGINAL)
    for path, delta in [(("a", "out_mean"), 0.5), (("a", "out_std"), 0.1), (("b", "rho"), 0.05)]:
        bad = copy.deepcopy(answers)
        bad[path[0]][path[1]] += delta
        assert not close(bad, GEN.check(ORIGINAL))
    bad = copy.deepcopy(answers)
    bad["b"]["out_cov"][0][1] = 0.9  # the covariance left unscaled
    assert not close(bad, GEN.check(ORIGINAL))
    bad = copy.deepcopy(answers)
    bad["b"]["in_ellipse"]["angle"] += 2  # a mis-rotated drawing
    assert not close(bad, GEN.check(ORIGINAL))


def test_kind_check_catches_a_wrong_formula():
    # Dividing by the variances instead of the standard deviations is a classic slip; the
    # independent matrix route must disagree with it.
    p = {"mean": [0, 0], "cov": [[4, 1.2], [1.2, 1]], "gamma": [1, 1], "beta": [0, 0]}
    wrong = {"out_mean": [0, 0], "out_cov": [[c / (p["cov"][i][i] * p["cov"][j][j]) for j, c in enumerate(row)]
                                             for i, row in enumerate(p["cov"])]}
    assert not close(wrong, check_kind(p))
    assert close(solve_kind(p), check_kind(p))
    # Perturbed parameters give a different key.
    assert not close(solve_kind(p), check_kind(dict(p, cov=[[4, 1.4], [1.4, 1]])))
    assert not close(solve_kind(p), check_kind(dict(p, beta=[0, 1])))


# -- degenerate instances --------------------------------------------------------------------------

@pytest.mark.parametrize("change, reason", [
    ({"mean": [0, 0]}, "origin"),
    ({"cov": [[1, 0], [0, 1]]}, "equal variances"),              # already standardised shape
    ({"cov": [[2.25, 0.9], [0.9, 2.25]]}, "equal variances"),
    ({"mean": [3, 0]}, "off"),                                    # 3 + 2*2 > 5: leaves the grid
    ({"mean": [2, 0], "cov": [[0.25, 0.8], [0.8, 4]]}, "thin"),   # correlation 0.8, very unequal spreads
    ({"cov": [[0.25, 0.375], [0.375, 2.25]]}, "decimals"),        # three-decimal covariance
    ({"cov": [[2, 0], [0, 1]]}, "one-decimal"),                   # sqrt(2) is no one-decimal number
    ({"mean": [0, 0.5], "cov": [[4, 1.8], [1.8, 1]]}, "correlation"),  # correlation 0.9 is above the cap
    ({"mu": 1, "sigma": 1, "beta": 1, "gamma": -1}, "looks like the input"),  # output = input
    ({"gamma": 0}, "zero"),
    ({"mu": 1.55}, "one decimal"),
    ({"beta": 7}, "horizontal axis"),                             # 7 + 3 > 8
    ({"gamma": 0.2}, "taller"),
    ({"cov": [[1, 2], [2, 1]]}, "semi-definite"),
    ({"mean": [1, 2, 3]}, "mean"),
    ({"mean": [1.25, 0]}, "one decimal"),
    ({"cov": [[1, 0]]}, "cov"),
])
def test_validate_rejects_degenerate(change, reason):
    p = dict(ORIGINAL, **change)
    with pytest.raises(Reject, match=reason):
        GEN.validate(p)


def test_draws_vary():
    draws = [draw_params(BP, derive_seed(1, "A", f"batchnorm-{s}")) for s in range(120)]
    rhos = [p["cov"][0][1] for p in draws]
    assert any(r == 0 for r in rhos) and any(r > 0 for r in rhos) and any(r < 0 for r in rhos)
    assert any(p["gamma"] < 0 for p in draws) and any(p["gamma"] > 0 for p in draws)
    assert len({(p["mu"], p["sigma"]) for p in draws}) > 30
    assert len({tuple(map(tuple, p["cov"])) for p in draws}) > 10


# -- figures -----------------------------------------------------------------------------------------

def _contours(tex: str) -> list[np.ndarray]:
    return [np.array([[float(v) for v in pt.split(",")] for pt in re.findall(r"\(([-\d.]+,[-\d.]+)\)", body)])
            for body in re.findall(r"coordinates \{((?:\([-\d.]+,[-\d.]+\) ?){10,})\}", tex)]


@pytest.mark.parametrize("s", range(25))
def test_drawn_ellipses_are_the_contours(s):
    """Every drawn point x satisfies (x - m)^T Sigma^-1 (x - m) = r^2 for r = 1, 2; input and output."""
    params = draw_params(BP, derive_seed(5, "A", f"ellipses-{s}"))
    answers = GEN.solve(params)
    ctx = {**GEN.given(params), **GEN.key_context(params, answers)}
    b = answers["b"]
    cases = [(ctx["in_contours"], params["mean"], params["cov"]), (ctx["out_contours"], [0, 0], b["out_cov"])]
    for drawn, m, S in cases:
        inv = np.linalg.inv(np.asarray(S, dtype=float))
        for r, tex in zip((1, 2), drawn):
            (pts,) = _contours(str(tex))
            d = pts - np.asarray(m, dtype=float)
            q = np.einsum("ni,ij,nj->n", d, inv, d)
            assert np.allclose(q, r * r, rtol=2e-2), (s, r, q.min(), q.max())
            # and every input contour stays on the plotted grid
            assert np.abs(pts).max() <= (ctx["grid_in"] if m is params["mean"] else ctx["grid_out"])


def _render(params, key):
    env = BANK.env()
    answers, items = solve_params(BP, params)
    inst = Instance(1, "batchnorm", None, dict(BP.spec.points), params, answers, items)
    return problem_body(BANK, env, inst, "A", key=key)


def test_exam_holds_no_answers_and_key_shows_them():
    exam, key = _render(ORIGINAL, False), _render(ORIGINAL, True)
    for solution_text in ("std $|\\gamma|", "mean $\\beta", "\\boxed", "blue"):
        assert solution_text not in exam and solution_text in key
    assert "\\part[5]" in exam and exam.count("\\begin{axis}") == key.count("\\begin{axis}") == 4
    assert "\\sigma^2 = 0.16" in exam and "\\beta = 3" in exam
    assert "circles" not in key and "+45^\\circ" in key


def test_key_text_for_negative_gamma_and_circles():
    p = {"mu": -0.5, "sigma": 0.3, "beta": -1, "gamma": -1.5, "mean": [1, 2], "cov": [[2.25, 0], [0, 0.25]]}
    key = _render(p, True)
    assert "(x + 0.5)/0.3" in key and "z - 1$" in key  # signs written as a student would
    assert "mirrors" in key and "circles" in key
    key = _render(dict(p, gamma=-1, beta=2), True)
    assert "y = -z + 2$" in key


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        assert f"\\beta = {fmt_num(params['beta'])}" in summary["a"]
        assert f"|\\gamma| = {fmt_num(abs(params['gamma']))}" in summary["a"]
        assert str(vec(answers["b"]["out_mean"])) in summary["b"] and has_num(summary["b"], answers["b"]["rho"])
