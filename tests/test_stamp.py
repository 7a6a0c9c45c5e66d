"""Students' copies stamped onto their version's compiled exam, and the print file."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner

from generator.bank import load_exam
from generator.build import Instance, cover_values, render_exam
from generator.cli import main
from generator.latex import compile_pdf

from .conftest import make_course

EXAM = "bank/exams/tiny.yaml"
LONG = "Maximiliane Aurelia Konstantinopoulou-Vanderbilt"  # wider than the name field
ROSTER = f"name,sid\nAda Lovelace,3031\n\"Łukasz, Zoë\",../x\n{LONG},77\nCy,3034\nDee,3035\n"
SEATING = "sid,row,seat\n3031,1,1\n../x,1,2\n77,2,1\n3034,2,2\n3035,3,1\n"

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("pdf")]


def pages_text(pdf: Path) -> list[str]:
    """pdftotext of each page."""
    with pikepdf.open(pdf) as doc:
        n = len(doc.pages)
    return [subprocess.run(["pdftotext", "-f", str(i), "-l", str(i), str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout for i in range(1, n + 1)]


def page_count(pdf: Path) -> int:
    with pikepdf.open(pdf) as doc:
        return len(doc.pages)


@pytest.fixture(scope="module")
def seated(tmp_path_factory):
    """A 3-page exam (two problems after the cover), 5 seated students, 2 versions, with PDFs."""
    root = make_course(tmp_path_factory.mktemp("stamp"), ["argmax-attention", "translation"])
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8")
    (root / "seating.csv").write_text(SEATING)
    return root


def build(root: Path, *args: str) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        r = CliRunner().invoke(main, ["build", EXAM, "--force", *args])
    assert r.exit_code == 0, r.output
    return root / args[args.index("--out") + 1]


@pytest.fixture(scope="module")
def built(seated):
    return build(seated, "--out", "o", "--roster", "roster.csv", "--seating", "seating.csv")


def test_a_stamped_copy_is_its_version_with_name_sid_and_seat_on_the_cover(built):
    manifest = json.loads((built / "manifest.json").read_text())
    assert len(manifest["students"]) == 5
    for s in manifest["students"]:
        copy = pages_text(built / "students" / s["folder"] / "exam.pdf")
        version = pages_text(built / s["version"] / "exam.pdf")
        assert len(copy) == len(version) == 3
        values = cover_values(s)
        assert values["seat"] == f"Row {s['row']}, seat {s['seat']}"
        # page 1: the version's words plus exactly the student's name, SID and seat
        added = Counter(copy[0].split()) - Counter(version[0].split())
        assert added == Counter(" ".join([s["name"], s["sid"], values["seat"]]).split()), s
        assert not Counter(version[0].split()) - Counter(copy[0].split())
        # every later page: the version's page, with the SID on the footer's line
        for c, v in zip(copy[1:], version[1:]):
            assert f"SID: {s['sid']}" in c
            assert c.replace(f"SID: {s['sid']}", "SID:") == v


def test_a_stamped_copy_reads_as_a_compiled_copy_would(built, tmp_path):
    """pdftotext of a stamped copy equals that of the same student's copy compiled from LaTeX."""
    manifest = json.loads((built / "manifest.json").read_text())
    s = next(s for s in manifest["students"] if s["sid"] == "../x")
    v = next(v for v in manifest["versions"] if v["label"] == s["version"])
    instances = [Instance(p["number"], p["id"], p["seed"], p["points"], p["params"], p["answers"], p["items"])
                 for p in v["problems"]]
    tex = tmp_path / "exam.tex"
    tex.write_text(render_exam(load_exam(built.parent / EXAM), s["version"], instances, False, cover_values(s)))
    compile_pdf(tex)
    assert pages_text(built / "students" / "x" / "exam.pdf") == pages_text(tmp_path / "exam.pdf")


def word_heights(pdf: Path, words: set[str]) -> dict[str, float]:
    """The height of each of ``words`` on page 1 (pdftotext -bbox), about its font size."""
    xml = subprocess.run(["pdftotext", "-bbox", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    return {w: float(y1) - float(y0) for y0, y1, w in
            re.findall(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]+)</word>', xml) if w in words}


def test_a_name_too_long_for_its_field_is_wrapped_small_but_readable(built):
    """Scaled down to one line, a 48-letter name printed at a third of the label's size (about 3 pt);
    wrapped over the field, it prints at more than half of it, and the version's layout stays."""
    copy = built / "students" / "77" / "exam.pdf"
    raw = subprocess.run(["pdftotext", "-raw", "-f", "1", "-l", "1", str(copy), "-"], capture_output=True,
                         text=True, check=True).stdout
    assert LONG in " ".join(raw.split())
    heights = word_heights(copy, set(LONG.split()) | {"Name"})
    assert set(heights) == set(LONG.split()) | {"Name"}
    assert min(heights[w] for w in LONG.split()) > 0.5 * heights["Name"], heights
    assert page_count(copy) == page_count(built / "A" / "exam.pdf")
    short = word_heights(built / "students" / "3031" / "exam.pdf", {"Ada", "Name"})  # fits: as compiled
    assert short["Ada"] > 0.95 * short["Name"]


def test_copies_are_small_and_the_print_file_shares_each_version(built):
    versions = {v: (built / v / "exam.pdf").stat().st_size for v in "AB"}
    copies = [p.stat().st_size for p in (built / "students").glob("*/exam.pdf")]
    assert len(copies) == 5
    assert max(copies) < max(versions.values()) + 50_000  # the version plus the stamp's text and font subset
    # five exams in one file cost about two versions and the stamps, not five whole copies
    assert (built / "print-all.pdf").stat().st_size < sum(versions.values()) + 100_000 < sum(copies)


def test_print_all_starts_every_exam_on_a_new_sheet_unless_no_duplex(seated, built):
    manifest = json.loads((built / "manifest.json").read_text())
    assert page_count(built / "A" / "exam.pdf") == 3
    all_pages = pages_text(built / "print-all.pdf")
    assert len(all_pages) == 5 * 4
    for i, s in enumerate(manifest["students"]):
        assert s["sid"] in " ".join(all_pages[4 * i].split())  # each student's cover, in roster order
        assert all_pages[4 * i + 3].strip() == ""  # the blank back of the last sheet
    plain = build(seated, "--out", "p", "--no-duplex")
    assert page_count(plain / "print-all.pdf") == 2 * 3
    padded = build(seated, "--out", "q")
    assert page_count(padded / "print-all.pdf") == 2 * 4


def test_verify_reads_the_stamped_copies_and_catches_a_missing_or_wrong_one(seated, built, tmp_path, monkeypatch):
    runner = CliRunner()
    monkeypatch.chdir(seated)
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 0, r.output
    assert "5 students checked" in r.stdout
    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    (broken / "students" / "3031" / "exam.pdf").unlink()
    shutil.copyfile(broken / "B" / "exam.pdf", broken / "students" / "x" / "exam.pdf")  # unstamped
    r = runner.invoke(main, ["verify", str(broken)])
    assert r.exit_code == 1
    assert "file students/3031/exam.pdf: missing" in r.output
    assert "file students/x/exam.pdf: field name 'Łukasz, Zoë' is not on its cover" in r.output, r.output


def test_an_exam_template_without_stamp_marks_is_refused_not_left_unnamed(tmp_bank, runner):
    """A course's own exam template from before stamping records no fields: no copy may go out unnamed."""
    from generator.bank import PACKAGE_TEMPLATES
    import re
    old = re.sub(r"\\qbmark\{[^{}]*\}\{[^{}]*\}", "", (PACKAGE_TEMPLATES / "exam.tex.j2").read_text())
    assert "\\qbmark{" not in old.split("\\begin{document}")[1]
    (tmp_bank / "templates").mkdir()
    (tmp_bank / "templates" / "exam.tex.j2").write_text(old)
    (tmp_bank / "roster.csv").write_text("name,sid\nAda,1\n")
    r = runner.invoke(main, ["build", EXAM, "--out", "o", "--roster", "roster.csv"])
    assert r.exit_code == 2
    assert r.stderr.strip().splitlines()[-1] == ("qbank: version A: its exam.pdf records no place for a student's name or SID (the "
                                "exam template has no \\qbmark fields), so students' copies cannot be named; "
                                "update the course's templates/exam.tex.j2 from qbank's (qbank template shows where qbank's is)")
    assert not (tmp_bank / "o").exists()


def test_verify_catches_a_copy_of_a_student_whose_name_and_sid_contain_its_owners(seated, tmp_path, monkeypatch):
    """Ann (SID 1) given Anne's (SID 10) copy: "Ann" and "1" are on that cover, but not as its fields."""
    import hashlib
    (seated / "ann.csv").write_text("name,sid\nAnn,1\nAnne,10\n")
    out = build(seated, "--out", "ann", "--roster", "ann.csv", "-n", "1")
    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    shutil.copyfile(broken / "students" / "10" / "exam.pdf", broken / "students" / "1" / "exam.pdf")
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["files"]["students/1/exam.pdf"] = hashlib.sha256((broken / "students/1/exam.pdf").read_bytes()).hexdigest()
    (broken / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.chdir(seated)
    assert CliRunner().invoke(main, ["verify", "ann"]).exit_code == 0
    r = CliRunner().invoke(main, ["verify", str(broken)])
    assert r.exit_code == 1, r.output
    assert "FAIL student 1 (version A), file students/1/exam.pdf: page 1 reads differently from version A's exam.pdf " \
           "with the student's name, SID and seat" in r.output, r.output


def test_verify_passes_an_exam_whose_template_prints_numbers_of_its_own(tmp_bank, runner):
    """A course's exam template may print numbers its exam.tex does not hold (\\today, \\numquestions):
    verify's check that exam.pdf was compiled from its exam.tex must not fail such a build."""
    from generator.bank import PACKAGE_TEMPLATES
    template = (PACKAGE_TEMPLATES / "exam.tex.j2").read_text()
    (tmp_bank / "templates").mkdir()
    (tmp_bank / "templates" / "exam.tex.j2").write_text(
        template.replace("\\begin{questions}", "Printed \\today; \\numquestions\\ problems.\n\\begin{questions}", 1))
    r = runner.invoke(main, ["build", EXAM, "--out", "o", "-n", "1"])
    assert r.exit_code == 0, r.output
    assert "problems." in subprocess.run(["pdftotext", "o/A/exam.pdf", "-"], capture_output=True, text=True).stdout
    v = runner.invoke(main, ["verify", "o"])
    assert v.exit_code == 0, v.output
