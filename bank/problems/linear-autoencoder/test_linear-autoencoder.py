"""Linear autoencoders: keyed choices looked up in the spec's pools, the orthonormal-decoder evidence."""
from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
from pydantic import ValidationError

from generator.build import derive_seed, draw_params, problem_body
from generator.errors import Reject
from generator.problem import close
from generator.testing import load_problem
import re


P = load_problem(__file__)
BANK = P.bank
ChoiceQuestion = P.module.ChoiceQuestion
LinearAutoencoder = P.module.LinearAutoencoder
_penalty_balances_decoder = P.module._penalty_balances_decoder
BP = BANK.problems["linear-autoencoder"]
GEN = BP.generator
POOL = {q.id: q for q in GEN.space.questions}

# An instance in the spirit of the original exam: 20-dimensional inputs, a 4-dimensional code.
ORIGINAL = {
    "m": 20, "k": 4,
    "options": {
        "count": ["1", "2", "3", "4"],
        "loss": [POOL["loss"].distractors[0], POOL["loss"].distractors[1], POOL["loss"].correct[0],
                 POOL["loss"].distractors[2]],
        "tools": [POOL["tools"].correct[0], POOL["tools"].distractors[0], POOL["tools"].distractors[2],
                  POOL["tools"].correct[1], POOL["tools"].distractors[1]],
    },
}


render = P.render  # the problem's LaTeX, as the exam (key=False) or the key shows it


def test_original_instance_keys():
    GEN.validate(ORIGINAL)
    answers = GEN.solve(ORIGINAL)
    assert answers == {"keyed": {"count": [1], "loss": [2], "tools": [0, 3]}, "orthonormal": True}
    assert close(answers, GEN.check(ORIGINAL))


# The original exam's part (a): how many linear layers (0/1/2/3), which loss (L1/MSE/cross-entropy),
# which are needed (weight decay, dropout, layer norm, batch norm, an optimizer); (b) with the hint.
REAL = {
    "m": 20, "k": 4,
    "options": {
        "count": ["0", "1", "2", "3"],
        "loss": ["mean absolute error ($L_1$ loss)", "mean squared error", "cross-entropy"],
        "tools": ["weight decay (an $\\ell_2$ penalty on the weights)", "dropout", "layer normalization",
                  "batch normalization", "an optimizer such as SGD or Adam"],
    },
}


def test_the_original_questions_hint_and_grading():
    GEN.validate(REAL)
    answers = GEN.solve(REAL)
    assert answers == {"keyed": {"count": [2], "loss": [1], "tools": [0, 4]}, "orthonormal": True}
    assert close(answers, GEN.check(REAL))
    inst = dataclasses.replace(P.instance(REAL), points={"a": 9, "b": 5})  # the original's points
    exam = problem_body(BANK, BANK.env(), inst, "A", key=False)
    key = problem_body(BANK, BANK.env(), inst, "A", key=True)
    assert "How many linear layers" in exam and r"(C) & 2 \\" in exam
    assert "singular\nvalue decompositions" in exam and r"$\sigma^2 + 1/\sigma^2$" in exam  # the hint
    for t in ("dropout", "layer normalization", "batch normalization"):
        assert t in exam
    # 9 points: 2 + 2 for (i) and (ii), 5 for the five boxes of (iii).
    assert "(iii) 5 points, 1 per box" in key


def test_the_pools_say_what_the_seed_exam_keys():
    assert POOL["count"].correct == ["2"]
    assert POOL["loss"].correct == ["mean squared error"]
    assert any("weight decay" in t for t in POOL["tools"].correct)
    assert any("SGD" in t for t in POOL["tools"].correct)


def test_penalty_is_smallest_for_balanced_singular_values():
    sigma = np.linspace(0.1, 3, 2901)
    assert sigma[np.argmin(sigma ** 2 + 1 / sigma ** 2)] == pytest.approx(1.0)
    assert _penalty_balances_decoder() is True


@pytest.mark.parametrize("change, reason", [
    ({"k": 20}, "k <="),
    ({"k": 11}, "k <="),
    ({"k": 0}, "k <="),
    ({"m": 20.0}, "integers"),
    ({"options": {"count": [], "loss": [], "tools": []}}, "at least two distinct"),
])
def test_degenerate_instances_are_rejected(change, reason):
    with pytest.raises(Reject, match=reason):
        GEN.validate({**copy.deepcopy(ORIGINAL), **change})


def test_options_outside_the_pool_or_wrongly_keyed_are_rejected():
    def with_options(qid, options):
        p = copy.deepcopy(ORIGINAL)
        p["options"][qid] = options
        return p

    with pytest.raises(Reject, match="not in the spec's pool"):
        GEN.validate(with_options("loss", ["mean squared error", "mean absolute error"]))
    with pytest.raises(Reject, match="wrong number of keyed options"):
        GEN.validate(with_options("loss", POOL["loss"].distractors[:3]))
    with pytest.raises(Reject, match="no distractor"):
        GEN.validate(with_options("tools", POOL["tools"].correct))
    with pytest.raises(Reject, match="distinct"):
        GEN.validate(with_options("tools", POOL["tools"].correct + POOL["tools"].correct[:1]))
    p = copy.deepcopy(ORIGINAL)
    del p["options"]["tools"]
    with pytest.raises(Reject, match="options of the questions"):
        GEN.validate(p)


def test_infeasible_pool_is_refused_when_the_spec_loads():
    with pytest.raises(ValidationError, match="n_options"):
        ChoiceQuestion(id="q", prompt="?", select="one", n_options=5, correct=["a"], distractors=["b", "c"])
    with pytest.raises(ValidationError, match="appears twice"):
        ChoiceQuestion(id="q", prompt="?", select="one", n_options=2, correct=["a"], distractors=["a", "b"])


@pytest.mark.parametrize("mutate", [
    lambda a: a["keyed"].update(layers=[0]),
    lambda a: a["keyed"].update(tools=[0]),
    lambda a: a.update(orthonormal=False),
])
def test_mutated_answers_are_caught_by_check(mutate):
    answers = copy.deepcopy(GEN.solve(ORIGINAL))
    mutate(answers)
    assert not close(answers, GEN.check(ORIGINAL))


def test_a_solver_that_keys_by_position_is_caught():
    class FirstOption(LinearAutoencoder):
        def solve(self, params):
            return {"keyed": {q: [0] for q in params["options"]}, "orthonormal": True}

    wrong = FirstOption(GEN.space)
    assert not close(wrong.solve(ORIGINAL), wrong.check(ORIGINAL))


def test_draws_are_valid_and_versions_differ():
    orders, sizes = set(), set()
    for s in range(60):
        params = draw_params(BP, derive_seed(1, "A", f"ae-{s}"))
        GEN.validate(params)
        assert params["k"] <= params["m"] / 2
        answers = GEN.solve(params)
        assert len(answers["keyed"]["count"]) == 1 and len(answers["keyed"]["tools"]) == 2
        assert params["options"]["count"] == sorted(params["options"]["count"], key=int)
        orders.add(json.dumps(params["options"]))
        sizes.add((params["m"], params["k"]))
    assert len(orders) > 50 and len(sizes) > 10
    # The keyed option is not always in the same place.
    positions = {GEN.solve(draw_params(BP, s))["keyed"]["loss"][0] for s in range(40)}
    assert positions == {0, 1, 2, 3}


def test_rendering_substitutes_sizes_and_hides_the_key():
    exam, key = render(ORIGINAL, key=False), render(ORIGINAL, key=True)
    assert "<m>" not in exam and "<k>" not in exam
    assert r"W_1 \in \mathbb{R}^{4\times 20}" in exam
    assert "Answer:" not in exam and "Yes.}" not in exam and "sigma_i" not in exam and "Grading" not in exam
    assert r"\textbf{(B)} 2" in key and r"\textbf{(C)} mean squared error" in key
    assert r"\textbf{(A)} weight decay" in key and r"\textbf{(D)} an optimizer" in key
    assert r"\textbf{Yes.}" in key and r"\sigma_i^2 + 1/\sigma_i^2" in key
    assert r"\part[8]" in exam and r"\part[6]" in exam


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        letters = "ABCDEFGHIJ"
        found = re.findall(r"\((i+|iv|v)\) ([A-J](?:, [A-J])*)", summary["a"])
        assert [f[1] for f in found] == [", ".join(letters[i] for i in keyed) for keyed in answers["keyed"].values()]
        assert summary["b"].startswith("Yes" if answers["orthonormal"] else "No")


def test_ordered_questions_need_numbers():
    with pytest.raises(ValidationError, match="ordered options must all be numbers"):
        ChoiceQuestion(id="q", prompt="?", select="one", n_options=2, correct=["2"], distractors=["two"], ordered=True)
