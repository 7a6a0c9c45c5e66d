"""Vanishing/exploding gradients table: keyed pool, draws, the pool lookup check, rendering."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from generator.build import Instance, draw_params, problem_body, solve_params
from generator.problem import Reject, close
from generator.schema import validate
from generator.testing import load_problem


P = load_problem(__file__)
BANK = P.bank
BP = BANK.problems["vanishing-gradients"]
GEN = BP.generator
POOL = {r.text: r.model_dump() for r in GEN.space.pool}


def row(prefix: str) -> dict:
    """The pool row whose text starts with ``prefix``."""
    (hit,) = [r for t, r in POOL.items() if t.startswith(prefix)]
    return dict(hit)


# The original exam's rows: He vs Xavier initialization, skip connections, batch normalization.
ORIGINAL = {"rows": [row("He initialization"), row("Skip (residual)"), row("Batch normalization")]}


def test_original_instance_key():
    GEN.validate(ORIGINAL)
    answers = GEN.solve(ORIGINAL)
    assert answers["vanishing"] == [True, True, True]
    assert answers["exploding"] == [False, False, True]
    assert all(len(w) > 20 for w in answers["why"])
    assert close(answers, GEN.check(ORIGINAL))
    assert GEN.items(ORIGINAL) == []


def test_pool_keys_by_hand():
    assert (row("Gradient clipping")["vanishing"], row("Gradient clipping")["exploding"]) == (False, True)
    assert (row("Dropout")["vanishing"], row("Dropout")["exploding"]) == (False, False)
    assert (row("ReLU instead of sigmoid")["vanishing"], row("ReLU instead of sigmoid")["exploding"]) == (True, False)


def test_check_catches_an_altered_key():
    answers = GEN.solve(ORIGINAL)
    flipped = {"rows": [dict(r) for r in ORIGINAL["rows"]]}
    flipped["rows"][1]["exploding"] = True       # skip connections keyed as curing explosion
    GEN.validate(flipped)                        # still a well-formed instance ...
    assert not close(GEN.solve(flipped), GEN.check(flipped))   # ... but the pool lookup disagrees
    assert not close({**answers, "vanishing": [True, False, True]}, GEN.check(ORIGINAL))


@pytest.mark.parametrize("rows, why", [
    ([row("He initialization"), row("Skip (residual)"), row("ReLU instead of sigmoid")], "same answers"),
    ([row("Dropout"), row("Dropout"), row("Batch normalization")], "appears twice"),
    ([{**row("Dropout"), "text": "Dropout everywhere"}, row("Batch normalization")], "not in the spec's pool"),
    ([{**row("Dropout"), "vanishing": "no"}, row("Batch normalization")], "true/false"),
    ([{"text": "Dropout on the hidden units"}], "needs exactly"),
    ([], "non-empty"),
])
def test_degenerate_instances_rejected(rows, why):
    with pytest.raises(Reject, match=why):
        GEN.validate({"rows": rows})


def test_draws_vary_are_shuffled_and_come_from_the_pool():
    seen_sets, seen_orders = set(), set()
    for seed in range(200):
        params = draw_params(BP, seed)
        assert len(params["rows"]) == GEN.space.rows == 3
        for r in params["rows"]:
            assert POOL[r["text"]] == r
        patterns = {(r["vanishing"], r["exploding"]) for r in params["rows"]}
        assert len(patterns) > 1
        texts = tuple(r["text"] for r in params["rows"])
        seen_sets.add(frozenset(texts))
        seen_orders.add(texts)
    assert len(seen_sets) > 50 and len(seen_orders) > len(seen_sets)


def test_spec_space_is_validated():
    pool = [r.model_dump() for r in GEN.space.pool]
    with pytest.raises(ValidationError, match="between 2 and the pool size"):
        validate(GEN.Space, {"rows": len(pool) + 1, "pool": pool})
    with pytest.raises(ValidationError, match="same text"):
        validate(GEN.Space, {"rows": 2, "pool": pool + [pool[0]]})
    with pytest.raises(ValidationError, match="same answers"):
        validate(GEN.Space, {"rows": 2, "pool": [row("He initialization"), row("Skip (residual)")]})


def test_render_ticks_only_in_key():
    answers, items = solve_params(BP, ORIGINAL)
    inst = Instance(1, "vanishing-gradients", None, dict(BP.spec.points), ORIGINAL, answers, items)
    env = BANK.env()
    exam = problem_body(BANK, env, inst, "A", key=False)
    key = problem_body(BANK, env, inst, "A", key=True)
    assert r"\qbchecked" not in exam and exam.count(r"\qbbox") == 6
    assert "Why:" not in exam and r"\part" not in exam
    assert key.count(r"\qbchecked") == 4 and key.count(r"\qbbox") == 2
    assert "Skip (residual) connections" in exam and "identity path" in key


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        names = {(True, True): "both", (True, False): "vanishing only", (False, True): "exploding only",
                 (False, False): "neither"}
        for i, pattern in enumerate(zip(answers["vanishing"], answers["exploding"]), start=1):
            assert f"({i}) {names[pattern]}" in summary["all"]
