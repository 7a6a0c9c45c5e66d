"""Issue 14, "Hardening": one group of tests per case of the adversarial pass.

Each case broke on the code before the fix (files outside the build, what pdflatex may read and
write, inputs that crashed, data that did not come out as written).
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from generator import latex
from generator.cli import main
from generator.errors import LatexError
from generator.testing import load_problem
from generator.texify import _SETTABLE, escape
from tests.conftest import EXAM_HEADER, ROOT

EXAM = "bank/exams/tiny.yaml"


def one_line(r) -> str:
    """The single ``qbank:`` line of a refused command (never a traceback)."""
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qbank: "), r.stderr
    return lines[0]


def build(runner, *args):
    return runner.invoke(main, ["build", EXAM, "--no-pdf", *args])


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def write_exam(tmp_bank, text: str, name: str = "x.yaml") -> str:
    path = tmp_bank / "bank" / "exams" / name
    path.write_bytes(text.encode("utf-8"))
    return f"bank/exams/{name}"


MC = """\
id: mc
title: Pick one
generator: multiple_choice
points: {all: 2}
space:
  question: Which?
  select: one
  show: SHOW
  options:
OPTIONS"""


def write_mc(tmp_bank, options: list[str], show: int = 2) -> None:
    """A multiple-choice problem 'mc' (first option correct) and exam bank/exams/mc.yaml using it."""
    lines = "".join(f"    - text: {json.dumps(o)}\n      correct: {str(i == 0).lower()}\n"
                    for i, o in enumerate(options))
    (tmp_bank / "bank" / "problems" / "mc").mkdir()
    (tmp_bank / "bank" / "problems" / "mc" / "problem.yaml").write_text(
        MC.replace("SHOW", str(show)).replace("OPTIONS", lines), encoding="utf-8")
    write_exam(tmp_bank, EXAM_HEADER.replace("id: tiny", "id: mc") + "problems:\n  - problem: mc\n", "mc.yaml")


# 1. A planted link (or hard link) at the lock path must not be written through.

def test_01_symlink_at_lock_path_is_refused_and_its_target_untouched(runner, tmp_bank):
    victim = tmp_bank / "victim.txt"
    victim.write_text("precious\n")
    (tmp_bank / ".b4.lock").symlink_to(victim)
    line = one_line(build(runner, "--out", "b4"))
    assert ".b4.lock is a symbolic link" in line
    assert victim.read_text() == "precious\n"
    assert not (tmp_bank / "b4").exists()


def test_01_hard_link_at_lock_path_is_refused(runner, tmp_bank):
    victim = tmp_bank / "victim.txt"
    victim.write_text("precious\n")
    os.link(victim, tmp_bank / ".b4.lock")
    assert "not a lock file made by qbank" in one_line(build(runner, "--out", "b4"))
    assert victim.read_text() == "precious\n"


# 2. Backup and staging names found beside the output are never followed.

def test_02_planted_backup_link_is_not_followed(runner, tmp_bank):
    other = tmp_bank / "other"
    (other / "build").mkdir(parents=True)
    (other / "build" / "notes.txt").write_text("mine")
    (tmp_bank / ".b5.old-x").symlink_to(other)
    (tmp_bank / ".b5.staging-y").symlink_to(other)
    r = build(runner, "--out", "b5")
    assert r.exit_code == 0, r.output
    assert (other / "build" / "notes.txt").read_text() == "mine"
    assert "notes.txt" not in listing(tmp_bank / "b5")
    assert (tmp_bank / ".b5.old-x").is_symlink() and (tmp_bank / ".b5.staging-y").is_symlink()


# 3. --force replaces only a folder that is a qbank build.

def test_03_force_refuses_a_folder_that_is_not_a_build(runner, tmp_bank):
    book = tmp_bank / "book"
    book.mkdir()
    (book / "chapter1.tex").write_text("my chapter")
    assert "book is not a qbank build" in one_line(build(runner, "--out", "book", "--force"))
    assert listing(book) == ["chapter1.tex"] and (book / "chapter1.tex").read_text() == "my chapter"


def test_03_force_refuses_the_bank_itself(runner, tmp_bank):
    before = sorted(str(p) for p in (tmp_bank / "bank").rglob("*"))
    assert "bank is not a qbank build" in one_line(build(runner, "--out", "bank", "--force"))
    assert sorted(str(p) for p in (tmp_bank / "bank").rglob("*")) == before


def test_03_force_still_replaces_a_previous_build_and_export(runner, tmp_bank):
    assert build(runner, "--out", "o").exit_code == 0
    r = build(runner, "--out", "o", "--force", "--seed", "9")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_bank / "o" / "manifest.json").read_text())["seed"] == 9
    assert runner.invoke(main, ["export", "o", "--latex"]).exit_code == 0
    assert runner.invoke(main, ["export", "o", "--latex", "--force"]).exit_code == 0
    (tmp_bank / "notes").mkdir()
    (tmp_bank / "notes" / "todo.txt").write_text("x")
    r = runner.invoke(main, ["export", "o", "--latex", "--out", "notes", "--force"])
    assert "notes is not a qbank build" in one_line(r)
    assert listing(tmp_bank / "notes") == ["todo.txt"]


# 4. A failed build leaves the file system as it found it.

def test_04_failed_build_leaves_no_lock_and_no_new_parent_folders(runner, tmp_bank, monkeypatch):
    argmax = load_problem(tmp_bank / "bank" / "problems" / "argmax-attention").module.ArgmaxAttention
    monkeypatch.setattr(argmax, "solve", lambda self, p: 1 / 0)
    before = listing(tmp_bank)
    r = build(runner, "--out", "new/deeper/o")
    assert r.exit_code == 2
    assert listing(tmp_bank) == before  # no new/, no .o.lock


def test_04_finished_build_leaves_no_lock_file(runner, tmp_bank):
    assert build(runner, "--out", "out/o").exit_code == 0
    assert listing(tmp_bank / "out") == ["o"]


def test_04_force_over_a_read_only_build_leaves_no_staging(tmp_bank):
    """Run as a user without the power to ignore permissions (root without CAP_DAC_OVERRIDE)."""
    qbank = [sys.executable, "-m", "generator.cli", "build", EXAM, "--no-pdf", "--out", "o"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("needs setpriv to drop root's permission override")
        qbank = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"] + qbank
    assert subprocess.run(qbank, cwd=tmp_bank, env=env, capture_output=True).returncode == 0
    for p in sorted((tmp_bank / "o").rglob("*"), reverse=True) + [tmp_bank / "o"]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    r = subprocess.run(qbank + ["--force", "--seed", "3"], cwd=tmp_bank, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_bank / "o" / "manifest.json").read_text())["seed"] == 3
    assert [p for p in listing(tmp_bank) if p.startswith(".o.")] == []


def test_04_force_over_a_link_is_refused_and_leaves_nothing(runner, tmp_bank):
    assert build(runner, "--out", "real").exit_code == 0
    (tmp_bank / "link").symlink_to("real")
    assert "link is a symbolic link (to real)" in one_line(build(runner, "--out", "link", "--force"))
    assert (tmp_bank / "link").is_symlink() and (tmp_bank / "real" / "manifest.json").is_file()
    assert [p for p in listing(tmp_bank) if p.startswith(".")] == []


# 5. Export copies only the build's own files and names.

def test_05_export_refuses_a_symlinked_tex_file(runner, tmp_bank):
    assert build(runner, "--out", "o").exit_code == 0
    secret = tmp_bank / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    (tmp_bank / "o" / "A" / "exam.tex").unlink()
    (tmp_bank / "o" / "A" / "exam.tex").symlink_to(secret)
    assert "exam.tex is a symbolic link" in one_line(runner.invoke(main, ["export", "o", "--latex"]))
    assert not (tmp_bank / "o-latex").exists()


@pytest.mark.parametrize("label", ["x/../..", "/abs", 5, ".."])
def test_05_export_refuses_hostile_manifest_labels(runner, tmp_bank, label):
    assert build(runner, "--out", "o").exit_code == 0
    path = tmp_bank / "o" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["versions"][0]["label"] = label
    path.write_text(json.dumps(manifest))
    line = one_line(runner.invoke(main, ["export", "o", "--latex", "--zip"]))
    assert f"versions[0].label is {label!r}, not a qbank name" in line
    assert not (tmp_bank / "o-latex").exists()


# 6. What pdflatex may read and write: its own scratch folder, and the TeX installation.

LANDLOCK = pytest.mark.skipif(not latex.LANDLOCK_ABI, reason="reads are confined only where Linux Landlock is available")


@pytest.mark.pdf
@LANDLOCK
def test_06_pdfobj_file_cannot_read_outside(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-4711")
    doc = tmp_path / "doc"
    doc.mkdir()
    tex = doc / "exam.tex"
    tex.write_text("\\documentclass{article}\\pdfcompresslevel=0 \\pdfobjcompresslevel=0\n\\begin{document}\n"
                   f"\\immediate\\pdfobj stream file {{{secret}}}\\pdfrefobj\\pdflastobj\nhello\n\\end{{document}}\n")
    with pytest.raises(LatexError, match=f"tried to read {secret}"):
        latex.compile_pdf(tex)
    assert listing(doc) == ["exam.tex"]


@pytest.mark.pdf
def test_06_openout_cannot_touch_the_build(tmp_path):
    doc = tmp_path / "A"
    doc.mkdir()
    (doc / "key.json").write_text('{"answer": 1}')
    tex = doc / "exam.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\n"
                   "\\immediate\\openout5=key.json \\immediate\\write5{TAMPERED}\\immediate\\closeout5\n"
                   "\\immediate\\openout6=stray.txt \\immediate\\write6{x}\\immediate\\closeout6\n"
                   "hello\n\\end{document}\n")
    latex.compile_pdf(tex)
    assert (doc / "key.json").read_text() == '{"answer": 1}'
    assert listing(doc) == ["exam.aux", "exam.pdf", "exam.tex", "key.json"]  # only the PDF (and .aux) came back


@pytest.mark.pdf
def test_06_build_with_author_latex_writing_key_json_keeps_the_key(runner, tmp_bank):
    write_mc(tmp_bank, [r"\immediate\openout5=key.json \immediate\write5{TAMPERED}\immediate\closeout5 yes", "no"])
    r = runner.invoke(main, ["build", "bank/exams/mc.yaml", "--out", "o", "-n", "1"])
    assert r.exit_code == 0, r.output
    key = json.loads((tmp_bank / "o" / "A" / "key.json").read_text())
    assert key["problems"][0]["answers"]["correct"]
    assert runner.invoke(main, ["verify", "o"]).exit_code == 0


@pytest.mark.pdf
@LANDLOCK
@pytest.mark.skipif(not shutil.which("mktexpk"), reason="needs mktexpk and METAFONT")
def test_06_confined_compile_can_still_generate_fonts(tmp_path, monkeypatch):
    """A METAFONT-only font (logo10) is made by mktexpk into TEXMFVAR, which the sandbox keeps writable."""
    monkeypatch.setenv("TEXMFVAR", str(tmp_path / "var"))
    latex._font_caches.cache_clear()
    tex = tmp_path / "logo.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\n\\font\\x=logo10 \\x METAFONT\n\\end{document}\n")
    try:
        latex.compile_pdf(tex)
    finally:
        latex._font_caches.cache_clear()
    assert list((tmp_path / "var").rglob("logo10.*pk"))


# 7. The PDF size cap holds while compiling, not after.

@pytest.mark.pdf
def test_07_runaway_document_is_stopped_at_the_size_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(latex, "MAX_PDF_BYTES", 2 * 2**20)
    tex = tmp_path / "exam.tex"
    tex.write_text("\\documentclass{article}\\pdfcompresslevel=0\n\\begin{document}\n"
                   "\\loop\\shipout\\vbox{\\hrule height 1pt width 1pt\\rule{1pt}{1pt}%\n"
                   + "x " * 400 + "}\\iftrue\\repeat\n\\end{document}\n")
    with pytest.raises(LatexError, match="reached the 2 MiB limit") as e:
        latex.compile_pdf(tex, timeout=60)
    assert "killed after" not in str(e.value)
    assert listing(tmp_path) == ["exam.tex"]


# 8. Alias bombs are refused, quickly, in specs and in parameter files.

def laughs(levels: int) -> str:
    text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    return text


@pytest.mark.parametrize("levels", [6, 9])
def test_08_billion_laughs_in_a_parameter_file(solve_cli, levels):
    line = one_line(solve_cli("argmax-attention", laughs(levels)))
    assert line.endswith("params.yaml:6: (top level): invalid YAML: more than 100,000 values once aliases are expanded")


def test_08_billion_laughs_in_an_exam_spec(runner, tmp_bank):
    exam = write_exam(tmp_bank, EXAM_HEADER + laughs(6).replace("a0:", "x-a0:") + "problems:\n  - problem: argmax-attention\n")
    assert one_line(runner.invoke(main, ["build", exam, "--no-pdf"])) == (
        f"qbank: {exam}:16: (top level): invalid YAML: more than 100,000 values once aliases are expanded")


def test_08_too_many_aliases(runner, tmp_bank):
    text = EXAM_HEADER + "instructions: &i [Write clearly]\nx: [" + ", ".join(["*i"] * 101) + "]\n"
    exam = write_exam(tmp_bank, text)
    assert one_line(runner.invoke(main, ["build", exam, "--no-pdf"])).startswith(f"qbank: {exam}:12: (top level): invalid YAML: more than 100 aliases")


# 9. Malformed YAML: one line with file:line, never a traceback.

PROBLEMS = "problems:\n  - problem: argmax-attention\n"


@pytest.mark.parametrize("text, line, message", [
    (EXAM_HEADER.replace("title: Quiz", 'title: "Mid\x01term"') + PROBLEMS, 4, "control character U+0001"),
    (EXAM_HEADER + "x: &a [1, *a]\n" + PROBLEMS, 11, "recursive alias"),
    (EXAM_HEADER + "x: " + "[" * 10_000 + "\n", 11, "nested more than 50 levels"),
    (EXAM_HEADER + "x: " + "{a: " * 10_000 + "\n", 11, "nested more than 50 levels"),
    (EXAM_HEADER + "x:\n" + "- " * 2000 + "1\n", 12, "nested more than 50 levels"),
    (EXAM_HEADER + "x: !!binary aGVsbG8=\n" + PROBLEMS, 11, "tag !!binary is not allowed"),
    (EXAM_HEADER + "x: !!timestamp 2026-10-15\n" + PROBLEMS, 11, "tag !!timestamp is not allowed"),
    (EXAM_HEADER.replace("seed: 5", "seed: " + "5" * 5001) + PROBLEMS, 9, "a number of 5001 characters"),
    # a key without its colon: the line it is on (PyYAML gives up on the next one)
    (EXAM_HEADER + "instructions Write clearly\n" + PROBLEMS, 11, "could not find expected ':'"),
])
def test_09_hostile_yaml_is_one_clear_line(runner, tmp_bank, text, line, message):
    exam = write_exam(tmp_bank, text)
    got = one_line(runner.invoke(main, ["build", exam, "--no-pdf", "--out", "o"]))
    assert got.startswith(f"qbank: {exam}:{line}: ") and message in got
    assert listing(tmp_bank) == ["bank"]


def test_09_a_latex_command_eaten_by_a_double_quoted_escape_is_refused(runner, tmp_bank):
    # In "…", YAML reads \t of \tanh as a tab (and \n of \nabla as a line break): the exam printed
    # "anh" with no error. Written \\tanh, or in single quotes, it is LaTeX as meant.
    (tmp_bank / "bank" / "problems" / "mc").mkdir()
    (tmp_bank / "bank" / "problems" / "mc" / "problem.yaml").write_text(
        MC.replace("SHOW", "2").replace("OPTIONS", '    - {text: "$\\tanh$", correct: true}\n'
                                                   "    - {text: '$\\tanh$', correct: false}\n"
                                                   '    - {text: "$\\\\tau$", correct: false}\n'
                                                   '    - {text: "a\\nabla", correct: false}\n'))
    write_exam(tmp_bank, EXAM_HEADER.replace("id: tiny", "id: mc") + "problems:\n  - problem: mc\n", "mc.yaml")
    r = runner.invoke(main, ["build", "bank/exams/mc.yaml", "--no-pdf", "--out", "o"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.strip().splitlines() == [
        "qbank: bank/problems/mc/problem.yaml:10: space.options[0].text: in double quotes YAML reads \\t as a tab, "
        "so \\tanh loses its backslash; write LaTeX in single quotes ('…') or double the backslash (\\\\tanh)",
        "qbank: bank/problems/mc/problem.yaml:13: space.options[3].text: in double quotes YAML reads \\n as a line "
        "break, so \\nabla loses its backslash; write LaTeX in single quotes ('…') or double the backslash (\\\\nabla)",
    ]
    assert listing(tmp_bank) == ["bank"]


def test_09_oversized_spec_is_refused(runner, tmp_bank):
    exam = write_exam(tmp_bank, EXAM_HEADER + PROBLEMS + "# " + "x" * 1024 * 1024 + "\n")
    assert "larger than 1024 KiB" in one_line(runner.invoke(main, ["build", exam, "--no-pdf"]))


# 10. Only characters the fonts can set pass the load-time check: roster, spec and options.

UNSETTABLE = "Ħ ħ ĸ Ŀ ŀ Ŧ ŧ ſ".split()


@pytest.mark.parametrize("ch", UNSETTABLE + ["\U0001F600"])
def test_10_unsettable_roster_name_names_the_roster_line(runner, tmp_bank, ch):
    (tmp_bank / "r.csv").write_text(f"name,sid\nAda,1\nBo{ch}b,2\n", encoding="utf-8")
    line = one_line(build(runner, "--roster", "r.csv"))
    assert line.startswith("qbank: r.csv:3: name: character ") and f"U+{ord(ch):04X}" in line


@pytest.mark.parametrize("ch", UNSETTABLE)
def test_10_unsettable_title_names_the_spec_line(runner, tmp_bank, ch):
    exam = write_exam(tmp_bank, EXAM_HEADER.replace("title: Quiz", f"title: Quiz {ch}") + PROBLEMS)
    line = one_line(runner.invoke(main, ["build", exam, "--no-pdf"]))
    assert line.startswith(f"qbank: {exam}:4: title: character ") and f"U+{ord(ch):04X}" in line


def test_10_multiple_choice_options_are_checked(runner, tmp_bank):
    write_mc(tmp_bank, ["yes", "no \U0001F600"])
    line = one_line(runner.invoke(main, ["build", "bank/exams/mc.yaml", "--no-pdf"]))
    assert line.startswith("qbank: bank/problems/mc/problem.yaml:12: space.options[1].text: character ")
    assert "U+1F600" in line


@pytest.mark.pdf
def test_10_every_admitted_character_is_set_by_pdflatex(tmp_path):
    """Each admitted code point, escaped, in each style the exam uses; TeX stops on a missing glyph."""
    chars = [chr(c) for c in sorted(_SETTABLE)]
    body = "".join(f"{{{style} {escape(''.join(chars[i:i + 40]))}}}\\par\n"
                   for i in range(0, len(chars), 40) for style in ("", r"\bfseries", r"\itshape", r"\sffamily"))
    tex = tmp_path / "chars.tex"
    tex.write_text("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage[utf8]{inputenc}\n"
                   "\\usepackage{lmodern}\n\\tracinglostchars=3\n\\begin{document}\n" + body + "\\end{document}\n",
                   encoding="utf-8")
    latex.compile_pdf(tex)
    assert (tmp_path / "chars.pdf").stat().st_size > 0


# 11. Length limits on every text field.

def test_11_a_title_of_20000_backslashes_is_refused_at_load(runner, tmp_bank):
    exam = write_exam(tmp_bank, EXAM_HEADER.replace("title: Quiz", "title: '" + "\\" * 20_000 + "'") + PROBLEMS)
    assert one_line(runner.invoke(main, ["build", exam, "--no-pdf"])).startswith(
        f"qbank: {exam}:4: title: string should have at most 200 characters")


def test_11_a_name_of_20000_backslashes_is_refused_at_load(runner, tmp_bank):
    (tmp_bank / "r.csv").write_text("name,sid\n" + "\\" * 20_000 + ",1\n")
    assert one_line(build(runner, "--roster", "r.csv")) == "qbank: r.csv:2: name: longer than 200 characters (20000)"


def test_11_long_option_text_is_refused(runner, tmp_bank):
    write_mc(tmp_bank, ["yes", "n" * 1001])
    assert "problem.yaml:12: space.options[1].text: string should have at most 1000 characters" in one_line(
        runner.invoke(main, ["build", "bank/exams/mc.yaml", "--no-pdf"]))


# 12. More options shown than there are letters: refused in the spec.

def test_12_show_beyond_the_letters_is_refused_in_the_spec(runner, tmp_bank):
    write_mc(tmp_bank, [f"option {i}" for i in range(12)], show=12)
    line = one_line(runner.invoke(main, ["build", "bank/exams/mc.yaml", "--no-pdf"]))
    assert line.startswith("qbank: bank/problems/mc/problem.yaml:5: space: ") and "at most 10 (lettered A to J), got 12" in line


# 13. SIDs are compared and stored in NFC.

def test_13_the_same_sid_in_nfc_and_nfd_is_a_duplicate(runner, tmp_bank):
    nfc, nfd = unicodedata.normalize("NFC", "José"), unicodedata.normalize("NFD", "José")
    assert nfc != nfd
    (tmp_bank / "r.csv").write_text(f"name,sid\nAda,{nfc}\nBob,{nfd}\n", encoding="utf-8")
    assert one_line(build(runner, "--roster", "r.csv")) == "qbank: r.csv:3: sid: duplicate SID 'José' (first on line 2)"


def test_13_sids_are_stored_in_nfc(runner, tmp_bank):
    nfd = unicodedata.normalize("NFD", "José")
    (tmp_bank / "r.csv").write_text(f"name,sid\nAda,{nfd}\n", encoding="utf-8")
    assert build(runner, "--roster", "r.csv", "--out", "o").exit_code == 0
    students = json.loads((tmp_bank / "o" / "manifest.json").read_text())["students"]
    assert students[0]["sid"] == unicodedata.normalize("NFC", "José")


# 14. assignments.csv: cells a spreadsheet would run as formulas are neutralised (OWASP).

def test_14_formula_cells_get_a_leading_quote(runner, tmp_bank):
    hostile = ["=cmd|' /C calc'!A0", "@SUM(1+1)", "+1", "-2", "=1+2"]
    rows = [("Ada", hostile[0]), (hostile[1], "s2"), (hostile[2], "s3"), ("Cy", hostile[3]), (hostile[4], "s5")]
    out = io.StringIO()
    csv.writer(out).writerows([("name", "sid"), *rows])
    (tmp_bank / "r.csv").write_text(out.getvalue())
    assert build(runner, "--roster", "r.csv", "--out", "o").exit_code == 0
    got = list(csv.DictReader((tmp_bank / "o" / "assignments.csv").open()))
    assert [(g["name"], g["sid"]) for g in got] == [
        ("Ada", "'" + hostile[0]), ("'" + hostile[1], "s2"), ("'" + hostile[2], "s3"), ("Cy", "'" + hostile[3]),
        ("'" + hostile[4], "s5")]
    assert not any(cell.startswith(("=", "+", "-", "@")) for g in got for cell in g.values())
    # (students' copies are stamped PDFs, none without PDFs): the roster keeps the name as written
    students = json.loads((tmp_bank / "o" / "manifest.json").read_text())["students"]
    assert students[1]["name"] == "@SUM(1+1)"


def test_14_verify_accepts_the_leading_quote_of_a_formula_sid(runner, tmp_bank):
    # A SID such as "-1" is written "'-1" in assignments.csv; verify compared it with the raw SID.
    (tmp_bank / "r.csv").write_text("name,sid\nAda,-1\n=Bob,+2\nCy,3\n")
    assert build(runner, "--roster", "r.csv", "--out", "o").exit_code == 0
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 0, r.output
    assert "3 students checked" in r.output


# 15. Plain text prints exactly as written: no TeX ligatures.

LIGATURES = "O''Brien a,,b ?` !` x--y <<z>>"


def test_15_escaped_text_forms_no_ligature():
    out = str(escape(LIGATURES))
    for lig in ("''", ",,", "?`", "!`", "--", "<<", ">>", "``"):
        assert lig not in out


@pytest.mark.pdf
def test_15_names_and_titles_print_as_written(runner, tmp_bank):
    exam = write_exam(tmp_bank, EXAM_HEADER.replace("title: Quiz", f'title: "{LIGATURES}"') + PROBLEMS)
    (tmp_bank / "r.csv").write_text(f'name,sid\n"{LIGATURES}",1\n')
    r = runner.invoke(main, ["build", exam, "--out", "o", "-n", "1", "--roster", "r.csv"])
    assert r.exit_code == 0, r.output
    text = subprocess.run(["pdftotext", "-l", "1", "o/students/1/exam.pdf", "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "".join(text.split()).count("".join(LIGATURES.split())) == 2, text  # the title and the name


# 16. Unclear messages become one-line causes.

def test_16_dangling_symlink_out(runner, tmp_bank):
    (tmp_bank / "gone").symlink_to("nowhere")
    line = one_line(build(runner, "--out", "gone"))
    assert line == ("qbank: gone is a symbolic link (to nowhere, which does not exist); qbank does not write "
                    "through links: give a real folder, or remove the link")


@pytest.mark.parametrize("out", [".", "..", "./"])
def test_16_out_of_the_current_folder(runner, tmp_bank, out):
    assert "that is the current folder or holds it" in one_line(build(runner, "--out", out, "--force"))
    assert listing(tmp_bank) == ["bank"]


@pytest.mark.pdf
def test_16_input_of_an_absolute_path_says_not_found(tmp_path):
    tex = tmp_path / "exam.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\nhello\n\\input{/etc/hostname}\n\\end{document}\n")
    with pytest.raises(LatexError) as e:
        latex.compile_pdf(tex)
    assert "exam.tex:4: LaTeX Error: File `/etc/hostname.tex' not found." in str(e.value)
    assert "Emergency stop" not in str(e.value)


# 17. A YAML syntax error also names the line of the construct left open.

def test_17_unclosed_bracket_names_where_it_was_opened(runner, tmp_bank):
    exam = write_exam(tmp_bank, EXAM_HEADER + "problems:\n  - problem: argmax-attention\n  - id: [unclosed\n    points: 3\n")
    assert one_line(runner.invoke(main, ["build", exam, "--no-pdf"])) == (
        f"qbank: {exam}:14: (top level): invalid YAML: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence started on line 13)")


@pytest.mark.pdf
def test_07_print_all_is_capped_too(tmp_path):
    """Case 7: the joined print file has a size cap of its own; past it nothing is left behind."""
    import pikepdf

    from generator.errors import LatexError
    from generator.latex import unite_pdfs

    one = tmp_path / "one.pdf"
    with pikepdf.new() as pdf:
        pdf.add_blank_page()
        pdf.save(one)
    size = one.stat().st_size
    unite_pdfs([one, one], tmp_path / "ok.pdf", max_bytes=10 * size)  # within the cap: written
    assert (tmp_path / "ok.pdf").stat().st_size > 0
    with pytest.raises(LatexError, match="print-all.pdf: .*refused"):
        unite_pdfs([one] * 200, tmp_path / "print-all.pdf", max_bytes=size + 10)
    assert not (tmp_path / "print-all.pdf").exists()
