"""``qbank check``: validate every spec in a bank and stress every generator over many seeds."""
from __future__ import annotations

import json
import math
from typing import Any
import time
from dataclasses import dataclass, field
from pathlib import Path

from .bank import Bank, BankProblem, exam_specs, load_bank, load_exam
from .build import GENERATE_TIMEOUT_S, Instance, derive_seed, draw_params, jsonable, problem_body, solve_params, time_limit
from .errors import QbankError, SpecError
from .problem import close
from .registry import get_kind
from .texify import fmt_num


@dataclass
class StressResult:
    """What stressing one problem found."""

    problem: str
    seeds: int = 0
    distinct: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def rounded_params(params: Any, path: str = "params") -> list[str]:
    """Parameters that print rounded: students would see one number while the key used another."""
    if isinstance(params, dict):
        return [m for k, v in params.items() for m in rounded_params(v, f"{path}.{k}")]
    if isinstance(params, list):
        return [m for i, v in enumerate(params) for m in rounded_params(v, f"{path}[{i}]")]
    if isinstance(params, float) and math.isfinite(params) and float(fmt_num(params)) != params:
        return [f"{path} is {params!r} but prints as {fmt_num(params)}; the key would not match what students see"]
    return []


def check_instance(bp: BankProblem, params: dict) -> list[str]:
    """Every disagreement between the solver, the independent check and the solve kinds."""
    problems = rounded_params(params)
    try:
        bp.generator.validate(params)
    except Exception as e:
        problems.append(f"drawn instance is degenerate: {e}")
    answers, items = solve_params(bp, params)
    independent = jsonable(bp.generator.check(params), "check")
    if not close(answers, independent):
        problems.append(f"solve and independent check disagree: {first_difference(answers, independent)}")
    for it in items:
        again = jsonable(get_kind(it["kind"]).check(it["params"]), "kind check")
        if not close(it["answers"], again):
            problems.append(f"{it['kind']}: solver and check disagree: {first_difference(it['answers'], again)}")
    return problems


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


RENDER_EVERY = 50  # seeds between two renders of the exam and key (rendering costs more than solving)


def render_problems(bank: Bank, bp: BankProblem, params: dict) -> list[str]:
    """Render the exam and the key of one instance: each part of the key must mark its answers."""
    answers, items = solve_params(bp, params)
    inst = Instance(1, bp.spec.id, None, dict(bp.spec.points), params, answers, items)
    marks: list = []
    problem_body(bank, bank.env(), inst, "A", False)
    problem_body(bank, bank.env(), inst, "A", True, marks=marks)
    marked = {m[0].split(":")[1] for m in marks}
    exempt = bp.generator.unmarked_parts
    return [f"the key marks no answer of part {part} (mark its final answers with the answer filter, "
            "or list the part in the generator's unmarked_parts with the reason)"
            for part in bp.spec.points if part not in marked and part not in exempt]


def stress(bp: BankProblem, seeds: int, exam_seed: int = 0, bank: Bank | None = None) -> StressResult:
    """Run one problem over ``seeds`` seeds; record failures with their seed, never stop early.

    With ``bank``, every RENDER_EVERY-th instance is also rendered as exam and key."""
    result = StressResult(bp.spec.id)
    distinct = set()
    start = time.perf_counter()
    for s in range(seeds):
        seed = derive_seed(exam_seed, f"check-{s}", bp.spec.id)
        try:
            with time_limit(GENERATE_TIMEOUT_S, f"generator ran past {GENERATE_TIMEOUT_S} s"):
                params = jsonable(draw_params(bp, seed), "params")
                if s % 10 == 0 and jsonable(draw_params(bp, seed), "params") != params:
                    result.failures.append(f"seed {seed}: the same seed gave a different draw")
                for msg in check_instance(bp, params):
                    result.failures.append(f"seed {seed}: {msg}")
                if bank is not None and s % RENDER_EVERY == 0:
                    result.failures += [f"seed {seed}: {msg}" for msg in render_problems(bank, bp, params)]
            distinct.add(json.dumps(params, sort_keys=True))
        except QbankError as e:
            result.failures.append(f"seed {seed}: {e.message}")
        except Exception as e:  # a generator bug: report it with its seed and go on
            result.failures.append(f"seed {seed}: {type(e).__name__}: {e}")
        result.seeds += 1
    result.distinct = len(distinct)
    result.seconds = time.perf_counter() - start
    return result


def validate_bank(root: Path) -> tuple[Bank | None, list[str]]:
    """Load every problem and exam spec of the bank; return the bank and every error found."""
    errors: list[str] = []
    bank = None
    try:
        bank = load_bank(root)
    except SpecError as e:
        errors += e.messages
    for exam_path in exam_specs(root):
        try:
            exam = load_exam(exam_path, root)
            for loc, entry in exam.spec.entries():
                if entry.params is not None:  # a pinned instance must pass the same checks as a draw
                    for msg in check_instance(exam.bank.problems[entry.problem], entry.params):
                        errors.append(exam.located.error(loc + ("params",), msg))
        except SpecError as e:
            errors += [m for m in e.messages if m not in errors]
        except QbankError as e:
            errors.append(f"{exam_path}: {e.message}")
    return bank, errors
