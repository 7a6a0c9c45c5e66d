"""Argmax attention: the output is the value whose key has the largest inner product with the query.

Solve kind ``argmax-attention``. Part (b) is conceptual: with a hard argmax the output is
piecewise constant in the query and keys, so their gradient is zero almost everywhere.
"""
from __future__ import annotations

import itertools

import numpy as np

from pydantic import model_validator

from generator.errors import ParamError
from generator.params import matrix, tidy, vector
from generator.problem import Problem, Reject, Space
from generator.registry import register, register_kind
from generator.texify import Tex, fmt_num, vec


def solve_kind(params: dict) -> dict:
    """Scores, winning index and output; a tie for the largest score is ambiguous."""
    keys = matrix(params, "keys")
    values = matrix(params, "values", rows=len(keys))
    query = vector(params, "query", length=len(keys[0]))
    scores = [tidy(sum(q * k for q, k in zip(query, key))) for key in keys]
    best = max(scores)
    winners = [i for i, s in enumerate(scores) if abs(s - best) <= 1e-9 * max(1.0, abs(best))]
    if len(winners) > 1:
        raise ParamError("keys", f"keys {winners} tie for the largest score {best}; the argmax is ambiguous")
    return {"scores": scores, "argmax": winners[0], "output": values[winners[0]]}


def check_kind(params: dict) -> dict:
    """Independent route: one numpy matrix product, then a full sort of the scores."""
    K = np.asarray(params["keys"], dtype=float)
    V = np.asarray(params["values"], dtype=float)
    scores = K @ np.asarray(params["query"], dtype=float)
    order = np.argsort(-scores, kind="stable")
    # np.isclose's test of the two best scores, written out (isclose costs fifty times as much on two numbers)
    if len(order) > 1 and abs(scores[order[0]] - scores[order[1]]) <= 1e-8 + 1e-5 * abs(scores[order[1]]):
        raise ParamError("keys", "tie for the largest score")
    return {"scores": [tidy(s) for s in scores], "argmax": int(order[0]),
            "output": [tidy(v) for v in V[order[0]]]}


register_kind("argmax-attention", solve_kind, check_kind)


class AttentionSpace(Space):
    """Sizes and entry ranges of the drawn query, keys and values."""

    n_keys: int = 4
    dim: int = 3
    key_range: tuple[int, int] = (0, 5)
    query_range: tuple[int, int] = (0, 2)
    value_range: tuple[int, int] = (-1, 4)
    min_margin: int = 1
    """The winning score beats the runner-up by at least this much."""

    @model_validator(mode="after")
    def _ranges(self) -> "AttentionSpace":
        for name in ("key_range", "query_range", "value_range"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name} is [{lo}, {hi}]: the low end must not exceed the high end")
        if self.n_keys < 2 or self.dim < 1 or self.min_margin < 0:
            raise ValueError("n_keys must be at least 2, dim at least 1, min_margin at least 0")
        return self


@register
class ArgmaxAttention(Problem):
    """Four keys and values in R^3 and one query; which value does argmax attention return?"""

    name = "argmax_attention"
    Space = AttentionSpace
    unmarked_parts = {"b": "an explanation (why argmax gives no gradient)"}

    def draw(self, rng: np.random.Generator) -> dict:
        s = self.space
        ints = lambda lo_hi, shape: rng.integers(lo_hi[0], lo_hi[1] + 1, size=shape).tolist()
        params = {"query": ints(s.query_range, s.dim), "keys": ints(s.key_range, (s.n_keys, s.dim)),
                  "values": ints(s.value_range, (s.n_keys, s.dim))}
        # Fresh draws should make students compute: the key with the largest entries must not win.
        # (Only for draws: the original exam's instance, pinned, is exactly such a case.)
        scores = [sum(q * k for q, k in zip(params["query"], key)) for key in params["keys"]]
        if int(np.argmax([sum(k) for k in params["keys"]])) == int(np.argmax(scores)):
            raise Reject("the largest key wins; too easy")
        if sum(1 for q in params["query"] if q) < 2:
            raise Reject("a query with one nonzero entry reduces scoring to reading one coordinate")
        return params

    def validate(self, params: dict) -> None:
        try:
            scores = solve_kind(params)["scores"]
        except ParamError as e:
            raise Reject(e.message) from None
        top, second = sorted(scores, reverse=True)[:2]
        if top - second < self.space.min_margin:
            raise Reject("winning score too close to the runner-up")
        if not any(params["query"]):
            raise Reject("zero query")
        if any(a == b for a, b in itertools.combinations(map(tuple, params["keys"]), 2)):
            raise Reject("two equal keys")

    def items(self, params: dict) -> list:
        return [("argmax-attention", params)]

    def solve(self, params: dict) -> dict:
        return solve_kind(params)

    def check(self, params: dict) -> dict:
        # An explicit loop over every key, apart from both the solver and the kind's check.
        best_i, best_s = None, None
        scores = []
        for i, key in enumerate(params["keys"]):
            s = 0
            for q, k in zip(params["query"], key):
                s += q * k
            scores.append(s)
            if best_s is None or s > best_s:
                best_i, best_s = i, s
        return {"scores": scores, "argmax": best_i, "output": list(params["values"][best_i])}

    def workload(self, params: dict) -> dict:
        """Keys to score, and the multiplications each score takes (the query's nonzero entries)."""
        return {"keys": len(params["keys"]), "terms": sum(1 for q in params["query"] if q)}

    def final_answers(self, answers: dict) -> dict:
        return {"a.winner": answers["argmax"], "a.output": answers["output"]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        i = answers["argmax"] + 1
        scores = ", ".join(fmt_num(s) for s in answers["scores"])
        return {
            "a": Tex(f"scores ${scores}$; key {i} wins; output $v_{{{i}}} = {vec(answers['output'])}$"),
            "b": Tex(r"output piecewise constant in $q$, $k_i$: zero gradient a.e.; "
                     f"only the selected value $v_{{{i}}}$ learns"),
        }
