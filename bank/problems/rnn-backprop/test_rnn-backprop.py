"""The scalar-RNN backprop problem and its solve kind ``rnn-backprop``."""
from __future__ import annotations

import json
import re

import pytest
import sympy

from generator.errors import ParamError, Reject
from generator.problem import close
from generator.testing import load_problem
from generator.texify import fmt_num
from generator.testing import has_num

P = load_problem(__file__)
BANK = P.bank
RnnBackprop = P.module.RnnBackprop
RnnSpace = P.module.RnnSpace
check_kind = P.module.check_kind
solve_kind = P.module.solve_kind

# The original exam: T = 3, nodes p..t, symbolic (w and the inputs are letters).
ORIGINAL = {"T": 3, "names": ["p", "q", "r", "s", "t"], "given": 2}
# A numeric instance worked by hand: w = 2, u = (1, 2, -3).
NUMERIC = {**ORIGINAL, "w": 2, "u": [1, 2, -3]}

W = sympy.Symbol("w")
U = sympy.symbols("u1:5")


@pytest.fixture
def gen() -> RnnBackprop:
    return RnnBackprop(RnnSpace())


def parsed(answer: dict):
    return sympy.sympify(answer["expr"], locals={"w": W, **{f"u{j + 1}": s for j, s in enumerate(U)}})


def test_original_instance_symbolic(gen):
    gen.validate(ORIGINAL)
    a = gen.solve(ORIGINAL)
    u1, u2, u3 = U[:3]
    forward = [W * u1, u2 + W * u1, W * u2 + W**2 * u1, u3 + W * u2 + W**2 * u1, W * u3 + W**2 * u2 + W**3 * u1]
    assert [sympy.expand(parsed(f) - e) for f, e in zip(a["forward"], forward)] == [0] * 5
    assert sympy.expand(parsed(a["y"]) - forward[-1]) == 0
    assert sympy.expand(parsed(a["dy_dw"]) - (u3 + 2 * W * u2 + 3 * W**2 * u1)) == 0
    assert a["dy_dw"]["latex"] == "3 u_{1} w^{2} + 2 u_{2} w + u_{3}"
    # dy/dp, dy/dq, dy/dr, dy/ds, dy/dt
    assert [parsed(b) for b in a["backward"]] == [W**2, W**2, W, W, 1]
    # edges into p, r, t: (dy/dp) u1, (dy/dr) q, (dy/dt) s
    edges = [W**2 * u1, W * u2 + W**2 * u1, u3 + W * u2 + W**2 * u1]
    assert [sympy.expand(parsed(e) - x) for e, x in zip(a["edges"], edges)] == [0] * 3
    assert sympy.expand(parsed(a["edge_sum"]) - parsed(a["dy_dw"])) == 0
    assert "value" not in a["dy_dw"]
    assert gen.items(ORIGINAL) == []  # nothing numeric to hand to outside checkers
    assert close(a, gen.check(ORIGINAL))


# The original exam's graph: p = u1 + h0, q = w p, r = q + u2, s = w r, t = s + u3, y = w t.
REAL = {"T": 3, "names": ["p", "q", "r", "s", "t"], "given": 2, "h0_node": True}


def test_the_original_graph_symbolic(gen):
    gen.validate(REAL)
    a = gen.solve(REAL)
    u1, u2, u3 = U[:3]
    forward = [u1, W * u1, u2 + W * u1, W * u2 + W**2 * u1, u3 + W * u2 + W**2 * u1]
    assert [sympy.expand(parsed(f) - e) for f, e in zip(a["forward"], forward)] == [0] * 5
    assert sympy.expand(parsed(a["y"]) - W * forward[-1]) == 0
    assert sympy.expand(parsed(a["dy_dw"]) - (u3 + 2 * W * u2 + 3 * W**2 * u1)) == 0
    # dy/dp = w^3 here (w^2 in the graph without the h0 addition), dy/dq = dy/dr = w^2, dy/ds = dy/dt = w
    assert [parsed(b) for b in a["backward"]] == [W**3, W**2, W**2, W, W]
    # edges into q, s and y: p dy/dq, r dy/ds, and t
    edges = [W**2 * u1, W * u2 + W**2 * u1, u3 + W * u2 + W**2 * u1]
    assert [sympy.expand(parsed(e) - x) for e, x in zip(a["edges"], edges)] == [0] * 3
    assert close(a, gen.check(REAL))
    assert not close(gen.solve(ORIGINAL), gen.check(REAL))  # the two graphs' keys differ
    ctx = {**gen.given(REAL), **gen.key_context(REAL, a)}
    assert [str(d) for d in ctx["defs"]] == ["u_{1} + h_{0}", r"w\,p", "u_{2} + q", r"w\,r", "u_{3} + s"]
    assert [str(e) for e in ctx["edge_forms"]] == [r"(\partial y/\partial q)\cdot p", r"(\partial y/\partial s)\cdot r", "t"]
    fig = str(ctx["figure"])
    assert fig.count(r"\times") == 3 and fig.count("{$+$}") == 3 and "{$h_{0}$}" in fig
    exam, key = P.render(REAL, key=False), P.render(REAL, key=True)
    assert r"The output is $y = w\,t$" in exam
    assert r"\partial y/\partial t$" in exam  # every named node's partial is asked, t's too
    assert r"$w \to y$" in key


def test_the_original_graph_numeric(gen):
    p = {**REAL, "w": 2, "u": [1, 2, -3]}
    gen.validate(p)
    a = gen.solve(p)
    # p = 1, q = 2, r = 4, s = 8, t = 5, y = 10
    assert [f["value"] for f in a["forward"]] == [1, 2, 4, 8, 5]
    assert a["y"]["value"] == 10 and a["dy_dw"]["value"] == 17
    assert [b["value"] for b in a["backward"]] == [8, 4, 4, 2, 2]
    assert [e["value"] for e in a["edges"]] == [4, 8, 5]
    assert close(a, gen.check(p))


def test_numeric_instance_by_hand(gen):
    gen.validate(NUMERIC)
    a = gen.solve(NUMERIC)
    # p = 2, q = 2 + 2 = 4, r = 8, s = -3 + 8 = 5, t = 10
    assert [f["value"] for f in a["forward"]] == [2, 4, 8, 5, 10]
    assert a["y"]["value"] == 10
    assert a["dy_dw"]["value"] == 17  # -3 + 2*2*2 + 3*4*1
    assert [b["value"] for b in a["backward"]] == [4, 4, 2, 2, 1]
    assert [e["value"] for e in a["edges"]] == [4, 8, 5]  # 4*1, 2*4, 1*5
    assert a["edge_sum"]["value"] == 17
    assert all(isinstance(f["value"], int) for f in a["forward"])
    assert close(a, gen.check(NUMERIC))
    assert gen.items(NUMERIC) == [("rnn-backprop", {"w": 2, "u": [1, 2, -3]})]


def test_four_steps_symbolic_and_numeric(gen):
    params = {"T": 4, "names": ["a", "b", "c", "f", "g", "k", "m"], "given": 2, "w": -2, "u": [1, 3, 1, -3]}
    gen.validate(params)
    a = gen.solve(params)
    u1, u2, u3, u4 = U
    assert sympy.expand(parsed(a["dy_dw"]) - (u4 + 2 * W * u3 + 3 * W**2 * u2 + 4 * W**3 * u1)) == 0
    assert a["dy_dw"]["value"] == -3  # -3 + 2(-2)(1) + 3(4)(3) + 4(-8)(1)
    assert [e["value"] for e in a["edges"]] == [-8, 4, 2, -1]
    assert close(a, gen.check(params))


def test_kind_known_answers():
    assert solve_kind({"w": 2, "u": [1, 2, -3]}) == {"h": [2, 8, 10], "y": 10, "dy_dw": 17}
    assert check_kind({"w": 2, "u": [1, 2, -3]}) == {"h": [2, 8, 10], "y": 10, "dy_dw": 17}
    # Floats: h = (0.5, 0.75), y = w u2 + w^2 u1, dy/dw = u2 + 2 w u1 = 2 (an integer, printed as one)
    out = solve_kind({"w": 0.5, "u": [1, 1]})
    assert out == {"h": [0.5, 0.75], "y": 0.75, "dy_dw": 2} and isinstance(out["dy_dw"], int)
    assert close(out, check_kind({"w": 0.5, "u": [1, 1]}))
    # A single step: y = w u1, dy/dw = u1.
    assert solve_kind({"w": 3, "u": [-2]}) == {"h": [-6], "y": -6, "dy_dw": -2}


@pytest.mark.parametrize("params, name", [
    ({"u": [1, 2]}, "w"),
    ({"w": "2", "u": [1, 2]}, "w"),
    ({"w": True, "u": [1, 2]}, "w"),
    ({"w": float("nan"), "u": [1, 2]}, "w"),
    ({"w": 2}, "u"),
    ({"w": 2, "u": []}, "u"),
    ({"w": 2, "u": 3}, "u"),
    ({"w": 2, "u": [1, "x"]}, "u"),
    ({"w": 2, "u": [[1], [2]]}, "u"),
    ({"w": 1e200, "u": [1, 1, 1]}, "w"),  # the states overflow
    ([1, 2], "(top level)"),
])
def test_kind_bad_params_name_the_parameter(params, name):
    with pytest.raises(ParamError) as e:
        solve_kind(params)
    assert e.value.param == name


def test_cli_solve(solve_cli):
    r = solve_cli("rnn-backprop", "w: 2\nu: [1, 2, -3]\n")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"h": [2, 8, 10], "y": 10, "dy_dw": 17}


def test_cli_solve_bad_params(solve_cli):
    r = solve_cli("rnn-backprop", '{"w": 2, "u": "1 2 3"}')
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'u'" in lines[0] and "Traceback" not in r.stderr


@pytest.mark.parametrize("change, why", [
    ({"w": 1}, "same"),
    ({"w": 0}, "same"),
    ({"u": [1, 0, -3]}, "input of 0"),
    ({"u": [1, -2, 3]}, "node value is 0"),  # q = u2 + w u1 = 0
    ({"T": 4, "names": list("pqrstvz"), "w": 3, "u": [3, 3, 3, 3]}, "too large"),  # y = 360
    ({"u": [1, 2]}, "list of 3"),
    ({"w": 2.5}, "integer"),
    ({"names": ["p", "q", "r", "s"]}, "5 node names"),
    ({"names": ["p", "q", "w", "s", "t"]}, "reserved"),
    ({"names": ["p", "q", "p", "s", "t"]}, "share a name"),
    ({"names": ["p", "q", r"\input{x}", "s", "t"]}, "Greek"),
    ({"given": 5}, "given"),
    ({"T": 7}, "T must"),
])
def test_validate_rejects(gen, change, why):
    with pytest.raises(Reject, match=why):
        gen.validate({**NUMERIC, **change})


def test_validate_rejects_zero_derivative(gen):
    # w = -1, u = (1, 3, 3): p = -1, q = 2, r = -2, s = 1, t = -1, but dy/dw = 3 - 6 + 3 = 0.
    with pytest.raises(Reject, match="dy/dw is 0"):
        gen.validate({**NUMERIC, "w": -1, "u": [1, 3, 3]})


def test_space_refuses_bad_name_sets():
    with pytest.raises(ValueError):
        RnnSpace(name_sets=("p q r s t u v",))
    with pytest.raises(ValueError):
        RnnSpace(name_sets=(r"p q \textbf s t v z",))


def test_check_catches_wrong_answers(gen):
    a = gen.solve(NUMERIC)
    c = gen.check(NUMERIC)
    assert close(a, c)
    wrong = json.loads(json.dumps(a))
    wrong["dy_dw"]["value"] += 1
    assert not close(wrong, c)
    wrong = json.loads(json.dumps(a))  # the classic slip: forgetting the factor 3 of w^3
    wrong["dy_dw"]["expr"] = "u1*w**2 + 2*u2*w + u3"
    assert not close(wrong, c)
    wrong = json.loads(json.dumps(a))
    wrong["backward"][0]["value"] = 2
    assert not close(wrong, c)
    # Answers of one instance do not pass for a neighbouring one.
    assert not close(a, gen.check({**NUMERIC, "u": [1, 2, -2]}))
    assert not close(gen.solve(ORIGINAL), gen.check({**ORIGINAL, "T": 4, "names": list("pqrstvz")}))
    # The kind's check disagrees with a wrong kind answer.
    assert not close({"h": [2, 8, 10], "y": 10, "dy_dw": 16}, check_kind({"w": 2, "u": [1, 2, -3]}))


def test_edges_sum_to_total_derivative_over_many_draws(gen):
    import numpy as np
    rng = np.random.default_rng(5)
    seen = 0
    for _ in range(300):
        p = gen.draw(rng)
        try:
            gen.validate(p)
        except Reject:
            continue
        seen += 1
        a = gen.solve(p)
        assert a["edge_sum"]["value"] == a["dy_dw"]["value"]
        T, w, u = p["T"], p["w"], p["u"]
        assert a["dy_dw"]["value"] == sum((T - j) * w ** (T - j - 1) * u[j] for j in range(T))
        assert solve_kind({"w": w, "u": u})["dy_dw"] == a["dy_dw"]["value"]
    assert seen > 50


def test_figure_names_every_node(gen):
    p = {**ORIGINAL, "T": 4, "names": [r"\alpha", r"\beta", r"\gamma", r"\kappa", r"\lambda", r"\mu", r"\nu"]}
    ctx = gen.given(p)
    fig = str(ctx["figure"])
    assert fig.count(r"\times") == 4 and fig.count("{$+$}") == 3
    for n in p["names"]:
        assert f"{{${n}$}}" in fig
    # w feeds exactly the multiplications (positions 0, 2, 4, 6 of the chain), from the bus below.
    assert set(re.findall(r"\(\S+,-1\.3\) -- \(n(\d+)\)", fig)) == {"0", "2", "4", "6"}


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        assert answers["dy_dw"]["latex"] in summary["b"]
        if "w" in params:
            assert summary["b"].rstrip("$").endswith(f"= {fmt_num(answers['dy_dw']['value'])}")
            assert has_num(summary["d"], answers["edge_sum"]["value"])


def test_drawn_node_names_do_not_clash_with_other_problems():
    """RNN node names never reuse a symbol that another problem of the bank gives a meaning."""
    taken = set("abcde") | {r"\alpha", r"\beta", r"\gamma", r"\lambda", r"\sigma"}
    for s in range(200):
        names = set(P.draw(s)["names"])
        assert not names & taken, names & taken


def test_draws_use_the_original_graph_and_check_agrees():
    """The bank's space draws the original's graph (u_1 + h_0 first); the other graph on request."""
    for s in range(40):
        params = P.draw(s)
        assert params["h0_node"] is True
        assert close(P.solve(params), P.check(params)), params
    other = RnnBackprop(RnnSpace(h0_node=(False,)))
    import numpy as np
    rng = np.random.default_rng(3)
    for _ in range(40):
        params = other.draw(rng)
        assert params["h0_node"] is False
        assert close(other.solve(params), other.check(params)), params
