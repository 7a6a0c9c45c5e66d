"""Beam search: the solve kind, its independent check, the generator's draws and the rendered key."""
from __future__ import annotations

import dataclasses

import copy
import itertools
import json

import numpy as np
import pytest

from generator.build import Instance, draw_params, problem_body, solve_params
from generator.errors import ParamError, Reject
from generator.problem import close
from generator.testing import load_problem
from generator.texify import unmark
from generator.texify import escape
from generator.testing import has_num


P = load_problem(__file__)
BANK = P.bank
BeamSpace = P.module.BeamSpace
check_kind = P.module.check_kind
solve_kind = P.module.solve_kind
BP = BANK.problems["beam-search"]
GEN = BP.generator

# A tree like the drawn ones (it was the pinned one before the original's was): exhaustive,
# greedy and beam search all differ.
ORIGINAL = {
    "vocab": ["deep", "learn"], "depth": 3, "beam_width": 2,
    "logp": {"": [-0.4, -1.1], "deep": [-0.6, -0.8], "learn": [-0.2, -1.7],
             "deep deep": [-0.6, -0.8], "deep learn": [-0.3, -1.4],
             "learn deep": [-0.1, -2.4], "learn learn": [-0.4, -1.1]},
}
# Worked by hand. Leaves: ddd -1.6, ddl -1.8, dld -1.5, dll -2.6, ldd -1.4, ldl -3.7, lld -3.2,
# lll -3.9. Greedy: deep (-0.4), deep (-0.6), deep (-0.6). Beam: after step 2 the totals are
# dd -1.0, dl -1.2, ld -1.3, ll -2.8, so "learn deep" is dropped; step 3 gives dld -1.5 best.
ORIGINAL_ANSWERS = {
    "exhaustive": {"sequence": ["learn", "deep", "deep"], "logp": -1.4},
    "greedy": {"sequence": ["deep", "deep", "deep"], "logp": -1.6},
    "beam": {"sequence": ["deep", "learn", "deep"], "logp": -1.5},
}


# The original exam's tree (two-decimal labels). Worked by hand: leaves ddd -3.03, ddl -0.84,
# dld -2.17, dll -5.11, ldd -1.95, ldl -2.80, lld -6.21, lll -1.61. Greedy: deep (-0.51), deep
# (-0.22), learn (-0.11). Beam after step 2: dd -0.73, then ld and ll tie at -1.60 (dl -2.12 is
# dropped); either way step 3 keeps ddl -0.84 and lll -1.61 or ldd -1.95, and returns ddl.
REAL = {
    "vocab": ["deep", "learn"], "depth": 3, "beam_width": 2,
    "logp": {"": [-0.51, -0.91], "deep": [-0.22, -1.61], "learn": [-0.69, -0.69],
             "deep deep": [-2.30, -0.11], "deep learn": [-0.05, -2.99],
             "learn deep": [-0.35, -1.20], "learn learn": [-4.61, -0.01]},
}
REAL_BEST = {"sequence": ["deep", "deep", "learn"], "logp": -0.84}


def test_the_original_tree_by_hand():
    GEN.validate(REAL)  # pinned: the three searches agree and the beam's cut has a harmless tie
    answers = GEN.solve(REAL)
    assert close({k: answers[k] for k in ("exhaustive", "greedy", "beam")},
                 {"exhaustive": REAL_BEST, "greedy": REAL_BEST, "beam": REAL_BEST})
    assert [leaf["logp"] for leaf in answers["leaves"]] == pytest.approx(
        [-3.03, -0.84, -2.17, -5.11, -1.95, -2.80, -6.21, -1.61])
    assert close(GEN.check(REAL), answers)
    with pytest.raises(Reject):  # a draw would have to separate the three decoders
        GEN._fresh(REAL)


def test_the_original_tree_key_shows_the_tie_and_two_decimals():
    answers, items = solve_params(BP, REAL)
    inst = Instance(1, "beam-search", None, dict(BP.spec.points), REAL, answers, items)
    key = problem_body(BANK, BANK.env(), inst, "A", key=True)
    exam = problem_body(BANK, BANK.env(), inst, "A", key=False)
    assert "rounded to two decimals" in exam and "$-0.51$" in exam and "$-0.01$" in exam
    assert r"\textsf{learn deep} and \textsf{learn learn} tie" in key
    summary = GEN.summary(REAL, answers)
    assert r"\textsf{learn deep} or \textsf{learn learn} (tie)" in summary["c"]
    assert r"\textsf{deep deep learn}, $\log p = -0.84$" in summary["a"]


def params(**changes):
    p = copy.deepcopy(ORIGINAL)
    p.update(changes)
    return p


def param_error(p) -> str:
    with pytest.raises(ParamError) as e:
        solve_kind(p)
    return e.value.param


# --- known instances ------------------------------------------------------------------------

def test_original_instance_by_hand():
    assert close(solve_kind(ORIGINAL), ORIGINAL_ANSWERS)
    assert close(check_kind(ORIGINAL), ORIGINAL_ANSWERS)


def test_original_instance_key_details():
    answers = GEN.solve(ORIGINAL)
    assert [leaf["logp"] for leaf in answers["leaves"]] == pytest.approx([-1.6, -1.8, -1.5, -2.6, -1.4, -3.7, -3.2, -3.9])
    assert [s["choice"] for s in answers["greedy_steps"]] == ["deep", "deep", "deep"]
    assert [s["logp"] for s in answers["greedy_steps"]] == pytest.approx([-0.4, -1.0, -1.6])
    step2 = answers["beam_steps"][1]
    assert [(" ".join(c["sequence"]), c["kept"]) for c in step2] == [
        ("deep deep", True), ("deep learn", True), ("learn deep", False), ("learn learn", False)]
    assert close(GEN.check(ORIGINAL), answers)
    GEN.validate(ORIGINAL)  # the pinned instance is acceptable


def test_width_one_is_greedy_and_wide_beam_is_exhaustive():
    narrow = solve_kind(params(beam_width=1))
    assert narrow["beam"] == narrow["greedy"] == ORIGINAL_ANSWERS["greedy"]
    wide = solve_kind(params(beam_width=8))
    assert close(wide["beam"], ORIGINAL_ANSWERS["exhaustive"])


def test_depth_one_and_a_three_word_vocabulary():
    p = {"vocab": ["a", "b", "c"], "depth": 1, "beam_width": 2, "logp": {"": [-1.2, -0.3, -2]}}
    answers = {"sequence": ["b"], "logp": -0.3}
    assert solve_kind(p) == {"exhaustive": answers, "greedy": answers, "beam": answers}


def test_harmless_tie_in_the_beam_is_not_ambiguous():
    # b and c tie for the second place after step 1, but a's continuation wins either way.
    p = {"vocab": ["a", "b", "c"], "depth": 2, "beam_width": 2,
         "logp": {"": [-0.1, -1.0, -1.0], "a": [-0.1, -2.0, -2.5], "b": [-1.0, -2.0, -2.5], "c": [-1.0, -2.0, -2.5]}}
    best = {"sequence": ["a", "a"], "logp": -0.2}
    assert close(solve_kind(p), {"exhaustive": best, "greedy": best, "beam": best})
    assert close(check_kind(p), solve_kind(p))


def test_solver_agrees_with_check_on_random_trees():
    """Random vocabularies, depths 1-4 and widths 1-4: same answers, or both call it ambiguous."""
    rng = np.random.default_rng(0)
    agreed = ambiguous = 0
    for _ in range(400):
        vocab = ["w%d" % i for i in range(int(rng.integers(2, 4)))]
        depth = int(rng.integers(1, 5))
        logp = {" ".join(p): (-rng.integers(1, 12, size=len(vocab)) / 10).tolist()
                for n in range(depth) for p in itertools.product(vocab, repeat=n)}
        p = {"vocab": vocab, "depth": depth, "beam_width": int(rng.integers(1, 5)), "logp": logp}
        try:
            mine = solve_kind(p)
        except ParamError:
            with pytest.raises(ParamError):
                check_kind(p)
            ambiguous += 1
            continue
        assert close(mine, check_kind(p)), p
        agreed += 1
    assert agreed > 100 and ambiguous > 20


# --- invalid and ambiguous parameters ----------------------------------------------------------

@pytest.mark.parametrize("change, name", [
    ({"vocab": None}, "vocab"),
    ({"vocab": ["deep", "deep"]}, "vocab"),
    ({"vocab": ["deep", "learn more"]}, "vocab[1]"),
    ({"vocab": []}, "vocab"),
    ({"depth": 0}, "depth"),
    ({"depth": 2.5}, "depth"),
    ({"beam_width": 0}, "beam_width"),
    ({"beam_width": True}, "beam_width"),
    ({"beam_width": None}, "beam_width"),
    ({"logp": [[-0.1, -0.2]]}, "logp"),
    ({"depth": 4}, 'logp["deep deep deep"]'),
    ({"depth": 10**9}, "depth"),
])
def test_bad_top_level_params(change, name):
    p = params(**change)
    for key, value in change.items():
        if value is None:
            del p[key]
    assert param_error(p) == name


@pytest.mark.parametrize("prefix, row", [
    ("deep learn", None),            # missing
    ("deep", [-0.6]),               # too short
    ("", [-0.4, -1.1, -0.2]),       # too long
    ("learn", [-0.2, 0.5]),         # a positive log-probability
    ("learn", [-0.2, float("nan")]),
    ("learn", "-0.2 -1.7"),
])
def test_bad_logp_rows_name_the_prefix(prefix, row):
    p = params()
    if row is None:
        del p["logp"][prefix]
    else:
        p["logp"][prefix] = row
    assert param_error(p) == f'logp["{prefix}"]'


def test_a_key_that_is_not_a_prefix_is_named():
    p = params()
    p["logp"]["deep  learn"] = [-0.1, -0.2]
    assert param_error(p) == 'logp["deep  learn"]'


def test_entries_deeper_than_depth_are_ignored():
    p = params()
    p["logp"]["deep deep deep"] = [-0.1, -2.4]
    assert close(solve_kind(p), ORIGINAL_ANSWERS)


def test_ambiguous_inputs():
    # Greedy: the two first words tie.
    p = params()
    p["logp"][""] = [-0.7, -0.7]
    assert param_error(p) == 'logp[""]'
    # Exhaustive: "learn deep deep" ties with "deep learn deep" at -1.5.
    p = params()
    p["logp"]["learn deep"] = [-0.2, -2.4]
    assert param_error(p) == "logp"
    # Beam: b and c tie for the last place after step 1 and lead to different answers.
    p = {"vocab": ["a", "b", "c"], "depth": 2, "beam_width": 2,
         "logp": {"": [-0.5, -1.0, -1.0], "a": [-2.0, -2.1, -2.2], "b": [-0.1, -3.0, -3.0], "c": [-0.2, -3.0, -3.0]}}
    with pytest.raises(ParamError, match="depending on how ties"):
        solve_kind(p)
    with pytest.raises(ParamError):
        check_kind(p)


# --- the command line -----------------------------------------------------------------------

def test_cli_solve_prints_the_answers(solve_cli):
    r = solve_cli("beam-search", ORIGINAL)
    assert r.exit_code == 0, r.output
    assert close(json.loads(r.stdout), ORIGINAL_ANSWERS)


def test_cli_solve_reads_yaml_and_rejects_a_missing_prefix(solve_cli):
    r = solve_cli("beam-search", 'vocab: [deep, learn]\ndepth: 3\nbeam_width: 2\nlogp:\n  "": [-0.4, -1.1]\n'
                 '  deep: [-0.6, -0.8]\n  learn: [-0.2, -1.7]\n  deep deep: [-0.6, -0.8]\n')
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'logp["deep learn"]' in lines[0] and "missing" in lines[0]


def test_cli_solve_ambiguous_exits_2(solve_cli):
    p = params()
    p["logp"][""] = [-0.7, -0.7]
    r = solve_cli("beam-search", p)
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "greedy" in r.stderr


# --- the generator --------------------------------------------------------------------------

def test_draws_separate_the_three_decoders():
    for seed in range(60):
        p = draw_params(BP, seed)
        a = solve_kind(p)
        seqs = {tuple(a[k]["sequence"]) for k in ("exhaustive", "greedy", "beam")}
        assert len(seqs) == 3
        for row in p["logp"].values():  # one-decimal log-probabilities of a normalised pair
            assert all(round(x, 1) == x < 0 for x in row)
            assert sum(np.exp(row)) == pytest.approx(1, abs=0.02)


def test_vocab_and_width_come_from_the_space():
    gen = type(GEN)(BeamSpace(vocab=("cat", "dog")))
    p = draw_params(dataclasses.replace(BP, generator=gen), 4)
    assert p["vocab"] == ["cat", "dog"] and p["beam_width"] == 2 and "dog cat" in p["logp"]
    a = solve_kind(p)
    assert len({tuple(a[k]["sequence"]) for k in ("exhaustive", "greedy", "beam")}) == 3
    with pytest.raises(ValueError):
        BeamSpace(vocab=("cat", "cat"))
    with pytest.raises(ValueError):
        BeamSpace(beam_width=3)  # the dropped prefix could never overtake three kept ones
    with pytest.raises(ValueError):
        BeamSpace(top_logps=(-0.7,))  # a 50/50 node would make greedy ambiguous


@pytest.mark.parametrize("why, p", [
    ("greedy tie", params(logp={**ORIGINAL["logp"], "": [-0.7, -0.7]})),
    ("three decimals", params(logp={**ORIGINAL["logp"], "learn deep": [-0.155, -2.4]})),
    ("three words", {"vocab": ["a", "b", "c"], "depth": 1, "beam_width": 2, "logp": {"": [-1.2, -0.3, -2]}}),
    ("depth two", params(depth=2)),
    # "deep learn" (-1.3) ties "learn deep" (-1.3) for the beam's last place after step 2, and the
    # final beam then ends in a tie: the answer depends on the tie-break.
    ("beam cut tie", params(logp={**ORIGINAL["logp"], "deep": [-0.6, -0.9], "learn": [-0.2, -1.7]})),
])
def test_validate_rejects_degenerate_instances(why, p):
    with pytest.raises(Reject):
        GEN.validate(p)


@pytest.mark.parametrize("why, p", [
    ("beam equals exhaustive", params(beam_width=4)),
    ("two decimals", params(logp={**ORIGINAL["logp"], "learn deep": [-0.15, -2.4]})),
])
def test_draws_refuse_what_a_pinned_instance_may_have(why, p):
    GEN.validate(p)          # acceptable pinned (answers unambiguous) ...
    with pytest.raises(Reject):
        GEN._fresh(p)        # ... but not as a fresh draw


def test_a_harmless_tie_in_the_beam_is_refused_in_draws_and_shown_in_the_key():
    # After step 3, "learn learn deep" and "deep deep deep" tie at -1.8 for the beam's second place.
    # The answers do not depend on it (the kind answers), but the key's beam table would.
    p = params(logp={"": [-0.6, -0.8], "deep": [-0.6, -0.8], "learn": [-1.7, -0.2], "deep deep": [-0.6, -0.8],
                     "deep learn": [-2.4, -0.1], "learn deep": [-0.3, -1.4], "learn learn": [-0.8, -0.6]})
    assert [solve_kind(p)[k]["sequence"] for k in ("exhaustive", "greedy", "beam")] == [
        ["deep", "learn", "learn"], ["deep", "deep", "deep"], ["learn", "learn", "learn"]]
    with pytest.raises(Reject, match="last place of the beam"):
        GEN._fresh(p)
    GEN.validate(p)
    assert "(tie)" in GEN.summary(p, GEN.solve(p))["c"]


def test_check_catches_a_wrong_key():
    answers = GEN.solve(ORIGINAL)
    wrong = copy.deepcopy(answers)
    wrong["beam"] = copy.deepcopy(answers["exhaustive"])
    assert not close(wrong, GEN.check(ORIGINAL))
    wrong = copy.deepcopy(answers)
    wrong["leaves"][3]["logp"] += 0.1
    assert not close(wrong, GEN.check(ORIGINAL))
    # A changed branch changes the independent derivation, so a stale key is caught.
    changed = params(logp={**ORIGINAL["logp"], "deep learn": [-0.1, -2.4]})
    assert not close(answers, GEN.check(changed))
    assert not close(solve_kind(ORIGINAL), check_kind(changed))


def test_key_shows_answers_and_exam_does_not():
    answers, items = solve_params(BP, ORIGINAL)
    assert items == [{"kind": "beam-search", "params": ORIGINAL, "answers": solve_kind(ORIGINAL)}]
    inst = Instance(1, "beam-search", None, dict(BP.spec.points), ORIGINAL, answers, items)
    env = BANK.env()
    exam = problem_body(BANK, env, inst, "A", key=False)
    key = unmark(problem_body(BANK, env, inst, "A", key=True))  # the marks are invisible
    assert r"\fbox{\textsf{learn deep deep}}" in key and r"\boxed{-1.4}" in key
    assert r"\fbox{\textsf{deep deep deep}}" in key and r"\fbox{\textsf{deep learn deep}}" in key
    assert "dropped at step 2" in key
    assert "boxed" not in exam and "fbox" not in exam and "dropped" not in exam
    assert "$-2.4$" in exam and "beam width 2" in exam  # the tree's labels and the question


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        for part, which in (("a", "exhaustive"), ("b", "greedy"), ("c", "beam")):
            words = escape(" ".join(answers[which]["sequence"]))
            assert f"\\textsf{{{words}}}" in summary[part], (part, which)
            assert has_num(summary[part], answers[which]["logp"])
        # The three decoders give three different answers, so each part names a different sequence.
        assert len({summary[p].split(",")[0] for p in "abc"}) == 3
