"""Loading a bank of problem specs and an exam spec, with every error reported at once."""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import qbank_templates
from pydantic import ValidationError

from .errors import SpecError, UnknownNameError
from .problem import Problem
from .registry import get_generator
from .schema import ExamProblem, ExamSpec, PoolEntry, ProblemSpec, validate, validation_messages
from .yamlio import Located, load_yaml

PACKAGE_TEMPLATES = Path(qbank_templates.__file__).resolve().parent
DEFAULT_EXAM = Path("bank/exams/midterm.yaml")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class BankProblem:
    """A validated problem spec with its generator instance."""

    spec: ProblemSpec
    path: Path
    located: Located
    generator: Problem


@dataclass(frozen=True)
class Bank:
    """The problems of one bank folder (``<root>/bank/problems``) and where templates live."""

    root: Path
    problems: dict[str, BankProblem]

    @property
    def template_dirs(self) -> list[Path]:
        """User templates first, then the ones shipped with qbank."""
        dirs = [self.root / "templates", PACKAGE_TEMPLATES]
        return list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))


def _load_problem(path: Path) -> tuple[BankProblem | None, list[str]]:
    try:
        located = load_yaml(path)
    except SpecError as e:
        return None, e.messages
    try:
        spec = validate(ProblemSpec, located.data)
    except ValidationError as e:
        return None, validation_messages(e, located)
    if spec.id != path.stem:
        return None, [located.error(("id",), f"the id must match the file name: expected '{path.stem}', got '{spec.id}'")]
    try:
        cls = get_generator(spec.generator)
    except UnknownNameError as e:
        return None, [located.error(("generator",), e.message)]
    try:
        space = validate(cls.Space, spec.space)
    except ValidationError as e:
        return None, validation_messages(e, located, ("space",))
    return BankProblem(spec, path, located, cls(space)), []


def problem_paths(root: Path) -> dict[str, Path]:
    """``id → bank/problems/<id>.yaml`` for every problem file under ``root``."""
    folder = root / "bank" / "problems"
    if not folder.is_dir():
        raise SpecError([f"{folder}: no such folder (a bank holds its problem specs in bank/problems/)"])
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def load_bank(root: str | Path = ".", only: list[str] | None = None) -> Bank:
    """Load and validate the bank's problem specs (all, or ``only`` these ids); raise with all errors."""
    root = Path(root)
    paths = problem_paths(root)
    wanted = paths if only is None else {pid: paths[pid] for pid in dict.fromkeys(only) if pid in paths}
    problems: dict[str, BankProblem] = {}
    errors: list[str] = []
    for pid, path in wanted.items():
        bp, errs = _load_problem(path)
        errors += errs
        if bp is not None:
            problems[pid] = bp
    if errors:
        raise SpecError(errors)
    return Bank(root, problems)


@dataclass(frozen=True)
class Exam:
    """A validated exam spec, its bank, and where it came from."""

    spec: ExamSpec
    path: Path
    located: Located
    bank: Bank

    def entry(self, problem_id: str) -> tuple[tuple, ExamProblem]:
        """The exam entry of a problem (ids are unique within an exam) and its key path."""
        return next((loc, e) for loc, e in self.spec.entries() if e.problem == problem_id)


def bank_root_of(exam_path: Path) -> Path:
    """``<root>/bank/exams/x.yaml`` → ``<root>``; any other layout uses the current folder."""
    p = exam_path.resolve()
    if p.parent.name == "exams" and p.parent.parent.name == "bank":
        root = p.parent.parent.parent
        # Shown in every error message: keep it short when the bank is under the current folder.
        return Path(os.path.relpath(root)) if root.is_relative_to(Path.cwd()) else root
    return Path(".")


def load_exam(path: str | Path = DEFAULT_EXAM) -> Exam:
    """Load an exam spec and its bank; every problem it names must exist, with matching parts."""
    path = Path(path)
    located = load_yaml(path)
    try:
        spec = validate(ExamSpec, located.data)
    except ValidationError as e:
        raise SpecError(validation_messages(e, located)) from None
    root = bank_root_of(path)
    known = problem_paths(root)
    entries = spec.entries()
    errors = [located.error(loc + ("problem",), f"unknown problem '{e.problem}'; valid: {', '.join(known)}")
              for loc, e in entries if e.problem not in known]
    seen: dict[str, tuple] = {}
    for loc, e in entries:
        if e.problem in seen:
            errors.append(located.error(loc + ("problem",), f"problem '{e.problem}' is already in this exam "
                                        f"(line {located.line(seen[e.problem])})"))
        seen.setdefault(e.problem, loc)
    if errors:
        raise SpecError(errors)
    bank = load_bank(root, only=[e.problem for _, e in entries])
    for loc, entry in entries:
        bp = bank.problems[entry.problem]
        if entry.points is not None and list(entry.points) != list(bp.spec.points):
            errors.append(located.error(loc + ("points",), f"parts must be "
                                        f"{', '.join(bp.spec.points)} (as in {bp.path.name}), got "
                                        f"{', '.join(entry.points)}"))
    for i, e in enumerate(spec.problems):
        if isinstance(e, PoolEntry):  # every version must be worth the same
            totals = {m.problem: sum((m.points or bank.problems[m.problem].spec.points).values()) for m in e.problems}
            if len(set(totals.values())) > 1:
                errors.append(located.error(("problems", i, "problems"), "pool problems must be worth the same "
                                            "points; got " + ", ".join(f"{k} {v}" for k, v in totals.items())))
    if errors:
        raise SpecError(errors)
    return Exam(spec, path, located, bank)
