"""The small contract every problem generator follows.

A generator is built with its validated parameter space (the spec's ``space:``). It draws
parameters from a ``numpy.random.Generator`` it is handed, refuses degenerate draws by raising
:class:`Reject`, solves, and re-derives the same answers by an independent route in ``check``.
"""
from __future__ import annotations

import json
import math
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from .errors import Reject  # re-exported for generator modules

__all__ = ["Problem", "Space", "Reject", "close", "first_difference"]



def choice(rng: np.random.Generator, choices):
    """``rng.choice(choices)`` for one item: the same index from the same random stream (so the same
    draws), at about a fifth of the cost; a build makes tens of such draws per version."""
    return choices[int(rng.integers(len(choices)))]

class Space(BaseModel):
    """Base of every generator's parameter-space model: strict types, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Problem:
    """Base class of a problem generator (see docs/writing-a-problem.md)."""

    name: ClassVar[str]
    Space: ClassVar[type[Space]] = Space
    max_tries: ClassVar[int] = 1000
    unmarked_parts: ClassVar[dict[str, str]] = {}
    """Part -> why its key marks no answer (a free-text explanation); every other part must mark one."""

    def __init__(self, space: Space):
        self.space = space

    def draw(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw one set of parameters (JSON-able); raise Reject for a degenerate draw."""
        raise NotImplementedError

    def validate(self, params: dict[str, Any]) -> None:
        """Raise Reject(reason) if ``params`` are degenerate; also run on pinned parameters."""

    def items(self, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """The solve-contract items of this problem: ``[(kind, item_params), ...]``."""
        return []

    def solve(self, params: dict[str, Any]) -> dict[str, Any]:
        """Every answer the key shows, as JSON-able data."""
        raise NotImplementedError

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        """The same answers as :meth:`solve`, derived independently (brute force, a forward pass…)."""
        raise NotImplementedError

    def given(self, params: dict[str, Any]) -> dict[str, Any]:
        """Template variables the exam and the key both show (figures, worked cells), from the
        parameters alone: the exam is rendered with ``params`` and these, never with the answers.
        None by default."""
        return {}

    def key_context(self, params: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
        """Template variables only the key sees (formatted solutions, where a search went wrong),
        besides ``answers`` and ``items``; an exam template that uses one fails to render. None by default."""
        return {}

    def summary(self, params, answers) -> dict[str, str]:
        """Part name -> short final answer for the grader's summary (trusted LaTeX)."""
        raise NotImplementedError

    def workload(self, params: dict[str, Any]) -> dict[str, Any]:
        """The shape of what a student computes (steps, images, cells to fill, rows), as JSON data.

        Every version of one build gets the same workload. None declared by default.
        """
        return {}

    def final_answers(self, answers: dict[str, Any]) -> dict[str, Any]:
        """Name (a part, or ``a.mean``) -> a final answer that no two versions of one build may
        share, where the space allows: a numeric result, the key of a multiple-choice part.

        None declared by default.
        """
        return {}


def close(a: Any, b: Any, rel: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Deep comparison of JSON-like answers with the contract's relative tolerance."""
    kind_a, kind_b = type(a), type(b)
    # Two plain numbers (not bools) first: most of what a build compares. Loops, not all(): a
    # build compares hundreds of values per version, and a generator expression per list costs.
    if (kind_a is float or kind_a is int) and (kind_b is float or kind_b is int):
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return False
        for k in a:
            if not close(a[k], b[k], rel, abs_tol):
                return False
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return False
        for x, y in zip(a, b):
            if not close(x, y, rel, abs_tol):
                return False
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or a == b and type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_tol)
    return a == b


def first_difference(a, b, path: str = "") -> str:
    """``path: a vs b`` for the first place two JSON values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{path}.{k}: present on one side only"
            if not close(a[k], b[k]):
                return first_difference(a[k], b[k], f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if not close(x, y):
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path.lstrip('.') or 'value'}: {json.dumps(a)} vs {json.dumps(b)}"
