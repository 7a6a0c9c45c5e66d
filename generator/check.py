"""``qbank check``: what a build would catch, without building: validate every spec in a bank,
stress every generator over many seeds, render every problem and exam, and compile them."""
from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import time
import types
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bank import TEMPLATE, Bank, BankProblem, exam_specs, load_bank, load_exam, shown
from .build import (GENERATE_TIMEOUT_S, Instance, VersionDraws, _render_one as render_one, derive_seed, draw_params,
                    final_answers, generator_code, jsonable, problem_body, problem_summary, render_exam, solve_params,
                    time_limit, version_labels)
from .errors import LatexError, QbankError, SpecError
from .latex import compile_pdf, make_format, preamble
from .problem import close, first_difference  # noqa: F401  (re-exported for verify)
from .registry import raised_at
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
        problems.append(f"solve and independent check disagree: {first_difference(answers, independent)} "
                        "(solve vs check)")
    for it in items:
        again = jsonable(bp.kind(it["kind"]).check(it["params"]), "kind check")
        if not close(it["answers"], again):
            problems.append(f"{it['kind']}: solver and check disagree: {first_difference(it['answers'], again)} "
                            "(solver vs check)")
    return problems


def _code(fn: Any) -> types.CodeType | None:
    return getattr(getattr(fn, "__func__", fn), "__code__", None)


def _same_code(a: types.CodeType, b: types.CodeType) -> bool:
    """The same bytecode, names and constants: one function pasted as another (local names, line
    numbers and docstrings aside)."""
    def consts(c: types.CodeType) -> list:
        ks = list(c.co_consts[1:] if c.co_consts and (c.co_consts[0] is None or isinstance(c.co_consts[0], str))
                  else c.co_consts)  # a function's first constant is its docstring, or None without one
        return [k.co_code if isinstance(k, types.CodeType) else k for k in ks]
    return a.co_code == b.co_code and a.co_names == b.co_names and consts(a) == consts(b)


def _calls(fn: Any, args: tuple, target: types.CodeType) -> bool:
    """Whether ``fn(*args)`` runs ``target``'s code, directly or through helpers (in this thread: a
    profile function set by sys.setprofile sees only the thread that set it)."""
    hit = False

    def profile(frame, event, arg):
        nonlocal hit
        if event == "call" and frame.f_code is target:
            hit = True
    old = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn(*args)
    except Exception:  # stress reports what the check raises, with its seed
        pass
    finally:
        sys.setprofile(old)
    return hit


def not_independent(solve: Any, check: Any, args: tuple, what: str = "check") -> str | None:
    """Why ``check`` is not an independent derivation of ``solve``'s answers: it runs solve, or it
    is solve's code again. Such a check agrees with any answer solve gives, wrong ones included."""
    s, c = _code(solve), _code(check)
    if s is None or c is None:
        return None
    if s is c or _same_code(s, c):
        why = f"{what} is a copy of solve (the same code)"
    elif _calls(check, args, s):
        why = f"{what} calls solve"
    else:
        return None
    return (f"{shown(c.co_filename)}:{c.co_firstlineno}: {why}, so it agrees with any answer solve gives, a "
            "wrong one too: derive the answers another way (brute force, enumeration, finite differences, "
            "an explicit forward pass)")


def independence(bp: BankProblem, params: dict) -> list[str]:
    """The problem's check and each of its solve kinds' checks, if one merely repeats its solve."""
    gen = bp.generator
    found = [not_independent(type(gen).solve, type(gen).check, (gen, params))]
    _, items = solve_params(bp, params)
    for name in dict.fromkeys(it["kind"] for it in items):
        kind, it = bp.kind(name), next(it for it in items if it["kind"] == name)
        found.append(not_independent(kind.solve, kind.check, (it["params"],), f"the check of solve kind {name!r}"))
    return [f for f in found if f]


RENDER_EVERY = 50  # seeds between two renders of the exam and key (rendering costs more than solving)


def render_problems(bank: Bank, bp: BankProblem, params: dict) -> list[str]:
    """Render the exam and the key of one instance: each part of the key must mark its answers."""
    answers, items = solve_params(bp, params)
    inst = Instance(1, bp.spec.id, None, dict(bp.spec.points), params, answers, items)
    marks: list = []
    problem_body(bank, bank.env(), inst, "A", False)
    problem_body(bank, bank.env(), inst, "A", True, marks=marks)
    problem_summary(bp, inst.points, params, answers, f"problem '{bp.spec.id}'")  # the grader's summary page
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
                if s == 0:  # not a matter of seeds: said once
                    result.failures += independence(bp, params)
                for msg in check_instance(bp, params):
                    result.failures.append(f"seed {seed}: {msg}")
                if bank is not None and s % RENDER_EVERY == 0:
                    result.failures += [f"seed {seed}: {msg}" for msg in render_problems(bank, bp, params)]
            distinct.add(json.dumps(params, sort_keys=True))
        except QbankError as e:
            result.failures.append(f"seed {seed}: {e.message}")
        except Exception as e:  # a generator bug: report it with its seed and where it raised, and go on
            result.failures.append(f"seed {seed}: {raised_at(e, generator_code(bp))}: {type(e).__name__}: {e}")
        result.seeds += 1
    result.distinct = len(distinct)
    result.seconds = time.perf_counter() - start
    return result


TRIAL_BUILDS = 20


@dataclass
class Distinctness:
    """Trial builds of one problem: which final answers two versions of a build had to share."""

    problem: str
    versions: int
    builds: int = 0
    declared: list[str] = field(default_factory=list)
    shared: dict[str, int] = field(default_factory=dict)
    """Final answer -> trial builds in which two versions share it (drawn as a build draws them)."""
    failure: str | None = None
    """Why a trial build could not be drawn (a workload too rare to redraw, a generator error)."""

    def lines(self) -> list[str]:
        """What ``qbank check`` says: nothing when every final answer could be kept apart."""
        if self.failure:
            return [f"FAIL {self.problem}: {self.failure}"]
        if not self.declared:
            return [f"{self.problem}: declares no final answers; its versions are not kept apart"]
        return [f"{self.problem}: final answer {name}: two of {self.versions} versions share it in {n} of "
                f"{self.builds} trial builds (no draw of its space kept them apart)"
                for name, n in self.shared.items()]


def distinctness(bp: BankProblem, versions: int, builds: int = TRIAL_BUILDS) -> Distinctness:
    """Draw ``builds`` trial builds of ``versions`` versions of ``bp``; count shared final answers."""
    result = Distinctness(bp.spec.id, versions)
    try:
        _trial_builds(bp, versions, builds, result)
    except QbankError as e:
        result.failure = f"trial build {result.builds + 1} of {versions} versions: {e.message}"
    except Exception as e:  # a generator bug
        result.failure = (f"trial build {result.builds + 1} of {versions} versions: "
                          f"{raised_at(e, generator_code(bp))}: {type(e).__name__}: {e}")
    return result


def _trial_builds(bp: BankProblem, versions: int, builds: int, result: Distinctness) -> None:
    for b in range(builds):
        draws = VersionDraws(derive_seed(b, "distinct", bp.spec.id))
        finals = []
        for label in version_labels(versions):
            params, answers = draws.draw(bp, derive_seed(draws.exam_seed, label, bp.spec.id))
            finals.append(final_answers(bp, answers if answers is not None else bp.generator.solve(params)))
        result.declared = list(finals[0])
        for name in finals[0]:
            if len({f[name] for f in finals}) < versions:
                result.shared[name] = result.shared.get(name, 0) + 1
        result.builds += 1


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


RENDER_SEEDS = 3
"""Seeds each problem is rendered at (exam and key); the first one's key is also compiled."""


def render_checks(bank: Bank, ids: list[str]) -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """Render every problem's exam and key at a few seeds, as a build would.

    Returns the failures (``(problem, message)``) and, per problem that rendered, the documents
    to compile (its first seed's key). Draws that fail were reported by :func:`stress`; skipped here.
    """
    from .preview import problem_exam, problem_instance

    failures: list[tuple[str, str]] = []
    docs: dict[str, dict[str, str]] = {}
    for pid in ids:
        exam = problem_exam(bank, pid)
        for s in range(RENDER_SEEDS):
            seed = derive_seed(0, f"check-{s}", pid)
            try:
                inst = problem_instance(bank, pid, seed)
            except QbankError:
                continue
            try:
                texts = {key: render_exam(exam, "A", [inst], key) for key in (False, True)}
            except QbankError as e:
                failures.append((pid, f"seed {seed}: {e.message}"))
                break  # a template error shows at every seed
            docs.setdefault(pid, {"key.tex": texts[True]})
    return failures, docs


def exam_checks(root: Path) -> tuple[list[tuple[str, str]], dict[str, dict[str, str]]]:
    """Render version A of every exam spec (specs that do not load were reported by validate_bank)."""
    failures: list[tuple[str, str]] = []
    docs: dict[str, dict[str, str]] = {}
    for path in exam_specs(root):
        try:
            exam = load_exam(path, root)
        except QbankError:
            continue
        name = f"exam {path.stem}"
        try:
            r = render_one(exam, "A", exam.spec.seed)
        except QbankError as e:
            failures.append((name, e.message))
            continue
        docs[name] = {"exam.tex": r.exam_tex, "key.tex": r.key_tex}
    return failures, docs


def compile_checks(docs: dict[str, dict[str, str]], jobs: int | None = None) -> list[tuple[str, str]]:
    """Compile every document (each in a folder of its own); every failure, not only the first."""
    if not docs:
        return []
    failures: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="qbank-check-") as tmp:
        texs: list[tuple[str, Path]] = []
        for i, (name, files) in enumerate(docs.items()):
            folder = Path(tmp) / re.sub(r"[^A-Za-z0-9_-]+", "-", name)
            folder.mkdir()
            for file, text in files.items():
                (folder / file).write_text(text, encoding="utf-8")
                texs.append((name, folder / file))
        fmt = make_format(texs[0][1])

        def one(item: tuple[str, Path]) -> None:
            name, tex = item
            uses_format = fmt is not None and preamble(tex) == preamble(texs[0][1])
            try:
                compile_pdf(tex, format_dir=fmt if uses_format else None, passes_for_errors=True)
            except LatexError as e:
                failures.append((name, e.message))

        with ThreadPoolExecutor(max(1, jobs or os.cpu_count() or 1)) as pool:
            list(pool.map(one, texs))
    order = list(docs)
    return sorted(failures, key=lambda f: order.index(f[0]))


def unused_templates(bank: Bank, ids: list[str]) -> list[str]:
    """A ``.j2`` file in the folder of a problem ``ids`` names that its spec does not use (a
    misnamed template is silently not the one rendered)."""
    warnings = []
    for bp in (bank.problems[i] for i in ids):
        for j2 in sorted(bp.folder.glob("*.j2")):
            if bp.template_file is not None and j2.resolve() == bp.template_file.resolve():
                continue
            if bp.spec.body is not None:
                uses = "its spec's inline body:"
            elif bp.template_file is not None:
                uses = bp.template_file.name
            else:
                uses = f"the built-in template of generator '{bp.spec.generator}'"
            warnings.append(f"{shown(j2)}: no spec uses this template (problem '{bp.spec.id}' uses {uses}); "
                            f"a problem's template is '{TEMPLATE}' in its folder, or the file named by "
                            f"'template:' in {shown(bp.path)}")
    return warnings
