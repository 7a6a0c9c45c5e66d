"""Vanishing and exploding gradients: which training techniques help against which?

Each version draws ``rows`` techniques from the spec's keyed pool, in random order. Every row has
two boxes (helps with vanishing gradients, helps with exploding gradients); both, one or neither
may be ticked. No solve kind: the key is the pool's keyed answers with a one-line justification.
"""
from __future__ import annotations

import re

import numpy as np
from pydantic import model_validator

from generator.problem import Problem, Reject, Space
from generator.registry import register
from generator.texify import Tex

FIELDS = {"text": str, "vanishing": bool, "exploding": bool, "why": str}
# A row about recurrent networks needs RNN/LSTM knowledge: every version of a build asks as many.
RECURRENT = re.compile(r"\b(RNN|LSTM|GRU|recurrent)\b", re.IGNORECASE)


class Row(Space):
    """One technique (LaTeX text) with its keyed answers and the reason for them."""

    text: str
    vanishing: bool
    exploding: bool
    why: str


class GradientSpace(Space):
    """How many rows a version shows, and the keyed pool they come from."""

    rows: int = 3
    pool: list[Row]

    @model_validator(mode="after")
    def _consistent(self) -> "GradientSpace":
        texts = [r.text for r in self.pool]
        if len(set(texts)) != len(texts):
            raise ValueError("two pool rows have the same text")
        if not 2 <= self.rows <= len(self.pool):
            raise ValueError(f"'rows' must be between 2 and the pool size {len(self.pool)}, got {self.rows}")
        if len({(r.vanishing, r.exploding) for r in self.pool}) < 2:
            raise ValueError("every pool row has the same answers; the draw could never vary them")
        return self


def _pattern(row: dict) -> tuple[bool, bool]:
    return row["vanishing"], row["exploding"]


@register
class VanishingGradients(Problem):
    """A table of techniques with two check boxes each."""

    name = "vanishing_gradients"
    Space = GradientSpace

    def draw(self, rng: np.random.Generator) -> dict:
        picks = rng.permutation(len(self.space.pool))[: self.space.rows]  # a sample, already shuffled
        return {"rows": [self.space.pool[int(i)].model_dump() for i in picks]}

    def validate(self, params: dict) -> None:
        rows = params.get("rows") if isinstance(params, dict) else None
        if not isinstance(rows, list) or not rows:
            raise Reject("'rows' must be a non-empty list of techniques")
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or set(row) != set(FIELDS) or \
                    not all(isinstance(row[k], t) for k, t in FIELDS.items()):
                raise Reject(f"row {i + 1} needs exactly text (string), vanishing, exploding (true/false), why (string)")
        texts = [r["text"] for r in rows]
        if len(set(texts)) != len(texts):
            raise Reject("the same technique appears twice")
        known = {r.text for r in self.space.pool}
        for t in texts:
            if t not in known:  # the independent check looks rows up in the pool by their text
                raise Reject(f"technique '{t}' is not in the spec's pool; add it there with its key")
        if len(rows) > 1 and len({_pattern(r) for r in rows}) == 1:
            raise Reject("every row has the same answers; a student could tick by pattern")

    def solve(self, params: dict) -> dict:
        rows = params["rows"]
        return {"vanishing": [r["vanishing"] for r in rows], "exploding": [r["exploding"] for r in rows],
                "why": [r["why"] for r in rows]}

    def check(self, params: dict) -> dict:
        # Look every drawn row up in the spec's pool by its text: a row whose keyed answers were
        # altered on the way (pinned by hand, edited key.json) disagrees with the pool.
        by_text = {r.text: r for r in self.space.pool}
        found = [by_text[r["text"]] for r in params["rows"]]
        return {"vanishing": [r.vanishing for r in found], "exploding": [r.exploding for r in found],
                "why": [r.why for r in found]}

    def workload(self, params: dict) -> dict:
        """Rows to tick, and how many of them are about recurrent networks (RNN, LSTM, GRU)."""
        return {"rows": len(params["rows"]),
                "recurrent": sum(1 for r in params["rows"] if RECURRENT.search(r["text"]))}

    def final_answers(self, answers: dict) -> dict:
        return {"all": [list(p) for p in zip(answers["vanishing"], answers["exploding"])]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        names = {(True, True): "both", (True, False): "vanishing only", (False, True): "exploding only",
                 (False, False): "neither"}
        ticks = [f"({i}) {names[v, e]}" for i, (v, e) in
                 enumerate(zip(answers["vanishing"], answers["exploding"]), start=1)]
        return {"all": Tex("ticked: " + "; ".join(ticks))}
