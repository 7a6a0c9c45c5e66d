"""Finding and loading banks: a course's own, any it names, and the library shipped with qbank.

A bank is a folder ``bank/`` in a course repository (the *root*):

    bank/problems/<id>/problem.yaml     the spec (id = folder name)
    bank/problems/<id>/generator.py     draws, solves, checks (omitted for built-in generators)
    bank/problems/<id>/template.tex.j2  the Jinja2 LaTeX of the problem (exam and key)
    bank/problems/<id>/test_<id>.py     the problem's own tests
    bank/exams/*.yaml                   exam specs
    bank/qbank.yaml                     optional settings (default exam, further banks)

Problems are looked up by id in the course's bank, then in each further bank it names, then in
the library shipped with qbank; an id found in two of them is an error naming both files.
Every bank, the shipped one included, is loaded by this one code path.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace

import jinja2
import qbank_bank
import qbank_templates
from pydantic import ValidationError

from .errors import QbankError, SpecError, shown
from .problem import Problem
from .registry import BUILTIN, Kind, builtin_generator, builtin_names, load_file
from .schema import BankSettings, ExamProblem, ExamSpec, PoolEntry, ProblemSpec, validate, validation_messages
from .yamlio import Located, load_yaml

PACKAGE_TEMPLATES = Path(qbank_templates.__file__).resolve().parent
SHIPPED_BANK = Path(qbank_bank.__file__).resolve().parent
SHIPPED_PREFIX = "qbank:"  # how files of the shipped library are named in .tex markers and messages
SPEC, GENERATOR, TEMPLATE = "problem.yaml", "generator.py", "template.tex.j2"
SETTINGS = "qbank.yaml"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def did_you_mean(name: str, valid: list[str]) -> str:
    """``; did you mean 'x'?`` for a near miss, else the list of valid names."""
    close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f"; valid: {', '.join(sorted(valid)) or '(none)'}"


def find_root(start: Path | str | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the current folder) that holds ``bank/``."""
    here = Path(start or ".").resolve()
    for folder in (here, *here.parents):
        if (folder / "bank").is_dir():
            return _short(folder)
    raise QbankError(f"no bank found in {here} or any folder above it (a course keeps its problems in "
                     "bank/); create one with `qbank init DIR`, or pass --bank DIR")


def _short(folder: Path) -> Path:
    """Shown in every error message: keep it short when the root is the current folder or below it."""
    cwd = Path.cwd().resolve()
    return Path(os.path.relpath(folder, cwd)) if folder.is_relative_to(cwd) else folder


@dataclass(frozen=True)
class BankProblem:
    """A validated problem: its spec, folder, generator instance and template."""

    spec: ProblemSpec
    folder: Path
    located: Located
    generator: Problem
    origin: str
    """How the problem's folder is named in messages and .tex markers (``bank/problems/<id>``)."""
    template_file: Path | None
    """The problem's own template file; None for a built-in generator's template or a ``body:``."""
    kinds: dict[str, Kind] = field(default_factory=dict)
    """The solve kinds of the bank the problem was loaded with (its items name them)."""

    def kind(self, name: str) -> Kind:
        """The solve kind ``name`` of this problem's bank, or an error listing the valid ones.

        Looked up in the bank, never in whatever else this process has loaded: two courses (or two
        test courses) may each define a kind of the same name."""
        from .errors import UnknownNameError

        if name not in self.kinds:
            raise UnknownNameError("solve kind", name, sorted(self.kinds))
        return self.kinds[name]

    @property
    def path(self) -> Path:
        return self.folder / SPEC

    @property
    def shipped(self) -> bool:
        """True for a problem of the library shipped with qbank (used from a course by id)."""
        return self.origin.startswith(SHIPPED_PREFIX)

    @property
    def template_name(self) -> str:
        """The Jinja name of the problem's template (see :func:`template_for`)."""
        if self.template_file is not None:
            return f"{self.origin}/{self.template_file.name}"
        return f"{self.spec.generator}.tex.j2"


@dataclass(frozen=True)
class Bank:
    """The problems found from one course root, and where its document templates live."""

    root: Path
    dirs: tuple[Path, ...]
    problems: dict[str, BankProblem]
    kinds: dict[str, Kind] = field(default_factory=dict)

    @property
    def template_dirs(self) -> list[Path]:
        """Document templates: the course's ``templates/`` first, then the ones shipped with qbank."""
        dirs = [self.root / "templates", PACKAGE_TEMPLATES]
        return list(dict.fromkeys(d.resolve() for d in dirs if d.is_dir()))

    def env(self) -> jinja2.Environment:
        """The bank's Jinja environment (one per set of templates: each template compiles once)."""
        named = tuple(sorted((bp.template_name, bp.template_file) for bp in self.problems.values()
                             if bp.template_file is not None))
        return _env(tuple(self.template_dirs), named)


@functools.lru_cache(maxsize=16)
def _env(dirs: tuple[Path, ...], named: tuple[tuple[str, Path], ...]) -> jinja2.Environment:
    from .texify import make_env

    return make_env(dirs, dict(named))


def settings(root: Path) -> tuple[BankSettings, Located | None]:
    """The course's ``bank/qbank.yaml`` (defaults when there is none)."""
    path = root / "bank" / SETTINGS
    if not path.is_file():
        return BankSettings(), None
    located = load_yaml(path)
    try:
        return validate(BankSettings, located.data or {}), located
    except ValidationError as e:
        raise SpecError(validation_messages(e, located, model=BankSettings)) from None


def bank_dirs(root: Path, extra: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The bank folders searched for problems, in order: the course's, further ones, the shipped library."""
    conf, located = settings(root)
    dirs = [root / "bank"]
    for i, rel in enumerate([*conf.banks, *extra]):
        d = (root / rel)
        if not (d / "problems").is_dir():
            where = located.error(("banks", i), "") if located and i < len(conf.banks) else f"{shown(root)}:"
            raise QbankError(f"{where.rstrip(': ')}: further bank '{rel}' has no problems/ folder "
                             f"(looked for {shown(d / 'problems')})")
        dirs.append(d)
    if conf.library:
        dirs.append(SHIPPED_BANK)
    out: dict[Path, Path] = {}
    for d in dirs:
        out.setdefault(d.resolve(), d)
    return list(out.values())


def problem_folders(dirs: list[Path]) -> dict[str, Path]:
    """``id → folder`` of every problem in the banks; an id in two banks is an error naming both."""
    found: dict[str, Path] = {}
    errors = []
    for d in dirs:
        folder = d / "problems"
        if not folder.is_dir():
            continue
        for spec in sorted(folder.glob(f"*/{SPEC}")):
            pid = spec.parent.name
            if pid in found:
                errors.append(f"{shown(spec)}: problem '{pid}' is also in {shown(found[pid] / SPEC)}; "
                              "problem ids must be unique across the banks a course uses (rename one)")
            else:
                found[pid] = spec.parent
    if errors:
        raise SpecError(errors)
    return found


def origin_of(folder: Path, root: Path) -> str:
    """``bank/problems/<id>`` for a course's problem, ``qbank:problems/<id>`` for a shipped one."""
    f = folder.resolve()
    # The library is the course's own bank only in qbank's checkout; a course's .venv may hold it too.
    if f.is_relative_to(SHIPPED_BANK) and SHIPPED_BANK != (root / "bank").resolve():
        return SHIPPED_PREFIX + f.relative_to(SHIPPED_BANK).as_posix()
    return Path(os.path.relpath(f, root.resolve())).as_posix()


def _generator_class(spec: ProblemSpec, folder: Path, located: Located) -> tuple[type | None, dict, list[str]]:
    """The generator class a spec names: registered by the folder's generator.py, or built in."""
    code = folder / GENERATOR
    if code.is_file():
        loaded = load_file(code)
        cls = loaded.registered.generators.get(spec.generator)
        if cls is None:
            names = list(loaded.registered.generators)
            near = did_you_mean(spec.generator, names)
            hint = (f"it registers {', '.join(repr(n) for n in names)}" + (near if "did you mean" in near else "")
                    if names else "it registers none (decorate a Problem subclass with @register)")
            return None, {}, [located.error(("generator",), f"generator '{spec.generator}' is not registered by "
                                            f"{shown(code)}: {hint}")]
        return cls, loaded.registered.kinds, []
    cls = builtin_generator(spec.generator)
    if cls is None:
        return None, {}, [located.error(("generator",), f"unknown generator '{spec.generator}': {shown(folder)} has "
                                        f"no {GENERATOR}, and qbank has no built-in generator of that name"
                                        + did_you_mean(spec.generator, builtin_names()))]
    return cls, {}, []


def _template_file(spec: ProblemSpec, folder: Path, located: Located, builtin: bool) -> tuple[Path | None, list[str]]:
    """The problem's template: ``template:`` (a file in its folder), else ``template.tex.j2`` there.

    A problem with a ``body:`` needs none; a built-in generator falls back to its shipped template.
    """
    if spec.body is not None:
        return None, []
    name = spec.template or TEMPLATE
    path = folder / name
    if path.is_file() and path.resolve().parent == folder.resolve():
        return path, []
    if spec.template is None and builtin:
        return None, []
    present = sorted(p.name for p in folder.glob("*.j2"))
    return None, [located.error(("template",) if spec.template else ("generator",),
                                f"no template {shown(path)} (a problem's template is a file in its own folder: "
                                f"'{TEMPLATE}', or the file named by 'template:')"
                                + _nearest(name, present))]


def _nearest(name: str, present: list[str]) -> str:
    close = difflib.get_close_matches(name, present, n=1, cutoff=0.6)
    if close:
        return f"; did you mean '{close[0]}'?"
    return f"; the folder holds {', '.join(present)}" if present else ""


def load_problem(folder: Path, root: Path) -> tuple[BankProblem | None, dict[str, Kind], list[str]]:
    """Validate one problem folder; return it with the kinds its generator registers, or its errors."""
    path = folder / SPEC
    try:
        located = load_yaml(path)
    except SpecError as e:
        return None, {}, e.messages
    try:
        spec = validate(ProblemSpec, located.data)
    except ValidationError as e:
        return None, {}, validation_messages(e, located, model=ProblemSpec) + _space_errors(located, folder)
    if spec.id != folder.name:
        return None, {}, [located.error(("id",), f"the id must match the folder name: expected '{folder.name}', "
                                        f"got '{spec.id}'")]
    try:
        cls, kinds, errors = _generator_class(spec, folder, located)
    except QbankError as e:
        return None, {}, [e.message]
    if cls is None:
        return None, {}, errors
    template, errors = _template_file(spec, folder, located, builtin=not (folder / GENERATOR).is_file())
    if errors:
        return None, {}, errors
    try:
        space = validate(cls.Space, spec.space)
    except ValidationError as e:
        return None, {}, validation_messages(e, located, ("space",), cls.Space)
    return BankProblem(spec, folder, located, cls(space), origin_of(folder, root), template), kinds, []


def _space_errors(located: Located, folder: Path) -> list[str]:
    """The ``space:`` errors of a spec whose other keys are invalid, when its generator can be found,
    so that an author sees every error of the spec in one run."""
    data = located.data
    if not (isinstance(data, dict) and isinstance(data.get("generator"), str) and isinstance(data.get("space"), dict)):
        return []
    try:
        cls, _, errors = _generator_class(SimpleNamespace(generator=data["generator"]), folder, located)
    except QbankError:
        return []  # the generator does not load: the build reports that once the spec is valid
    if cls is None or errors:
        return []
    try:
        validate(cls.Space, data["space"])
    except ValidationError as e:
        return validation_messages(e, located, ("space",), cls.Space)
    return []


def _clashes(problems: dict[str, BankProblem], kinds_of: dict[str, dict[str, Kind]]) -> list[str]:
    """Generator or solve-kind names defined by two different files."""
    errors = []
    seen: dict[tuple[str, str], tuple[str, Path]] = {}
    # The shipped library's files first, so that an error names the course's own file.
    for pid, bp in sorted(problems.items(), key=lambda item: not item[1].shipped):
        code = bp.folder / GENERATOR
        if not code.is_file():
            continue
        for what, names in (("generator", [bp.spec.generator]), ("solve kind", list(kinds_of.get(pid, {})))):
            for name in names:
                first = seen.setdefault((what, name), (pid, code))
                if first[1].resolve() != code.resolve():
                    errors.append(f"{shown(code)}: {what} '{name}' is also defined by {shown(first[1])}; "
                                  "names must be unique across the banks a course uses (rename one)")
    return errors


def load_bank(root: str | Path | None = None, only: list[str] | None = None,
              extra: list[str] | tuple[str, ...] = ()) -> Bank:
    """Load and validate the problems found from ``root`` (all, or ``only`` these ids); raise with all errors."""
    root = find_root() if root is None else Path(root)
    dirs = bank_dirs(root, extra)
    folders = problem_folders(dirs)
    wanted = folders if only is None else {pid: folders[pid] for pid in dict.fromkeys(only) if pid in folders}
    problems: dict[str, BankProblem] = {}
    kinds_of: dict[str, dict[str, Kind]] = {}
    errors: list[str] = []
    for pid, folder in wanted.items():
        bp, kinds, errs = load_problem(folder, root)
        errors += errs
        if bp is not None:
            problems[pid], kinds_of[pid] = bp, kinds
    errors += _clashes(problems, kinds_of)
    if errors:
        raise SpecError(errors)
    kinds = {**BUILTIN.kinds, **{name: kind for ks in kinds_of.values() for name, kind in ks.items()}}
    problems = {pid: replace(bp, kinds=kinds) for pid, bp in problems.items()}
    return Bank(root, tuple(dirs), problems, kinds)


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


def exam_specs(root: Path) -> list[Path]:
    """The course's exam specs (``bank/exams/*.yaml``)."""
    return sorted((root / "bank" / "exams").glob("*.yaml"))


def problems_in_exams(root: Path) -> set[str]:
    """The problem ids the course's exam specs name (specs that do not load are skipped here)."""
    ids: set[str] = set()
    for path in exam_specs(root):
        try:
            spec = validate(ExamSpec, load_yaml(path).data)
        except (SpecError, ValidationError):
            continue
        ids |= {e.problem for _, e in spec.entries()}
    return ids


def default_exam(root: Path | None = None) -> Path:
    """The exam a command uses when none is named: ``default_exam`` in bank/qbank.yaml, or the only one."""
    root = find_root() if root is None else root
    conf, _ = settings(root)
    if conf.default_exam:
        return root / "bank" / "exams" / f"{conf.default_exam}.yaml"
    specs = exam_specs(root)
    if len(specs) == 1:
        return specs[0]
    names = ", ".join(p.stem for p in specs) or "(none)"
    raise QbankError(f"which exam? {shown(root / 'bank' / 'exams')} holds {names}; name one "
                     f"(qbank build bank/exams/NAME.yaml) or set default_exam in bank/{SETTINGS}")


def load_exam(path: str | Path | None = None, root: str | Path | None = None) -> Exam:
    """Load an exam spec and its bank; every problem it names must exist, with matching parts.

    The course root is ``root``, or the nearest folder above the exam that holds ``bank/``.
    """
    if path is None:
        path = default_exam(None if root is None else Path(root))
    path = Path(path)
    if not path.suffix and not path.exists():  # an exam's id, as default_exam names it, is a common first try
        try:
            named = (Path(root) if root is not None else find_root()) / "bank" / "exams" / f"{path.name}.yaml"
        except QbankError:
            named = None
        if named is not None and named.is_file():
            raise QbankError(f"{path}: no such file; did you mean {shown(named)}?")
    located = load_yaml(path)
    try:
        spec = validate(ExamSpec, located.data)
    except ValidationError as e:
        raise SpecError(validation_messages(e, located, model=ExamSpec)) from None
    root = find_root(path.parent) if root is None else Path(root)
    known = problem_folders(bank_dirs(root, spec.banks))
    entries = spec.entries()
    errors = [located.error(loc + ("problem",), f"unknown problem '{e.problem}'" + did_you_mean(e.problem, list(known)))
              for loc, e in entries if e.problem not in known]
    seen: dict[str, tuple] = {}
    for loc, e in entries:
        if e.problem in seen:
            errors.append(located.error(loc + ("problem",), f"problem '{e.problem}' is already in this exam "
                                        f"(line {located.line(seen[e.problem])})"))
        seen.setdefault(e.problem, loc)
    if errors:
        raise SpecError(errors)
    bank = load_bank(root, only=[e.problem for _, e in entries], extra=spec.banks)
    for loc, entry in entries:
        bp = bank.problems[entry.problem]
        if entry.points is not None and list(entry.points) != list(bp.spec.points):
            errors.append(located.error(loc + ("points",), f"parts must be "
                                        f"{', '.join(bp.spec.points)} (as in {shown(bp.path)}), got "
                                        f"{', '.join(entry.points) or 'no parts'}"))
    for i, e in enumerate(spec.problems):
        if isinstance(e, PoolEntry):  # every version must be worth the same
            totals = {m.problem: sum((m.points or bank.problems[m.problem].spec.points).values()) for m in e.problems}
            if len(set(totals.values())) > 1:
                errors.append(located.error(("problems", i, "problems"), "pool problems must be worth the same "
                                            "points; got " + ", ".join(f"{k} {v}" for k, v in totals.items())))
    if errors:
        raise SpecError(errors)
    return Exam(spec, path, located, bank)


def all_kinds(root: Path | None = None) -> dict[str, Kind]:
    """Every solve kind: those of the course's banks (when run inside one) and of the shipped library."""
    try:
        found = find_root() if root is None else root
    except QbankError:
        found = None
    if found is not None:
        return load_bank(found).kinds
    folders = problem_folders([SHIPPED_BANK])
    kinds: dict[str, Kind] = {}
    for folder in folders.values():
        if (folder / GENERATOR).is_file():
            kinds.update(load_file(folder / GENERATOR).registered.kinds)
    return kinds
