"""The pinned original midterm is the original exam: its parameters are the original's, and its key
gives the original's answers (shared/docs/seed-problems.md, "The original instances")."""
from __future__ import annotations

import json

import pytest

from generator import api
from generator.bank import load_exam

from .conftest import ROOT

EXAM = ROOT / "bank/exams/midterm-original.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(params by problem, points by problem, key.json problems by id, exam.tex) of one LaTeX build."""
    spec = load_exam(EXAM).spec
    params = {e.problem: e.params for _, e in spec.entries()}
    out = api.build(EXAM, pdf=False, out=tmp_path_factory.mktemp("orig") / "o").out
    key = json.loads((out / "A" / "key.json").read_text(encoding="utf-8"))
    problems = {p["id"]: p for p in key["problems"]}
    points = {i: p["points"] for i, p in problems.items()}
    return params, points, problems, (out / "A" / "exam.tex").read_text(encoding="utf-8")


def test_every_problem_is_pinned(built):
    params, _, problems, _ = built
    assert all(params[i] is not None for i in problems)


def test_normalization_and_attention(built):
    params, _, problems, _ = built
    assert {k: params["batchnorm"][k] for k in ("mu", "sigma", "beta", "gamma")} == \
        {"mu": 1.5, "sigma": 0.4, "beta": 3, "gamma": 1}                     # sigma^2 = 0.16
    assert params["argmax-attention"]["query"] == [1, 1, 2]
    assert problems["argmax-attention"]["answers"]["output"] == [1, 4, 3]


def test_vanishing_gradient_rows(built):
    params, _, _, _ = built
    rows = [r["text"] for r in params["vanishing-gradients"]["rows"]]
    assert [r.split()[0] for r in rows] == ["He", "Skip", "Batch"]


def test_rnn_graph_and_points(built):
    params, points, problems, _ = built
    assert params["rnn-backprop"] == {"T": 3, "names": ["p", "q", "r", "s", "t"], "given": 2, "h0_node": True}
    assert points["rnn-backprop"] == {"a": 4, "b": 4, "c": 2, "d": 8}
    a = problems["rnn-backprop"]["answers"]
    # dy/dp = w^3 (p = u1 + h0 is drawn), dy/dq = dy/dr = w^2, dy/ds = dy/dt = w
    assert [b["expr"] for b in a["backward"]] == ["w**3", "w**2", "w**2", "w", "w"]
    assert a["dy_dw"]["expr"] == "3*u1*w**2 + 2*u2*w + u3"


def test_cnn_table_and_circular_padding(built):
    params, _, problems, exam = built
    p = params["cnn"]
    assert p["input"] == [28, 28, 1] and p["layers"] == ["CONV3-10", "POOL2", "CONV3-10", "POOL2", "FLATTEN", "FC-3"]
    assert [2, "params", "product"] in p["given"] and [4, "shape", "value"] in p["given"]
    rows = problems["cnn"]["answers"]["rows"]
    assert [r["params"] for r in rows] == [100, 0, 910, 0, 0, 1473]
    assert rows[4]["shape"] == [490] and rows[3]["shape"] == [7, 7, 10]
    assert r"$3\times 3\times 10\times 10 + 10$" in exam and r"& $490$" in exam
    assert r"7\times 7\times 10" not in exam and "1473" not in exam and "910" not in exam
    assert (len(p["horizontal"]["pixels"]), len(p["horizontal"]["pixels"][0])) == (7, 8)
    assert p["net"] == {"kernel": 2, "filters": 3, "convs": 2, "outputs": 3}
    shifted = problems["cnn"]["answers"]["shifted"]
    assert [s["features"] for s in shifted] == [[0, 0.8, 0], [0.8, 0, 0]]   # g2, then g1


def test_beam_search_tree(built):
    params, points, problems, _ = built
    assert params["beam-search"]["logp"] == {
        "": [-0.51, -0.91], "deep": [-0.22, -1.61], "learn": [-0.69, -0.69],
        "deep deep": [-2.30, -0.11], "deep learn": [-0.05, -2.99],
        "learn deep": [-0.35, -1.20], "learn learn": [-4.61, -0.01]}
    assert points["beam-search"] == {"a": 5, "b": 4, "c": 5}
    a = problems["beam-search"]["answers"]
    for which in ("exhaustive", "greedy", "beam"):
        assert a[which]["sequence"] == ["deep", "deep", "learn"]
        assert a[which]["logp"] == pytest.approx(-0.84)


def test_translation_with_eos(built):
    params, _, problems, exam = built
    assert params["translation"] == {"source": ["veo", "un", "perro"], "target": ["I", "see", "a", "dog"],
                                     "predicted": ["I", "saw", "a", "dog"]}
    a = problems["translation"]["answers"]
    assert a["train_inputs"] == ["<sos>", "I", "see", "a", "dog"]     # w1..w5
    assert a["eval_inputs"] == ["<sos>", "I", "saw", "a", "dog"]
    item, = problems["translation"]["items"]
    assert item["kind"] == "teacher-forcing" and len(item["answers"]["train_inputs"]) == 5


def test_gnn_holdouts_and_symbolic_loss(built):
    params, _, problems, _ = built
    p = params["gnn"]
    assert p["held_out"] == [1, 4] and p["labels"] == [0, 1, 1, 1, 0] and p["predictions"] is None
    assert p["asked"] == [2, 3]
    a = problems["gnn"]["answers"]
    assert a["train_nodes"] == [2, 3, 5] and a["log_terms"] == ["log(b)", "log(c)", "log(1 - e)"]
    assert a["patterns"] == {"residual": True, "batch_norm": False, "attention": False}


def test_dropout_without_a_separate_lambda(built):
    params, points, problems, _ = built
    assert params["dropout-ridge"] == {"X": None, "p": None, "penalty": "gamma"}
    assert points["dropout-ridge"] == {"a": 4, "b": 6, "c": 4}
    assert problems["dropout-ridge"]["answers"]["gamma"] == "Gc*sqrt((1 - p)/p)"


def test_linear_autoencoder_questions(built):
    params, points, problems, exam = built
    options = params["linear-autoencoder"]["options"]
    assert options["count"] == ["0", "1", "2", "3"]
    assert {"dropout", "layer normalization", "batch normalization"} <= set(options["tools"])
    keyed = problems["linear-autoencoder"]["answers"]["keyed"]
    assert [options["count"][i] for i in keyed["count"]] == ["2"]
    assert [options["loss"][i] for i in keyed["loss"]] == ["mean squared error"]
    assert points["linear-autoencoder"] == {"a": 9, "b": 5}
    assert r"\emph{Hint:}" in exam


def test_every_pinned_part_marks_its_answers():
    """The pinned instances (symbolic GNN loss, dropout without numbers...) mark their key answers too."""
    from generator.check import render_problems
    exam = load_exam(EXAM)
    for _, entry in exam.spec.entries():
        assert render_problems(exam.bank, exam.bank.problems[entry.problem], entry.params) == [], entry.problem
