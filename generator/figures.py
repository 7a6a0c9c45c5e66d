"""Pictures a key shares with its exam, typeset once: the exam's compile keeps them, the key places them.

A key repeats most of its exam's TikZ pictures (the plots and diagrams a problem gives), and TikZ
takes most of a compile (in the midterm, 0.4 s of a key's 0.8 s). So the exam is compiled with each
picture it shares with its key also shipped, after its last page, as a page of its own (the same
box TeX typeset in place, with room around it: see :data:`MARGIN`); those pages are split off into
a figures PDF, and the key places them instead of drawing the pictures again.

Only the compile changes: the ``.tex`` files written to the build are untouched. A picture is placed
only where the result cannot differ: the same source text, nothing in it that reads or changes
document state (labels, counters, remembered positions), no TikZ or pgfplots setting or definition it
uses that the two documents set differently, and, checked by TeX where the key places it, the same
mode, font, line width and colour as where the exam typeset it (once: a picture the exam typesets
twice, in a loop or at two places, is not kept); anywhere else the key draws the picture itself.
Any failure of a compile with shared pictures falls back to the plain compile.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from .latex import save_pdf

PICTURE = re.compile(r"\\begin\{tikzpicture\}.*?\\end\{tikzpicture\}", re.S)
IMPURE = re.compile(
    r"remember picture|overlay|name prefix|trim left|trim right|counter|#|(?<!\\)%|\\begin\s*\{\s*tikzpicture|"
    r"use\s*as\s*bounding\s*box|useasboundingbox|(?:reset|interrupt)boundingbox|"  # may draw outside its box
    r"rnd|rand|"  # pgf's random numbers depend on those drawn before it
    r"\\(?:the(?!ta)|qb|tikzmark|pgfmark)[A-Za-z@]*|"  # \thequestion (not \theta), qbank's macros, marks
    r"\\(?:label|ref|pageref|arabic|[rR]oman|[aA]lph|value|global|[gx]def|write|openout|input|include|"
    r"special|pdfsavepos|footnote|marginpar|index|verb|catcode|tikz|tikzpicture|pgfpicture)(?![A-Za-z@])")
"""Text that makes a picture read or change state outside itself, or that this module cannot place
(a nested picture: a second ``\\begin{tikzpicture}`` or a ``\\tikz`` inside it; a comment, which
may hide an ``\\end{tikzpicture}``; a bounding box of its own, which may leave out what it draws;
random numbers, which follow from those drawn before: a picture only the key draws moves them)."""
ANSWERS = re.compile(r"\\(?:if[A-Za-z@]*|fillin|answerline|[cC]orrect[cC]hoice|(?:no)?printanswers)(?![A-Za-z@])|"
                     r"\\begin\{solution")
"""What may draw differently in the key than in the exam from the same source: a conditional (the exam
class's ``\\ifprintanswers``, ``\\iftoggle``, a ``\\foreach`` test), the exam class's answer commands."""
VERBATIM = re.compile(r"\\verb|\\begin\{(?:verbatim|Verbatim|lstlisting|minted|comment)\*?\}|"
                      r"\\(?:detokenize|unexpanded|meaning)(?![A-Za-z@])")
"""Where a picture's source may be text to print, not to run: documents with any share nothing."""
SETTINGS = re.compile(r"\\(?:tikzset|pgfplotsset|tikzstyle|pgfkeys|pgfqkeys|usetikzlibrary|usepgfplotslibrary|"
                      r"usepackage|RequirePackage)\b")
"""Lines (outside pictures) that may change how any picture looks: both documents must make the same."""
DEFINES = re.compile(r"\\(?:[gex]?def|let|(?:re)?newcommand\*?|providecommand\*?|DeclareRobustCommand\*?|"
                     r"(?:New|Renew|Provide|Declare)DocumentCommand|DeclareMathOperator\*?|(?:re)?newenvironment|"
                     r"(?:new)?savebox|sbox|setbox|pgfmathtruncatemacro|pgfmathsetlengthmacro|csg?def|"
                     r"newlength|setlength|addtolength|definecolor|colorlet|pgfmathsetmacro|pgfmathsetlength|"
                     r"newif|newcount|newdimen)(?![A-Za-z@])\s*\{?\s*(\\?[A-Za-z@]+)")
MARGIN = "36pt"
"""Room kept around a picture's box on its page: pgf leaves a glyph's overhang and a mitred corner's
tip out of the box, and the key places the page with it (cut at the box, they were missing)."""
SIDECAR = ".qbf"
FIGURES_PDF = "qbfigs.pdf"
DUMP_MARK = "\\csname endofdump\\endcsname"

# TeX's view of where a picture is set: mode, font (math version and line spacing too), line width,
# colour, and the paragraph, box, table and math settings a node's text may read. The key places a
# kept picture only where this expands to the same string as where the exam typeset it (compared by
# MD5: a string that holds control sequences or line breaks would not survive the trip through a file).
_CONTEXT = (r"\def\qb@context{\ifvmode v\else\ifmmode m\else h\fi\fi/\f@encoding/\f@family/\f@series/"
            r"\f@shape/\f@size/\f@baselineskip/\the\baselineskip/\math@version/\the\linewidth/\the\hsize/"
            r"\the\leftskip/\the\rightskip/\the\textwidth/\the\parindent/\the\parskip/\the\tolerance/"
            r"\the\emergencystretch/\the\fboxsep/\the\fboxrule/\the\tabcolsep/\the\arraycolsep/\the\arrayrulewidth/"
            r"\expandafter\detokenize\expandafter{\arraystretch}/\detokenize\expandafter{\the\everymath}/"
            r"\detokenize\expandafter{\the\everydisplay}/"
            r"\expandafter\detokenize\expandafter{\current@color}}\newbox\qb@pic")


@dataclass(frozen=True)
class Kept:
    """A picture the exam's compile shipped as page ``page`` of the figures PDF."""
    page: int
    width: int   # sp
    height: int  # sp
    depth: int   # sp
    pictures: int  # pgf pictures it counts (pgf numbers them; skipping it must not renumber later ones)
    context: str


def _outside(text: str) -> str:
    """The document after the precompiled preamble, pictures left out."""
    start = text.find(DUMP_MARK)
    return PICTURE.sub("", text[start if start >= 0 else 0:])


def _state(text: str) -> tuple[list[str], dict[str, list[str]]]:
    """The lines outside pictures that change TikZ/pgfplots settings, and what those lines define
    (name -> the lines that define it, in order)."""
    settings, defined = [], {}
    for line in _outside(text).splitlines():
        line = line.split("%", 1)[0] if "\\%" not in line else line
        if SETTINGS.search(line):
            settings.append(line)
        for m in DEFINES.finditer(line):
            defined.setdefault(m.group(1).lstrip("\\"), []).append(line)
    return settings, defined


_GROUP = re.compile(r"[\s}\[\]#0-9=*]*\{")


def _body(text: str, at: int) -> str:
    """The brace groups right after a definition's name at ``at`` (up to three: a document command's
    argument spec and body), past a parameter text such as ``[1]`` or ``#1#2``."""
    groups, i = [], at
    while len(groups) < 3 and (m := _GROUP.match(text, i)):
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 2 if text[j] == "\\" else 1
        groups.append(text[m.end() - 1:j])
        i = j
    return "".join(groups)


def _answering(text: str) -> set[str]:
    """The macros defined in ``text`` (its preamble too) that read ``\\ifprintanswers`` or the like
    (:data:`ANSWERS`), directly or through another such macro: a picture naming one may differ in the key."""
    bodies: dict[str, str] = {}
    for m in DEFINES.finditer(text):
        name = m.group(1).lstrip("\\")
        bodies[name] = bodies.get(name, "") + _body(text, m.end())
    found: set[str] = set()
    while True:
        more = {name for name, body in bodies.items() if name not in found and
                (ANSWERS.search(body) or any(re.search(r"\\" + re.escape(n) + r"(?![A-Za-z@])", body) for n in found))}
        if not more:
            return found
        found |= more


def shared(exam: str, key: str) -> list[str]:
    """The pictures (their exact source, in the exam's order) the key may take from the exam's compile."""
    exam_settings, exam_defined = _state(exam)
    key_settings, key_defined = _state(key)
    if exam_settings != key_settings or VERBATIM.search(exam) or VERBATIM.search(key):
        return []
    differ = {name for name in exam_defined.keys() | key_defined.keys()
              if exam_defined.get(name) != key_defined.get(name)} | _answering(exam) | _answering(key)
    in_key = set(PICTURE.findall(key))
    out: list[str] = []
    for m in PICTURE.finditer(exam):
        pic = m.group(0)
        if (pic in in_key and pic not in out and not IMPURE.search(pic, 1) and not ANSWERS.search(pic) and not _commented(exam, m.start())
                and not any(re.search(r"\\" + re.escape(n) + r"(?![A-Za-z@])|\b" + re.escape(n) + r"\b", pic)
                            for n in differ)):
            out.append(pic)
    return out


def _commented(text: str, at: int) -> bool:
    """Whether ``at`` lies in a comment (a ``%`` before it on its line; an escaped ``\\%`` counts too,
    which only leaves a picture unshared)."""
    return "%" in text[text.rfind("\n", 0, at) + 1:at]


def _after_begin(text: str, code: str) -> str:
    """``code`` put right after ``\\begin{document}`` (the first not in a comment), on its line (no line
    number moves); none, the text as it is (its compile fails, and the plain one reports why)."""
    at = next((m.end() for m in re.finditer(r"\\begin\{document\}", text) if not _commented(text, m.start())), None)
    return text if at is None else text[:at] + code + text[at:]


def _wrap(text: str, pictures: dict[str, int], before: str, after: str) -> str:
    """Each occurrence of a picture in ``pictures`` (source -> id) between ``before`` and ``after``, their
    ``{K}`` replaced by the id."""
    def one(m: re.Match) -> str:
        k = pictures.get(m.group(0))
        if k is None or _commented(text, m.start()):
            return m.group(0)
        return before.replace("{K}", f"{{{k}}}") + m.group(0) + after.replace("{K}", f"{{{k}}}")
    return PICTURE.sub(one, text)


def keeping(exam: str, pictures: list[str]) -> str:
    """The exam's text for a compile that also ships each of ``pictures`` as a page of its own after
    the last page, and lists them in ``<job>.qbf`` (id, size in sp, pictures counted, context)."""
    ids = {pic: k for k, pic in enumerate(pictures, 1)}
    boxes = "".join(rf"\expandafter\newbox\csname qb@fig@{k}\endcsname" for k in ids.values())
    ship = "".join(rf"\qb@ship{{{k}}}" for k in ids.values())
    code = (r"\makeatletter" + _CONTEXT + boxes + r"\newwrite\qb@out\newcount\qb@before"
            # typeset the picture in a box, keep a copy, put the box where the picture was
            r"\def\qbkeep#1{\ifcsname qb@ctx@#1\endcsname\expandafter\gdef\csname qb@again@#1\endcsname{}\fi"
            r"\expandafter\xdef\csname qb@ctx@#1\endcsname{\pdfmdfivesum{\qb@context}}"
            r"\global\qb@before=\pgf@picture@serial@count\setbox\qb@pic\hbox\bgroup}"
            r"\def\qbkept#1{\egroup\global\setbox\csname qb@fig@#1\endcsname\copy\qb@pic"
            r"\expandafter\xdef\csname qb@n@#1\endcsname{\the\numexpr\pgf@picture@serial@count-\qb@before}"
            r"\leavevmode\box\qb@pic}"
            r"\def\qb@ship#1{\expandafter\ifvoid\csname qb@fig@#1\endcsname\else\ifcsname qb@again@#1\endcsname\else"
            r"\setbox\qb@pic\box\csname qb@fig@#1\endcsname"
            r"\ifdim\wd\qb@pic>\z@\ifdim\dimexpr\ht\qb@pic+\dp\qb@pic\relax>\z@"
            r"\pdfpagewidth=\dimexpr\wd\qb@pic+" + MARGIN + r"*2\relax"
            r"\pdfpageheight=\dimexpr\ht\qb@pic+\dp\qb@pic+" + MARGIN + r"*2\relax"
            r"\immediate\write\qb@out{#1 \number\wd\qb@pic\space\number\ht\qb@pic\space\number\dp\qb@pic"
            r"\space\csname qb@n@#1\endcsname\space\csname qb@ctx@#1\endcsname}"
            r"\csname tex_shipout:D\endcsname\vbox{\box\qb@pic}\fi\fi\fi\fi}"
            r"\AddToHook{enddocument/afterlastpage}{\immediate\openout\qb@out=\jobname" + SIDECAR +
            r"\relax\newlinechar=-1 \pdfhorigin=" + MARGIN + r"\pdfvorigin=" + MARGIN + r"\hoffset=\z@\voffset=\z@" + ship +
            r"\immediate\closeout\qb@out}\makeatother")
    return _after_begin(_wrap(exam, ids, r"\relax\qbkeep{K}", r"\qbkept{K}"), code)


def read_kept(sidecar: Path) -> dict[int, Kept] | None:
    """The pictures an exam's compile shipped (see :func:`keeping`), by id, each with its page; None
    when the list is not what keeping() writes (how many pages to take off the exam is not known)."""
    kept: dict[int, Kept] = {}
    if not sidecar.is_file():
        return kept
    for page, line in enumerate(sidecar.read_text(errors="replace").splitlines(), 1):
        parts = line.split(" ", 5)
        if len(parts) != 6 or not all(p.lstrip("-").isdigit() for p in parts[:5]):
            return None
        k, wd, ht, dp, n = map(int, parts[:5])
        kept[k] = Kept(page, wd, ht, dp, n, parts[5])
    return kept


def split_kept(pdf: Path, count: int, figures: Path) -> None:
    """Move the last ``count`` pages of ``pdf`` (the kept pictures) into ``figures``."""
    with pikepdf.open(pdf, allow_overwriting_input=True) as doc:
        with pikepdf.new() as out:
            out.pages.extend(doc.pages[len(doc.pages) - count:])
            save_pdf(out, figures)
        del doc.pages[len(doc.pages) - count:]
        save_pdf(doc, pdf)


def placing(key: str, pictures: list[str], kept: dict[int, Kept]) -> str:
    """The key's text for a compile that places the exam's kept pictures (:data:`FIGURES_PDF` beside
    it) where TeX finds the same context as in the exam, and draws them itself anywhere else."""
    ids = {pic: k for k, pic in enumerate(pictures, 1) if k in kept}
    defs = "".join(
        rf"\expandafter\def\csname qb@at@{k}\endcsname{{{{{f.page}}}{{{f.width}}}{{{f.height}}}{{{f.depth}}}"
        rf"{{{f.pictures}}}}}\expandafter\def\csname qb@ctx@{k}\endcsname{{{f.context}}}"
        for k, f in kept.items() if k in ids.values())
    code = (r"\makeatletter" + _CONTEXT + defs +
            r"\def\qbplace#1{\ifnum\pdfstrcmp{\pdfmdfivesum{\qb@context}}{\csname qb@ctx@#1\endcsname}=\z@"
            r"\expandafter\expandafter\expandafter\qb@put\csname qb@at@#1\endcsname\expandafter\qb@skip\fi}"
            r"\long\def\qb@skip#1\qbplaced#2{}\let\qbplaced\@gobble"  # \long: a picture may hold a \par
            r"\def\qb@put#1#2#3#4#5{\setbox\qb@pic\hbox{\kern-" + MARGIN + r"\lower\dimexpr#4sp+" + MARGIN +
            r"\relax\hbox{\pdfximage page #1 {" + FIGURES_PDF +
            r"}\pdfrefximage\pdflastximage}}\wd\qb@pic=#2sp\ht\qb@pic=#3sp\dp\qb@pic=#4sp"
            r"\global\advance\pgf@picture@serial@count#5\relax\leavevmode\box\qb@pic}\makeatother")
    # \relax first: at the start of a table cell TeX expands ahead (looking for \omit), and the
    # context would be read there, before the cell has begun
    return _after_begin(_wrap(key, ids, r"\relax\qbplace{K}", r"\qbplaced{}"), code)
