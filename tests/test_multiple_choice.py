"""Multiple-choice questions written only in YAML (generator multiple_choice)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from generator.bank import load_bank
from generator.build import draw_params
from generator.problem import Reject, close
from generator.problems.multiple_choice import ChoiceSpace, MultipleChoice

from .conftest import ROOT

BP = load_bank(ROOT, only=["activation-functions"]).problems["activation-functions"]
GEN = BP.generator
OPTIONS = [{"text": "ReLU, $\\max(0, z)$"}, {"text": "$\\tanh$"}, {"text": "the identity, $\\phi(z) = z$"},
           {"text": "the logistic sigmoid $\\sigma(z) = 1/(1 + e^{-z})$"}]
KEYED = {o.text: o.correct for o in GEN.space.options}


def test_known_instance():
    params = {"options": OPTIONS}
    GEN.validate(params)
    answers = GEN.solve(params)
    assert answers["correct"] == ["B", "C"]
    assert answers["why"][0] == "it is never below $0$."
    assert close(answers, GEN.check(params))


def test_draws_show_the_configured_number_of_options_shuffled():
    orders = set()
    for seed in range(40):
        params = draw_params(BP, seed)
        assert len(params["options"]) == 4 and any(KEYED[o["text"]] for o in params["options"])
        orders.add(tuple(o["text"] for o in params["options"]))
    assert len(orders) > 20


def test_parameters_never_say_which_options_are_correct():
    """The exam's template sees the parameters: which options are correct is an answer, kept out of them,
    and parameters that carry it (pinned in an exam, say) are refused rather than trusted."""
    for seed in range(20):
        assert all(set(o) == {"text"} for o in draw_params(BP, seed)["options"])
    params = {"options": [dict(o) for o in OPTIONS]}
    params["options"][0]["correct"] = True  # ReLU marked correct: not what the spec says
    said = r"options\[0\]: only 'text' is given, not correct \(whether an option is correct comes from the spec"
    with pytest.raises(Reject, match=said):
        GEN.validate(params)
    with pytest.raises(Reject, match="not in the spec's options"):
        GEN.validate({"options": [{"text": "sigmoid"}, *OPTIONS[1:]]})


@pytest.mark.parametrize("show,options,message", [
    (2, [{"text": "a", "correct": True}, {"text": "b", "correct": True}], "at least one correct and one incorrect"),
    (2, [{"text": "a", "correct": True}, {"text": "a", "correct": False}], "two options have the same text"),
    (3, [{"text": "a", "correct": True}, {"text": "b", "correct": False}, {"text": "c", "correct": True}],
     "select: one shows 1 correct and 2 incorrect options; only 1 incorrect given"),
    (5, [{"text": "a", "correct": True}, {"text": "b", "correct": False}], "'show' must be between 2 and"),
])
def test_impossible_specs_are_refused(show, options, message):
    with pytest.raises(ValidationError, match=message.replace("(", r"\(")):
        ChoiceSpace.model_validate({"question": "Q?", "show": show, "options": options})


def test_select_one_shows_exactly_one_correct_option():
    gen = MultipleChoice(ChoiceSpace.model_validate({
        "question": "Q?", "select": "one", "show": 3,
        "options": [{"text": t, "correct": t == "right"} for t in ("right", "w1", "w2", "w3")]}))
    import numpy as np

    for seed in range(30):
        params = gen.draw(np.random.default_rng(seed))
        gen.validate(params)
        assert [o["text"] for o in params["options"]].count("right") == 1


def test_summary_names_the_correct_letters():
    """The grader's summary of a multiple-choice question starts with the keyed letters."""
    from generator.build import draw_params, jsonable, solve_params

    for seed in range(50):
        params = jsonable(draw_params(BP, seed), "params")
        answers, _ = solve_params(BP, params)
        summary = BP.generator.summary(params, answers)
        correct = [chr(65 + i) for i, o in enumerate(params["options"]) if KEYED[o["text"]]]
        assert summary["all"].startswith(", ".join(correct))
