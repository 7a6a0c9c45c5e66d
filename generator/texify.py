"""Text into LaTeX: one escaper, number formatting, and the one Jinja environment factory.

Everything rendered is escaped by default (every printed expression goes through :func:`_print`,
in place of Jinja's ``finalize``); trusted LaTeX — template text, math built by generators — is
marked by type with pylatex's :class:`NoEscape`.

Rendering also records where each output line came from (template ``file:line``), so that a
LaTeX error on line 247 of a generated ``.tex`` can be reported against the template line that
wrote it: every template is compiled with a mark before each of its lines and expressions
(:class:`_MarkingEnvironment`), and :func:`render` strips the marks into :class:`Mapped` text.
(Answer marks, ``\\qbans``, are another thing: visible to TeX, see :func:`answer`.)
"""
from __future__ import annotations

import functools
import math
import re
import numbers
import threading
import unicodedata
from pathlib import Path
from typing import Any, Iterable

import jinja2
import numpy as np
from jinja2 import nodes
from jinja2.runtime import Context, Macro
from jinja2.utils import internalcode, missing
from jinja2.compiler import CodeGenerator, optimizeconst
from pylatex import Matrix
from pylatex.utils import NoEscape, escape_latex

from .errors import QbankError, TemplateError, shown

Tex = NoEscape  # trusted LaTeX, passed through unescaped

# pylatex escapes TeX's specials one character at a time; these are the ones it leaves alone that
# still misprint (T1 ligatures such as '' ?` !`, ``^^`` notation) or should not reach TeX at all.
_EXTRA = {
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "^": r"\textasciicircum{}",  # pylatex's \^{} prints a circumflex accent, not a caret
    "'": r"\textquotesingle{}",  # T1 fonts print ' as a curly quote and '' as a double one
    "`": r"\textasciigrave{}",  # likewise, and ?` !` are the ligatures ¿ ¡
    "\n": " ",
    "\r": " ",
    "\t": " ",
}

# What pdflatex can set in qbank's documents (T1 and TS1 fonts, utf8 input, Latin Modern): the
# characters LaTeX's utf8 input declares for the loaded encodings that compile in every style
# without being dropped, as measured by scripts/settable_chars.py (TeX Live 2022); a test compiles
# every one of them. Anything else would stop the compile halfway through a batch.
_SETTABLE_RANGES = [
    (0x20, 0x7E),
    (0x00A0, 0x0125), (0x0128, 0x0137), (0x0139, 0x013E), (0x0141, 0x0148), (0x014A, 0x0165),
    (0x0168, 0x017E), (0x0192, 0x0192), (0x01C4, 0x01D4), (0x01E2, 0x01E3), (0x01E6, 0x01EB),
    (0x01F0, 0x01F0), (0x01F4, 0x01F5), (0x0218, 0x021B), (0x0232, 0x0233), (0x0237, 0x0237),
    (0x02C6, 0x02C7), (0x02D8, 0x02D9), (0x02DB, 0x02DD), (0x0E3F, 0x0E3F), (0x1E02, 0x1E03),
    (0x1E0D, 0x1E0D), (0x1E1E, 0x1E21), (0x1E25, 0x1E25), (0x1E30, 0x1E31), (0x1E37, 0x1E37),
    (0x1E43, 0x1E43), (0x1E45, 0x1E45), (0x1E47, 0x1E47), (0x1E5B, 0x1E5B), (0x1E63, 0x1E63),
    (0x1E6D, 0x1E6D), (0x1E8E, 0x1E91), (0x1E9E, 0x1E9E), (0x1EF2, 0x1EF3), (0x200C, 0x200C),
    (0x2010, 0x2016), (0x2018, 0x201A), (0x201C, 0x201E), (0x2020, 0x2022), (0x2026, 0x2026),
    (0x2030, 0x2031), (0x2039, 0x203B), (0x203D, 0x203D), (0x2044, 0x2044), (0x204E, 0x204E),
    (0x2052, 0x2052), (0x20A1, 0x20A1), (0x20A4, 0x20A4), (0x20A6, 0x20A6), (0x20A9, 0x20A9),
    (0x20AB, 0x20AC), (0x20B1, 0x20B1), (0x2103, 0x2103), (0x2116, 0x2117), (0x211E, 0x211E),
    (0x2120, 0x2120), (0x2122, 0x2122), (0x2127, 0x2127), (0x212E, 0x212E), (0x2190, 0x2193),
    (0x2422, 0x2423), (0x25E6, 0x25E6), (0x25EF, 0x25EF), (0x266A, 0x266A), (0x27E8, 0x27E9),
    (0x3008, 0x3009), (0xFB00, 0xFB06), (0xFEFF, 0xFEFF),
]
_SETTABLE = {c for a, b in _SETTABLE_RANGES for c in range(a, b + 1)}
_UNSETTABLE = re.compile("[^" + "".join(re.escape(chr(c)) for c in sorted(_SETTABLE)) + "]")
# One table for str.translate: a single pass over the text, so no replacement is ever re-escaped.
_TABLE: dict[int, str | None] = {
    **{c: None for c in [*range(0x00, 0x20), *range(0x7F, 0xA0)]},  # control characters: dropped
    **{ord(c): _EXTRA.get(c) or str(escape_latex(c)) for c in "&%$#_{}~^\\-[]<>|'`\n\r\t\xa0"},
}
# The one ligature the table cannot break: ",," is a low quote in T1 fonts. The table never
# writes a comma, so this second step touches only the text's own commas.
_COMMAS = re.compile(",(?=,)")


class UnsettableCharacter(QbankError):
    """Text holds a character pdflatex cannot typeset."""


_ESCAPED: dict[str, Tex] = {}
"""Plain strings already escaped (the same words and labels recur in every version of a build)."""
_CACHED_LEN, _CACHE_SIZE = 200, 1 << 16  # longer strings are rare repeats; when full, the cache starts over


def escape(value: Any, *, what: str = "text") -> Tex:
    """Escape arbitrary text for LaTeX in one pass; reject characters pdflatex cannot set."""
    if type(value) is str:
        done = _ESCAPED.get(value)
        if done is None:
            done = _escape(value, what)
            if len(value) <= _CACHED_LEN:
                if len(_ESCAPED) >= _CACHE_SIZE:
                    _ESCAPED.clear()
                _ESCAPED[value] = done
        return done
    if isinstance(value, NoEscape):
        return value
    return _escape(value, what)


def _escape(value: Any, what: str) -> Tex:
    text = unicodedata.normalize("NFC", str(value))
    if _MARK_OPEN in text:  # a macro's or a captured block's output, printed as text: drop its source marks
        text = _MARKS.sub("", text)
    for m in _UNSETTABLE.finditer(text):
        ch = m.group()
        if unicodedata.category(ch) == "Cc":
            continue  # control characters are dropped by the table, never sent to TeX
        raise UnsettableCharacter(
            f"{what}: character {ch!r} (U+{ord(ch):04X}, {unicodedata.name(ch, 'unnamed')}) "
            "cannot be typeset by pdflatex; replace or transliterate it"
        )
    return Tex(_COMMAS.sub(",{}", text.translate(_TABLE)))


_FORMATTED: dict[tuple[float, int], str] = {}
"""Floats already formatted, by value and digits (a build prints the same values many times)."""


def fmt_num(x: Any, digits: int = 4) -> str:
    """Format a number as a student would write it: ``3``, ``-0.25``, ``1.5`` (no ``1.50``)."""
    kind = type(x)
    if kind is int:  # the common case first: ABC checks below cost more than the formatting
        return str(x)
    if (kind is float or kind is np.float64) and type(digits) is int:
        done = _FORMATTED.get((x, digits))
        if done is None:
            done = _fmt_num(x, digits)
            if len(_FORMATTED) >= _CACHE_SIZE:
                _FORMATTED.clear()
            _FORMATTED[x, digits] = done
        return done
    return _fmt_num(x, digits)


def _fmt_num(x: Any, digits: int) -> str:
    if type(x) is int:
        return str(x)
    if isinstance(x, (bool, np.bool_)):
        raise TypeError(f"expected a number, got boolean {x}")
    if isinstance(x, numbers.Integral):
        return str(int(x))
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"expected a number, got {type(x).__name__} {x!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"cannot print non-finite number {x}")
    if abs(x - round(x)) < 1e-9:
        return str(int(round(x)))
    s = f"{round(x, digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def num(x: Any, digits: int = 4) -> Tex:
    """Template filter: a number as trusted LaTeX (use inside math)."""
    try:
        return Tex(fmt_num(x, digits))
    except TypeError as e:
        raise TypeError(f"num: {e}") from None


def vec(xs: Iterable[Any], digits: int = 4) -> Tex:
    """Template filter: a vector written ``(1, 2, 3)`` for math mode."""
    if not isinstance(xs, Iterable):
        raise TypeError(f"vec: expected a list of numbers, got {type(xs).__name__} {xs!r}")
    try:
        return Tex("(" + ", ".join(fmt_num(x, digits) for x in xs) + ")")
    except TypeError as e:
        raise TypeError(f"vec: {e}") from None


_MATRIX_TYPES = frozenset({"", "p", "b", "B", "v", "V"})  # amsmath's: pylatex writes their names unchanged


def matrix(rows: Any, digits: int = 4, mtype: str = "b") -> Tex:
    """Template filter: a numpy-compatible 2-D array as a LaTeX matrix (via pylatex)."""
    arr = np.asarray(rows, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim == 2 and arr.size and mtype in _MATRIX_TYPES:  # pylatex's text, without its objects per cell
        body = "\\\\%\n".join("&".join([fmt_num(v, digits) for v in row]) for row in arr.tolist())
        return Tex(f"\\begin{{{mtype}matrix}}%\n{body}%\n\\end{{{mtype}matrix}}")
    shown = np.vectorize(lambda v: fmt_num(v, digits), otypes=[object])(arr)
    return Tex(Matrix(shown, mtype=mtype).dumps())


MARKS = "_qbank_marks"  # context variable: the list the answer filter records each mark in
_FIELD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,60}")


def mark_tag(number: int, part: str, name: str) -> str:
    """The identity of one marked answer: problem number, part and field (``3:b:logp``)."""
    return f"{number}:{part}:{name}"


@jinja2.pass_context
def answer(context, value: Any, part: str, name: str) -> Tex:
    """Template filter: mark a final answer of the key (``<< answers.x|num|answer('a', 'x') >>``).

    The value prints unchanged; invisible tags around it (``\\qbans``, see exam.tex.j2) let
    ``qbank verify`` read it back from key.pdf under its problem, part and field. Exams have no
    answers to mark, so using it outside the key is an error.
    """
    def get(key: str, default: Any = None) -> Any:  # context.get, without its two extra calls
        value = context.resolve_or_missing(key)
        return default if value is missing else value

    if not get("key"):
        raise TemplateError(f"answer mark {part}:{name} outside the key: the exam must not print answers")
    marks = get(MARKS)
    if marks is None:
        raise TemplateError("the answer filter is only for problem templates")
    if not isinstance(part, str) or part not in get("points", {}):
        raise TemplateError(f"answer mark: part {part!r} is not one of this problem's parts "
                            f"({', '.join(get('points', {}))})")
    if not isinstance(name, str) or not _FIELD.fullmatch(name):
        raise TemplateError(f"answer mark: field {name!r} must be letters, digits, '.', '_' or '-'")
    if isinstance(value, (list, tuple, dict)):
        raise TemplateError(f"answer mark {part}:{name}: format the value first (num, vec, matrix, join)")
    text = str(_finalize(value))
    if _MARK_OPEN in text:
        text = _MARKS.sub("", text)  # no source marks in what verify reads back
    _agrees_with_answer(get("answers"), name, value, text, part)
    tag = mark_tag(context["number"], part, name)
    marks.append([tag, text])
    return Tex(f"{{\\qbans{{{escape(tag)}}}{{{text}}}}}")  # braced: one atom, also after _ or ^


_PLAIN_NUMBER = re.compile(r"^\$?\s*(-?\d+(?:\.(\d+))?)\s*\$?$")


def _agrees_with_answer(answers: Any, name: str, value: Any, text: str, part: str) -> None:
    """A mark whose field names a number among the answers must print that number.

    ``name`` is read as a path into the answers (``rows.2.params``); where it leads to a number and
    the mark prints one plain number, the two must agree to the printed precision, so a template
    that puts another value in an answer's slot fails when it renders, at build, check and verify.
    Other marks (formatted vectors, words, fields that are not answer paths) are not compared here.
    """
    target: Any = answers
    for step in name.split("."):
        if isinstance(target, dict) and step in target:
            target = target[step]
        elif isinstance(target, list) and step.isdigit() and int(step) < len(target):
            target = target[int(step)]
        else:
            return
    if isinstance(target, bool) or not isinstance(target, (int, float)):
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        printed, decimals = float(value), None
    else:
        m = _PLAIN_NUMBER.match(text.replace("\\,", "").replace("{-}", "-"))
        if not m:
            return
        printed, decimals = float(m.group(1)), len(m.group(2) or "")
    slack = 1e-9 * max(1.0, abs(target)) if decimals is None else 0.5 * 10 ** -decimals + 1e-9
    if abs(printed - target) > slack:
        raise TemplateError(f"answer mark {part}:{name} prints {text} but answers.{name} is {fmt_num(target)}: "
                            "a key must show the answer it names")


def unmark(tex: str) -> str:
    """LaTeX with every answer mark replaced by the value it marks (what a reader of the key sees)."""
    out, i, opening = [], 0, "{\\qbans{"
    while (start := tex.find(opening, i)) >= 0:
        body = tex.index("}{", start + len(opening)) + 2
        depth, j = 1, body
        while depth:
            depth += {"{": 1, "}": -1}.get(tex[j], 0) if tex[j - 1] != "\\" else 0
            j += 1
        out += [tex[i:start], tex[body:j - 1]]
        i = j + 1  # past the closing brace of the mark's group
    return "".join(out) + tex[i:]


def signed(x: Any, digits: int = 4) -> Tex:
    """Template filter: a number with its sign as an operator, ``+ 2`` or ``- 2`` (``w_1 << c|signed >>``)."""
    text = fmt_num(x, digits)
    return Tex(f"- {text[1:]}" if text.startswith("-") else f"+ {text}")


def _join(items: Iterable[Any], sep: str = "") -> Tex:
    """LaTeX-aware ``join``: escapes each untrusted item, keeps the result trusted."""
    return Tex(escape(sep).join(_finalize(i) for i in items))


def _print(value: Any, restore: str | None = None) -> str:
    """What an expression prints: :func:`_finalize`, as text. ``restore`` is the source mark the
    expression's template line left out after it (see :class:`_MarkingEnvironment`): printed after
    the value when the value holds source marks of its own, so the lines after it keep their source."""
    kind = type(value)
    if kind is str:
        done = _ESCAPED.get(value)
        return done if done is not None else escape(value)
    if kind is int:
        return str(value)
    if kind is float:
        return fmt_num(value)
    text = value.raw if kind is Mapped else value if kind is NoEscape else _finalize(value)
    if restore is not None and _MARK_OPEN in text:
        return text + restore
    return text


def _finalize(value: Any) -> Any:
    kind = type(value)
    if kind is NoEscape:
        return value
    if kind is Mapped:  # a rendered problem body inside a document: keep its lines' sources
        return value.marked()
    if kind is str:
        return escape(value)
    if kind is int or kind is float:
        return fmt_num(value)
    if isinstance(value, NoEscape):
        return value
    if value is None:
        raise TemplateError("a template printed None; a value is missing")
    if isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, (bool, np.bool_)):
        return fmt_num(value)
    return escape(value)


class _FilesLoader(jinja2.BaseLoader):
    """Templates by name from given files: each problem's template lives in the problem's folder."""

    def __init__(self, files: dict[str, Path]):
        self.files = files

    def get_source(self, environment, template):
        path = self.files.get(template)
        if path is None:
            raise jinja2.TemplateNotFound(template)
        source = path.read_text(encoding="utf-8")
        mtime = path.stat().st_mtime
        return source, str(path), lambda: path.is_file() and path.stat().st_mtime == mtime


# Source marks: ``\x01C\x02`` before each template line and expression in the output, where the one
# character C names a source ``file:line`` in this process's table (short marks: rendering a
# document copies and scans them all, and their sources are read by table lookups).
# Control characters never reach TeX: escape() drops them from text, and render() strips them.
_MARK_OPEN, _MARK_CLOSE = "\x01", "\x02"
_MARKS = re.compile("\x01([^\x02]*)\x02")
_FIRST_CODE = 0x100  # codes are characters from here on, surrogates skipped: never \x01, \x02 or \n
_SURROGATES = 0xD800 - _FIRST_CODE  # the first number whose code skips them


class _Sources:
    """The sources marks name in this process: ``file:line`` ↔ code character, file and line by number.

    Marks are made when templates compile (and for spec text), never from text, so the table only
    grows with the template lines a process compiles. A marked text sent to another process has
    its sources spelled out (:meth:`Mapped.__reduce__`)."""

    def __init__(self) -> None:
        self.code: dict[str, str] = {}
        self.source: list[str] = []
        self.files: dict[str, int] = {}  # file → number (0: none)
        self.file_names: list[str | None] = [None]
        self.file_of: list[int] = []
        self.line_of: list[int] = []
        self.arrays: tuple[np.ndarray, np.ndarray] | None = None
        self.lock = threading.Lock()

    def mark(self, source: str) -> str:
        """The mark of ``source`` (``file:line``)."""
        code = self.code.get(source)
        if code is None:
            with self.lock:
                code = self.code.get(source)
                if code is None:
                    file, _, line = source.rpartition(":")
                    if not line.isdecimal():
                        file = ""  # not a template line: names no source
                    number = self.files.get(file, 0) if file else 0
                    if file and not number:
                        number = self.files[file] = len(self.file_names)
                        self.file_names.append(file)
                    self.line_of.append(int(line) if file else 0)
                    self.file_of.append(number)
                    n = len(self.source)
                    self.source.append(source)
                    self.arrays = None
                    code = self.code[source] = chr(_FIRST_CODE + n + (0x800 if n >= _SURROGATES else 0))
        return f"{_MARK_OPEN}{code}{_MARK_CLOSE}"

    def numbers(self, codes: np.ndarray) -> np.ndarray:
        """The source numbers of mark codes (code points); -1 for a code that names none."""
        n = codes.astype(np.int64) - _FIRST_CODE
        n -= 0x800 * (n >= _SURROGATES + 0x800)
        n[(n < 0) | (n >= len(self.source)) | ((codes >= 0xD800) & (codes < 0xE000))] = -1
        return n

    def number(self, code: str) -> int:
        """The source number of one mark's code (-1: none)."""
        if len(code) != 1:
            return -1
        cp = ord(code)
        n = cp - _FIRST_CODE - (0x800 if cp >= 0xE000 else 0)
        return n if 0 <= n < len(self.source) and not 0xD800 <= cp < 0xE000 else -1

    def lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """Per source number: its file's number and its line; a last entry (index -1) for none."""
        arrays = self.arrays
        if arrays is None:
            arrays = self.arrays = (np.array([*self.file_of, 0], np.int64), np.array([*self.line_of, 0], np.int64))
        return arrays


SOURCES = _Sources()


def _mark(label: str, line: int) -> str:
    return SOURCES.mark(f"{label}:{line}")


class Mapped(NoEscape):
    """Rendered LaTeX that knows the template ``file:line`` each of its lines came from.

    It keeps its marked text (``raw``): nesting it in another document costs nothing, and the
    per-line ``sources`` are worked out only when asked for (for a whole document's map)."""

    raw: str

    def __new__(cls, text: str, sources: Iterable[str] | None = None, *, marked: str | None = None) -> "Mapped":
        if marked is None:
            marked = "\n".join(_mark_text(src) + line if src else line
                               for src, line in zip(sources or (), text.split("\n")))
        obj = super().__new__(cls, text)
        obj.raw = marked
        return obj

    def __reduce__(self):  # rendered in a build's worker processes, sent back to the parent
        def spelled(m: re.Match) -> str:
            n = SOURCES.number(m.group(1))
            return f"{_MARK_OPEN}{SOURCES.source[n] if n >= 0 else ''}{_MARK_CLOSE}"
        return _from_spelled, (_MARKS.sub(spelled, self.raw),)

    @functools.cached_property
    def sources(self) -> tuple[str, ...]:
        """Per line: the last mark at or before its start (its own leading mark, or for a
        continuation line of a multi-line value, the last mark before it)."""
        return tuple(SOURCES.source[n] if n >= 0 else "" for n in self._line_sources.tolist())

    @functools.cached_property
    def _line_sources(self) -> np.ndarray:
        """Per line: the number of its source (see :attr:`sources`), -1 for none."""
        # By arrays, not by Python loops: a document has thousands of marks and lines.
        found = self.__dict__.pop("_found", None) or _find_marks(self.raw)
        clean, at, numbers = found[0], found[1], SOURCES.numbers(found[2])
        starts = np.concatenate(([0], np.flatnonzero(clean == 10) + 1))
        return np.concatenate(([-1], numbers))[np.searchsorted(at, starts, side="right")]

    def marked(self) -> Tex:
        """The text with its marks (for nesting in another rendered document)."""
        return Tex(self.raw)


class SpecText(NoEscape):
    """Trusted LaTeX written in a problem's spec (a multiple-choice question), at ``key`` there:
    errors in it are reported at that line of the spec."""

    key: tuple

    def __new__(cls, text: str, key: tuple) -> "SpecText":
        obj = super().__new__(cls, text)
        obj.key = tuple(key)
        return obj

    def __reduce__(self):
        return SpecText, (str(self), self.key)


def _mark_text(source: str) -> str:
    return SOURCES.mark(source)


def from_marked(marked: str) -> Mapped:
    """Rendered text with source marks as :class:`Mapped` (the marks stripped from its text)."""
    return Mapped(_MARKS.sub("", marked) if _MARK_OPEN in marked else marked, marked=marked)


def _find_marks(marked: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marked text as arrays: its characters without the marks (code points), where each mark
    stood among them, and each mark's code."""
    chars = np.frombuffer(marked.encode("utf-32-le"), np.uint32)
    opens = np.flatnonzero(chars == 1)
    if len(opens) and opens[-1] + 2 < len(chars) and (chars[opens + 2] == 2).all() and (chars[opens + 1] > 2).all():
        keep = np.ones(len(chars), bool)
        keep[opens] = keep[opens + 1] = keep[opens + 2] = False
        return chars[keep], opens - 3 * np.arange(len(opens)), chars[opens + 1]
    # Control characters in trusted text (a generator's LaTeX): marks are what the pattern finds,
    # and one whose code is not a single known character names no source.
    parts = _MARKS.split(marked)
    texts, codes = parts[0::2], parts[1::2]
    clean = np.frombuffer("".join(texts).encode("utf-32-le"), np.uint32)
    at = np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts) - 1))
    return clean, at, np.fromiter((ord(c) if len(c) == 1 else 0 for c in codes), np.int64, len(codes))


def _from_spelled(spelled: str) -> Mapped:
    """A :class:`Mapped` sent from another process: its marks spell their sources out."""
    return from_marked(_MARKS.sub(lambda m: SOURCES.mark(m.group(1)), spelled))


_PRINT = "_qbank_print"  # the filter every printed expression goes through (see _MarkingEnvironment)
_DICT_ATTRIBUTES = frozenset(dir(dict))


class _CodeGenerator(CodeGenerator):
    """Jinja's code, with two shortcuts for what templates do most: ``x.name`` on a plain dict
    (parameters, answers) reads the item directly instead of trying the attribute first (Jinja's
    way, which raises and catches an AttributeError every time), and a printed expression's text
    (from :func:`_print`, already a string) is not passed through ``str`` again."""

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame) -> None:
        if self.environment.is_async or node.attr in _DICT_ATTRIBUTES:
            return super().visit_Getattr(node, frame)
        obj, attr = self.temporary_identifier(), repr(node.attr)
        self.write(f"({obj}[{attr}] if type({obj} := ")
        self.visit(node.node, frame)
        self.write(f") is dict and {attr} in {obj} else environment.getattr({obj}, {attr}))")

    def _output_child_pre(self, node, frame, finalize) -> None:
        if not self._printed(node, frame):
            super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node, frame, finalize) -> None:
        if not self._printed(node, frame):
            super()._output_child_post(node, frame, finalize)

    @staticmethod
    def _printed(node, frame) -> bool:
        return (isinstance(node, nodes.Filter) and node.name == _PRINT
                and not frame.eval_ctx.volatile and not frame.eval_ctx.autoescape)


class _Context(Context):
    @internalcode
    def call(__self, __obj, *args, **kwargs):  # noqa: N805 (Jinja's own signature)
        # Jinja's own, without looking for pass_context & co. on what never has them: macros and
        # qbank's template functions (a template calls them a hundred times per version).
        kind = type(__obj)
        if kind is Macro or (kind in _PLAIN_KINDS and __obj in _PLAIN_FUNCTIONS):  # (only these are hashed)
            kwargs.pop("_block_vars", None)
            kwargs.pop("_loop_vars", None)
            try:
                return __obj(*args, **kwargs)
            except StopIteration:
                return __self.environment.undefined("value was undefined because a callable raised a StopIteration exception")
        return super().call(__obj, *args, **kwargs)


class _MarkingEnvironment(jinja2.Environment):
    """Compiles every template with a source mark before each of its lines and expressions.

    Jinja's own parse tree is edited (``TemplateData`` nodes carry their line numbers), so the
    template text itself is never touched and Jinja's cache and auto-reload still apply.

    A line's source is the last mark at or before its start, so a mark that repeats the one before
    it changes nothing and is left out (most lines mark each piece of text between expressions with
    the same line). Only when an expression's value brings marks of its own (a macro's output, a
    rendered problem) would the repeated mark after it count: there, the expression prints it
    (:func:`_print`, which every printed expression goes through instead of Jinja's ``finalize``).
    """

    problem_names: frozenset[str] = frozenset()
    code_generator_class = _CodeGenerator
    context_class = _Context

    def _parse(self, source, name, filename):  # the one hook Jinja offers between parsing and code
        tree = super()._parse(source, name, filename)
        if name is None:
            label = "<template>"
        elif name in self.problem_names or filename is None:
            label = name
        else:  # a document template, found in the course's templates/ or qbank's own
            label = f"templates/{name}"
        for out in tree.find_all(nodes.Output):
            marked, line_of_last = [], None  # the template line the previous output ended on, mid-line
            last, since = None, []  # the last mark of this node so far; the expressions printed after it

            def mark(line: int) -> str:
                """The mark of ``line`` here, or "" where it repeats the last one with at most one
                expression between (which then prints it after marks of its own)."""
                nonlocal last, since
                m = _mark(label, line)
                if m == last and len(since) <= 1:
                    for expression in since:
                        expression.args.append(nodes.Const(m, lineno=expression.lineno, environment=self))
                    since = []
                    return ""
                last, since = m, []
                return m

            for child in out.nodes:
                if isinstance(child, nodes.TemplateData):
                    parts = child.data.split("\n")
                    child.data = "\n".join(mark(child.lineno + i) + part for i, part in enumerate(parts))
                    line_of_last = child.lineno + len(parts) - 1 if parts[-1] else None
                else:
                    if child.lineno != line_of_last:  # mid-line after output of the same line: already marked
                        if m := mark(child.lineno):
                            marked.append(nodes.TemplateData(m, lineno=child.lineno))
                        line_of_last = child.lineno
                    child = nodes.Filter(child, _PRINT, [], [], None, None, lineno=child.lineno, environment=self)
                    since.append(child)
                marked.append(child)
            out.nodes = marked
        return tree

    def make_globals(self, d):
        # A plain dict instead of Jinja's ChainMap over the environment's globals: every render copies
        # it into a new context, and a ChainMap is copied key by key in Python. qbank sets the
        # environment's globals once, before any template is loaded.
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Jinja's own (the attribute, else the item, else undefined), but ``x.name`` on a plain dict
        # (parameters, answers) is its item at once: trying the attribute first raises every time.
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        try:
            return getattr(obj, attribute)
        except AttributeError:
            pass
        try:
            return obj[attribute]
        except (TypeError, LookupError, AttributeError):
            return self.undefined(obj=obj, name=attribute)


FILTERS = {"answer": answer, "num": num, "signed": signed, "vec": vec, "matrix": matrix, "tex": Tex, "escape": escape, "e": escape,
           "join": _join}
"""Every filter a template can use beyond Jinja's built-in ones (docs/templates.md lists them)."""


def make_env(search_paths: Iterable[Path], files: dict[str, Path] | None = None) -> jinja2.Environment:
    """The one Jinja environment: LaTeX-safe delimiters, StrictUndefined, escaping by default.

    ``files`` maps problem template names to their files; document templates (exam, summary,
    seating) are searched for in ``search_paths``, in order.
    """
    search_paths = [str(p) for p in search_paths]
    env = _MarkingEnvironment(
        loader=jinja2.ChoiceLoader([_FilesLoader(dict(files or {})), jinja2.FileSystemLoader(search_paths)]),
        undefined=jinja2.StrictUndefined,
        block_start_string="<%",
        block_end_string="%>",
        variable_start_string="<<",
        variable_end_string=">>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.problem_names = frozenset(files or {})
    env.searched = search_paths  # type: ignore[attr-defined]  # for "template not found" messages
    env.filters.update(FILTERS)
    env.filters[_PRINT] = _print  # Jinja's finalize, with the source mark an expression may restore
    env.globals.update(Tex=Tex, num=num, vec=vec, matrix=matrix, signed=signed, enumerate=enumerate, zip=zip,
                       len=len, range=range)
    return env


_PLAIN_FUNCTIONS = frozenset({Tex, num, vec, matrix, signed, enumerate, zip, len, range})
"""The functions templates can call (make_env's globals): none takes Jinja's context or environment."""
_PLAIN_KINDS = frozenset(map(type, _PLAIN_FUNCTIONS))


def _in_template(exc: BaseException) -> bool:
    """Whether a template's own code is on the traceback of ``exc``."""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith((".j2", ".tex")) or name == "<template>":
            return True
        tb = tb.tb_next
    return False


def _template_location(exc: BaseException, fallback: str) -> str:
    """``file:line`` of the innermost template frame of a render error (inline templates: ``fallback``)."""
    tb = exc.__traceback__
    where = fallback
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.endswith((".j2", ".tex")) or name == "<template>":
            where = f"{fallback if name == '<template>' else shown(name)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def render(env: jinja2.Environment, name: str | None, context: dict, *, source: str | None = None,
           source_name: str = "<template>") -> Mapped:
    """Render a template file (``name``) or inline ``source``; errors name the template and line.

    The result knows the template line of each of its lines (see :class:`Mapped`)."""
    return from_marked(_render(env, name, context, source, source_name))


def render_document(env: jinja2.Environment, name: str, context: dict) -> str:
    """A whole document rendered with its line map: ``with_map(render(env, name, context))``."""
    marked = _render(env, name, context, None, "<template>")
    if _MARK_OPEN not in marked:
        return with_map(Mapped(marked, marked=marked))
    found = _find_marks(marked)  # one pass gives both the text and its lines' sources
    doc = Mapped(found[0].tobytes().decode("utf-32-le"), marked=marked)
    doc._found = found
    return with_map(doc)


def _render(env: jinja2.Environment, name: str | None, context: dict, source: str | None, source_name: str) -> str:
    """The marked text of a template (see :func:`render`)."""
    try:
        if source is not None:  # a spec's inline body: compiled once per environment
            inline = env.__dict__.setdefault("_qbank_inline", {})
            template = inline.get((source, source_name))
            if template is None:
                template = env.template_class.from_code(env, env.compile(source, source_name), env.make_globals(None))
                inline[source, source_name] = template
        else:
            template = env.get_template(name)
        return template.render(context)
    except jinja2.TemplateNotFound as e:
        searched = ", ".join(getattr(env, "searched", []))
        raise TemplateError(f"template '{e.name}' not found; looked in: {searched}") from None
    except jinja2.TemplateSyntaxError as e:
        where = source_name if source is not None else shown(e.filename) if e.filename else e.name
        raise TemplateError(f"{where}:{e.lineno}: template syntax error: {e.message}") from None
    except jinja2.UndefinedError as e:
        where = _template_location(e, source_name if source is not None else str(name))
        raise TemplateError(f"{where}: undefined template variable: {e.message}") from None
    except QbankError as e:
        where = _template_location(e, source_name if source is not None else str(name))
        raise type(e)(f"{where}: {e.message}") from None
    except Exception as e:  # a filter given the wrong kind of value (num of a list): the template's line
        if not _in_template(e):
            raise
        where = _template_location(e, source_name if source is not None else str(name))
        said = str(e) if isinstance(e, (TypeError, ValueError)) else f"{type(e).__name__}: {e}"
        raise TemplateError(f"{where}: {said}") from None


MAP_PREFIX = "%% qbank-map"


def with_map(doc: Mapped) -> str:
    """A whole document with its line map appended as comments after ``\\end{document}`` (TeX never
    reads them): ``%% qbank-map-file N: FILE`` lines, then ``%% qbank-map: A-B=N:L`` entries saying
    that lines A to B of this file came from lines L, L+1, … of template file N."""
    text = doc.rstrip("\n")
    sources = doc._line_sources
    count = len(sources) - (len(doc) - len(text))  # the lines of text (without the trailing newlines)
    sources = sources[:count]
    file_of, line_of = SOURCES.lookup()
    file_of, line_of = file_of[sources], line_of[sources]  # per line (file 0, line 0: no source)
    used, first = np.unique(file_of, return_index=True)
    used = used[np.argsort(first)]
    used = used[used != 0]  # the files, in order of first appearance
    number = np.zeros(len(SOURCES.file_names), np.int64)
    number[used] = np.arange(1, len(used) + 1)
    file_of = number[file_of]
    # A run: consecutive lines of one file whose template line grows with the tex line. Lines with no
    # source (file 0, line 0) are left out, each a run of its own.
    offset = line_of - np.arange(count)
    firsts = [0, *(np.flatnonzero((file_of[1:] != file_of[:-1]) | (offset[1:] != offset[:-1])) + 1).tolist(), count]
    keys = zip(file_of[firsts[:-1]].tolist(), offset[firsts[:-1]].tolist())
    entries = [f"{a + 1}={n}:{offset + a}" if b == a + 1 else f"{a + 1}-{b}={n}:{offset + a}"
               for a, b, (n, offset) in zip(firsts, firsts[1:], keys) if n]
    files = {SOURCES.file_names[f]: n for n, f in enumerate(used.tolist(), 1)}
    out = [text, f"{MAP_PREFIX}: this file's lines come from these templates' lines"]
    out += [f"{MAP_PREFIX}-file {n}: {file}" for file, n in files.items()]
    out += [f"{MAP_PREFIX}: " + " ".join(entries[i:i + 12]) for i in range(0, len(entries), 12)]
    return "\n".join(out) + "\n"


def read_map(tex_lines: list[str]) -> dict[int, str]:
    """A generated document's line map (see :func:`with_map`): tex line → template ``file:line``."""
    files: dict[str, str] = {}
    out: dict[int, str] = {}
    for text in tex_lines:
        if not text.startswith(MAP_PREFIX):
            continue
        if text.startswith(f"{MAP_PREFIX}-file "):
            n, _, file = text[len(MAP_PREFIX) + 6:].partition(": ")
            files[n] = file
            continue
        for entry in text[len(MAP_PREFIX) + 2:].split():
            lines, _, src = entry.partition("=")
            n, _, first = src.partition(":")
            if n not in files or not first.isdigit():
                continue
            a, _, b = lines.partition("-")
            for i in range(int(a), int(b or a) + 1):
                out[i] = f"{files[n]}:{int(first) + i - int(a)}"
    return out
