"""The compile pipeline's decisions: when a document has settled, and when versions' layouts differ."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from generator import api, latex
from generator.api import layout_warnings
from generator.build import common_layout_padding
from generator.latex import _settled, page_layout

from .conftest import make_course

AUX = "\\PgInfo{question@1}{1}\n\\PgInfo{part@1@1}{1}\n\\PgInfo{question@2}{%d}\n\\gdef\\exam@lastpage{%d}\n"


def test_settled_compares_definitions_not_their_order():
    a = b"\\gdef\\x{1}\n\\gdef\\y{2}\n"
    assert _settled(a, a)
    assert _settled(a, b"\\gdef\\y{2}\n\\gdef\\x{1}\n")
    assert not _settled(None, a)  # a first pass always needs another
    assert not _settled(a, b"\\gdef\\x{1}\n\\gdef\\y{3}\n")
    twice = b"\\gdef\\x{1}\n\\gdef\\x{2}\n"  # the last definition wins, so order matters here
    assert not _settled(twice, b"\\gdef\\x{2}\n\\gdef\\x{1}\n")


def test_a_cover_field_position_alone_never_calls_for_another_pass():
    """``\\qbpos`` lines are read by qbank only (TeX reads them as no-ops): a sibling's differ from this
    pass's, which already holds this document's own positions."""
    seed = b"\\gdef\\x{1}\n\\qbpos{name}{1}{100}{200}{300}\n"
    after = b"\\gdef\\x{1}\n\\qbpos{name}{1}{100}{250}{300}\n"
    assert not _settled(seed, after)  # a document that does not define \qbpos as a no-op
    assert _settled(seed, after, (b"\\qbpos{",))
    assert not _settled(seed, after.replace(b"{1}\n", b"{2}\n"), (b"\\qbpos{",))


def test_page_layout_reads_question_starts_and_page_count(tmp_path):
    aux = tmp_path / "exam.aux"
    aux.write_text(AUX % (3, 16))
    assert page_layout(aux) == {"starts": [("question@1", "1"), ("part@1@1", "1"), ("question@2", "3")], "pages": 16}


def test_versions_with_different_layouts_are_reported(tmp_path):
    texs = []
    for version, (start, pages) in {"A": (3, 16), "B": (3, 16), "C": (4, 17)}.items():
        (tmp_path / version).mkdir()
        (tmp_path / version / "exam.aux").write_text(AUX % (start, pages))
        texs.append(tmp_path / version / "exam.tex")
    layouts = {t: page_layout(t.with_suffix(".aux")) for t in texs}
    assert layout_warnings({t: layouts[t] for t in texs[:2]}, tmp_path) == []
    [warning] = layout_warnings(layouts, tmp_path)
    assert warning.startswith("1 exam(s) (C) place problems on different pages than A (16 pages)")


def layout(*starts: int, pages: int) -> dict:
    return {"starts": [(f"question@{n}", str(p)) for n, p in enumerate(starts, 1)], "pages": pages}


def test_padding_lines_up_every_problem_start():
    # A: problem 2 takes 1 page; B: 2 pages; C: problem 3 takes 1 page where the others take 2.
    layouts = {"A": layout(1, 2, 3, pages=5), "B": layout(1, 2, 4, pages=6), "C": layout(1, 2, 4, pages=5)}
    breaks = {v: [True, True, True] for v in layouts}
    assert common_layout_padding(layouts, breaks) == {"A": {2: 1}, "C": {3: 1}}
    # no padding where a problem does not end with a page break in every version
    breaks["B"] = [True, False, True]
    assert common_layout_padding(layouts, breaks) == {"C": {3: 1}}
    assert common_layout_padding({"A": layout(1, 2, pages=3), "B": layout(1, 2, pages=3)},
                                 {"A": [True, True], "B": [True, True]}) == {}


# --- the first document of each kind starts from an earlier build's settled .aux (cached) ---

def _build_counting_passes(monkeypatch, root: Path, out: str, seed: int = 5) -> dict[str, int]:
    """Build the tiny exam with PDFs; return the pdflatex passes of each document, by path."""
    passes: dict[str, int] = {}
    compile_in = latex._compile_in

    def counting(scratch, source, *args, **kwargs):
        n = compile_in(scratch, source, *args, **kwargs)
        rel = source.name if source.parent.name.startswith(".") else f"{source.parent.name}/{source.name}"
        passes[rel] = passes.get(rel, 0) + n
        return n
    monkeypatch.setattr(latex, "_compile_in", counting)
    api.build(root / "bank" / "exams" / "tiny.yaml", bank=root, out=root / out, seed=seed, force=True)
    return passes


def _texts(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): subprocess.run(["pdftotext", "-layout", str(p), "-"], check=True,
                                                              capture_output=True, text=True).stdout
            for p in sorted(folder.rglob("*.pdf"))}


@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("QBANK_CACHE_DIR", str(tmp_path / "cache"))
    return make_course(tmp_path / "course", ["argmax-attention", "translation"])


@pytest.mark.pdf
def test_a_rebuild_compiles_every_document_in_one_pass(course, monkeypatch):
    first = _build_counting_passes(monkeypatch, course, "one")
    assert first["A/exam.tex"] > 1 and first["A/key.tex"] > 1  # nothing cached yet: passes until settled
    again = _build_counting_passes(monkeypatch, course, "two")
    assert again == {doc: 1 for doc in first}, again
    assert _texts(course / "one") == _texts(course / "two")
    # another seed draws other numbers into the same layout: its first documents start from it too
    other = _build_counting_passes(monkeypatch, course, "three", seed=6)
    assert other["A/exam.tex"] == 1 and other["A/key.tex"] == 1


@pytest.mark.pdf
@pytest.mark.parametrize("damage", ["shifted", "truncated", "another document's"])
def test_a_wrong_cached_aux_costs_passes_never_a_wrong_page_reference(course, monkeypatch, damage):
    clean = _build_counting_passes(monkeypatch, course, "clean")
    cached = sorted((Path(os.environ["QBANK_CACHE_DIR"]) / "aux").glob("*.aux"))
    assert cached
    texts = [aux.read_bytes() for aux in cached]
    for i, aux in enumerate(cached):
        text = texts[i]
        if damage == "shifted":  # every page number, count and position off by 7
            text = re.sub(rb"\{(\d+)\}", lambda m: b"{%d}" % (int(m.group(1)) + 7), text)
        elif damage == "truncated":
            text = text[: len(text) // 2]
        else:  # each document gets the .aux of another one (exam, key, grader's summary)
            text = next(t for t in texts[i + 1:] + texts[:i] if t != text)
        aux.write_bytes(text)
    passes = _build_counting_passes(monkeypatch, course, "seeded")
    assert passes["A/exam.tex"] > 1 and passes["A/key.tex"] > 1
    assert _texts(course / "seeded") == _texts(course / "clean")
    assert set(passes) == set(clean)


@pytest.mark.pdf
def test_an_exam_seeded_with_other_cover_positions_takes_one_pass_and_keeps_its_own(course, tmp_path):
    """Versions whose cover fields sit a little higher or lower (B's cover problem is longer than A's)
    compiled from A's .aux: one pass, and the positions stamping reads are B's own."""
    api.build(course / "bank" / "exams" / "tiny.yaml", bank=course, out=course / "out", seed=5, pdf=False)
    exam = course / "out" / "A" / "exam.tex"
    assert latex.compile_pdf(exam) > 1
    settled = exam.with_suffix(".aux").read_bytes()
    assert b"\\qbpos{name}" in settled
    moved = re.sub(rb"(\\qbpos\{\w+\}\{\d+\}\{-?\d+\})\{(-?\d+)\}",
                   lambda m: m.group(1) + b"{%d}" % (int(m.group(2)) + 23255), settled)
    assert moved != settled
    assert latex.compile_pdf(exam, aux_seed=moved) == 1
    assert exam.with_suffix(".aux").read_bytes() == settled
