"""The one typed schema of qbank's YAML: problem specs and exam specs.

Validated once at load time; nothing downstream sees raw dicts. Validation errors are mapped
back to ``file:line: key.path: message`` through :mod:`generator.yamlio`.
"""
from __future__ import annotations

import difflib
import json
from typing import Annotated, Any, Union, get_args

from pydantic import AfterValidator, BaseModel, Discriminator, Tag, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from .yamlio import Located

SLUG = r"^[a-z0-9][a-z0-9-]*$"
Slug = Annotated[str, StringConstraints(pattern=SLUG, max_length=64)]
def _settable(text: str) -> str:
    """Refuse at load time what pdflatex could not typeset (instead of failing mid-batch)."""
    from .texify import UnsettableCharacter, escape

    try:
        escape(text)
    except UnsettableCharacter as e:
        raise ValueError(e.message.replace("text: ", "", 1)) from None
    return text


def _settable_latex(text: str) -> str:
    """LaTeX written by an author: every character must be settable and no control character may reach TeX."""
    bad = next((ch for ch in text if ord(ch) < 0x20 and ch not in "\t\n\r"), None)
    if bad is not None:
        raise ValueError(f"control character U+{ord(bad):04X} is not allowed")
    return _settable(text)


# Length limits keep every line TeX reads well inside its input buffer (200,000 characters; one
# escaped character is at most 16), and catch pasted garbage early.
MAX_TEXT = 200  # titles, names, cover-page fields: printed on one line
MAX_PARAGRAPH = 1000  # an instruction bullet, a multiple-choice option or reason
MAX_LATEX = 50_000  # an inline problem body or question
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT), AfterValidator(_settable)]
Paragraph = Annotated[str, StringConstraints(min_length=1, max_length=MAX_PARAGRAPH), AfterValidator(_settable)]


def Latex(max_length: int) -> Any:
    """Author LaTeX of at most ``max_length`` characters, checked for characters pdflatex cannot set."""
    return Annotated[str, StringConstraints(max_length=max_length), AfterValidator(_settable_latex)]
Points = Annotated[int, Field(gt=0, le=1000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _some_parts(points: dict) -> dict:
    if not points:
        raise ValueError("needs at least one part, e.g. {a: 4} or {all: 4}")
    return points


class ProblemSpec(_Strict):
    """A problem in a bank: ``bank/problems/<id>/problem.yaml``."""

    id: Slug
    """Unique name of the problem, used by exam specs and in seeds; the name of its folder."""
    title: Text
    """Heading printed above the problem."""
    topics: list[Text] = []
    """Topic tags, shown by ``qbank list``."""
    generator: Text
    """The generator that draws and solves it: the name its folder's ``generator.py`` registers, or a
    built-in generator (``multiple_choice``) for a problem folder that holds only its spec."""
    points: Annotated[dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+$")], Points],
                      AfterValidator(_some_parts)]
    """Points per part, in order: ``{a: 6, b: 4}``."""
    template: Text | None = None
    """Its Jinja2 LaTeX template: a file in the problem's own folder; default ``template.tex.j2``."""
    body: Latex(MAX_LATEX) | None = None  # type: ignore[valid-type]
    """Inline Jinja2 LaTeX instead of a template file."""
    space: dict[str, Any] = {}
    """Parameter space: ranges, choices, pools and constraints, checked by the generator."""

    @model_validator(mode="after")
    def _one_body(self) -> "ProblemSpec":
        if self.template and self.body:
            raise ValueError("give either 'template' or 'body', not both")
        return self

    @property
    def total(self) -> int:
        return sum(self.points.values())


class ExamProblem(_Strict):
    """One entry of an exam's ordered problem list."""

    problem: Slug
    """The problem's id in the bank."""
    points: dict[str, Points] | None = None
    """Points per part for this exam, overriding the problem's (same part names)."""
    params: dict[str, Any] | None = None
    """Pinned parameters: every version uses exactly these instead of a fresh draw."""
    newpage: bool = True
    """Start the problem on a new page."""
    shuffle: Slug | None = None
    """Shuffle group: problems with the same group name swap places at random per version."""


class PoolEntry(_Strict):
    """Pick ``choose`` of the listed problems per version (all of equal points), in list order."""

    pool: Slug
    """Name of the pool (its draw is seeded by the exam seed, the version and this name)."""
    choose: Annotated[int, Field(ge=1)]
    """How many problems each version gets from the pool."""
    problems: Annotated[list[ExamProblem], Field(min_length=2)]
    """The candidates."""

    @model_validator(mode="after")
    def _fits(self) -> "PoolEntry":
        if self.choose > len(self.problems):
            raise ValueError(f"choose is {self.choose} but the pool has only {len(self.problems)} problems")
        return self


def _entry_kind(value: Any) -> str:
    return "pool-entry" if isinstance(value, dict) and "pool" in value else "problem-entry"


Entry = Annotated[Union[Annotated[ExamProblem, Tag("problem-entry")], Annotated[PoolEntry, Tag("pool-entry")]],
                  Discriminator(_entry_kind)]


MAX_VERSIONS = 100_000  # labels run A … Z, AA … ZZ, AAA …; this only stops a typo's runaway build

DEFAULT_FIELDS = ["Student ID", "Name (printed)", "Signature", "Discussion section",
                  "Row and seat", "Left neighbor (name, SID)", "Right neighbor (name, SID)",
                  "Front neighbor (name, SID)", "Back neighbor (name, SID)"]


class ExamSpec(_Strict):
    """An exam: ``bank/exams/<id>.yaml``."""

    id: Slug
    """Name of the exam; the default output folder is ``output/<id>``."""
    course: Text
    term: Text
    title: Text
    instructor: Text
    date: Text
    room: Text
    duration: Text
    instructions: list[Paragraph] = []
    """Bullet points printed on the cover page."""
    cover_fields: list[Text] = DEFAULT_FIELDS
    """Fields students fill in on the cover page."""
    seed: Annotated[int, Field(ge=0, le=2**63 - 1)] = 0
    """Exam seed; each version's and problem's seed derives from it (the range ``--seed`` takes)."""
    versions: Annotated[int, Field(ge=1, le=MAX_VERSIONS)] = 2
    """Default number of versions (A, B, …)."""
    banks: list[Annotated[str, StringConstraints(min_length=1)]] = []
    """Further bank folders this exam draws problems from, relative to the course root, searched
    after the course's own bank and before the library shipped with qbank."""
    problems: Annotated[list[Entry], Field(min_length=1)]
    """The ordered problems: a problem entry, or a pool to pick from per version."""

    def entries(self) -> list[tuple[tuple, ExamProblem]]:
        """Every problem entry with its key path, pool members included."""
        out = []
        for i, e in enumerate(self.problems):
            if isinstance(e, PoolEntry):
                out += [(("problems", i, "problems", j), m) for j, m in enumerate(e.problems)]
            else:
                out.append((("problems", i), e))
        return out


class BankSettings(_Strict):
    """A course's optional ``bank/qbank.yaml``."""

    default_exam: Slug | None = None
    """The exam spec (``bank/exams/<name>.yaml``) that commands use when none is named."""
    banks: list[Annotated[str, StringConstraints(min_length=1)]] = []
    """Further bank folders (a department's shared bank), relative to the course root, searched in order."""
    library: bool = True
    """Whether the problems shipped with qbank are available by id."""


_HINTS = {
    "string_type": "expected a string",
    "int_type": "expected an integer",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "missing": "missing required key",
    "extra_forbidden": "unknown key",
}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()} (YAML reads unquoted yes/no/on/off as booleans; quote it)"
    if isinstance(value, (dict, list)):
        return type(value).__name__
    return repr(value)


def validate(model: type[BaseModel], data: Any) -> Any:
    """Validate YAML data strictly in JSON mode (lists are accepted for tuples, ints for floats)."""
    return model.model_validate_json(json.dumps(data))


def _models_in(t: Any) -> list[type[BaseModel]]:
    """The models a field's type holds (through lists, unions, Annotated)."""
    if isinstance(t, type) and issubclass(t, BaseModel):
        return [t]
    return [m for a in get_args(t) for m in _models_in(a)]


def known_keys(model: Any, path: tuple) -> list[str]:
    """The keys a mapping at ``path`` inside ``model`` may hold ([] when that is not a model's)."""
    models = _models_in(model)
    for p in path:
        if not isinstance(p, int):
            models = [m for mm in models if p in mm.model_fields for m in _models_in(mm.model_fields[p].annotation)]
    return sorted({f.alias or n for m in models for n, f in m.model_fields.items()})


def validation_messages(err: ValidationError, located: Located, prefix: tuple = (),
                        model: Any = None) -> list[str]:
    """Turn pydantic errors into ``file:line: key.path: message`` lines, one per error. With the
    ``model`` validated, an unknown key that is a near miss of a key it may hold names that key
    (and the missing-key error that the misspelling caused is not repeated)."""
    out = []
    errors = err.errors(include_url=False)
    meant: set[tuple] = set()
    for e in errors:
        if e["type"] == "extra_forbidden" and model is not None and isinstance(e["loc"][-1], str):
            close = difflib.get_close_matches(e["loc"][-1], known_keys(model, e["loc"][:-1]), n=1, cutoff=0.6)
            e["meant"] = close[0] if close else None
            if close:
                meant.add((*e["loc"][:-1], close[0]))
    for e in errors:
        loc = prefix + tuple(p for p in e["loc"] if not (isinstance(p, str) and (
            p.startswith("function-") or p in ("problem-entry", "pool-entry"))))
        kind = e["type"]
        if kind == "missing" and tuple(e["loc"]) in meant:
            continue  # said with the misspelling
        if kind == "missing":
            msg = "missing required key"
        elif kind == "extra_forbidden":
            msg = "unknown key" + (f"; did you mean '{e['meant']}'?" if e.get("meant") else "")
        elif kind == "string_pattern_mismatch" and (e.get("ctx") or {}).get("pattern") == SLUG:
            msg = f"{e['input']!r} is not an id: use lowercase letters, digits and dashes (e.g. softmax-temperature)"
        elif kind in _HINTS:
            msg = f"{_HINTS[kind]}, got {_describe(e['input'])}"
        elif kind == "value_error":
            msg = str(e["msg"]).removeprefix("Value error, ")
        else:
            msg = f"{e['msg'][0].lower()}{e['msg'][1:]}, got {_describe(e['input'])}"
        out.append(located.error(loc, msg))
    return out
