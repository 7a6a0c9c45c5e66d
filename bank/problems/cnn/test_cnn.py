"""The cnn problem: the cnn-shapes kind, the layer table (a) and translation invariance (b)."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from generator.build import Instance, derive_seed, draw_params, problem_body, solve_params
from generator.errors import ParamError, Reject
from generator.problem import close
from generator.testing import load_problem
from generator.texify import vec
from generator.testing import has_num


P = load_problem(__file__)
BANK = P.bank
cnn = P.module
BP = BANK.problems["cnn"]
GEN = BP.generator

ORIGINAL_LAYERS = ["CONV3-10", "POOL2", "CONV3-10", "POOL2", "FLATTEN", "FC-3"]
H8 = ["00000000"] * 4 + ["11111111"] * 4          # dark bottom half
V8 = ["00001111"] * 8                              # dark right half
ORIGINAL = {
    "input": [28, 28, 1],
    "layers": ORIGINAL_LAYERS,
    "given": [[0, "params"], [1, "shape"], [4, "shape"]],
    "horizontal": {"pixels": H8, "features": [0.8, 0, 0.3]},
    "vertical": {"pixels": V8, "features": [0, 0.7, 0.3]},
    "asked": [["00111100"] * 8,                                    # vertical, moved left by 2
              ["00000000"] * 2 + ["11111111"] * 4 + ["00000000"] * 2],  # horizontal, moved up by 2
}


def params(**changes):
    p = copy.deepcopy(ORIGINAL)
    p.update(changes)
    return p


# -- the solve kind -------------------------------------------------------------------------------


def test_original_exam_table():
    rows = cnn.solve_kind({"input": [28, 28, 1], "layers": ORIGINAL_LAYERS})["rows"]
    assert rows == [
        {"layer": "CONV3-10", "params": 3 * 3 * 1 * 10 + 10, "shape": [28, 28, 10]},  # 100
        {"layer": "POOL2", "params": 0, "shape": [14, 14, 10]},
        {"layer": "CONV3-10", "params": 3 * 3 * 10 * 10 + 10, "shape": [14, 14, 10]},  # 910
        {"layer": "POOL2", "params": 0, "shape": [7, 7, 10]},
        {"layer": "FLATTEN", "params": 0, "shape": [490]},
        {"layer": "FC-3", "params": 490 * 3 + 3, "shape": [3]},  # 1473
    ]
    assert cnn.check_kind({"input": [28, 28, 1], "layers": ORIGINAL_LAYERS})["rows"] == rows


def test_even_kernels_shrink_by_one_and_nonsquare_inputs():
    p = {"input": [6, 9, 2], "layers": ["CONV2-3", "CONV4-5", "POOL2", "FLATTEN", "FC-4", "FC-2"]}
    # CONV2: padding 0 -> 5x8; CONV4: padding 1 -> 5+2-4+1 = 4 by 8+2-4+1 = 7, which POOL2 does not divide.
    rows = cnn.solve_kind({"input": p["input"], "layers": p["layers"][:2]})["rows"]
    assert [r["shape"] for r in rows] == [[5, 8, 3], [4, 7, 5]]
    with pytest.raises(ParamError) as e:
        cnn.solve_kind(p)
    assert e.value.param == "layers[2]" and "does not fit" in e.value.problem
    p["input"] = [6, 10, 2]
    rows = cnn.solve_kind(p)["rows"]
    assert rows == [
        {"layer": "CONV2-3", "params": 2 * 2 * 2 * 3 + 3, "shape": [5, 9, 3]},
        {"layer": "CONV4-5", "params": 4 * 4 * 3 * 5 + 5, "shape": [4, 8, 5]},
        {"layer": "POOL2", "params": 0, "shape": [2, 4, 5]},
        {"layer": "FLATTEN", "params": 0, "shape": [40]},
        {"layer": "FC-4", "params": 40 * 4 + 4, "shape": [4]},
        {"layer": "FC-2", "params": 4 * 2 + 2, "shape": [2]},
    ]
    assert cnn.check_kind(p) == {"rows": rows}


@pytest.mark.parametrize("bad, param, words", [
    ({"layers": ["FLATTEN"]}, "input", "missing"),
    ({"input": [28, 28], "layers": ["FLATTEN"]}, "input", "expected 3 numbers"),
    ({"input": [28, 0, 1], "layers": ["FLATTEN"]}, "input", "positive"),
    ({"input": [28, 28.5, 1], "layers": ["FLATTEN"]}, "input", "integers"),
    ({"input": [28, 28, 1]}, "layers", "missing"),
    ({"input": [28, 28, 1], "layers": []}, "layers", "non-empty list"),
    ({"input": [28, 28, 1], "layers": "CONV3-10"}, "layers", "list of strings"),
    ({"input": [28, 28, 1], "layers": ["CONV3-10", "conv3-10"]}, "layers[1]", "unknown layer name"),
    ({"input": [28, 28, 1], "layers": ["CONV3x10"]}, "layers[0]", "unknown layer name"),
    ({"input": [28, 28, 1], "layers": ["FC-3"]}, "layers[0]", "before FLATTEN"),
    ({"input": [28, 28, 1], "layers": ["FLATTEN", "CONV3-4"]}, "layers[1]", "after FLATTEN"),
    ({"input": [28, 28, 1], "layers": ["FLATTEN", "POOL2"]}, "layers[1]", "after FLATTEN"),
    ({"input": [28, 28, 1], "layers": ["FLATTEN", "FLATTEN"]}, "layers[1]", "second FLATTEN"),
    ({"input": [28, 28, 1], "layers": ["POOL2", "POOL2", "POOL2"]}, "layers[2]", "does not fit"),
    ({"input": [28, 28, 1], "layers": ["POOL3"]}, "layers[0]", "does not fit"),
    ({"input": [2, 2, 1], "layers": ["POOL4"]}, "layers[0]", "does not fit"),
    ({"input": [1, 1, 1], "layers": ["CONV2-4"]}, "layers[0]", "do not fit"),
    ({"input": [28, 28, 1], "layers": ["CONV0-4"]}, "layers[0]", "at least 1"),
    ({"input": [28, 28, 1], "layers": ["CONV3-0"]}, "layers[0]", "at least 1"),
    ({"input": [28, 28, 1], "layers": ["POOL0"]}, "layers[0]", "at least 1"),
    ({"input": [28, 28, 1], "layers": ["FLATTEN", "FC-0"]}, "layers[1]", "at least 1"),
])
def test_invalid_params_name_the_parameter(bad, param, words):
    with pytest.raises(ParamError) as e:
        cnn.solve_kind(bad)
    assert e.value.param == param
    assert words in e.value.problem


def test_kind_check_refuses_what_does_not_fit():
    with pytest.raises(ParamError) as e:
        cnn.check_kind({"input": [28, 28, 1], "layers": ["POOL3"]})
    assert e.value.param == "layers[0]"


# -- the CLI --------------------------------------------------------------------------------------


def test_cli_solve_prints_the_answers(solve_cli):
    result = solve_cli("cnn-shapes", "input: [28, 28, 1]\nlayers: [CONV3-10, POOL2, CONV3-10, POOL2, FLATTEN, FC-3]\n")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert [r["params"] for r in out["rows"]] == [100, 0, 910, 0, 0, 1473]
    assert out["rows"][4] == {"layer": "FLATTEN", "params": 0, "shape": [490]}


def test_cli_solve_bad_params_one_line_exit_2(solve_cli):
    result = solve_cli("cnn-shapes", {"input": [28, 28, 1], "layers": ["CONV3-10", "POOL3"]})
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "layers[1]" in lines[0] and "does not fit" in lines[0]


# -- the problem ----------------------------------------------------------------------------------


def test_original_instance_answers():
    GEN.validate(ORIGINAL)
    answers = GEN.solve(ORIGINAL)
    assert [r["params"] for r in answers["rows"]] == [100, 0, 910, 0, 0, 1473]
    assert answers["rows"][2]["weights"] == [3, 3, 10, 10] and answers["rows"][5]["weights"] == [490, 3]
    assert answers["shifted"] == [
        {"of": "vertical", "shift": 6, "features": [0, 0.7, 0.3]},    # right by 6 = left by 2
        {"of": "horizontal", "shift": 6, "features": [0.8, 0, 0.3]},  # down by 6 = up by 2
    ]
    assert close(GEN.check(ORIGINAL), answers)
    assert GEN.items(ORIGINAL) == [("cnn-shapes", {"input": [28, 28, 1], "layers": ORIGINAL_LAYERS})]


# The original exam's given cells: the input's shape, the first CONV's shape, the first POOL2's
# count and shape, the second CONV's count as a bare product, FLATTEN's count and its bare size,
# FC-3's shape. Students find 100, 14x14x10, 0 and 7x7x10, 1473 (and evaluate 910).
REAL_GIVEN = [[0, "shape"], [1, "params"], [1, "shape"], [2, "params", "product"],
              [4, "params"], [4, "shape", "value"], [5, "shape"]]


def test_original_given_cells_print_as_in_the_original():
    p = params(given=REAL_GIVEN)
    GEN.validate(p)
    answers = GEN.solve(p)
    assert [r["params"] for r in answers["rows"]] == [100, 0, 910, 0, 0, 1473]
    assert answers["rows"][4]["shape"] == [490]
    exam, key = P.render(p, key=False), P.render(p, key=True)
    assert r"$3\times 3\times 10\times 10 + 10$" in exam      # the product, its value left to find
    assert r"$490$" in exam and r"7\times 7\times 10" not in exam  # the bare size hides POOL2's shape
    for hidden in ("910", "1473", "= 100", r"7\times 7\times 10"):
        assert hidden in key and hidden not in exam, hidden
    assert r"$28\times 28\times 10$" in exam and r"$0$ & $28\times 28\times 1$" in exam


# The original's part (b): 7 x 8 images, x1 a line of ones in row 2, x2 in column 2; the network
# CONV2-3, ReLU, CONV2-3, ReLU, global average pooling, FC-3; asked: a vertical line in column 7
# and a horizontal line in row 6 (answers g2 and g1).
def line(row=None, col=None):
    return ["".join("1" if r == row or c == col else "0" for c in range(1, 9)) for r in range(1, 8)]


REAL_B = {"horizontal": {"pixels": line(row=2), "features": [0.8, 0, 0]},
          "vertical": {"pixels": line(col=2), "features": [0, 0.8, 0]},
          "asked": [line(col=7), line(row=6)],
          "net": {"kernel": 2, "filters": 3, "convs": 2, "outputs": 3}}


def test_original_part_b_lines_on_a_7_by_8_image():
    p = params(given=REAL_GIVEN, **REAL_B)
    GEN.validate(p)
    answers = GEN.solve(p)
    assert answers["shifted"] == [{"of": "vertical", "shift": 5, "features": [0, 0.8, 0]},
                                  {"of": "horizontal", "shift": 4, "features": [0.8, 0, 0]}]
    assert close(GEN.check(p), answers)
    exam, key = P.render(p, key=False), P.render(p, key=True)
    assert r"$7\times 8$ black-and-white images" in exam
    assert r"CONV2-3 $\to$ ReLU $\to$ CONV2-3 $\to$ ReLU $\to$ global average pooling" in exam.replace("{-}", "-")
    assert r"$2\times 2$ and" in exam and "stride~1" in exam
    assert r"\boxed{(0,\ 0.8,\ 0)}$: $x_2$" in key and "shifted circularly right by 5 columns" not in key
    assert "left by 3 columns" in key and "up by 3 rows" in key


def test_the_stated_network_is_shift_invariant_and_used_by_the_check(monkeypatch):
    grid = lambda rows: np.array([[int(c) for c in r] for r in rows])
    for kernel in (2, 3):
        net = {"kernel": kernel, "filters": 3, "convs": 2, "outputs": 3}
        img = grid(line(row=2))
        f = cnn._stated_net(img, net)
        for dr, dc in ((1, 0), (3, 5), (6, 7)):
            assert np.allclose(cnn._stated_net(np.roll(img, (dr, dc), axis=(0, 1)), net), f)
        assert not np.allclose(cnn._stated_net(grid(line(col=2)), net), f)
    p = params(given=REAL_GIVEN, **REAL_B)
    assert close(GEN.check(p), GEN.solve(p))
    # A network that sees where the line is (not shift invariant): the check objects.
    def sees_position(img, net):
        return np.array([np.argmax(img.sum(axis=1)), np.argmax(img.sum(axis=0)), 0.0])
    monkeypatch.setattr(cnn, "_stated_net", sees_position)
    with pytest.raises(AssertionError, match="match"):
        GEN.check(p)


def test_drawn_versions_state_kernel_and_stride():
    for s in range(20):
        exam = P.render(P.draw(s), key=False)
        assert "stride~1" in exam and "filters of size" in exam


@pytest.mark.parametrize("given, why", [
    ([[1, "params", "product"]], "only a weighted layer"),
    ([[2, "shape", "product"]], "only a weighted layer"),
    ([[2, "params", "bare"]], "one of full, product, value"),
    ([[2, "params"], [2, "params", "value"]], "repeated"),
])
def test_given_cell_forms_are_checked(given, why):
    with pytest.raises(Reject, match=why):
        GEN.validate(params(given=given))


def test_circular_network_is_shift_invariant_but_not_blind():
    grid = lambda rows: np.array([[int(c) for c in r] for r in rows])
    img = grid(H8)
    f = cnn._circular_net(img)
    for dr in range(8):
        assert np.allclose(cnn._circular_net(np.roll(img, dr, axis=0)), f)
    assert not np.allclose(cnn._circular_net(img.T), f)  # the vertical edge differs
    assert not np.allclose(cnn._circular_net(grid([r * 8 for r in "11001100"])), f)  # four edges, not two


def test_check_depends_on_the_network_being_invariant(monkeypatch):
    """Without wrap-around (no padding), an edge at the border goes unseen; the check must object."""
    def unpadded_net(img):
        x = img.astype(float)
        down, right = x[2:, 1:-1] - x[:-2, 1:-1], x[1:-1, 2:] - x[1:-1, :-2]
        return np.array([np.abs(down).mean(), np.abs(right).mean()])

    assert close(GEN.check(ORIGINAL), GEN.solve(ORIGINAL))
    monkeypatch.setattr(cnn, "_circular_net", unpadded_net)
    with pytest.raises(AssertionError, match="match"):
        GEN.check(ORIGINAL)


@pytest.mark.parametrize("change, words", [
    ({"asked": [["00111100"] * 8, ["00000000"] * 3 + ["11111111"] * 5]}, "not a nonzero circular shift"),
    ({"asked": [["00111100"] * 8, H8]}, "not a nonzero circular shift"),  # the base itself
    ({"asked": [["00111100"] * 8, ["00111100"] * 8]}, "same"),
    ({"asked": [["00111100"] * 7 + ["00000000"]]}, "neither"),
    ({"asked": [["0011110"] * 7]}, "8x8"),
    ({"vertical": {"pixels": V8, "features": [0.8, 0.2, 0.3]}}, "too alike"),
    ({"vertical": {"pixels": V8, "features": [0, -0.7, 0.3]}}, "non-negative"),
    ({"vertical": {"pixels": V8, "features": [0, 0.75, 0.3]}}, "one-decimal"),
    ({"horizontal": {"pixels": ["00000000"] * 8, "features": [0.8, 0, 0.3]}}, "both colours"),
    ({"layers": ["CONV3-10", "POOL2", "CONV3-20", "FLATTEN", "FC-3"]}, "too long"),
    ({"layers": ["CONV3-16", "POOL2", "CONV5-16", "POOL2", "FLATTEN", "FC-20"]}, "too large"),
    ({"layers": ["CONV3-10", "POOL2", "POOL2", "POOL7", "FLATTEN", "FC-3"]}, "minimum spatial size"),
    ({"layers": ["CONV3-10", "POOL3", "FLATTEN", "FC-3"]}, "does not fit"),
    ({"given": [[0, "params"], [9, "shape"]]}, "given"),
    ({"given": [[i, c] for i in range(6) for c in ("params", "shape")]}, "every cell"),
])
def test_validate_rejects_degenerate_instances(change, words):
    with pytest.raises(Reject, match=words):
        GEN.validate(params(**change))


def test_check_catches_a_wrong_key():
    answers = GEN.solve(ORIGINAL)
    wrong = copy.deepcopy(answers)
    wrong["rows"][2]["params"] = 900  # forgot the biases
    assert not close(wrong, GEN.check(ORIGINAL))
    wrong = copy.deepcopy(answers)
    wrong["rows"][3]["shape"] = [14, 14, 10]  # forgot the pooling
    assert not close(wrong, GEN.check(ORIGINAL))
    wrong = copy.deepcopy(answers)
    wrong["shifted"].reverse()  # features of the wrong base image
    assert not close(wrong, GEN.check(ORIGINAL))
    # A kind answer with a wrong count is caught by the kind's check.
    item = {"input": [28, 28, 1], "layers": ORIGINAL_LAYERS}
    kind_answers = P.bank.kinds["cnn-shapes"].solve(item)
    kind_answers["rows"][5]["params"] = 490 * 3
    assert not close(kind_answers, P.bank.kinds["cnn-shapes"].check(item))


def test_check_refuses_an_image_that_is_not_a_shift():
    with pytest.raises(AssertionError):
        GEN.check(params(asked=[["00000000"] * 3 + ["11111111"] * 5]))


def test_draws_vary_and_stay_valid():
    seen_inputs, seen_sizes, seen_counts = set(), set(), set()
    for s in range(60):
        p = draw_params(BP, derive_seed(1, "A", f"cnn-{s}"))
        GEN.validate(p)
        orients = [a["of"] for a in GEN.solve(p)["shifted"]]
        assert {"horizontal", "vertical"} <= set(orients)
        assert any(GEN.solve(p)["rows"][i]["weights"] for i, c in p["given"] if c == "params")
        seen_inputs.add(tuple(p["input"]))
        seen_sizes.add(len(p["asked"][0]))
        seen_counts.add(len(p["asked"]))
    assert len(seen_inputs) > 5 and len(seen_sizes) > 2 and seen_counts == {2, 3}


def test_exam_shows_given_cells_only_and_key_shows_everything():
    env = BANK.env()
    answers, items = solve_params(BP, ORIGINAL)
    inst = Instance(1, "cnn", None, {"a": 10, "b": 6}, ORIGINAL, answers, items)
    exam = problem_body(BANK, env, inst, "A", key=False)
    key = problem_body(BANK, env, inst, "A", key=True)
    given_cell = r"3\times 3\times 1\times 10 + 10 = 100"
    hidden_cell = r"3\times 3\times 10\times 10 + 10 = 910"
    assert given_cell in exam and hidden_cell not in exam and "1473" not in exam
    assert given_cell in key and hidden_cell in key and r"490\times 3 + 3 = 1473" in key
    assert r"7\times 7\times 10 = 490" in exam  # a given shape cell
    assert "(0,\\ 0.7,\\ 0.3)" in exam  # the base features are given
    assert exam.count("\\boxed") == 0 and key.count("\\boxed") == 2
    assert "shifted circularly left by 2 columns" in key and "up by 2 rows" in key


def test_validate_rejects_missing_keys():
    p = params()
    del p["asked"]
    with pytest.raises(Reject, match="asked"):
        GEN.validate(p)
    with pytest.raises(Reject, match="vertical.features"):
        GEN.validate(params(vertical={"pixels": V8}))


def test_summary_shows_the_key_answers():
    """The grader's summary holds this problem's final answers, over many seeds."""
    for params, answers, summary in P.summaries(50):
        fc = answers["rows"][-1]
        assert fc["layer"].startswith("FC") and has_num(summary["a"], fc["params"])
        assert all(has_num(summary["a"], r["params"]) for r in answers["rows"])
        assert all(str(vec(s["features"])) in summary["b"] for s in answers["shifted"])
