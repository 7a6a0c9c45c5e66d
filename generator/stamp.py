"""Students' copies without recompiling: each version's compiled exam with the cover fields stamped on.

The version's exam records (``\\pdfsavepos``, in its ``.aux``) where each stampable field starts:
the name, SID and seat on the cover, the SID line in every later page's footer. One small LaTeX
document holds nothing but those fields, one page per student and distinct placement, typeset
in the exam's own fonts at exactly those positions; each of its pages is laid over the version's
page as a form XObject (pikepdf). The field's blank line under a stamped value is painted white.
"""
from __future__ import annotations

import itertools
import math
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pikepdf

from .build import cover_values
from .errors import QbankError
from .latex import clean_aux, compile_pdf, save_pdf
from .output import forget_locks_after_fork
from .texify import Tex, render

FOOTER = "sid-footer"
"""The footer's SID line; it takes the student's SID on every page that has it."""
COPY_NAME = "exam.pdf"
STAMPS_DIR = ".stamps"
PER_CHUNK = 100  # students per stamp document: small enough to spread over the cores


@dataclass(frozen=True)
class Mark:
    """Where a field starts: its page, its baseline's left end (sp from the page's lower-left corner), its width."""

    page: int
    x: int
    y: int
    width: int


def read_marks(aux: Path) -> dict[str, list[Mark]]:
    """The stampable fields an exam's ``.aux`` records (``\\qbpos``), by field name, in page order."""
    text = aux.read_text(errors="replace") if aux.exists() else ""
    marks: dict[str, list[Mark]] = {}
    for key, page, x, y, w in re.findall(r"\\qbpos\{([\w-]+)\}\{(\d+)\}\{(-?\d+)\}\{(-?\d+)\}\{(-?\d+)\}", text):
        mark = Mark(int(page), int(x), int(y), int(w))
        if mark not in marks.setdefault(key, []):
            marks[key].append(mark)
    return marks


def placements(student: dict, marks: dict[str, list[Mark]]) -> dict[int, tuple]:
    """What to print on which page of a student's copy: page → ((x, y, width, text), …)."""
    values = cover_values(student)
    pages: dict[int, list[tuple]] = {}
    for key, found in marks.items():
        text = values["sid"] if key == FOOTER else values.get(key)
        for m in found if text else ():
            pages.setdefault(m.page, []).append((m.x, m.y, m.width, text))
    return {page: tuple(sorted(items)) for page, items in sorted(pages.items())}


@dataclass
class Plan:
    """The stamp documents and, per student, which stamp page goes over which page of the copy."""

    documents: list[list[tuple]]  # per stamp document: its pages' (page size, placements)
    copies: list[list[tuple[str, str, dict[int, int]]]]  # per document: (folder, version, page → stamp page)


def plan_stamps(students: list[dict], marks: dict[str, dict[str, list[Mark]]],
                sizes: dict[str, tuple[float, float]], chunks: int) -> Plan:
    """Split the students into ``chunks`` stamp documents; identical stamp pages of a student are made once."""
    chunks = max(1, min(chunks, len(students)))
    size = math.ceil(len(students) / chunks)
    plan = Plan([], [])
    for start in range(0, len(students), size):
        pages: list[tuple] = []
        copies = []
        for s in students[start:start + size]:
            version = s["version"]
            made: dict[tuple, int] = {}
            over = {}
            stamps = placements(s, marks[version])
            if not stamps:  # an exam template of a course's own, without \qbmark: the copy would be unnamed
                raise QbankError(f"version {version}: its exam.pdf records no place for a student's name or SID "
                                 "(the exam template has no \\qbmark fields), so students' copies cannot be named; "
                                 "update the course's templates/exam.tex.j2 from qbank's "
                                 "(qbank template shows where qbank's is)")
            for page, items in stamps.items():
                if items not in made:
                    made[items] = len(pages)
                    pages.append((sizes[version], items))
                over[page] = made[items]
            copies.append((s["folder"], version, over))
        plan.documents.append(pages)
        plan.copies.append(copies)
    return plan


def stamp_tex(env, pages: list[tuple]) -> str:
    """The LaTeX of one stamp document (``templates/stamps.tex.j2``)."""
    def num(v: float) -> Tex:
        return Tex(f"{v:.4f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v))

    return render(env, "stamps.tex.j2", {"pages": [
        {"width": num(w), "height": num(h),
         "fields": [{"x": num(x), "y": num(y), "w": num(width), "text": text} for x, y, width, text in items]}
        for (w, h), items in pages]})


def page_size(pdf: Path) -> tuple[float, float]:
    """The first page's size in PDF points (bp)."""
    with pikepdf.open(pdf) as doc:
        box = [float(v) for v in doc.pages[0].mediabox]
    return box[2] - box[0], box[3] - box[1]


def overlay(pdf: pikepdf.Pdf, obj: pikepdf.Object, form: pikepdf.Object) -> None:
    """Draw ``form`` over the page object ``obj``. The page gets resources of its own: in a print file,
    copies of one version share their pages' resources, and one student's stamp must not leak into another's."""
    res = obj.get("/Resources", pikepdf.Dictionary())
    xobjects = pikepdf.Dictionary({k: v for k, v in res.get("/XObject", pikepdf.Dictionary()).items()})
    name = next(n for n in (f"/QbStamp{i}" for i in itertools.count()) if n not in xobjects)
    xobjects[name] = form
    new = pikepdf.Dictionary({k: v for k, v in res.items() if k != "/XObject"})
    new.XObject = xobjects
    obj.Resources = new
    contents = obj.get("/Contents", pikepdf.Array())
    contents = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
    obj.Contents = pikepdf.Array([pdf.make_stream(b"q\n"), *contents,
                                  pdf.make_stream(f"\nQ q {name} Do Q\n".encode())])


def stamp_onto(pdf: pikepdf.Pdf, pages: list[pikepdf.Object], stamps: pikepdf.Pdf, over: dict[int, int],
               forms: dict[int, pikepdf.Object]) -> None:
    """Lay stamp pages over one copy, whose page objects in ``pdf`` are ``pages`` (``forms``: made so far in ``pdf``)."""
    for page, index in over.items():
        if index not in forms:
            forms[index] = pdf.copy_foreign(stamps.pages[index].as_form_xobject())
        overlay(pdf, pages[page - 1], forms[index])


def _write_chunk(stage: Path, tex: Path, copies: list[tuple[str, str, dict[int, int]]]) -> None:
    """Compile one stamp document and write its students' copies."""
    compile_pdf(tex)
    clean_aux(tex)
    with pikepdf.open(tex.with_suffix(".pdf")) as stamps:
        for folder, version, over in copies:
            with pikepdf.open(stage / version / COPY_NAME) as pdf:
                stamp_onto(pdf, [p.obj for p in pdf.pages], stamps, over, {})
                target = stage / "students" / folder / COPY_NAME
                target.parent.mkdir(parents=True, exist_ok=True)
                save_pdf(pdf, target)


def write_copies(env, stage: Path, students: list[dict], marks: dict[str, dict[str, list[Mark]]],
                 jobs: int, ticker=None) -> Plan:
    """Write every student's ``students/<folder>/exam.pdf``; return the plan (the print file reuses it).

    ``ticker(total)`` gives a callback called once per stamp document done."""
    sizes = {v: page_size(stage / v / COPY_NAME) for v in {s["version"] for s in students}}
    plan = plan_stamps(students, marks, sizes, max(jobs, math.ceil(len(students) / PER_CHUNK)))
    folder = stage / STAMPS_DIR
    folder.mkdir(exist_ok=True)
    texs = []
    for i, pages in enumerate(plan.documents):
        texs.append(folder / f"stamps-{i}.tex")
        texs[-1].write_text(stamp_tex(env, pages), encoding="utf-8")
    tick = ticker(len(texs)) if ticker else None
    if jobs > 1 and len(texs) > 1 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(min(jobs, len(texs)), mp_context=multiprocessing.get_context("fork"),
                                 initializer=forget_locks_after_fork) as pool:
            for done in [pool.submit(_write_chunk, stage, t, c) for t, c in zip(texs, plan.copies)]:
                done.result()
                if tick:
                    tick()
    else:
        for t, c in zip(texs, plan.copies):
            _write_chunk(stage, t, c)
            if tick:
                tick()
    return plan
