"""Tests of problem __ID__: known instances and degenerate draws. `qbank check` also runs every
problem over many seeds (solver vs independent check, determinism, rendering)."""
from __future__ import annotations

import pytest

from generator.errors import Reject
from generator.testing import load_problem

P = load_problem(__file__)


def test_a_known_instance():
    params = {"w": [1, -2, 3], "x": [2, 1, 1], "b": -1}
    assert P.solve(params) == {"z": 2, "y": 2, "grad_w": [2, 1, 1]}
    assert P.check(params) == P.solve(params)


def test_an_inactive_neuron_has_zero_gradient():
    params = {"w": [1, 1, 1], "x": [-1, -1, 0], "b": 1}
    assert P.solve(params) == {"z": -1, "y": 0, "grad_w": [0, 0, 0]}


def test_a_kink_is_refused():
    with pytest.raises(Reject):
        P.generator.validate({"w": [1, 0, 0], "x": [1, 0, 0], "b": -1})


def test_the_key_shows_the_answers_and_the_exam_does_not():
    params = P.draw(P.seed())
    answers = P.solve(params)
    key, exam = P.render(params, key=True), P.render(params, key=False)
    assert f"\\boxed{{{answers['y']}}}" in key
    assert "\\boxed" not in exam
