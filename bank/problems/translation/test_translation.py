"""Machine translation: the teacher-forcing kind, the generator's draws, checks and rendering."""
from __future__ import annotations

import json

import pytest

from generator.build import draw_params, problem_body, solve_params, Instance
from generator.errors import ParamError
from generator.problem import Reject, close
from generator.testing import load_problem
from generator.texify import unmark
from generator.texify import escape


P = load_problem(__file__)
BANK = P.bank
BP = BANK.problems["translation"]
GEN = BP.generator

# The original exam's instance: three Spanish words, four English ones, the model slips at step 2;
# with the <eos> step the decoder has five inputs w1..w5.
ORIGINAL = {"source": ["veo", "un", "perro"],
            "target": ["I", "see", "a", "dog"],
            "predicted": ["I", "saw", "a", "dog"]}


def test_original_instance_by_hand():
    GEN.validate(ORIGINAL)
    answers = GEN.solve(ORIGINAL)
    assert answers == {"train_inputs": ["<sos>", "I", "see", "a", "dog"],
                       "eval_inputs": ["<sos>", "I", "saw", "a", "dog"],
                       "error_step": 2}
    assert close(GEN.check(ORIGINAL), answers)


def test_eos_step_feeds_back_a_slip_at_the_last_word():
    """The step that emits <eos> takes the last word: a wrong last word is an input too."""
    params = {**ORIGINAL, "predicted": ["I", "see", "a", "cat"]}
    GEN.validate(params)
    answers = GEN.solve(params)
    assert answers["eval_inputs"] == ["<sos>", "I", "see", "a", "cat"]
    assert answers["train_inputs"] == ["<sos>", "I", "see", "a", "dog"]
    assert answers["error_step"] == 4
    assert close(GEN.check(params), answers)


def test_kind_feeds_back_a_slip_and_what_follows_it():
    kind = P.bank.kinds["teacher-forcing"]
    params = {"target": ["the", "girl", "has", "a", "small", "dog"],
              "predicted": ["the", "girl", "has", "a", "dog", "small"]}
    expected = {"train_inputs": ["<sos>", "the", "girl", "has", "a", "small", "dog"],
                "eval_inputs": ["<sos>", "the", "girl", "has", "a", "dog", "small"]}
    assert kind.solve(params) == expected
    assert kind.check(params) == expected


@pytest.mark.parametrize("params, name", [
    ({"predicted": ["a", "b"]}, "target"),
    ({"target": ["a", "b"]}, "predicted"),
    ({"target": ["a", "b"], "predicted": ["a"]}, "predicted"),
    ({"target": [], "predicted": []}, "target"),
    ({"target": ["a", 3], "predicted": ["a", "b"]}, "target"),
    ({"target": "a b", "predicted": ["a", "b"]}, "target"),
    ({"target": ["a", "b"], "predicted": ["a", " "]}, "predicted"),
    ({"target": ["a", "b"], "predicted": None}, "predicted"),
])
def test_bad_kind_params_name_the_parameter(params, name):
    with pytest.raises(ParamError) as e:
        P.bank.kinds["teacher-forcing"].solve(params)
    assert e.value.param == name


def test_cli_solve_prints_json(solve_cli):
    result = solve_cli("teacher-forcing", "target: [the, coffee, is, hot]\npredicted: [the, tea, is, hot]\n")
    assert result.exit_code == 0, result.output
    # The contract: len(target) + 1 inputs, the last one feeding the step that emits <eos>.
    assert json.loads(result.stdout) == {"train_inputs": ["<sos>", "the", "coffee", "is", "hot"],
                                         "eval_inputs": ["<sos>", "the", "tea", "is", "hot"]}


def test_cli_solve_bad_params_exit_2_one_line(solve_cli):
    result = solve_cli("teacher-forcing", {"target": ["a", "b", "c"], "predicted": ["a", "b"]})
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "predicted" in lines[0]
    assert result.stdout == ""


@pytest.mark.parametrize("change, why", [
    ({"predicted": ["I", "see", "a", "dog"]}, "no mistake"),
    ({"predicted": ["I", "saw"]}, "expected 4 tokens"),
    ({"source": ["yo", "veo", "un", "perro", "muy", "muy", "grande"]}, "do not fit"),
    ({"target": ["<sos>", "see", "a", "dog"]}, "start and end tokens"),
    ({"predicted": ["I", "saw", "<eos>", "dog"]}, "start and end tokens"),
])
def test_degenerate_instances_rejected(change, why):
    with pytest.raises(Reject, match=why):
        GEN.validate({**ORIGINAL, **change})


def test_check_catches_a_wrong_key():
    answers = GEN.solve(ORIGINAL)
    # A key that fed the reference at generation time too (the classic confusion) is caught.
    wrong = {**answers, "eval_inputs": answers["train_inputs"]}
    assert not close(wrong, GEN.check(ORIGINAL))
    # So is a key whose parameters were altered after solving.
    altered = {**ORIGINAL, "predicted": ["I", "see", "the", "dog"]}
    assert not close(answers, GEN.check(altered))
    kind = P.bank.kinds["teacher-forcing"]
    item = GEN.items(ORIGINAL)[0][1]
    assert not close({**kind.solve(item), "eval_inputs": ["<sos>", "I", "see", "a", "dog"]}, kind.check(item))
    # A key that forgot the <eos> step (the contract before the original exam was followed) is caught.
    short = {k: v[:-1] for k, v in kind.solve(item).items()}
    assert not close(short, kind.check(item))


def test_draws_come_from_the_pool_and_slip_plausibly():
    pool = {p.en: p for p in GEN.space.pairs}
    for seed in range(100):
        params = draw_params(BP, seed)
        pair = pool[" ".join(params["target"])]
        assert params["source"] == pair.es.split()
        answers = GEN.solve(params)
        step = answers["error_step"]
        assert params["predicted"][step - 1] in {s.word for s in pair.slips if s.step == step}
        # Every drawn pair differs in length and tests the <eos> step: one more input than words.
        assert len(params["source"]) != len(params["target"])
        assert len(answers["train_inputs"]) == len(answers["eval_inputs"]) == len(params["target"]) + 1
        assert answers["train_inputs"][-1] == params["target"][-1]


def test_spec_refuses_a_slip_equal_to_the_reference():
    from generator.schema import validate
    from pydantic import ValidationError
    bad = {"pairs": [{"es": "el gato come pescado", "en": "the cat eats fresh fish",
                      "slips": [{"step": 2, "word": "cat"}]}] * 2}
    with pytest.raises(ValidationError, match="differing"):
        validate(GEN.Space, bad)


def test_spec_refuses_a_pair_of_equal_lengths():
    from generator.schema import validate
    from pydantic import ValidationError
    bad = {"pairs": [{"es": "el gato come pescado", "en": "the cat eats fish",
                      "slips": [{"step": 2, "word": "dog"}]}] * 2}
    with pytest.raises(ValidationError, match="differ in length"):
        validate(GEN.Space, bad)


def test_render_shows_answers_only_in_key():
    params = ORIGINAL
    answers, items = solve_params(BP, params)
    inst = Instance(1, "translation", None, dict(BP.spec.points), params, answers, items)
    env = BANK.env()
    exam = problem_body(BANK, env, inst, "A", key=False)
    key = unmark(problem_body(BANK, env, inst, "A", key=True))  # the marks are invisible
    assert "saw" in exam and "perro" in exam              # the model's output is part of the question
    assert r"\textless{}sos\textgreater{}" not in exam    # no start token: that is an answer
    assert r"\textless{}sos\textgreater{}" in key and r"\underline{{\bfseries saw}}" in key
    assert exam.count(r"\node[inbox]") == 5               # w1..w5: four words and the <eos> step
    assert exam.count(r"\texttt{\textless{}eos\textgreater{}}") == 3  # preamble, figure, emitted words
    assert "textbackslash" not in exam                    # the token's LaTeX is not escaped twice
    assert "ignore the end-of-sentence" not in exam
    assert "first differs from the reference at step 2" in exam


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        for part, key in (("b", "train_inputs"), ("c", "eval_inputs")):
            for w in answers[key][1:]:
                assert escape(w) in summary[part], (part, w)
            assert "\\texttt{\\textless{}sos\\textgreater{}}" in summary[part]
        slip = params["predicted"][answers["error_step"] - 1]
        assert f"\\underline{{{escape(slip)}}}" in summary["c"]
