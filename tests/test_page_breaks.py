"""Every answer box of a printed exam sits on the page of its prompt (issue 12, part 3), and every
solution of an answer key does too: a grader reads a part's prompt and its solution on one page.

Each exam's LaTeX is compiled with a marker line glued to the top of every answer box; a page that
starts (below its running header) with a marker holds a box whose prompt is on the page before.
A key is compiled as built: each of its pages must start with a problem or a part, never inside a
prompt or with a solution, and end with no problem heading alone. No line of either sticks out of
the margin by more than a point, and no page runs into its footer.
"""
from __future__ import annotations

import re
import subprocess

import pytest

from generator import api

from .conftest import ROOT, make_course

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("pdf")]

MARK = "QBBOXMARK"
# Glued to the box by \nopagebreak on both sides (after the exam's own \par\nopagebreak).
PROBE = (r"\usepackage{etoolbox}" "\n" r"\BeforeBeginEnvironment{solutionorbox}{\noindent " + MARK + r"\par\nopagebreak}"
         "\n" r"\BeforeBeginEnvironment{solutionordottedlines}{\noindent " + MARK + r"\par\nopagebreak}" "\n")
# The midterms the tests build: the pinned original, and the shipped one over several seeds and version counts.
BUILDS = [("midterm-original", None, 1), ("midterm", None, 2), ("midterm", 4242, 3), ("midterm", 1, 3),
          ("midterm", 7, 2), ("midterm", 99, 3)]
# What a key page may start with: a problem, a part (a), a subpart (ii) or ii., or a padding page.
PAGE_START = re.compile(r"\s*(Problem \d+:|\([a-z]\)\s|\([ivx]+\)\s|[ivx]+\.\s|This page is intentionally left blank)")
FOOTER = re.compile(r"\s*SID:|.*\bPage \d+ of (\d+|\?\?)")


def compile_pages(tex: str, where, name: str) -> tuple[list[list[str]], str]:
    """Compile ``tex`` once in ``where``; each page's non-empty text lines (running header first) and the log."""
    (where / f"{name}.tex").write_text(tex, encoding="utf-8")
    subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], cwd=where,
                   check=True, capture_output=True)
    text = subprocess.run(["pdftotext", "-layout", f"{name}.pdf", "-"], cwd=where, check=True,
                          capture_output=True, text=True).stdout
    log = (where / f"{name}.log").read_text(errors="replace")
    pages = [[line for line in page.splitlines() if line.strip()] for page in text.split("\f")]
    return pages[:-1] if pages and not pages[-1] else pages, log  # the text ends with a form feed


def overfull(log: str) -> list[str]:
    """Lines wider than the margin by more than 1pt, and pages whose text runs into the footer.

    (A solution box split across pages may be squeezed by a point or two into its own padding:
    an overfull box inside the page, not reported.)"""
    wide = [m.group(0) for m in re.finditer(r"Overfull \\hbox \((\d+\.?\d*)pt too wide\).*", log) if float(m.group(1)) > 1]
    return wide + re.findall(r"Overfull \\vbox.*while \\output is active.*", log)


def orphaned_boxes(tex: str, where) -> list[int]:
    """Pages whose first line below the header is a box's marker (its prompt is on the page before)."""
    probe = tex.replace(r"\begin{document}", PROBE + r"\begin{document}", 1)
    pages, log = compile_pages(probe, where, "exam")
    assert sum(" ".join(p).count(MARK) for p in pages) > 10  # the probe reached the boxes
    assert overfull(log) == []
    return [number for number, lines in enumerate(pages, start=1)
            if number > 1 and len(lines) > 1 and MARK in lines[1]]  # lines[0] is the running header


def body(lines: list[str]) -> list[str]:
    """A key page's lines without its running header and footer."""
    return [line for line in lines[1:] if not FOOTER.match(line)]


def split_key_pages(tex: str, where) -> list[str]:
    """Key pages that start inside a prompt or with a solution, or end with a problem's heading."""
    pages, log = compile_pages(tex, where, "key")
    assert overfull(log) == []
    assert sum(" ".join(p).count("Solution:") for p in pages) > 10  # the key printed its solutions
    bad = []
    for number, lines in enumerate(pages[1:], start=2):
        text = body(lines)
        if text and not PAGE_START.match(text[0]):
            bad.append(f"page {number} starts with {text[0].strip()[:60]!r}")
        if text and re.match(r"\s*Problem \d+:", text[-1]):
            bad.append(f"page {number} ends with the heading {text[-1].strip()[:60]!r}")
    return bad


def built(tmp_path, exam, seed, versions, name):
    """Each version's ``name`` (exam.tex or key.tex) of a --no-pdf build, with a folder to compile it in."""
    out = api.build(ROOT / f"bank/exams/{exam}.yaml", pdf=False, out=tmp_path / "o", seed=seed,
                    versions=versions).out
    for v in "ABC"[:versions]:
        (tmp_path / v).mkdir()
        yield v, (out / v / name).read_text(encoding="utf-8"), tmp_path / v


@pytest.mark.parametrize("exam, seed, versions", [BUILDS[0], BUILDS[2]])
def test_no_answer_box_is_separated_from_its_prompt(tmp_path, exam, seed, versions):
    for v, tex, work in built(tmp_path, exam, seed, versions, "exam.tex"):
        assert orphaned_boxes(tex, work) == [], f"version {v}: a box starts a page, its prompt is on the page before"


@pytest.mark.parametrize("exam, seed, versions", BUILDS)
def test_no_solution_of_the_key_is_separated_from_its_prompt(tmp_path, exam, seed, versions):
    for v, tex, work in built(tmp_path, exam, seed, versions, "key.tex"):
        assert split_key_pages(tex, work) == [], f"version {v}"


LONG = r"""\begin{parts}
\part[<< points.honor >>] Filler.\par\rule{1pt}{%s}
\begin{solutionorbox}[0.5in]
Short.
\end{solutionorbox}
\part[<< points.warmup >>] LONGPROMPT: explain everything.
\begin{solutionorbox}[1in]
<%% if key %%>
<%% for i in range(150) %%>Line << i >> of a long solution that goes on and on. <%% endfor %%>END
<%% endif %%>
\end{solutionorbox}
\end{parts}
"""


@pytest.mark.parametrize("filler", ["5.5in", "6.6in", "6.8in", "7.0in", "7.4in", "7.8in"])
def test_a_solution_longer_than_a_page_breaks_inside_itself_not_after_its_prompt(tmp_path, filler):
    # Part (a)'s filler leaves more or less room below part (b)'s prompt: (b)'s solution starts there
    # when its first lines fit, else the prompt goes to the next page with it; then it breaks inside.
    make_course(tmp_path, ["honor-code"])
    (tmp_path / "bank/problems/honor-code/template.tex.j2").write_text(LONG % filler)
    out = api.build(tmp_path / "bank/exams/tiny.yaml", bank=tmp_path, pdf=False, out=tmp_path / "o", versions=1).out
    pages, log = compile_pages((out / "A" / "key.tex").read_text(encoding="utf-8"), tmp_path, "key")
    assert overfull(log) == []
    texts = [body(lines) for lines in pages]
    [here] = [n for n, text in enumerate(texts) if any("LONGPROMPT" in line for line in text)]
    below = texts[here][[i for i, line in enumerate(texts[here]) if "LONGPROMPT" in line][0] + 1:]
    assert below[0].strip() == "Solution:" and len(below) >= 5, below  # its title and 4 lines at least
    assert not any("END" in line for line in texts[here])  # it goes on over the next page
    for text in texts[1:]:
        assert text and not text[0].strip().startswith("Solution:")
