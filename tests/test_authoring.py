"""The authoring loop (issue 10): `qbank check` catches what a build would, every error points at
the file and line to fix, and `qbank preview` shows one problem's exam and key pages."""
from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from generator import latex
from generator.cli import main
from generator.texify import Tex, make_env, read_map, render, with_map

PROBLEM = Path("bank/problems/argmax-attention")
TEMPLATE = PROBLEM / "template.tex.j2"
GENERATOR = PROBLEM / "generator.py"


def edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` once in a file of the temporary bank; return the (1-based) line it is on."""
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


def one_line(output: str, *needles: str) -> str:
    """The single output line holding every needle (there must be exactly one)."""
    lines = [line for line in output.splitlines() if all(n in line for n in needles)]
    assert len(lines) == 1, f"expected one line with {needles}, got {lines!r} in:\n{output}"
    return lines[0]


# --- check and build: each failure is one line naming the file and line ---------------------------

def test_undefined_template_variable_is_caught_by_check_and_build(tmp_bank, runner):
    line = edit(TEMPLATE, "<< params.query|vec >>", "<< params.wo|vec >>")
    r = runner.invoke(main, ["check", "--seeds", "2", "--no-pdf"])
    assert r.exit_code == 1
    assert "undefined template variable" in one_line(r.output, "FAIL argmax-attention", f"{TEMPLATE}:{line}:")
    b = runner.invoke(main, ["build", "--no-pdf", "--out", "o"])
    assert b.exit_code == 2 and "Traceback" not in b.output
    assert one_line(b.output, f"{TEMPLATE}:{line}:").startswith("qbank: ")


def test_jinja_syntax_error_is_caught_by_check(tmp_bank, runner):
    line = edit(TEMPLATE, "<% if key %>", "<% iff key %>")
    r = runner.invoke(main, ["check", "--seeds", "2", "--no-pdf"])
    assert r.exit_code == 1
    assert "template syntax error" in one_line(r.output, "FAIL argmax-attention", f"{TEMPLATE}:")
    assert str(line) in one_line(r.output, "FAIL argmax-attention")


@pytest.mark.pdf
@pytest.mark.pdf
def test_a_long_latex_message_is_read_whole(tmp_bank, runner):
    """Found by a new user: TeX wraps its log at 79 characters, and the message was cut mid-word
    ("ended by \\en"). Compiles now write unwrapped logs."""
    edit(TEMPLATE, "<% endif %>\n\\end{solutionorbox}\n\n\\part", "<% endif %>\n\n\\part")
    r = runner.invoke(main, ["build", "--out", "o"])
    assert r.exit_code == 2
    msg = one_line(r.output, "LaTeX Error: \\begin{", " on input line")
    assert "ended by \\end{parts}." in msg


@pytest.mark.pdf
@pytest.mark.parametrize("old, new, message", [
    ("query $q = << params.query|vec >>^\\top$.", "query $q = << params.query|vec >>^\\top.", "Missing $ inserted"),
    # no log line names the place: it is found from the unclosed brace in the .tex
    ("Compute the score", "Compute \\textbf{the score", "File ended while scanning use of \\textbf"),
])
def test_a_latex_error_in_a_template_is_placed_at_its_template_line(tmp_bank, runner, old, new, message):
    line = edit(TEMPLATE, old, new)
    r = runner.invoke(main, ["check", "--seeds", "2"])
    assert r.exit_code == 1
    fail = one_line(r.output, "FAIL argmax-attention", message)
    assert f"{TEMPLATE}:{line}:" in fail and "problem 1 'argmax-attention'" in fail
    b = runner.invoke(main, ["build", "--out", "o"])
    assert b.exit_code == 2
    msg = one_line(b.output, message)
    assert msg.startswith(f"qbank: {TEMPLATE}:{line}: ")
    kept = Path(re.search(r"kept in (\S+)$", msg).group(1))
    assert (kept / "key.tex").is_file() or (kept / "exam.tex").is_file()
    assert list(kept.glob("*.log"))
    assert not Path("o").exists()  # nothing half-written


@pytest.mark.parametrize("question, options, line, message", [
    ("Which is \\textbf{true?", ["{text: 'yes', correct: true}", "{text: 'no', correct: false}"],
     6, "space.question: a { is never closed"),
    ("Which is true?", ["{text: 'yes, \\textbf{always', correct: true}", "{text: 'no', correct: false}"],
     9, "space.options[0].text: a { is never closed"),
    ("Which is true?", ["{text: '$\\tanh', correct: true}", "{text: 'no', correct: false}"],
     9, "space.options[0].text: unbalanced $"),
    ("Which is true?", ["{text: 'yes', correct: true}", "{text: 'no', correct: false, why: 'it is $x'}"],
     10, "space.options[1].why: unbalanced $"),
])
def test_unbalanced_latex_in_a_multiple_choice_spec_is_an_error_at_its_line(tmp_bank, runner, question, options,
                                                                             line, message):
    """An unclosed brace or $ in an option broke the items after it, and TeX reported it in the shared
    template (templates/multiple_choice.tex.j2:9), a file the course does not have."""
    folder = Path("bank/problems/quiz")
    folder.mkdir()
    (folder / "problem.yaml").write_text(
        f"id: quiz\ntitle: Quiz\ngenerator: multiple_choice\npoints: {{all: 2}}\nspace:\n"
        f"  question: {question}\n  show: 2\n  options:\n" + "".join(f"    - {o}\n" for o in options))
    for args in (["check", "--seeds", "2", "--problem", "quiz", "--no-pdf"], ["preview", "quiz"]):
        r = runner.invoke(main, args)
        assert r.exit_code == 2 and r.stderr.startswith(f"qbank: {folder}/problem.yaml:{line}: {message}"), r.output


def test_escaped_dollars_braces_and_percent_signs_are_fine_in_a_multiple_choice_spec(tmp_bank, runner):
    folder = Path("bank/problems/quiz")
    folder.mkdir()
    (folder / "problem.yaml").write_text(
        "id: quiz\ntitle: Quiz\ngenerator: multiple_choice\npoints: {all: 2}\nspace:\n"
        "  question: 'Costs \\$5 or 50\\% of $\\{x\\}$?'\n  show: 2\n  options:\n"
        "    - {text: 'yes \\{\\}', correct: true}\n    - {text: '$a$ % a comment $', correct: false}\n")
    r = runner.invoke(main, ["check", "--seeds", "2", "--problem", "quiz"])
    assert r.exit_code == 0, r.output


def test_missing_template_is_caught_with_the_nearest_name(tmp_bank, runner):
    TEMPLATE.rename(PROBLEM / "argmax-attention.tex.j2")
    r = runner.invoke(main, ["check", "--seeds", "2", "--no-pdf"])
    assert r.exit_code == 2
    line = one_line(r.output, f"{PROBLEM}/problem.yaml:")
    assert line.startswith("qbank: ") and "no template" in line and "argmax-attention.tex.j2" in line
    b = runner.invoke(main, ["build", "--no-pdf", "--out", "o"])
    assert b.exit_code == 2 and "no template" in one_line(b.output, f"{PROBLEM}/problem.yaml:")


def test_a_template_no_spec_uses_is_warned_about(tmp_bank, runner):
    (PROBLEM / "argmax_attention.tex.j2").write_text("a copy the author thinks is used\n")
    r = runner.invoke(main, ["check", "--seeds", "2", "--no-pdf"])
    assert r.exit_code == 0, r.output
    warning = one_line(r.output, "warning", "argmax_attention.tex.j2")
    assert "no spec uses this template" in warning and "template.tex.j2" in warning


def test_a_generator_that_raises_names_its_file_and_line(tmp_bank, runner):
    line = edit(GENERATOR, "    def solve(self, params: dict) -> dict:\n", "    def solve(self, params: dict) -> dict:\n        1 / 0\n") + 1
    r = runner.invoke(main, ["check", "--seeds", "2", "--no-pdf"])
    assert r.exit_code == 1
    fails = [x for x in r.output.splitlines() if x.startswith("  FAIL argmax-attention: seed")]
    assert len(fails) == 2  # one line per failing seed
    assert all(f"{GENERATOR}:{line}: ZeroDivisionError: division by zero" in x for x in fails)
    b = runner.invoke(main, ["build", "--no-pdf", "--out", "o"])
    assert b.exit_code == 2 and "Traceback" not in b.output
    msg = one_line(b.output, "ZeroDivisionError")
    assert msg.startswith(f"qbank: {GENERATOR}:{line}: problem 'argmax-attention'")
    d = runner.invoke(main, ["--debug", "build", "--no-pdf", "--out", "o"])
    assert d.exit_code == 2
    assert "Traceback (most recent call last)" in d.output and f'{GENERATOR.name}", line {line}' in d.output


@pytest.mark.parametrize("args", [["build", "--no-pdf", "--out", "o"], ["check", "--no-pdf", "--seeds", "2"], ["list"],
                                  ["preview", "argmax-attention"], ["solve", "argmax-attention", "--params", "p.json"]])
def test_a_generator_that_does_not_import_is_one_line_with_exit_2(tmp_bank, runner, args):
    Path("p.json").write_text("{}")
    line = edit(GENERATOR, "    def solve(self, params: dict) -> dict:\n", "    def solve(self, params: dict) oops:\n")
    r = runner.invoke(main, args)
    assert "Traceback" not in r.output
    msg = one_line(r.output, "SyntaxError")
    assert f"{GENERATOR}:{line}: SyntaxError" in msg
    assert r.exit_code == 2 and msg.startswith("qbank: ")


def test_unknown_names_get_a_did_you_mean(tmp_bank, runner):
    edit(PROBLEM / "problem.yaml", "generator: argmax_attention", "generator: argmax_atention")
    r = runner.invoke(main, ["build", "--no-pdf", "--out", "o"])
    assert r.exit_code == 2 and "did you mean 'argmax_attention'?" in r.output
    edit(PROBLEM / "problem.yaml", "generator: argmax_atention", "generator: argmax_attention")
    r = runner.invoke(main, ["check", "--problem", "argmax-atention", "--no-pdf"])
    assert r.exit_code == 2 and "did you mean 'argmax-attention'?" in r.output
    r = runner.invoke(main, ["preview", "argmax-atention"])
    assert r.exit_code == 2 and "did you mean 'argmax-attention'?" in r.output


# --- the line map ------------------------------------------------------------------------------

def test_rendered_lines_map_back_to_template_lines(tmp_path):
    (tmp_path / "doc.tex.j2").write_text("<#- a comment line -#>\nhead << x >>\n<% for i in range(3) %>\n"
                                         "row << i >>\n<% endfor %>\n<< body >>\nfoot\n")
    (tmp_path / "p.j2").write_text("first\n<% if key %>\nsecond << y|signed >>\n<% endif %>\n")
    env = make_env([tmp_path], {"bank/problems/p/template.tex.j2": tmp_path / "p.j2"})
    body = render(env, "bank/problems/p/template.tex.j2", {"key": True, "y": -2})
    doc = with_map(render(env, "doc.tex.j2", {"x": "X", "body": body}))
    lines = doc.splitlines()
    where = read_map(lines)
    got = {lines[i - 1]: src for i, src in where.items()}
    assert got == {"head X": "templates/doc.tex.j2:2", "row 0": "templates/doc.tex.j2:4",
                   "row 1": "templates/doc.tex.j2:4", "row 2": "templates/doc.tex.j2:4",
                   "first": "bank/problems/p/template.tex.j2:1", "second - 2": "bank/problems/p/template.tex.j2:3",
                   "": "templates/doc.tex.j2:6", "foot": "templates/doc.tex.j2:7"}
    assert "\x01" not in doc and "\x02" not in doc


def test_lines_after_a_macro_keep_the_template_line_that_printed_them(tmp_path):
    """A macro's lines map to the macro; the lines of a value printed after it on the same template
    line map to that line, not to the macro's last line."""
    (tmp_path / "doc.tex.j2").write_text("<% macro m() %>A\nB<% endmacro %>\n"
                                         "x << m()|tex >> y << t >>\nz << m()|tex >><< t >>\nend\n")
    env = make_env([tmp_path])
    doc = with_map(render(env, "doc.tex.j2", {"t": Tex("1\n2")}))
    lines = doc.splitlines()
    got = [(lines[i - 1], src.rpartition(":")[2]) for i, src in sorted(read_map(lines).items())]
    assert got == [("x A", "3"), ("B y 1", "2"), ("2", "3"), ("z A", "4"), ("B1", "2"), ("2", "2"), ("end", "5")]


def test_a_rendered_page_keeps_its_template_lines_in_another_process(tmp_path):
    """A build's worker processes send each version's summary page back to be nested in the grader's
    summary: its lines still map to their template lines there."""
    (tmp_path / "page.tex.j2").write_text("a << x >>\n<% for i in range(2) %>\nrow << i >>\n<% endfor %>\n")
    code = ("import pickle, sys; from pathlib import Path; from generator.texify import make_env, render; "
            "d = Path(sys.argv[1]); (d / 'page.pickle').write_bytes(pickle.dumps(render(make_env([d]), 'page.tex.j2', {'x': 1})))")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    render(make_env([tmp_path]), None, {}, source="other\n<< 2 >>\n")  # this process's marks differ from the worker's
    page = pickle.loads((tmp_path / "page.pickle").read_bytes())
    assert page == "a 1\nrow 0\nrow 1\n"
    assert page.sources == ("templates/page.tex.j2:1", "templates/page.tex.j2:3", "templates/page.tex.j2:3",
                            "templates/page.tex.j2:4")


def test_matrix_prints_amsmath_matrices(tmp_path):
    env = make_env([tmp_path])
    out = render(env, None, {"a": [[1, 0.5], [-2, 1 / 3]], "v": [1, 2]},
                 source="<< a|matrix >> << v|matrix(2, 'p') >> << a|matrix(1, 'V') >>")
    assert out == ("\\begin{bmatrix}%\n1&0.5\\\\%\n-2&0.3333%\n\\end{bmatrix} "
                   "\\begin{pmatrix}%\n1\\\\%\n2%\n\\end{pmatrix} "
                   "\\begin{Vmatrix}%\n1&0.5\\\\%\n-2&0.3%\n\\end{Vmatrix}")


def test_signed_prints_the_sign_as_an_operator(tmp_path):
    env = make_env([tmp_path])
    out = render(env, None, {"a": -2, "b": 0.5, "c": 0}, source="w_1 << a|signed >>, w_2 << b|signed >>, << c|signed >>")
    assert out == "w_1 - 2, w_2 + 0.5, + 0"


# --- the cached preamble format -----------------------------------------------------------------

@pytest.mark.pdf
def test_the_format_is_made_once_and_shared_across_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("QBANK_CACHE_DIR", str(tmp_path / "cache"))
    runs = []
    real = latex._run
    monkeypatch.setattr(latex, "_run", lambda cmd, *a, **k: ("-ini" in cmd and runs.append(cmd)) or real(cmd, *a, **k))
    tex = tmp_path / "a.tex"
    tex.write_text("\\documentclass{article}\n\\usepackage{amsmath}\n\\csname endofdump\\endcsname\n"
                   "\\begin{document}x\\end{document}\n")
    first = latex.make_format(tex)
    assert first is not None and first.is_relative_to(tmp_path / "cache") and len(runs) == 1
    assert latex.make_format(tex) == first and len(runs) == 1  # cached: no second pdflatex -ini
    assert latex.compile_pdf(tex, format_dir=first) >= 1 and tex.with_suffix(".pdf").is_file()
    tex.write_text(tex.read_text().replace("amsmath", "amssymb"))
    assert latex.make_format(tex) not in (None, first) and len(runs) == 2  # another preamble, another format


# --- preview ------------------------------------------------------------------------------------

def pdf_pages(pdf: Path) -> list[str]:
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return text.split("\f")[:-1]


@pytest.mark.pdf
def test_preview_shows_the_exam_pages_then_the_key_pages(tmp_bank, runner):
    r = runner.invoke(main, ["preview", "argmax-attention", "--seed", "3", "--png"])
    assert r.exit_code == 0, r.output
    pdf = Path(r.output.splitlines()[0])
    assert pdf.is_file() and pdf.resolve().is_relative_to((tmp_bank / ".qbank" / "preview").resolve())
    pages = pdf_pages(pdf)
    assert len(pages) == 2
    assert "Argmax attention" in pages[0] and "Solution" not in pages[0]
    assert "ANSWER KEY" in pages[1] and "Solution" in pages[1]
    assert [Path(p).name for p in r.output.splitlines()[1:]] == ["page-1.png", "page-2.png"]
    assert not Path("output").exists()  # a preview never touches a build
    assert (tmp_bank / ".qbank" / ".gitignore").read_text().strip().endswith("*")


@pytest.mark.pdf
def test_preview_with_given_parameters(tmp_bank, runner):
    Path("p.yaml").write_text("query: [1, 0, 0]\nkeys: [[1, 0, 0], [3, 0, 0], [0, 1, 0], [0, 0, 1]]\n"
                              "values: [[0, 0, 0], [7, 8, 9], [0, 0, 1], [0, 1, 0]]\n")
    r = runner.invoke(main, ["preview", "argmax-attention", "--params", "p.yaml"])
    assert r.exit_code == 0, r.output
    key = pdf_pages(Path(r.output.strip()))[1]
    assert "given parameters" in key and re.search(r"\(7,\s*8,\s*9\)", key)


@pytest.mark.pdf
def test_preview_of_an_exam_version(tmp_bank, runner):
    r = runner.invoke(main, ["preview", "bank/exams/tiny.yaml", "--version", "B"])
    assert r.exit_code == 0, r.output
    pdf = Path(r.output.strip())
    assert pdf.parent.name == "tiny-B"
    pages = pdf_pages(pdf)
    assert "Version B" in pages[0] and "ANSWER KEY" in pages[-1]


@pytest.mark.pdf
def test_watch_shows_a_template_edit_in_a_new_pdf_without_restarting(tmp_bank):
    from generator.preview import watch

    results, errors, stop = [], [], threading.Event()
    thread = threading.Thread(target=watch, args=("argmax-attention",), daemon=True,
                              kwargs=dict(on_result=results.append, on_error=errors.append, stop=stop))
    thread.start()
    try:
        def wait(n: int) -> None:
            deadline = time.monotonic() + 120
            while len(results) + len(errors) < n and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(results) + len(errors) >= n, "the watcher did not preview in time"

        wait(1)
        assert not errors and "Hello from the edit" not in "".join(pdf_pages(results[0].pdf))
        time.sleep(0.5)  # let the watcher start watching
        edit(TEMPLATE, "Compute the score", "Hello from the edit. Compute the score")
        wait(2)
        assert not errors, errors
        assert "Hello from the edit" in "".join(pdf_pages(results[-1].pdf))
        edit(TEMPLATE, "Hello from the edit.", "<< params.nope >>")  # an error: printed, and watching goes on
        wait(3)
        assert "undefined template variable" in errors[-1].message
        edit(TEMPLATE, "<< params.nope >>", "Fixed again.")
        wait(4)
        assert "Fixed again" in "".join(pdf_pages(results[-1].pdf))
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()


# --- docs and the TeX version ---------------------------------------------------------------------

def test_writing_a_problem_lists_every_method_of_the_test_helper():
    """The test `qbank new` writes calls P.seed(), which docs/writing-a-problem.md did not list."""
    import inspect as _inspect

    from generator.testing import ProblemUnderTest

    doc = (Path(__file__).resolve().parent.parent / "docs" / "writing-a-problem.md").read_text()
    scaffold = (Path(__file__).resolve().parent.parent / "generator" / "scaffold" / "problem" / "test.py").read_text()
    public = [n for n, _ in _inspect.getmembers(ProblemUnderTest) if not n.startswith("_")]
    for name in public:
        if f"P.{name}" in scaffold:
            assert f"`P.{name}" in doc, f"docs/writing-a-problem.md does not list P.{name}, which the scaffold uses"


def test_no_doc_tells_a_course_to_install_qbank_from_pypi():
    """docs/writing-a-problem.md said qbank is "installed with `pip install qbank`", while the README
    says qbank is not on PyPI and installs it from a checkout or a wheel."""
    root = Path(__file__).resolve().parent.parent
    for doc in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        assert not re.search(r"pip install ['\"]?qbank\b", doc.read_text()), doc.name


def test_docs_list_every_filter_function_and_problem_variable(tmp_bank):
    import jinja2

    from generator.texify import FILTERS
    from generator.testing import load_problem

    doc = (Path(__file__).resolve().parent.parent / "docs" / "templates.md").read_text()
    env = load_problem(tmp_bank / PROBLEM).bank.env()
    functions = set(env.globals) - set(jinja2.Environment().globals)
    assert functions and FILTERS
    for name in [*FILTERS, *functions]:
        assert f"`{name}" in doc, f"docs/templates.md does not list {name}"
    # the variables a problem template sees: render one that prints every name it was given
    P = load_problem(tmp_bank / PROBLEM)
    seen = {}
    from generator import build

    real = build.render
    build.render = lambda env, name, ctx, **kw: seen.update(ctx) or real(env, name, ctx, **kw)
    try:
        P.render(P.draw(1), key=True)
    finally:
        build.render = real
    for name in (n for n in seen if not n.startswith("_")):  # _qbank_marks: the answer filter's own
        assert f"`{name}`" in doc, f"docs/templates.md does not list the template variable {name}"
    assert {"params", "answers", "items", "points"} <= set(seen)


def test_tex_version_is_asked_once_then_remembered(tmp_path, monkeypatch):
    from generator import cache

    monkeypatch.setenv("QBANK_CACHE_DIR", str(tmp_path))
    calls = []
    real = cache._run
    monkeypatch.setattr(cache, "_run", lambda *cmd: calls.append(cmd) or real(*cmd))
    cache.tex_version.cache_clear()
    first = cache.tex_version()
    assert len(calls) == 2 and "pdfTeX" in first
    cache.tex_version.cache_clear()
    assert cache.tex_version() == first and len(calls) == 2  # a later run reads the cache
    cache.tex_version.cache_clear()


@pytest.mark.pdf
def test_an_unwritable_cache_only_makes_compiles_slower(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("QBANK_CACHE_DIR", str(blocker / "cache"))
    tex = tmp_path / "a.tex"
    tex.write_text("\\documentclass{article}\n\\csname endofdump\\endcsname\n\\begin{document}x\\end{document}\n")
    from generator import cache

    cache.tex_version.cache_clear()
    assert latex.make_format(tex) is None
    assert latex.compile_pdf(tex) >= 1
    tex.write_text("\\documentclass{article}\n\\begin{document}\\bad\\end{document}\n")
    with pytest.raises(latex.LatexError) as e:
        latex.compile_pdf(tex)
    assert "Undefined control sequence" in e.value.message and "kept in" not in e.value.message


@pytest.mark.pdf
def test_latex_error_in_an_inline_body_names_the_spec_line(tmp_bank, runner):
    folder = Path("bank/problems/inline")
    folder.mkdir()
    (folder / "problem.yaml").write_text(
        "id: inline\ntitle: Inline\ngenerator: multiple_choice\npoints: {all: 2}\nbody: |\n"
        "  A fine first line.\n  Then $x^2 without its closing dollar.\n\n  More text.\nspace:\n"
        "  question: Which?\n  show: 2\n  options:\n"
        "    - {text: 'yes', correct: true}\n    - {text: 'no', correct: false}\n")
    r = runner.invoke(main, ["check", "--seeds", "2", "--problem", "inline"])
    assert r.exit_code == 1
    fail = one_line(r.output, "FAIL inline", "Missing $ inserted")
    assert f"{folder}/problem.yaml:7:" in fail and "problem 1 'inline'" in fail


@pytest.mark.pdf
def test_a_runaway_argument_that_names_an_internal_macro_is_placed_where_it_starts(tmp_bank, runner):
    # \emph{ closed only after a blank line: TeX says "Paragraph ended before \text@command was
    # complete" at the blank line, and names no macro of the template.
    line = edit(TEMPLATE, "Compute the score", "Compute \\emph{the score\n\nof} the")
    r = runner.invoke(main, ["check", "--seeds", "2", "--problem", "argmax-attention"])
    assert r.exit_code == 1
    fail = one_line(r.output, "FAIL argmax-attention", "Paragraph ended before")
    assert f"{TEMPLATE}:{line}:" in fail and "problem 1 'argmax-attention'" in fail


@pytest.mark.pdf
def test_an_error_in_the_course_exam_template_names_that_template_and_no_problem(tmp_bank, runner):
    (tmp_bank / "templates").mkdir()
    mine = tmp_bank / "templates" / "exam.tex.j2"
    shutil.copyfile(Path(__file__).resolve().parent.parent / "templates" / "exam.tex.j2", mine)
    line = edit(mine, "\\vspace{4pt}\n", "\\vspace{4pt}\\undefinedmacro\n")
    b = runner.invoke(main, ["build", "--out", "o"])
    assert b.exit_code == 2
    msg = one_line(b.output, "Undefined control sequence")
    assert msg.startswith(f"qbank: templates/exam.tex.j2:{line}: ") and "problem" not in msg.split("(")[1]


@pytest.mark.pdf
def test_a_warm_preview_settles_in_one_pass(tmp_bank, monkeypatch):
    from generator import preview as pv

    pv.preview("argmax-attention", seed=3)
    passes = []
    real = pv.compile_pdf
    monkeypatch.setattr(pv, "compile_pdf", lambda *a, **k: passes.append(real(*a, **k)) or passes[-1])
    pv.preview("argmax-attention", seed=3)
    assert passes == [1, 1]  # exam and key, each from the previous run's .aux with the cached format
