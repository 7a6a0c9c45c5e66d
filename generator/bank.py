"""Loading a bank of problem specs and an exam spec, with every error reported at once."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .errors import SpecError
from .problem import Problem
from .registry import GENERATORS, load_all
from .schema import ExamSpec, ProblemSpec, validate, validation_messages
from .yamlio import Located, load_yaml

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
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
        dirs = [self.root / "templates", PACKAGE_ROOT / "templates"]
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
    if spec.generator not in GENERATORS:
        return None, [located.error(("generator",), f"unknown generator '{spec.generator}'; valid: "
                                    f"{', '.join(sorted(GENERATORS))}")]
    cls = GENERATORS[spec.generator]
    try:
        space = validate(cls.Space, spec.space)
    except ValidationError as e:
        return None, validation_messages(e, located, ("space",))
    return BankProblem(spec, path, located, cls(space)), []


def load_bank(root: str | Path = ".") -> Bank:
    """Load and validate every ``bank/problems/*.yaml`` under ``root``; raise with all errors."""
    load_all()
    root = Path(root)
    folder = root / "bank" / "problems"
    if not folder.is_dir():
        raise SpecError([f"{folder}: no such folder (a bank holds its problem specs in bank/problems/)"])
    problems: dict[str, BankProblem] = {}
    errors: list[str] = []
    for path in sorted(folder.glob("*.y*ml")):
        bp, errs = _load_problem(path)
        errors += errs
        if bp is None:
            continue
        if bp.spec.id in problems:
            errors.append(bp.located.error(("id",), f"problem id '{bp.spec.id}' is also used by "
                                           f"{problems[bp.spec.id].path}"))
            continue
        problems[bp.spec.id] = bp
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


def bank_root_of(exam_path: Path) -> Path:
    """``<root>/bank/exams/x.yaml`` → ``<root>``; any other layout uses the current folder."""
    p = exam_path.resolve()
    if p.parent.name == "exams" and p.parent.parent.name == "bank":
        return p.parent.parent.parent
    return Path.cwd()


def load_exam(path: str | Path = DEFAULT_EXAM) -> Exam:
    """Load an exam spec and its bank; every problem it names must exist, with matching parts."""
    path = Path(path)
    located = load_yaml(path)
    try:
        spec = validate(ExamSpec, located.data)
    except ValidationError as e:
        raise SpecError(validation_messages(e, located)) from None
    bank = load_bank(bank_root_of(path))
    errors = []
    for i, entry in enumerate(spec.problems):
        bp = bank.problems.get(entry.problem)
        if bp is None:
            errors.append(located.error(("problems", i, "problem"), f"unknown problem '{entry.problem}'; "
                                        f"valid: {', '.join(sorted(bank.problems))}"))
        elif entry.points is not None and list(entry.points) != list(bp.spec.points):
            errors.append(located.error(("problems", i, "points"), f"parts must be "
                                        f"{', '.join(bp.spec.points)} (as in {bp.path.name}), got "
                                        f"{', '.join(entry.points)}"))
    if errors:
        raise SpecError(errors)
    return Exam(spec, path, located, bank)
