"""Helpers for a problem's own tests (``bank/problems/<id>/test_<id>.py``), in any bank.

Also a pytest plugin (registered as ``qbank`` under ``pytest11``), so these fixtures are there
wherever qbank is installed:

- ``runner``: a click ``CliRunner``;
- ``solve_cli(kind, params)``: runs ``qbank solve KIND --params FILE`` (params as a mapping or YAML text).

Typical use::

    from generator.testing import load_problem

    P = load_problem(__file__)               # the problem whose folder holds this test file

    def test_known_instance():
        answers = P.solve({"w": 2, "x": [1, 2]})
        assert answers["y"] == 6
        assert P.check(P.params) == P.solve(P.params)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from click.testing import CliRunner

from .bank import GENERATOR, Bank, BankProblem, find_root, load_bank
from .build import Instance, derive_seed, draw_params, jsonable, problem_body, solve_params
from .registry import load_file
from .texify import unmark

__all__ = ["ProblemUnderTest", "has_num", "load_problem"]


@dataclass(frozen=True)
class ProblemUnderTest:
    """One problem of a bank, loaded exactly as a build loads it, with shortcuts for tests."""

    bank: Bank
    problem: BankProblem
    module: ModuleType | None
    """The problem's ``generator.py`` module (its classes and functions), None for a built-in generator."""

    @property
    def generator(self):
        return self.problem.generator

    @property
    def id(self) -> str:
        return self.problem.spec.id

    def draw(self, seed: int) -> dict[str, Any]:
        """Parameters drawn at ``seed`` (as JSON data), as a build draws them before it holds its
        versions to one workload and apart in their final answers (``generator.build.VersionDraws``)."""
        return jsonable(draw_params(self.problem, seed), "params")

    def seed(self, exam_seed: int = 0, version: str = "A") -> int:
        """The seed a build with ``exam_seed`` gives this problem in ``version``."""
        return derive_seed(exam_seed, version, self.id)

    def solve(self, params: dict[str, Any]) -> dict[str, Any]:
        """The answers the key shows for ``params`` (after the generator's own validation)."""
        self.generator.validate(params)
        return solve_params(self.problem, params)[0]

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        """The independent check's answers for ``params``."""
        return jsonable(self.generator.check(params), "check")

    def summaries(self, n: int = 50, exam_seed: int = 7):
        """``n`` drawn instances, each with the grader's summary: ``(params, answers, summary)``."""
        for s in range(n):
            params = self.draw(self.seed(exam_seed, "S") + s)
            answers = self.solve(params)
            yield params, answers, self.generator.summary(params, answers)

    def instance(self, params: dict[str, Any], number: int = 1) -> Instance:
        answers, items = solve_params(self.problem, params)
        return Instance(number, self.id, None, dict(self.problem.spec.points), params, answers, items)

    def render(self, params: dict[str, Any], key: bool, version: str = "A", marked: bool = False) -> str:
        """The problem's LaTeX as the exam (``key=False``) or the answer key shows it.

        The key's answer marks are invisible, so they are left out unless ``marked``."""
        tex = problem_body(self.bank, self.bank.env(), self.instance(params), version, key=key)
        return tex if marked else unmark(tex)


def load_problem(where: str | Path) -> ProblemUnderTest:
    """The problem whose folder is ``where`` (or holds the file ``where``, e.g. ``__file__``)."""
    folder = Path(where).resolve()
    if folder.is_file():
        folder = folder.parent
    bank = load_bank(find_root(folder), only=[folder.name])
    code = folder / GENERATOR
    module = load_file(code).module if code.is_file() else None
    return ProblemUnderTest(bank, bank.problems[folder.name], module)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def solve_cli(runner, tmp_path):
    """Run ``qbank solve KIND --params FILE``: params as a mapping (written as JSON) or YAML text."""
    from .cli import main

    def run(kind: str, params):
        f = tmp_path / ("params.yaml" if isinstance(params, str) else "params.json")
        f.write_text(params if isinstance(params, str) else json.dumps(params))
        return runner.invoke(main, ["solve", kind, "--params", str(f)])
    return run


def has_num(text: str, x: Any, digits: int = 4) -> bool:
    """``x`` as the key prints it (``fmt_num``), not merely as part of a longer number (2 in 24)."""
    import re

    from .texify import fmt_num

    return re.search(r"(?<![\d.])" + re.escape(fmt_num(x, digits)) + r"(?!\.?\d)", text) is not None
