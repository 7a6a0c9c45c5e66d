"""A key takes the pictures it shares with its exam from the exam's compile (figures.py): same PDF, less TikZ."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pikepdf
import pytest

from generator import api, figures, latex

from .conftest import make_course

DUMP = "\\documentclass{exam}\n\\usepackage{tikz}\n\\csname endofdump\\endcsname\n"
GRID = "\\begin{tikzpicture}\\draw (0,0) grid (2,2);\\end{tikzpicture}"
NODE = "\\begin{tikzpicture}\\node[draw] {$\\theta = 1$};\\end{tikzpicture}"


def doc(body: str, preamble: str = "") -> str:
    return DUMP + preamble + "\\begin{document}\n" + body + "\n\\end{document}\n"


def test_pictures_shared_are_those_in_both_documents_that_read_or_change_no_state():
    local = "\\begin{tikzpicture}\\node {\\thequestion};\\end{tikzpicture}"
    marked = "\\begin{tikzpicture}[remember picture]\\node (a) {x};\\end{tikzpicture}"
    only_exam = "\\begin{tikzpicture}\\draw (0,0) -- (1,1);\\end{tikzpicture}"
    exam = doc("\n".join([GRID, NODE, local, marked, only_exam, GRID]))
    key = doc("\n".join([GRID, "Answer: 3.", NODE, local, marked]))
    assert figures.shared(exam, key) == [GRID, NODE]  # \theta is not \the; each picture once
    commented = doc("% " + GRID)
    assert figures.shared(commented, commented) == []
    hiding = "\\begin{tikzpicture}\\draw (0,0) -- (1,1); % \\end{tikzpicture}\n\\fill (0,0) circle (1pt);\\end{tikzpicture}"
    assert figures.shared(doc(hiding), doc(hiding)) == []  # a comment in a picture may hide its end
    shown = "\\begin{verbatim}\n" + GRID + "\n\\end{verbatim}\n"
    assert figures.shared(doc(shown + GRID), doc(shown + GRID)) == []  # the wrapper would be printed
    printed = "\\texttt{\\detokenize{" + GRID + "}}\n"
    assert figures.shared(doc(printed + GRID), doc(printed + GRID)) == []


@pytest.mark.parametrize("picture", [
    "\\begin{tikzpicture}\\foreach \\i in {1,...,9} \\fill (rnd,rnd) circle (1pt);\\end{tikzpicture}",
    "\\begin{tikzpicture}\\draw (0,0) -- ({rand},1);\\end{tikzpicture}",
    "\\begin{tikzpicture}\\pgfmathrandominteger{\\k}{1}{6}\\node {\\k};\\end{tikzpicture}",
])
def test_a_random_picture_is_not_shared(picture):
    """pgf's random numbers run on from the ones drawn before: a key-only random picture earlier
    moves every later one's points, so the exam's would be the wrong ones."""
    assert figures.shared(doc(picture + GRID), doc(picture + GRID)) == [GRID]


@pytest.mark.parametrize("key_only", [
    "\\tikzset{every node/.style={red}}",  # a TikZ setting only the key makes: no picture is shared
    "\\pgfplotsset{width=5cm}",
])
def test_a_key_that_sets_tikz_differently_shares_no_picture(key_only):
    exam = doc(GRID + "\n" + NODE)
    assert figures.shared(exam, doc(key_only + "\n" + GRID + "\n" + NODE)) == []
    assert figures.shared(exam, doc(GRID + "\n" + NODE, preamble=key_only + "\n")) == []


def test_a_picture_using_a_name_the_documents_define_differently_is_not_shared():
    colored = "\\begin{tikzpicture}\\fill[shade] (0,0) rectangle (1,1);\\end{tikzpicture}"
    exam = doc(colored + GRID, preamble="\\definecolor{shade}{gray}{0.5}\n")
    key = doc(colored + GRID, preamble="\\definecolor{shade}{gray}{0.9}\n")
    assert figures.shared(exam, key) == [GRID]
    same = doc(colored + GRID, preamble="\\definecolor{shade}{gray}{0.5}\n")
    assert figures.shared(exam, same) == [colored, GRID]


@pytest.mark.parametrize("picture", [
    "\\begin{tikzpicture}\\node {A};\\ifprintanswers\\node at (1,0) {B};\\fi\\end{tikzpicture}",  # exam class: key only
    "\\begin{tikzpicture}\\node {A};\\iftoggle{key}{\\node at (1,0) {B};}{}\\end{tikzpicture}",
    "\\begin{tikzpicture}\\node {\\fillin[42]};\\end{tikzpicture}",
    "\\begin{tikzpicture}\\node {\\begin{solution}42\\end{solution}};\\end{tikzpicture}",
])
def test_a_picture_that_may_draw_an_answer_is_not_shared(picture):
    """Its source is the same in both documents, but what it draws may depend on \\printanswers."""
    assert figures.shared(doc(picture + GRID), doc(picture + GRID, preamble="\\printanswers\n")) == [GRID]


def test_a_picture_using_a_macro_that_may_print_an_answer_is_not_shared():
    answer = "\\newcommand{\\ans}[1]{\\ifprintanswers #1\\fi}\n"
    through = "\\begin{tikzpicture}\\node {\\ans{42}};\\end{tikzpicture}"
    assert figures.shared(doc(through + GRID, answer), doc(through + GRID, answer + "\\printanswers\n")) == [GRID]


@pytest.mark.parametrize("defines", [
    ("\\DeclareMathOperator{\\act}{ReLU}", "\\DeclareMathOperator{\\act}{tanh}", "$\\act(x)$"),
    ("\\sbox{\\act}{3}", "\\sbox{\\act}{4}", "\\usebox{\\act}"),
    ("\\newenvironment{act}{(}{)}", "\\newenvironment{act}{[}{]}", "\\begin{act}x\\end{act}"),
    ("\\pgfmathtruncatemacro{\\act}{3}", "\\pgfmathtruncatemacro{\\act}{4}", "\\act"),
])
def test_a_picture_using_an_operator_box_or_environment_the_documents_define_differently_is_not_shared(defines):
    exam_def, key_def, use = defines
    picture = "\\begin{tikzpicture}\\node {" + use + "};\\end{tikzpicture}"
    assert figures.shared(doc(picture + GRID, exam_def + "\n"), doc(picture + GRID, key_def + "\n")) == [GRID]


# -- real compiles ------------------------------------------------------------------------------

def _placed(pdf: Path) -> list[int]:
    """The pages of the figures PDF a compiled key placed, in order."""
    with pikepdf.open(pdf) as doc:
        return [int(xo.get("/PTEX.PageNumber")) for page in doc.pages
                for xo in page.Resources.get("/XObject", {}).values()
                if str(xo.get("/PTEX.FileName", "")).endswith(figures.FIGURES_PDF)]


def _gray_pages(pdf: Path, folder: Path) -> list[np.ndarray]:
    folder.mkdir()
    subprocess.run(["pdftoppm", "-r", "100", "-gray", str(pdf), str(folder / "p")], check=True)
    pages = []
    for f in sorted(folder.iterdir()):
        head, _, rest = f.read_bytes().partition(b"\n255\n")
        w, h = map(int, head.split()[1:3])
        pages.append(np.frombuffer(rest, np.uint8).reshape(h, w))
    return pages


def _raw_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-raw", str(pdf), "-"], check=True, capture_output=True, text=True).stdout


def _compiled_plainly(tex: Path, folder: Path) -> Path:
    """``tex`` compiled on its own, without shared pictures."""
    folder.mkdir()
    shutil.copy(tex, folder / tex.name)
    latex.compile_pdf(folder / tex.name)
    return folder / tex.with_suffix(".pdf").name


def _same_look(a: Path, b: Path, scratch: Path) -> None:
    """The same pages, pixel for pixel but for anti-aliasing: a figure drawn from a form XObject is
    snapped to the pixel grid a little differently (in the midterm's keys, up to about 170 of a
    page's 935,000 pixels differ, by at most 65 of 255 grey levels; a shifted dot or a clipped glyph
    differs by more)."""
    pa, pb = _gray_pages(a, scratch / "a"), _gray_pages(b, scratch / "b")
    assert len(pa) == len(pb)
    for x, y in zip(pa, pb):
        assert (np.abs(x.astype(int) - y.astype(int)) > 96).sum() <= 5


def _recompiled(built: Path, stage: Path, edit=lambda tex, text: text) -> Path:
    """Versions A and B of ``built`` copied to ``stage`` without their PDFs, each .tex passed through
    ``edit(path, text)``, then compiled together as a build compiles them."""
    for v in ("A", "B"):
        shutil.copytree(built / v, stage / v, ignore=shutil.ignore_patterns("*.pdf"))
        for name in ("exam.tex", "key.tex"):
            tex = stage / v / name
            tex.write_text(edit(tex, tex.read_text()))
    api.compile_all([stage / v / n for v in "AB" for n in ("exam.tex", "key.tex")], 2, lambda: None)
    return stage


def _before(text: str, mark: str, extra: str) -> str:
    """``extra`` put into ``text`` just before ``mark``."""
    at = text.index(mark)
    return text[:at] + extra + text[at:]


def _after_preamble(text: str, extra: str) -> str:
    """``extra`` put into ``text`` right after the precompiled preamble."""
    at = text.index(figures.DUMP_MARK) + len(figures.DUMP_MARK)
    return text[:at] + extra + text[at:]


@pytest.fixture
def built(tmp_path, monkeypatch):
    """A course with TikZ and pgfplots pictures, built with two versions and PDFs."""
    monkeypatch.setenv("QBANK_CACHE_DIR", str(tmp_path / "cache"))
    course = make_course(tmp_path / "course", ["batchnorm", "cnn"])
    api.build(course / "bank" / "exams" / "tiny.yaml", bank=course, out=course / "out", versions=2)
    return course / "out"


@pytest.mark.pdf
def test_a_key_placing_its_exams_pictures_looks_and_reads_as_one_drawing_them(built, tmp_path):
    exam, key = built / "B" / "exam.tex", built / "B" / "key.tex"
    shared = figures.shared(exam.read_text(), key.read_text())
    assert len(shared) >= 5  # batchnorm's given plots, cnn's images
    assert _placed(key.with_suffix(".pdf")) == list(range(1, len(shared) + 1))  # every one placed, once
    assert _placed(built / "A" / "key.pdf") == []  # the first key compiles beside the first exam
    plain = _compiled_plainly(key, tmp_path / "plain")
    assert _raw_text(plain) == _raw_text(key.with_suffix(".pdf"))
    _same_look(plain, key.with_suffix(".pdf"), tmp_path)
    # the exam that kept them: its own pages only, exactly as compiled without keeping
    plain_exam = _compiled_plainly(exam, tmp_path / "plain-exam")
    assert _raw_text(plain_exam) == _raw_text(exam.with_suffix(".pdf"))
    for x, y in zip(_gray_pages(plain_exam, tmp_path / "ea"), _gray_pages(exam.with_suffix(".pdf"), tmp_path / "eb"),
                    strict=True):
        assert np.array_equal(x, y)
    assert not list(built.rglob("*.qbf")) and not list(built.rglob(".figures-*"))


@pytest.mark.pdf
def test_a_picture_set_in_another_font_in_the_key_is_drawn_again(built, tmp_path):
    """TeX compares the font, line width, mode and colour where the key places a picture with the
    exam's: a key that sets one in \\small draws it itself, and places the others."""
    exam, key = (built / "B" / "exam.tex").read_text(), (built / "B" / "key.tex").read_text()
    shared = figures.shared(exam, key)
    stage = _recompiled(built, tmp_path / "stage", lambda tex, text: text.replace(
        shared[0], "{\\small " + shared[0] + "}", 1) if tex.parent.name == "B" and tex.name == "key.tex" else text)
    small = stage / "B" / "key.tex"
    assert _placed(small.with_suffix(".pdf")) == list(range(2, len(shared) + 1))
    assert _raw_text(small.with_suffix(".pdf")) == _raw_text(_compiled_plainly(small, tmp_path / "plain"))


@pytest.mark.pdf
def test_a_key_draws_what_a_kept_picture_would_get_wrong(built, tmp_path):
    """Pictures that run more than once (a \\foreach, the same source twice), one set in bold math, with
    more line spacing, wider box and table spacing or display-style math only in the key, one that draws an answer or
    outside its bounding box, glyphs and corners pgf leaves out of a picture's box, paragraphs in a picture, and the text after a picture: the key reads and looks as
    when it draws every picture itself."""
    inline = "\\begin{tikzpicture}\\node[draw] {inline};\\end{tikzpicture} text after it.\n"
    looped = "\\foreach \\n in {1,2}{\\begin{tikzpicture}\\node[draw] {R\\n};\\end{tikzpicture} }\n"
    twice = "\\def\\s{1}\\begin{tikzpicture}\\node[draw] {S\\s};\\end{tikzpicture}\n\\def\\s{2}\\begin{tikzpicture}\\node[draw] {S\\s};\\end{tikzpicture}\n"
    answer = "\\begin{tikzpicture}\\node {A};\\ifprintanswers\\node at (1,0) {B};\\fi\\end{tikzpicture}\n"
    bold = "\\begin{tikzpicture}\\node[draw] {$\\alpha+1$};\\end{tikzpicture}\n"
    lines = "\\begin{tikzpicture}\\node[draw, align=center] {a\\\\b\\\\c};\\end{tikzpicture}\\par\n"
    boxed = "\\begin{tikzpicture}\\node {\\fbox{a} \\begin{tabular}{c}b\\\\c\\end{tabular}};\\end{tikzpicture}\\par\n"
    math = "\\begin{tikzpicture}\\node {$\\frac{1}{2}\\sum_i x_i$};\\end{tikzpicture}\\par\n"
    outside = "\\begin{tikzpicture}\\useasboundingbox (0,0) rectangle (1,1);\\fill (1.5,0) rectangle (4,1);\\end{tikzpicture}\n"
    paragraphs = "\\begin{tikzpicture}\\node[text width=2cm] {one\\par two};\n\n\\draw (0,0) -- (1,1);\\end{tikzpicture}\n"
    # what pgf leaves out of a picture's box: a glyph's overhang, a mitred corner's tip
    overhang = ("\\begin{tikzpicture}\\node[inner sep=0pt, align=right, font=\\fontsize{60}{64}\\selectfont\\itshape]"
                " {f\\\\f\\\\f\\\\f\\\\f\\\\f};\\end{tikzpicture}\\quad\\begin{tikzpicture}\\draw[line width=10pt, miter limit=20]"
                " (0,0) -- (0.3,1) -- (0.6,0) (1,1) -- (1.3,0) -- (1.6,1);\\end{tikzpicture}\\par\n")
    spaced = "\\setlength{\\fboxsep}{8pt}\\renewcommand{\\arraystretch}{2.5}\\sloppy "
    extra = {"exam.tex": "{" + bold + "}{" + lines + "}{" + boxed + "}{" + math + "}",
             "key.tex": "{\\boldmath " + bold + "}{\\linespread{1.6}\\selectfont " + lines + "}{"
                        + spaced + boxed + "}{\\everymath{\\displaystyle}" + math + "}"}
    common = inline + looped + twice + answer + outside + overhang + paragraphs
    stage = _recompiled(built, tmp_path / "stage",
                        lambda tex, text: _before(text, "\\begin{parts}", common + extra[tex.name]))
    key = stage / "B" / "key.pdf"
    assert len(_placed(key)) >= 5  # the course's own pictures still are, and one holding paragraphs
    plain = _compiled_plainly(stage / "B" / "key.tex", tmp_path / "plain")
    assert _raw_text(key) == _raw_text(plain)
    _same_look(plain, key, tmp_path)


@pytest.mark.pdf
def test_a_document_naming_begin_document_in_a_comment_still_shares(built, tmp_path):
    """The code that keeps and places pictures goes after the \\begin{document} TeX reads, not one
    in a comment (there it was commented out, and both compiles failed and were done again)."""
    stage = _recompiled(built, tmp_path / "stage", lambda tex, text: _after_preamble(
        text, "% the body starts at \\begin{document}, below"))
    assert _placed(stage / "B" / "key.pdf") == _placed(built / "B" / "key.pdf") != []


@pytest.mark.pdf
def test_a_key_loading_a_package_of_its_own_draws_its_pictures(built, tmp_path):
    """A package only the key loads (after the precompiled preamble) may change how any picture
    looks (euler: the math in its labels): the key shares none."""
    stage = _recompiled(built, tmp_path / "stage", lambda tex, text: _after_preamble(text, "\\usepackage{euler}")
                        if tex.parent.name == "B" and tex.name == "key.tex" else text)
    key = stage / "B" / "key.tex"
    plain = _compiled_plainly(key, tmp_path / "plain")
    assert _raw_text(key.with_suffix(".pdf")) == _raw_text(plain)
    _same_look(plain, key.with_suffix(".pdf"), tmp_path)


@pytest.mark.pdf
def test_an_exam_keeps_only_its_own_pages_whatever_the_context_of_a_picture(built, tmp_path):
    """A picture's context is written one line per picture; a setting holding a line break (here
    \\arraystretch) made a line the key could not read, and the kept pictures stayed in the exam."""
    odd = ("{\\catcode`\\^^J=12 \\gdef\\nl{^^J}}{\\edef\\arraystretch{1\\nl}"
           "\\begin{tikzpicture}\\draw (0,0) rectangle (1,1);\\end{tikzpicture}}\n")
    stage = _recompiled(built, tmp_path / "stage", lambda tex, text: _before(text, "\\begin{parts}", odd))
    exam = stage / "B" / "exam.pdf"
    plain = _compiled_plainly(stage / "B" / "exam.tex", tmp_path / "plain")
    assert _raw_text(exam) == _raw_text(plain)
    with pikepdf.open(exam) as a, pikepdf.open(plain) as b:
        assert len(a.pages) == len(b.pages)
    assert _raw_text(stage / "B" / "key.pdf") == _raw_text(_compiled_plainly(stage / "B" / "key.tex", tmp_path / "k"))


@pytest.mark.pdf
def test_a_failing_compile_with_shared_pictures_falls_back_to_the_plain_one(built, tmp_path, monkeypatch):
    broken = lambda text, pictures: text.replace("\\begin{document}", "\\begin{document}\\undefinedbyqbank", 1)  # noqa: E731
    monkeypatch.setattr(figures, "keeping", broken)
    stage = _recompiled(built, tmp_path / "stage")
    assert _placed(stage / "B" / "key.pdf") == []
    assert _raw_text(stage / "B" / "exam.pdf") == _raw_text(built / "B" / "exam.pdf")
    assert _raw_text(stage / "B" / "key.pdf") == _raw_text(built / "B" / "key.pdf")


@pytest.mark.pdf
def test_keys_not_sharing_the_exams_preamble_are_all_compiled(built, tmp_path):
    """A course's key template with a preamble of its own: no format, no shared pictures, and every
    key compiled (each later one from the first's .aux)."""
    stage = _recompiled(built, tmp_path / "stage",
                        lambda tex, text: "% a key of its own\n" + text if tex.name == "key.tex" else text)
    for v in ("A", "B"):
        assert _raw_text(stage / v / "key.pdf") == _raw_text(built / v / "key.pdf")
    assert _placed(stage / "B" / "key.pdf") == []


@pytest.mark.pdf
def test_an_exam_keeps_its_pictures_only_until_its_key_has_placed_them(tmp_path, monkeypatch):
    """Keys are queued one exam after their own, and each removes the pictures it placed, so a large
    build holds the kept pictures of a few versions at a time, not of every version."""
    monkeypatch.setenv("QBANK_CACHE_DIR", str(tmp_path / "cache"))
    course = make_course(tmp_path / "course", ["cnn"])
    api.build(course / "bank" / "exams" / "tiny.yaml", bank=course, out=course / "out", versions=6, pdf=False)
    out = course / "out"
    held = []
    compile_pdf = latex.compile_pdf

    def counting(tex, *args, **kwargs):
        held.append(len(list(out.glob(".figures-*/*/" + figures.FIGURES_PDF))))
        return compile_pdf(tex, *args, **kwargs)
    monkeypatch.setattr(api, "compile_pdf", counting)
    texs = [out / v / n for v in "ABCDEF" for n in ("exam.tex", "key.tex")]
    api.compile_all(texs, 2, lambda: None)
    assert max(held) <= 3 and sum(_placed(out / v / "key.pdf") != [] for v in "BCDEF") == 5
