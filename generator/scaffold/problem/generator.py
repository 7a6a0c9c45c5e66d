"""__TITLE__: the generator of problem __ID__ (a working example: change it to your problem).

A generator draws hand-computable parameters, refuses degenerate draws (raise Reject), solves,
and checks its solution by an independent route. qbank loads this file by path; nothing needs
installing or listing. See "Writing a problem" in qbank's documentation
(docs/writing-a-problem.md in its source).
"""
from __future__ import annotations

import numpy as np

from generator.problem import Problem, Reject, Space
from generator.registry import register
from generator.texify import Tex, fmt_num, vec


class NeuronSpace(Space):
    """The `space:` of problem.yaml, validated strictly (unknown keys are errors)."""

    n: int = 3
    value_range: tuple[int, int] = (-3, 3)


@register
class __CLASS__(Problem):
    """y = ReLU(w . x + b): the pre-activation, the output and the gradient with respect to w."""

    name = "__NAME__"           # problem.yaml's `generator:`
    Space = NeuronSpace

    def draw(self, rng: np.random.Generator) -> dict:
        """Draw from the numpy Generator handed in (never from a global random source)."""
        lo, hi = self.space.value_range
        ints = lambda size: rng.integers(lo, hi + 1, size=size).tolist()
        return {"w": ints(self.space.n), "x": ints(self.space.n), "b": int(rng.integers(lo, hi + 1))}

    def validate(self, params: dict) -> None:
        """Refuse draws a student could not answer cleanly; also run on pinned parameters."""
        z = sum(w * x for w, x in zip(params["w"], params["x"])) + params["b"]
        if z == 0:
            raise Reject("pre-activation 0: the ReLU's gradient is undefined there")
        if not any(params["x"]) or not any(params["w"]):
            raise Reject("all-zero inputs or weights")

    def solve(self, params: dict) -> dict:
        """Every answer the key shows (plain JSON data)."""
        z = int(np.dot(params["w"], params["x"])) + params["b"]
        active = z > 0
        return {"z": z, "y": max(z, 0), "grad_w": [x if active else 0 for x in params["x"]]}

    def check(self, params: dict) -> dict:
        """The same answers by another route: finite differences of y in every weight."""
        def y(w):
            return max(sum(wi * xi for wi, xi in zip(w, params["x"])) + params["b"], 0)

        w, h = list(params["w"]), 1e-3  # |z| >= 1, so a step of 1e-3 never crosses the kink
        grad = []
        for i in range(len(w)):
            up, down = list(w), list(w)
            up[i] += h
            down[i] -= h
            grad.append(round((y(up) - y(down)) / (2 * h), 6) + 0)
        z = sum(wi * xi for wi, xi in zip(w, params["x"])) + params["b"]
        return {"z": z, "y": y(w), "grad_w": [int(g) if float(g).is_integer() else g for g in grad]}

    def given(self, params: dict) -> dict:
        """Template variables the exam and the key both show (a figure, a worked example), from the
        parameters alone: the exam is rendered without the answers. None here."""
        return {}

    def key_context(self, params: dict, answers: dict) -> dict:
        """Template variables only the key shows; an exam template that uses one fails to build."""
        return {"active": answers["z"] > 0}

    def final_answers(self, answers: dict) -> dict:
        """Answers no two versions of one build may share (where the space allows)."""
        return {"a.z": answers["z"], "b.y": answers["y"]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part -> the short final answer printed on the grader's page (trusted LaTeX)."""
        return {"a": Tex(f"$z = {fmt_num(answers['z'])}$"),
                "b": Tex(f"$y = {fmt_num(answers['y'])}$, $\\nabla_w y = {vec(answers['grad_w'])}$")}
