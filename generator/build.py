"""The build pipeline: draw → solve → render → write (→ compile), for every version of an exam."""
from __future__ import annotations

import collections
import contextlib
import ctypes
import functools
import gc
import hashlib
import inspect
import json
import math
import multiprocessing
import os
import re
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Iterator

import jinja2
import numpy as np

from .bank import SPEC, Bank, BankProblem, Exam, sha256, shown
from .errors import GenerationError, QbankError, Reject, SpecError, TemplateError
from .problem import Problem, close, first_difference
from .latex import MARKER
from .output import forget_locks_after_fork
from .registry import raised_at
from .roster import assignments_csv
from .schema import ExamProblem, PoolEntry
from .texify import MARKS, Mapped, SpecText, Tex, make_env, render, render_document

GENERATE_TIMEOUT_S = 20
LIBRARIES = ("qbank", "numpy", "sympy", "jinja2", "pydantic", "pyyaml", "pylatex", "click")


def version_labels(n: int) -> list[str]:
    """A, B, …, Z, AA, …, ZZ, AAA, AAB, … (spreadsheet column names: no limit on how many)."""
    labels = []
    for i in range(n):
        label, k = "", i + 1
        while k:
            k, r = divmod(k - 1, 26)
            label = chr(65 + r) + label
        labels.append(label)
    return labels


def derive_seed(exam_seed: int, version: str, problem_id: str) -> int:
    """Seed of one problem in one version: adding or reordering problems changes no other draw."""
    digest = hashlib.sha256(f"qbank:{exam_seed}:{version}:{problem_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class _Refused(Exception):
    """A value jsonable refuses: :func:`_jsonable` then finds where, for the message."""


def _plain(value: Any) -> Any:
    """jsonable without the path of each value (built only for an error message): the common types by
    their exact type first, everything else as :func:`_scalar` takes it."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if value - value == 0:  # finite
            return value
        raise _Refused
    if kind is dict or isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain(v) for v in value]
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in list(value)]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    """A scalar (numpy's included) as plain JSON data; :class:`_Refused` for anything else or a
    number that is not finite."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        if not math.isfinite(f):
            raise _Refused
        return f
    if value is None or isinstance(value, str):
        return value
    raise _Refused


def jsonable(value: Any, where: str) -> Any:
    """Plain JSON data from generator output: numpy scalars/arrays unwrapped, NaN/inf refused."""
    try:
        return _plain(value)
    except _Refused:
        return _jsonable(value, where)


def _jsonable(value: Any, where: str) -> Any:
    """:func:`_plain` again, naming where a refused value sits."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(list(value))]
    try:
        return _scalar(value)
    except _Refused:
        if isinstance(value, (float, np.floating)):
            raise ValueError(f"{where} is {float(value)}; answers and parameters must be finite numbers") from None
        raise ValueError(f"{where} has type {type(value).__name__}; expected JSON data") from None


@contextlib.contextmanager
def time_limit(seconds: float, message: str) -> Iterator[None]:
    """Stop a generator that loops; only possible in the main thread (SIGALRM)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _raise(signum, frame):
        raise GenerationError(message)

    old = signal.signal(signal.SIGALRM, _raise)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass(frozen=True)
class Instance:
    """One drawn problem of one version: everything the exam, key and manifest need."""

    number: int
    problem_id: str
    seed: int | None
    points: dict[str, int]
    params: dict[str, Any]
    answers: dict[str, Any]
    items: list[dict[str, Any]]

    @property
    def total(self) -> int:
        return sum(self.points.values())


AVOID_TRIES = 200
"""Draws a version tries for final answers no earlier version has, before it settles for the fewest shared."""
UNAVOIDABLE_AFTER = 30
"""A final answer that every one of a version's first this many draws shares is not avoided any more."""


def draw_params(bp: BankProblem, seed: int, load: dict[str, Any] | None = None,
                score: Callable[[dict[str, Any]], list[str]] | None = None) -> dict[str, Any]:
    """Draw non-degenerate parameters with bounded retries; errors name the problem and seed.

    Only draws of workload ``load`` count, when given. ``score(params)`` lists what is wrong
    with a draw: the first draw with nothing wrong is taken, else, after AVOID_TRIES such
    draws, the one with least wrong.
    """
    gen = bp.generator
    rng = np.random.default_rng(seed)
    reasons: dict[str, int] = {}
    best: tuple[list[str], dict[str, Any]] | None = None
    scored = off_load = 0
    for _ in range(gen.max_tries):
        try:
            params = gen.draw(rng)
            if load is not None and workload(bp, params) != load:  # before validate: it is cheaper
                off_load += 1
                continue
            gen.validate(params)
            wrong = score(params) if score is not None else []
        except Reject as r:
            reasons[str(r)] = reasons.get(str(r), 0) + 1
            continue
        if not wrong:
            return params
        if best is None or len(wrong) < len(best[0]):
            best = (wrong, params)
        scored += 1
        if scored >= AVOID_TRIES:
            break
    if best is not None:
        return best[1]
    common = max(reasons, key=reasons.get) if reasons else "?"
    other = f" ({off_load} drew a workload other than this build's {json.dumps(load)})" if off_load else ""
    raise GenerationError(f"problem '{bp.spec.id}' (seed {seed}): no acceptable draw in {gen.max_tries} "
                          f"tries{other}; most common rejection: {common}. Widen its space in {shown(bp.path)}")


def canonical(value: Any) -> str:
    """A final answer as comparable text: numbers to 9 significant digits, 2.0 the same as 2."""
    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(x) for k, x in v.items()}
        if isinstance(v, list):
            return [norm(x) for x in v]
        if isinstance(v, float):
            v = float(f"{v:.9g}")
            return int(v) if v.is_integer() else v
        return v
    return _CANONICAL(norm(jsonable(value, "final answer")))


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False).encode
"""json.dumps(..., sort_keys=True, ensure_ascii=False) without making an encoder per call (see _ENCODE)."""


def final_answers(bp: BankProblem, answers: dict[str, Any]) -> dict[str, str]:
    """The problem's final answers (see Problem.final_answers) in canonical form."""
    return {name: canonical(v) for name, v in bp.generator.final_answers(answers).items()}


def workload(bp: BankProblem, params: dict[str, Any]) -> dict[str, Any]:
    """The problem's workload for ``params`` (see Problem.workload), as JSON data."""
    return jsonable(bp.generator.workload(params), "workload")


class VersionDraws:
    """How one build draws: one workload per problem, and final answers no two versions share.

    The workload comes from the exam seed alone. Versions are drawn in label order and each
    avoids the final answers of the versions before it; a name that no draw could keep apart
    is marked unavoidable and no longer avoided in the rest of the build.
    """

    def __init__(self, exam_seed: int):
        self.exam_seed = exam_seed
        self.workloads: dict[str, dict] = {}
        self.taken: dict[str, dict[str, set[str]]] = {}
        self.unavoidable: dict[str, set[str]] = {}

    def workload(self, bp: BankProblem) -> dict[str, Any]:
        """The workload every version of this build gets for ``bp``."""
        pid = bp.spec.id
        if pid not in self.workloads:
            self.workloads[pid] = workload(bp, draw_params(bp, derive_seed(self.exam_seed, "workload", pid)))
        return self.workloads[pid]

    def draw(self, bp: BankProblem, seed: int) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Parameters of ``bp`` for the next version (the build's workload, answers not yet taken),
        as plain JSON data, and the generator's answers to them when already solved."""
        pid, gen = bp.spec.id, bp.generator
        cls = type(gen)
        if cls.workload is Problem.workload and cls.final_answers is Problem.final_answers:
            return jsonable(draw_params(bp, seed), "params"), None
        target = self.workload(bp)
        taken = self.taken.setdefault(pid, {})
        unavoidable = self.unavoidable.setdefault(pid, set())
        scored, avoided = [0], set()  # draws of the build's workload so far; names some draw kept apart
        solved: dict[int, tuple[dict, dict, dict[str, str]]] = {}  # id(params) -> plain params, answers, final answers

        def shared(params: dict[str, Any]) -> list[str]:
            plain = jsonable(params, "params")
            answers = jsonable(gen.solve(plain), "answers")
            finals = final_answers(bp, answers)
            solved[id(params)] = plain, answers, finals
            wrong = [k for k, v in finals.items() if v in taken.get(k, ()) and k not in unavoidable]
            avoided.update(k for k in finals if k not in wrong)
            scored[0] += 1
            if scored[0] == UNAVOIDABLE_AFTER:  # no draw kept these apart: the space has no other value left
                unavoidable.update(k for k in wrong if k not in avoided)
                wrong = [k for k in wrong if k in avoided]
            return wrong

        params, answers, finals = solved[id(draw_params(bp, seed, target, shared))]
        for k, v in finals.items():
            if v in taken.setdefault(k, set()):
                unavoidable.add(k)
            taken[k].add(v)
        return params, answers


def solve_params(bp: BankProblem, params: dict[str, Any], answers: dict | None = None) -> tuple[dict, list[dict]]:
    """Answers (``answers``, when already solved into plain JSON data) and solve-contract items for
    ``params``, as plain JSON data."""
    if answers is None:
        answers = jsonable(bp.generator.solve(params), "answers")
    items = []
    for kind, item_params in bp.generator.items(params):
        item_params = jsonable(item_params, f"{kind} params")
        items.append({"kind": kind, "params": item_params,
                      "answers": jsonable(bp.kind(kind).solve(item_params), f"{kind} answers")})
    return answers, items


def version_entries(exam: Exam, version: str, exam_seed: int) -> list[ExamProblem]:
    """The problems of one version in order: pools picked from, shuffle groups permuted."""
    out: list[ExamProblem] = []
    for e in exam.spec.problems:
        if isinstance(e, PoolEntry):
            rng = np.random.default_rng(derive_seed(exam_seed, version, f"pool:{e.pool}"))
            chosen = sorted(rng.choice(len(e.problems), size=e.choose, replace=False).tolist())
            out += [e.problems[i] for i in chosen]
        else:
            out.append(e)
    for group in sorted({e.shuffle for e in out if e.shuffle}):
        slots = [i for i, e in enumerate(out) if e.shuffle == group]
        order = np.random.default_rng(derive_seed(exam_seed, version, f"shuffle:{group}")).permutation(len(slots))
        members = [out[i] for i in slots]
        for slot, k in zip(slots, order.tolist()):
            out[slot] = members[k]
    return out


def make_instance(exam: Exam, entry: ExamProblem, number: int, version: str, exam_seed: int,
                  draws: VersionDraws | None = None) -> Instance:
    """Draw (or take the pinned parameters of) one problem for ``version`` and solve it.

    ``draws`` holds the build's workloads and the final answers earlier versions took.
    """
    bp = exam.bank.problems[entry.problem]
    points = dict(entry.points or bp.spec.points)
    seed = derive_seed(exam_seed, version, bp.spec.id)
    if entry.params is None:
        where = f"problem '{bp.spec.id}' (version {version}, seed {seed})"
    else:  # no seed is involved: name the exam's line that pins the parameters
        loc, _ = exam.entry(entry.problem)
        where = (f"problem '{bp.spec.id}' (version {version}, parameters pinned at "
                 f"{exam.located.path}:{exam.located.line(loc + ('params',))})")
    try:
        with time_limit(GENERATE_TIMEOUT_S, f"{where}: generator ran past {GENERATE_TIMEOUT_S} s"):
            if entry.params is not None:
                params = dict(entry.params)
                try:
                    bp.generator.validate(params)
                except (Reject, QbankError) as e:
                    msg = e.message if isinstance(e, QbankError) else str(e)
                    loc, _ = exam.entry(entry.problem)
                    raise SpecError([exam.located.error(loc + ("params",), msg)]) from None
                params, seed, answers = jsonable(params, "params"), None, None
            else:
                params, answers = (draws or VersionDraws(exam_seed)).draw(bp, seed)
            answers, items = solve_params(bp, params, answers)
            confirm(bp, params, answers, items, where)
    except QbankError:
        raise
    except Exception as e:  # a generator bug: keep the cause, name the problem and seed
        raise generator_error(e, bp, where) from e
    return Instance(number, bp.spec.id, seed, points, params, answers, items)


def confirm(bp: BankProblem, params: dict, answers: dict, items: list[dict], where: str) -> None:
    """No key is written that the problem's independent check (and each solve kind's) contradicts."""
    independent = jsonable(bp.generator.check(params), "check")
    if not close(answers, independent):
        raise GenerationError(f"{where}: solve and the independent check disagree, so no key is written: "
                              f"{first_difference(answers, independent)} (solve vs check)")
    for it in items:
        again = jsonable(bp.kind(it["kind"]).check(it["params"]), "kind check")
        if not close(it["answers"], again):
            raise GenerationError(f"{where}: solve kind {it['kind']} and its check disagree, so no key is written: "
                                  f"{first_difference(it['answers'], again)}")


def generator_error(e: Exception, bp: BankProblem, where: str) -> GenerationError:
    """A generator bug as one line: the file and line that raised it, the problem and seed (``--debug``
    shows the whole traceback)."""
    return GenerationError(f"{raised_at(e, generator_code(bp))}: {where}: generator raised {type(e).__name__}: {e}")


def generator_code(bp: BankProblem) -> list[Path]:
    """The files a problem's generator is written in: its folder, and its class's module."""
    source = inspect.getsourcefile(type(bp.generator))
    return [bp.folder, *([Path(source)] if source else [])]


@dataclass
class Rendered:
    """One version, rendered: exam and key LaTeX, key.json and its page of the grader's summary."""

    version: str
    instances: list[Instance]
    exam_tex: str
    key_tex: str
    key_json: str
    summary_page: Tex
    marks: list[list[list[str]]] = field(default_factory=list)
    """Per problem: the answers key.tex marks, ``[tag, LaTeX]`` in order (see texify.answer)."""

    def files(self) -> dict[str, str]:
        """This version's files: relative path → text."""
        return {f"{self.version}/exam.tex": self.exam_tex, f"{self.version}/key.tex": self.key_tex,
                f"{self.version}/key.json": self.key_json}


RESERVED = frozenset({"params", "points", "total", "key", "version", "number", "title", "answers", "items", MARKS})
"""Template variables qbank sets itself; a generator's given() or key_context() may not redefine them."""


def _call(bp: BankProblem, name: str, where: str, *args: Any) -> Any:
    """The generator's method ``name`` called; what it raises becomes one line naming its file and line."""
    try:
        return getattr(bp.generator, name)(*args)
    except QbankError:
        raise
    except Exception as e:  # a generator bug: its file and line, not a traceback through qbank
        raise GenerationError(f"{raised_at(e, generator_code(bp))}: {where}: {name}() raised "
                              f"{type(e).__name__}: {e}") from e


def _hook(bp: BankProblem, name: str, where: str, *args: Any) -> dict:
    """Call the generator's template hook ``name`` (given, key_context): a mapping, or one line."""
    values = _call(bp, name, where, *args)
    if not isinstance(values, dict):
        raise GenerationError(f"{_defined_at(bp, name)}: {where}: {name}() returned {type(values).__name__}, "
                              "not a mapping of template variables (name -> value)")
    return values


def _defined_at(bp: BankProblem, method: str) -> str:
    """file:line where the generator's ``method`` is defined (for messages only: inspect is slow)."""
    fn = getattr(type(bp.generator), method)
    return f"{shown(inspect.getsourcefile(fn) or '?')}:{fn.__code__.co_firstlineno}"


def template_values(bp: BankProblem, inst: Instance, key: bool, givens: dict | None = None,
                    version: str = "A") -> dict:
    """A generator's own template variables: ``given(params)``, and in the key ``key_context(params,
    answers)`` too. The exam's come from the parameters alone: no answer is ever passed in.

    ``givens`` keeps each problem's ``given()`` for the other document of the same version (it is
    a function of the parameters); values that can be read only once (iterators) are not kept."""
    seed = f"seed {inst.seed}" if inst.seed is not None else "parameters pinned"
    at = f"problem '{bp.spec.id}' (version {version}, {seed})"
    given = None if givens is None else givens.get(inst.number)
    if given is None:
        given = _hook(bp, "given", at, inst.params)
        if givens is not None and not any(hasattr(type(v), "__next__") for v in given.values()):
            givens[inst.number] = given
    extra = _hook(bp, "key_context", at, inst.params, inst.answers) if key else {}
    if not (RESERVED.isdisjoint(given) and RESERVED.isdisjoint(extra) and given.keys().isdisjoint(extra)):
        where = f"generator '{bp.spec.generator}' of problem '{bp.spec.id}'"
        for what, names in (("given() defines {}, which qbank sets itself", given.keys() & RESERVED),
                            ("key_context() defines {}, which qbank sets itself", extra.keys() & RESERVED),
                            # the key would show another value than the exam under the same name
                            ("both given() and key_context() define {}", given.keys() & extra.keys())):
            if names:
                raise GenerationError(f"{where}: {what.format(', '.join(sorted(names)))}")
    return {**given, **extra}


def problem_body(bank: Bank, env, inst: Instance, version: str, key: bool, marks: list | None = None,
                 givens: dict | None = None) -> Tex:
    """The LaTeX of one drawn problem (statement, and solutions when ``key``).

    The key's marked answers are appended to ``marks``. The exam's context has no ``answers``,
    ``items`` or ``key_context()`` values at all (see :func:`template_values`), so a template
    that reaches for them outside the key fails to render.
    """
    bp = bank.problems[inst.problem_id]
    extra = template_values(bp, inst, key, givens, version)
    spec_file = f"{bp.origin}/{SPEC}"

    def placed(v: Any) -> Any:  # spec text (a value, or a list of them) keeps its spec line
        kind = type(v)
        if kind is float or kind is int or kind is str or kind is dict:  # the common values first
            return v
        if isinstance(v, list):
            return [placed(x) for x in v]
        if isinstance(v, SpecText):
            return Mapped(v, [f"{spec_file}:{bp.located.line(v.key)}"] * (v.count("\n") + 1))
        return v

    extra = {k: placed(v) for k, v in extra.items()}
    ctx = {
        "params": inst.params, "points": inst.points,
        "total": inst.total, "key": key, "version": version, "number": inst.number,
        "title": bp.spec.title, MARKS: [] if marks is None else marks,
        **({"answers": inst.answers, "items": inst.items} if key else {}),
        **extra,
    }
    try:
        if bp.spec.body is not None:
            origin = f"{bp.origin}/{SPEC} (body)"
            text = render(env, None, ctx, source=bp.spec.body, source_name=origin)
            text = Mapped(text, [_body_line(bp, src) for src in text.sources])
        else:
            name = bp.template_name
            text = render(env, name, ctx)
            origin = name if bp.template_file is not None else f"templates/{name}"
    except TemplateError as e:
        raise (e if key else _key_only(e, bp, inst)) from None
    # The marker names the problem; the lines keep their template lines (see texify.with_map).
    marker = f"{MARKER}problem {inst.number} '{inst.problem_id}', template {origin}\n"
    return Mapped(marker + text, marked=marker + text.raw)


def _key_only(e: TemplateError, bp: BankProblem, inst: Instance) -> TemplateError:
    """An exam render's undefined variable, said to be the key's only when it is one."""
    m = re.search(r"'(\w+)' is undefined$", e.message)
    if m is None:
        return e
    try:
        key_names = {"answers", "items", *bp.generator.key_context(inst.params, inst.answers)}
    except Exception:  # the key's own render reports a generator that fails
        return e
    if m.group(1) not in key_names:
        return e
    return TemplateError(f"{e.message[:m.start()]}'{m.group(1)}' is the key's only: the exam is rendered without "
                         "answers, items and key_context() (print it inside <% if key %>, or give what the exam "
                         "shows from the parameters in given())")


def _body_line(bp: BankProblem, source: str) -> str:
    """``spec:line`` of line N of a spec's inline ``body:`` (a block scalar starts on the next line)."""
    first = bp.located.line(("body",))
    key_line = bp.path.read_text(encoding="utf-8").splitlines()[first - 1]
    block = key_line.rstrip().endswith(("|", ">", "|-", ">-", "|+", ">+"))
    n = int(source.rpartition(":")[2] or 1)
    return f"{bp.origin}/{SPEC}:{first + n if block else first}"


def _env(exam: Exam) -> jinja2.Environment:
    """The exam's Jinja environment (cached per set of templates: each template compiles once)."""
    return exam.bank.env()


@contextlib.contextmanager
def templates_checked_once(exam: Exam) -> Iterator[None]:
    """Within: templates are not checked for changes on every use (two file stats per problem and
    version, about 7% of a --no-pdf build), but once, here: a template changed since this process
    compiled it is compiled again."""
    env = _env(exam)
    if not env.auto_reload:  # nested: already checked
        yield
        return
    if not all(t.is_up_to_date for t in env.cache.values()):
        env.cache.clear()
    env.auto_reload = False
    try:
        yield
    finally:
        env.auto_reload = True


STAMPED_FIELDS = {"Name (printed)": "name", "Student ID": "sid", "Row and seat": "seat"}
"""Cover fields a student's copy fills in (cover field → key of :func:`cover_values`)."""


def cover_values(student: dict) -> dict[str, str | None]:
    """What a student's copy prints in its cover fields (and the SID in every page's footer)."""
    seat = f"Row {student['row']}, seat {student['seat']}" if student.get("seat") is not None else None
    return {"name": student["name"], "sid": student["sid"], "seat": seat}


def render_exam(exam: Exam, version: str, instances: list[Instance], key: bool,
                student: dict | None = None, padding: dict[int, int] | None = None,
                marks: list[list] | None = None, env: jinja2.Environment | None = None,
                givens: dict | None = None) -> str:
    """The LaTeX of one exam document (the key when ``key``; a student's copy when ``student``).

    ``padding`` maps a problem number to the blank pages that follow it (to keep versions' pages aligned);
    ``marks`` receives, per problem, the answers the key marks. ``env`` is the exam's environment (when
    already looked up) and ``givens`` the problems' ``given()`` values (see :func:`template_values`).
    """
    padding = padding or {}
    env = env or _env(exam)
    if marks is not None:
        marks[:] = [[] for _ in instances]
    problems = [{"number": inst.number, "id": inst.problem_id,
                 "title": exam.bank.problems[inst.problem_id].spec.title,
                 "points": inst.points, "total": inst.total,
                 "newpage": exam.entry(inst.problem_id)[1].newpage, "pad": 0 if key else padding.get(inst.number, 0),
                 "body": problem_body(exam.bank, env, inst, version, key, marks[k] if marks is not None else None,
                                      givens)}
                for k, inst in enumerate(instances)]
    ctx = {"exam": exam.spec, "version": version, "key": key, "problems": problems,
           "total_points": sum(i.total for i in instances), "student": student, "stamped_fields": STAMPED_FIELDS}
    return render_document(env, "exam.tex.j2", ctx)


def render_version(exam: Exam, version: str, instances: list[Instance],
                   padding: dict[int, int] | None = None) -> Rendered:
    """Render the exam and key LaTeX, key.json and grader's page of one version."""
    marks: list[list] = []
    env, givens = _env(exam), {}
    key_tex = render_exam(exam, version, instances, True, marks=marks, env=env, givens=givens)
    exam_tex = render_exam(exam, version, instances, False, padding=padding, env=env, givens=givens)
    return Rendered(version, instances, exam_tex, key_tex, dumps(key_json(exam, version, instances)),
                    render_summary_page(exam, version, instances, env), marks)


def problem_summary(bp: BankProblem, points: dict, params: dict, answers: dict, where: str) -> dict:
    """Part -> short final answer, from the generator's ``summary``, for every part of the problem."""
    summary = _call(bp, "summary", where, params, answers)
    if not isinstance(summary, dict):
        summary = {}
    if len(points) == 1 and len(summary) == 1:  # a single part: whatever the spec calls it
        summary = {next(iter(points)): next(iter(summary.values()))}
    missing = [part for part in points if part not in summary]
    if missing:
        raise GenerationError(f"{_defined_at(bp, 'summary')}: {where}: summary() gives no answer for part "
                              f"{missing[0]} (it gives {', '.join(map(str, summary)) or 'none'}; "
                              f"the spec's parts: {', '.join(points)})")
    for part in points:
        eaten = _eaten_command(summary[part]) if isinstance(summary[part], str) else None
        if eaten:
            escape, name, command = eaten
            raise GenerationError(f"{_defined_at(bp, 'summary')}: {where}: summary() part {part}: in a Python "
                                  f"string \\{escape} is {name}, so \\{command} loses its backslash; "
                                  f"write a raw string (r\"…\", rf\"…\") or double the backslash (\\\\{command})")
    return summary


# Python escapes that take a LaTeX command's backslash: "\frac" is a form feed and "rac". A line
# break before letters is often meant, so only before the commands it usually eats.
_PY_ESCAPES = {"\t": ("t", "a tab"), "\r": ("r", "a carriage return"), "\f": ("f", "a form feed"),
               "\b": ("b", "a backspace"), "\a": ("a", "a bell character"), "\v": ("v", "a vertical tab"),
               "\n": ("n", "a line break")}
_PY_EATEN = re.compile(r"([\t\r\f\b\a\v])([A-Za-z]+)|\n(abla|eq|e|u|ot|otin|eg|i|leq|geq|mid|ewline|exists)(?![A-Za-z])")


def _eaten_command(text: str) -> tuple[str, str, str] | None:
    """In a Python string meant as LaTeX, the first escape that took a command's backslash:
    (escape letter, what Python read, command)."""
    m = _PY_EATEN.search(text)
    if m is None:
        return None
    char, rest = (m.group(1), m.group(2)) if m.group(1) else ("\n", m.group(3))
    letter, name = _PY_ESCAPES[char]
    return letter, name, letter + rest


def render_summary_page(exam: Exam, version: str, instances: list[Instance],
                        env: jinja2.Environment | None = None) -> Tex:
    """One version's page of the grader's summary: each part's points and short answer."""
    rows = []
    for inst in instances:
        bp = exam.bank.problems[inst.problem_id]
        seed = f"seed {inst.seed}" if inst.seed is not None else "parameters pinned"
        summary = problem_summary(bp, inst.points, inst.params, inst.answers,
                                  f"problem '{bp.spec.id}' (version {version}, {seed})")
        rows += [{"number": inst.number, "title": bp.spec.title, "part": part, "points": pts,
                  "answer": Tex(summary[part]), "single": len(inst.points) == 1}
                 for part, pts in inst.points.items()]
    v = {"label": version, "rows": rows, "total": sum(i.total for i in instances)}
    return render(env or _env(exam), "summary_page.tex.j2", {"exam": exam.spec, "v": v})


def render_summary(exam: Exam, rendered: list[Rendered]) -> str:
    """The grader's summary: one page per version."""
    return render_document(_env(exam), "summary.tex.j2", {"exam": exam.spec, "pages": [r.summary_page for r in rendered]})


def render_seating(exam: Exam, students: list[dict]) -> str:
    """The proctors' seating chart: every seat with its student and version."""
    env = _env(exam)
    seated = [s for s in students if s["row"] is not None]
    rows = [label for _, label in sorted({(s["row_index"], s["row"]) for s in seated})]
    seats = sorted({s["seat"] for s in seated})
    return render_document(env, "seating.tex.j2", {"exam": exam.spec, "students": seated, "rows": rows,
                                                   "seats": seats, "labels": sorted({s["version"] for s in seated})})


def template_hash(exam: Exam, name: str) -> str:
    """Hash of the template file the exam's environment loads for ``name`` ("" when there is none)."""
    env = _env(exam)
    try:
        _, filename, _ = env.loader.get_source(env, name)
    except jinja2.TemplateNotFound:
        return ""
    return sha256(Path(filename))


def key_json(exam: Exam, version: str, instances: list[Instance]) -> dict:
    """The answer key of one version as data (solve-contract items inside each problem)."""
    return {
        "exam": exam.spec.id,
        "version": version,
        "total_points": sum(i.total for i in instances),
        "problems": [
            {"number": i.number, "id": i.problem_id, "title": exam.bank.problems[i.problem_id].spec.title,
             "points": i.points, "answers": i.answers, "items": i.items}
            for i in instances
        ],
    }


def _libraries() -> dict[str, str]:
    out = {}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def manifest_hashes(exam: Exam, pid: str) -> dict[str, str]:
    """Hashes of a problem's spec, generator module and template, as they are now."""
    bp = exam.bank.problems[pid]
    gen_file = Path(inspect.getsourcefile(type(bp.generator)) or "")
    return {"spec": sha256(bp.path), "generator": sha256(gen_file) if gen_file.is_file() else "",
            "template": template_hash(exam, bp.template_name) if bp.spec.body is None else ""}


MANIFEST_FORMAT = 2


def manifest(exam: Exam, seed: int, rendered: list[Rendered], files: dict[str, str] | None = None) -> dict:
    """Everything needed to re-derive and re-render the build a year from now.

    Each problem keeps its parameters, answers and the answers its key marks (so an archived
    build stays auditable after its sources change); ``files`` is the SHA-256 of every other file
    the build wrote, PDFs included.
    """
    hashes = functools.lru_cache(maxsize=None)(lambda pid: manifest_hashes(exam, pid))  # same for every version

    try:
        exam_path = str(exam.path.resolve().relative_to(exam.bank.root.resolve()))
    except ValueError:
        exam_path = str(exam.path)
    return {
        "format": MANIFEST_FORMAT,
        "exam": {"id": exam.spec.id, "path": exam_path, "sha256": sha256(exam.path),
                 "template_sha256": template_hash(exam, "exam.tex.j2")},
        "seed": seed,
        "libraries": _libraries(),
        "versions": [
            {"label": r.version, "problems": [
                {"number": i.number, "id": i.problem_id, "seed": i.seed, "pinned": i.seed is None, "points": i.points,
                 "params": i.params, "answers": i.answers, "items": i.items, "marks": marks,
                 "hashes": dict(hashes(i.problem_id))}
                for i, marks in zip(r.instances, r.marks)]}
            for r in rendered
        ],
        "files": dict(sorted((files or {}).items())),
    }


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under a build folder but its manifest, by relative path."""
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).as_posix() != "manifest.json"}


def read_json(path: Path) -> Any:
    """A JSON file of a build (manifest, key), or one clear error when it is missing or broken."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QbankError(f"{path}: missing; is this a qbank build folder?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise QbankError(f"{path}: not valid JSON: {e}") from None


_LISTED = ("versions", "problems", "students")  # lists written one record per line


def dumps(data: Any) -> str:
    """Canonical JSON for keys and manifests: one record per line under ``_LISTED`` keys.

    Records are written by the C encoder (json's indent= is pure Python and was a tenth of a
    build's time); a line per problem still diffs well when builds are committed.
    """
    def enc(value: Any) -> str:
        if isinstance(value, dict) and any(isinstance(value.get(k), list) for k in _LISTED):
            return "{" + ",".join(
                f"{json.dumps(k)}:" + ("[\n" + ",\n".join(enc(x) for x in v) + "\n]" if k in _LISTED and isinstance(v, list)
                                       else enc(v)) for k, v in value.items()) + "}"
        return _ENCODE(value)
    return enc(data) + "\n"


_ENCODE = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
"""json.dumps with dumps' options, without making an encoder per call (json.dumps makes one for any non-default option)."""


@dataclass
class BuildPlan:
    """What one build produces, before anything is written."""

    exam: Exam
    seed: int
    rendered: list[Rendered] = field(default_factory=list)
    students: list[dict] = field(default_factory=list)
    """With a roster: sid, name, folder, version, row, seat of each student, in roster order."""
    padding: dict[str, dict[int, int]] = field(default_factory=dict)
    """Per version: problem number → blank pages after it, so all versions' pages line up."""
    shard: dict | None = None
    """With --shard: index, count, the whole build's number of versions, duplex (kept in the manifest)."""
    duplex: bool | None = None
    """With PDFs: whether print-all.pdf has a blank page after each odd-length exam (kept in the manifest)."""

    def page_breaks(self, r: Rendered) -> list[bool]:
        """Per problem of a version: may blank pages follow it? (Only before a page break.)"""
        return [self.exam.entry(i.problem_id)[1].newpage for i in r.instances[1:]] + [True]

    def pad(self, padding: dict[str, dict[int, int]]) -> dict[str, str]:
        """Apply blank-page padding; return the exams that change (the manifest, written last, records it)."""
        self.padding = {label: pads for label, pads in padding.items() if pads}
        changed = {}
        for r in self.rendered:
            if r.version in self.padding:
                r.exam_tex = render_exam(self.exam, r.version, r.instances, False, padding=self.padding[r.version])
                changed[f"{r.version}/exam.tex"] = r.exam_tex
        return changed

    def files(self) -> dict[str, str]:
        """Relative path → text of every file the build writes but the manifest (PDFs come later; the
        manifest last, since it holds every other file's hash: see :meth:`manifest_json`)."""
        out = {rel: text for r in self.rendered for rel, text in r.files().items()}
        return {**out, **self.shared_files()}

    def shared_files(self) -> dict[str, str]:
        """The files made from all versions together: assignments, seating chart, grader's summary.

        (Students' copies are their versions' PDFs with the cover fields stamped on: see stamp.py.)
        """
        out = {}
        if self.students:
            out["assignments.csv"] = assignments_csv(self.students)
        if any(s["row"] is not None for s in self.students):
            out["seating-chart.tex"] = render_seating(self.exam, self.students)
        out["grader-summary.tex"] = render_summary(self.exam, self.rendered)
        return out

    def manifest_json(self, files: dict[str, str] | None = None) -> str:
        """The manifest, with each version's padding, the roster and the written files' hashes."""
        data = manifest(self.exam, self.seed, self.rendered, files)
        for version in data["versions"]:
            if self.padding.get(version["label"]):
                version["padding"] = {str(n): pages for n, pages in sorted(self.padding[version["label"]].items())}
        if self.students:
            data["students"] = self.students
        if self.shard:
            data["shard"] = self.shard
        if self.duplex is not None:
            data["duplex"] = self.duplex
        return dumps(data)


def common_layout_padding(layouts: dict[str, dict], breaks: dict[str, list[bool]]) -> dict[str, dict[int, int]]:
    """Blank pages per version and problem so that every problem starts on the same page everywhere.

    ``layouts`` (per version: question start pages and page count, from the .aux) give each
    problem's span in pages; a shorter span is padded up to the longest, where a page break
    follows the problem in every version.
    """
    spans: dict[str, list[int]] = {}
    for label, layout in layouts.items():
        starts = [int(page) for name, page in layout["starts"] if name.startswith("question@")]
        if not starts or layout["pages"] is None:
            return {}
        spans[label] = [b - a for a, b in zip(starts, starts[1:])] + [layout["pages"] - starts[-1] + 1]
    if len({len(v) for v in spans.values()}) != 1:
        return {}
    n = len(next(iter(spans.values())))
    padding: dict[str, dict[int, int]] = {label: {} for label in spans}
    for k in range(n):
        if not all(breaks[label][k] for label in spans):
            continue
        longest = max(spans[label][k] for label in spans)
        for label in spans:
            if spans[label][k] < longest:
                padding[label][k + 1] = longest - spans[label][k]
    return {label: pads for label, pads in padding.items() if pads}


def shard_labels(labels: list[str], index: int, count: int) -> list[str]:
    """Shard ``index`` of ``count`` (1-based): a contiguous block of the labels, the blocks as even as can be."""
    if not 1 <= index <= count:
        raise QbankError(f"--shard {index}/{count}: the shard number must be between 1 and {count}")
    if count > len(labels):
        raise QbankError(f"--shard {index}/{count}: {count} shards but only {len(labels)} version{'s' * (len(labels) != 1)}")
    return labels[(index - 1) * len(labels) // count: index * len(labels) // count]


def rendered_from_manifest(exam: Exam, version: dict) -> Rendered:
    """A version rendered again from its manifest record: its stored parameters and answers, nothing drawn."""
    instances = [Instance(p["number"], p["id"], p["seed"], p["points"], p["params"], p["answers"], p["items"])
                 for p in version["problems"]]
    return render_version(exam, version["label"], instances,
                          {int(n): pages for n, pages in version.get("padding", {}).items()})


def label_number(label: str) -> int:
    """1 for A, 26 for Z, 27 for AA: the inverse of version_labels."""
    number = 0
    for ch in label:
        number = number * 26 + ord(ch) - 64
    return number


def iter_versions(exam: Exam, labels: list[str], seed: int) -> Iterator[tuple[str, list[Instance]]]:
    """Every version of ``labels`` drawn and solved, in label order (see VersionDraws).

    A version avoids the final answers of the versions before it, so those are drawn too (a
    shard D-F draws A-C first), but only the versions of ``labels`` are yielded.
    """
    wanted = set(labels)
    draws = VersionDraws(seed)
    for label in version_labels(max(map(label_number, labels), default=0)):
        instances = [make_instance(exam, e, n, label, seed, draws)
                     for n, e in enumerate(version_entries(exam, label, seed), 1)]
        if label in wanted:
            yield label, instances


def draw_versions(exam: Exam, labels: list[str], seed: int) -> dict[str, list[Instance]]:
    """Every version drawn and solved, as ``plan`` draws them."""
    return dict(iter_versions(exam, labels, seed))


def _render_one(exam: Exam, label: str, seed: int) -> Rendered:
    """Draw and render one version as a build does (drawing the versions before it, which it avoids)."""
    return render_version(exam, label, draw_versions(exam, [label], seed)[label])


_WORKER: tuple[Exam, VersionDraws] | None = None


def _worker_init(exam: Exam, draws: VersionDraws) -> None:
    global _WORKER
    _WORKER = exam, draws
    forget_locks_after_fork()
    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the parent, even on SIGKILL
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_draw(slots: list[tuple[str, int, ExamProblem, bool]]) -> tuple[list[tuple[str, Instance]], tuple | None]:
    """One problem's instances in every version it is in, in label order (``slots``: label, number,
    entry, wanted), and the first error as ``(label, number, exception)``: its draws depend only on
    its own earlier draws (see VersionDraws), so problems are drawn side by side."""
    assert _WORKER is not None
    exam, draws = _WORKER
    out = []
    for label, number, entry, wanted in slots:
        try:
            inst = make_instance(exam, entry, number, label, draws.exam_seed, draws)
        except QbankError as e:
            return out, (label, number, e)
        if wanted:
            out.append((label, inst))
    return out, None


def _worker_render(versions: list[tuple[str, list[Instance]]]) -> list[Rendered]:
    """The versions rendered, without their instances: the parent has them (no need to pickle them back)."""
    assert _WORKER is not None
    out = [render_version(_WORKER[0], label, instances) for label, instances in versions]
    for rendered in out:
        rendered.instances = []
    return out


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """While workers are forked: what they inherit is never garbage they make, so the collector is
    kept off it (it would walk it on every full collection, and writing its headers copies the pages
    they share with the parent into each worker: see gc.freeze's documentation). Thawed after, for
    the callers of a long-lived process."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


PARALLEL_FROM = 8  # versions; below this, starting worker processes costs more than it saves


def _plan_parallel(exam: Exam, labels: list[str], seed: int, jobs: int, done: Callable[[Rendered], None]) -> None:
    """Draw problem by problem in worker processes, then render version by version in them.

    Versions A and B are drawn and rendered here first, so that the forked workers inherit what
    they warmed up (compiled templates, symbolic derivations) and their draws; the problems that
    took longest in B are handed out first. The result is the one sequential drawing gives: a problem's draws
    depend only on its own earlier draws, and the error raised is the one met first in label order.
    """
    wanted = set(labels)
    everything = version_labels(max(map(label_number, labels)))
    draws = VersionDraws(seed)
    cost: dict[str, float] = {}
    here = everything[:2]  # the second one's draws, with nothing left to warm up, time each problem
    for label in here:
        instances = []
        for n, e in enumerate(version_entries(exam, label, seed), 1):
            start = time.perf_counter()
            instances.append(make_instance(exam, e, n, label, seed, draws))
            cost[e.problem] = time.perf_counter() - start
        if label in wanted:
            done(render_version(exam, label, instances))
    slots: dict[str, list] = {}
    for label in everything[len(here):]:
        for n, e in enumerate(version_entries(exam, label, seed), 1):
            slots.setdefault(e.problem, []).append((label, n, e, label in wanted))
    order = sorted(slots, key=lambda pid: -cost.get(pid, 0.0))
    context = multiprocessing.get_context("fork")
    with _frozen_heap(), ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                                             initargs=(exam, draws)) as pool:
        drawn = [f.result() for f in [pool.submit(_worker_draw, slots[pid]) for pid in order]]
        errors = [err for _, err in drawn if err is not None]
        if errors:
            raise min(errors, key=lambda err: (label_number(err[0]), err[1]))[2]
        by_label: dict[str, list[Instance]] = {label: [] for label in everything[len(here):] if label in wanted}
        for instances, _ in drawn:
            for label, inst in instances:
                by_label[label].append(inst)
        for instances in by_label.values():
            instances.sort(key=lambda inst: inst.number)
        todo = list(by_label.items())
        size = max(1, min(50, len(todo) // (jobs * 4) or 1))
        chunks = [pool.submit(_worker_render, todo[i:i + size]) for i in range(0, len(todo), size)]
        for chunk in chunks:
            for rendered in chunk.result():
                rendered.instances = by_label[rendered.version]
                done(rendered)


def plan(exam: Exam, versions: int | list[str], seed: int | None = None, progress: Callable[[str], None] | None = None,
         students: list[dict] | None = None, jobs: int | None = None,
         on_version: Callable[[Rendered], None] | None = None) -> BuildPlan:
    """Draw every version in label order and render it in memory (in worker processes for many).

    Versions are drawn in label order, each avoiding the final answers of those before it (see
    VersionDraws); with many, problems are drawn side by side and versions rendered side by side
    in worker processes, and the result is the same however it is split. ``on_version`` sees each
    version as soon as it is rendered, in label order.
    """
    def done(rendered: Rendered) -> None:
        p.rendered.append(rendered)
        if on_version:
            on_version(rendered)
        if progress:
            progress(rendered.version)

    seed = exam.spec.seed if seed is None else seed
    p = BuildPlan(exam, seed, students=list(students or []))
    labels = version_labels(versions) if isinstance(versions, int) else versions
    jobs = jobs or os.cpu_count() or 1
    with templates_checked_once(exam):
        if jobs > 1 and len(labels) >= PARALLEL_FROM and "fork" in multiprocessing.get_all_start_methods():
            _plan_parallel(exam, labels, seed, jobs, done)
        else:
            for label, instances in iter_versions(exam, labels, seed):
                done(render_version(exam, label, instances))
    return p
