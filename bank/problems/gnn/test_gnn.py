"""The GNN problem: valid updates, BCE training loss with held-out nodes, a residual layer."""
from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from generator.build import Instance, problem_body, solve_params
from generator.errors import ParamError, Reject
from generator.problem import close
from generator.testing import load_problem
from generator.texify import unmark
import re
from generator.texify import fmt_num


P = load_problem(__file__)
BANK = P.bank
BP = BANK.problems["gnn"]
GEN = BP.generator
KIND = P.bank.kinds["gnn-bce-loss"]
POOL = {c.formula: c for c in GEN.space.pool}


def formula(fragment: str) -> str:
    """The one pool formula containing ``fragment``."""
    hits = [f for f in POOL if fragment in f]
    assert len(hits) == 1, hits
    return hits[0]


# The original exam's three candidates (seed doc): mean of messages plus a self term (valid),
# component-wise max with layer-specific weights (valid), per-position product (invalid).
MEAN, MAX, PRODUCT = formula(r"\frac{1}{n_i}"), formula(r"\max\Big(U_\ell"), formula(r"A_1 s_{j_1} \odot")
ORIGINAL = {
    "candidates": [MEAN, MAX, PRODUCT],
    "layout": [1, 2, 3, 4, 5],
    "edges": [[1, 2], [1, 5], [2, 3], [2, 5], [3, 4], [4, 5]],
    "labels": [1, 0, 1, 1, 0],
    "predictions": [0.8, 0.2, 0.9, 0.5, 0.3],
    "held_out": [4],
    "d": 4,
    "k": 3,
    "asked": [2, 4],
}


def test_original_instance_hand_worked():
    GEN.validate(ORIGINAL)
    a = GEN.solve(ORIGINAL)
    assert [c["valid"] for c in a["candidates"]] == [True, True, False]
    assert "renumbering the neighbors" in a["candidates"][2]["reason"]
    # Node 4 is held out; nodes 1, 2, 3, 5 give the true label probability 0.8, 0.8, 0.9, 0.7.
    assert a["train_nodes"] == [1, 2, 3, 5]
    assert a["likelihoods"] == [0.8, 0.8, 0.9, 0.7]
    assert a["loss"] == pytest.approx(-(2 * math.log(0.8) + math.log(0.9) + math.log(0.7)) / 4)
    assert a["loss"] == pytest.approx(0.22708064, abs=1e-8)
    assert a["patterns"] == {"residual": True, "batch_norm": False, "attention": False}
    assert a["w1_shape"] == [4, 3]
    assert a["expansions"] == [{"node": 2, "neighbours": [1, 3, 5]}, {"node": 4, "neighbours": [3, 5]}]
    assert close(a, GEN.check(ORIGINAL))
    assert GEN.items(ORIGINAL) == [("gnn-bce-loss", {"labels": [1, 0, 1, 1, 0],
                                                     "predictions": [0.8, 0.2, 0.9, 0.5, 0.3], "held_out": [4]})]


def test_original_instance_renders_answers_only_in_key():
    answers, items = solve_params(BP, ORIGINAL)
    assert items[0]["answers"]["train_nodes"] == [1, 2, 3, 5]
    inst = Instance(1, "gnn", None, dict(BP.spec.points), ORIGINAL, answers, items)
    env = BANK.env()
    exam = problem_body(BANK, env, inst, "A", key=False)
    key = unmark(problem_body(BANK, env, inst, "A", key=True))  # the marks are invisible
    expansion = r"\tanh(W_2\, s_{1}) + \tanh(W_2\, s_{3}) + \tanh(W_2\, s_{5})"  # m_ij = s_j
    for secret in ("Invalid.", r"\boxed{0.227}", r"\mathbb R^{4 \times 3}", expansion, r"\ln(1-b)"):
        assert secret in key
        assert secret not in exam
    # The log table is part of the question: every prediction and its complement, 3 decimals.
    assert "x & 0.1 & 0.2 & 0.3 & 0.5 & 0.7 & 0.8 & 0.9 \\\\" in exam
    assert "\\ln x & -2.303 & -1.609 & -1.204 & -0.693 & -0.357 & -0.223 & -0.105 \\\\" in exam
    assert exam.count(r"\node[dashed") == 1 and r"(n4)" in exam  # node 4 drawn as held out


# The original exam's instance: nodes 1 and 4 held out, labels (0, 1, 1, 1, 0), the predictions
# only as letters; part (c) asks for nodes 2 and 3 with every message replaced by the state s_j.
REAL = {**ORIGINAL, "labels": [0, 1, 1, 1, 0], "predictions": None, "held_out": [1, 4], "asked": [2, 3]}


def test_the_original_instance_symbolic():
    GEN.validate(REAL)
    a = GEN.solve(REAL)
    assert a["train_nodes"] == [2, 3, 5]
    assert a["log_terms"] == ["log(b)", "log(c)", "log(1 - e)"]
    assert a["loss"] is None and a["likelihoods"] is None
    assert a["expansions"] == [{"node": 2, "neighbours": [1, 3, 5]}, {"node": 3, "neighbours": [2, 4]}]
    assert close(a, GEN.check(REAL))
    assert GEN.items(REAL) == []  # no numbers, so no gnn-bce-loss item
    exam, key = P.render(REAL, key=False), P.render(REAL, key=True)
    loss = r"\boxed{L = -\frac{1}{3}\Bigl[\ln b + \ln c + \ln(1-e)\Bigr]}"
    s3 = r"s_3 \leftarrow s_3 + W_1 \cdot \frac{1}{2}\Bigl(\tanh(W_2\, s_{2}) + \tanh(W_2\, s_{4})\Bigr)"
    for secret in (loss, s3):
        assert secret in key and secret not in exam
    assert "m_{ij} = s_j" in exam and r"\ln x" not in exam and "value &" not in exam
    assert "listed by node number" not in exam  # (a) says the order of the neighbours is arbitrary
    assert r"\ln b + \ln c + \ln(1-e)" in GEN.summary(REAL, a)["b"]


def test_check_catches_a_wrong_symbolic_term():
    a = GEN.solve(REAL)
    assert not close({**a, "log_terms": ["log(1 - b)", "log(c)", "log(1 - e)"]}, GEN.check(REAL))


def test_kind_known_values():
    assert KIND.solve({"labels": [1, 0], "predictions": [0.5, 0.5], "held_out": []}) == \
        {"train_nodes": [1, 2], "loss": pytest.approx(math.log(2))}
    # A certain, wrong prediction on a held-out node does not matter; a certain, right one costs 0.
    out = KIND.solve({"labels": [1, 0, 1], "predictions": [0.5, 1, 1], "held_out": [2]})
    assert out == {"train_nodes": [1, 3], "loss": pytest.approx(math.log(2) / 2)}
    assert close(out, KIND.check({"labels": [1, 0, 1], "predictions": [0.5, 1, 1], "held_out": [2]}))


@pytest.mark.parametrize("params, name", [
    ({"predictions": [0.5], "held_out": []}, "labels"),
    ({"labels": [1, 2], "predictions": [0.5, 0.5], "held_out": []}, "labels"),
    ({"labels": [True, False], "predictions": [0.5, 0.5], "held_out": []}, "labels"),
    ({"labels": [1, 0.5], "predictions": [0.5, 0.5], "held_out": []}, "labels"),
    ({"labels": [1, 0], "held_out": []}, "predictions"),
    ({"labels": [1, 0], "predictions": [0.5], "held_out": []}, "predictions"),
    ({"labels": [1, 0], "predictions": [0.5, 1.5], "held_out": []}, "predictions"),
    ({"labels": [1, 0], "predictions": [-0.1, 0.5], "held_out": []}, "predictions"),
    ({"labels": [1, 0], "predictions": [0.0, 0.5], "held_out": []}, "predictions"),  # infinite loss
    ({"labels": [1, 0], "predictions": [0.5, 1.0], "held_out": []}, "predictions"),  # infinite loss
    ({"labels": [1, 0], "predictions": [0.5, 0.5]}, "held_out"),
    ({"labels": [1, 0], "predictions": [0.5, 0.5], "held_out": [0]}, "held_out"),
    ({"labels": [1, 0], "predictions": [0.5, 0.5], "held_out": [3]}, "held_out"),
    ({"labels": [1, 0], "predictions": [0.5, 0.5], "held_out": [1, 1]}, "held_out"),
    ({"labels": [1, 0], "predictions": [0.5, 0.5], "held_out": "1"}, "held_out"),
    ({"labels": [1, 0], "predictions": [0.5, 0.5], "held_out": [1.0]}, "held_out"),
    ({"labels": [1, 0], "predictions": [0.5, 0.5], "held_out": [1, 2]}, "held_out"),  # nothing to train on
])
def test_kind_invalid_params_name_the_parameter(params, name):
    with pytest.raises(ParamError) as e:
        KIND.solve(params)
    assert e.value.param == name


def test_kind_check_agrees_on_random_inputs():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        params = {"labels": rng.integers(0, 2, n).tolist(), "predictions": rng.uniform(0.01, 0.99, n).tolist(),
                  "held_out": sorted((rng.choice(n, int(rng.integers(0, n)), replace=False) + 1).tolist())}
        assert close(KIND.solve(params), KIND.check(params)), params


def test_cli_solve(solve_cli):
    result = solve_cli("gnn-bce-loss", "labels: [1, 0, 1]\npredictions: [0.5, 0.5, 0.9]\nheld_out: [3]\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"train_nodes": [1, 2], "loss": pytest.approx(math.log(2))}


def test_cli_bad_params_exit_2_one_line(solve_cli):
    result = solve_cli("gnn-bce-loss", {"labels": [1, 0], "predictions": [0.0, 0.5], "held_out": []})
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "predictions" in lines[0] and "infinite" in lines[0]


def with_(**changes) -> dict:
    p = copy.deepcopy(ORIGINAL)
    p.update(changes)
    return p


@pytest.mark.parametrize("params, why", [
    (with_(candidates=[MEAN, MAX]), "all valid"),
    (with_(candidates=[MEAN, MEAN, PRODUCT]), "twice"),
    (with_(candidates=[MEAN, PRODUCT, r"s_i' = s_i"]), "not in the spec's pool"),
    (with_(edges=[[1, 2], [1, 5], [2, 3], [2, 5], [3, 4], [1, 4]]), "cross"),
    (with_(edges=[[1, 2], [1, 5], [2, 5], [3, 4], [4, 3]]), "twice"),
    (with_(edges=[[1, 2], [1, 5], [2, 5], [3, 4], [2, 2]]), "pairs of distinct"),
    (with_(edges=[[1, 2], [2, 3], [3, 1], [4, 5], [1, 3]]), "twice"),
    (with_(edges=[[1, 2], [2, 3], [3, 4], [1, 3], [2, 4]]), "cross"),
    (with_(edges=[[1, 2], [2, 3], [1, 3], [4, 5], [3, 5]], asked=[3, 5]), None),
    (with_(edges=[[1, 2], [2, 3], [3, 4], [1, 5], [1, 3]], asked=[1, 2]), None),
    (with_(layout=[1, 3, 2, 4, 5]), "cross"),
    (with_(layout=[1, 2, 3, 4, 4]), "layout"),
    (with_(layout=[1, 2, 3, 4, 5.0]), "layout"),
    (with_(labels=[1, 0, 1, 1, 0, 1], predictions=[0.8, 0.2, 0.9, 0.5, 0.3, 0.5]), "expected 5 labels"),
    (with_(labels=[1, 0, 1, 1, 0], held_out=[2, 5]), "both labels"),
    (with_(predictions=[0.85, 0.2, 0.9, 0.5, 0.3]), "one-decimal"),
    (with_(predictions=[0.0, 0.2, 0.9, 0.5, 0.3]), "infinite"),
    (with_(held_out=[]), "held-out"),
    (with_(held_out=[1, 2, 3, 4, 5]), "no training nodes"),
    (with_(d=3, k=3), "d == k"),
    (with_(asked=[1, 3]), "different degrees"),
    (with_(edges=[[1, 2], [2, 3], [3, 4], [4, 5], [1, 5]], asked=[2, 4]), "different degrees"),
])
def test_degenerate_instances_rejected(params, why):
    if why is None:  # a legitimate variant of the original, accepted
        GEN.validate(params)
        return
    with pytest.raises(Reject) as e:
        GEN.validate(params)
    assert why in str(e.value)


def test_disconnected_graph_rejected():
    # 5 edges, none crossing on the pentagon, but node 4 is cut off: 1-2-3 and 5 joined, 4 alone.
    params = with_(layout=[1, 2, 3, 4, 5], edges=[[1, 2], [1, 3], [1, 5], [2, 3], [3, 5]], asked=[1, 2])
    with pytest.raises(Reject, match="not connected"):
        GEN.validate(params)


def test_mutations_are_caught_by_check():
    good = GEN.solve(ORIGINAL)
    assert close(good, GEN.check(ORIGINAL))
    # A wrong key: each mutated answer must disagree with the independent check.
    mutations = [
        ("loss", good["loss"] + 0.01),
        ("train_nodes", [1, 2, 3, 4, 5]),
        ("w1_shape", [3, 4]),
        ("patterns", {"residual": False, "batch_norm": False, "attention": False}),
        ("expansions", [{"node": 2, "neighbours": [1, 3]}, {"node": 4, "neighbours": [3, 5]}]),
        ("candidates", [dict(c, valid=not c["valid"]) for c in good["candidates"]]),
    ]
    check = GEN.check(ORIGINAL)
    for field, wrong in mutations:
        assert not close(dict(good, **{field: wrong}), check), field
    # Perturbed parameters change the independent answers too.
    for changes in ({"labels": [0, 0, 1, 1, 0]}, {"held_out": [3]}, {"edges": ORIGINAL["edges"][:-1] + [[1, 3]]},
                    {"d": 5}, {"candidates": [MEAN, PRODUCT, MAX]}):
        assert not close(good, GEN.check(with_(**changes))), changes
    # The kind's own check catches a wrong loss as well.
    item = GEN.items(ORIGINAL)[0][1]
    assert not close(dict(KIND.solve(item), loss=good["loss"] * 1.01), KIND.check(item))


def test_pool_lookup_is_by_text():
    """A candidate whose text differs only in spacing is the same entry; another text is not."""
    spaced = with_(candidates=[MEAN.replace(" ", "  "), MAX, PRODUCT])
    assert close(GEN.check(spaced)["candidates"], GEN.solve(ORIGINAL)["candidates"])
    with pytest.raises(ValueError, match="matches 0 entries"):
        GEN.check(with_(candidates=[MEAN + "x", MAX, PRODUCT]))


def test_space_rejects_a_pool_without_invalid_candidates():
    from pydantic import ValidationError

    from generator.schema import validate
    pool = [c.model_dump() for c in GEN.space.pool]
    assert validate(type(GEN.space), {"pool": pool}).pool == GEN.space.pool
    with pytest.raises(ValidationError, match="at least one valid and one invalid"):
        validate(type(GEN.space), {"pool": [c for c in pool if c["valid"]]})


def test_draws_vary_graph_nodes_and_sizes():
    from generator.build import draw_params
    draws = [draw_params(BP, s) for s in range(40)]
    assert len({json.dumps(d["edges"]) for d in draws}) > 10
    assert len({tuple(d["asked"]) for d in draws}) > 3
    assert len({(d["d"], d["k"]) for d in draws}) > 5
    assert {len(d["held_out"]) for d in draws} == {1, 2}


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        assert f"L \\approx {fmt_num(answers['loss'], 3)}" in summary["b"]  # as the template prints it
        d, k = answers["w1_shape"]
        assert f"{d} \\times {k}" in summary["c"]
        verdicts = re.findall(r"\b(valid|invalid)\b", summary["a"])
        assert verdicts == ["valid" if c["valid"] else "invalid" for c in answers["candidates"]]
