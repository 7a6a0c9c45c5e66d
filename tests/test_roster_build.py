"""Builds with a roster and a seating chart, as an instructor runs them."""
from __future__ import annotations

import csv
import json
import subprocess

import pytest

from generator.cli import main

EXAM = "bank/exams/tiny.yaml"
ROSTER = '\ufeffname,sid,email\nAda Lovelace,3031,a@x\n\n"Łukasz, Zoë",../x,b@x\nBob $\\input{x}$ #1,a/b,c@x\nCy,3034,d@x\n'
SEATING = "sid,row,seat\n3031,1,1\n../x,1,2\na/b,2,1\n3034,2,2\n"


@pytest.fixture
def files(tmp_bank):
    (tmp_bank / "roster.csv").write_text(ROSTER, encoding="utf-8")
    (tmp_bank / "seating.csv").write_text(SEATING)
    return tmp_bank


def test_a_roster_without_pdfs_assigns_versions_and_writes_no_copies(runner, files):
    """Students' copies are stamped PDFs; without PDFs the build says who gets which version."""
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--roster", "roster.csv"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "Built o: 2 versions, 4 students assigned a version (LaTeX only, --no-pdf)"
    assert not (files / "o" / "students").exists()
    rows = list(csv.DictReader((files / "o" / "assignments.csv").open()))
    assert [(x["sid"], x["version"], x["row"]) for x in rows] == [("3031", "A", ""), ("../x", "B", ""),
                                                                   ("a/b", "A", ""), ("3034", "B", "")]
    manifest = json.loads((files / "o" / "manifest.json").read_text())
    assert [s["folder"] for s in manifest["students"]] == ["3031", "x", "a_b", "3034"]
    assert runner.invoke(main, ["verify", "o"]).exit_code == 0


def test_seating_gives_neighbours_different_versions(runner, files):
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--roster", "roster.csv",
                             "--seating", "seating.csv"])
    assert r.exit_code == 0, r.output
    rows = {x["sid"]: x for x in csv.DictReader((files / "o" / "assignments.csv").open())}
    seat = {(int(x["row"]), int(x["seat"])): x["version"] for x in rows.values()}
    for (row, s), v in seat.items():
        for other in ((row, s + 1), (row + 1, s)):
            if other in seat:
                assert seat[other] != v
    assert (files / "o" / "seating-chart.tex").is_file()


def test_one_version_cannot_separate_neighbours(runner, files):
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "-n", "1", "--roster", "roster.csv",
                             "--seating", "seating.csv"])
    assert r.exit_code == 2
    assert "are neighbours; at least 2 versions are needed" in r.stderr
    assert not (files / "o").exists()


@pytest.mark.parametrize("content,message", [
    ("name,sid\nA,1\nB,1\n", "roster.csv:3: sid: duplicate SID '1' (first on line 2)"),
    ("name,email\nA,a@x\n", "roster.csv:1: (header): missing column 'sid'; found columns: name, email"),
    ("name,sid\n", "roster.csv: no students (the file has a header but no rows)"),
])
def test_bad_rosters_are_refused_with_the_row(runner, files, content, message):
    (files / "roster.csv").write_text(content)
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--roster", "roster.csv"])
    assert r.exit_code == 2
    assert r.stderr.strip() == f"qbank: {message}"
    assert not (files / "o").exists()


def test_seating_without_roster_is_refused(runner, files):
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--seating", "seating.csv"])
    assert r.exit_code == 2
    assert "--seating needs --roster" in r.stderr


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_student_pdfs_seating_chart_and_print_file(runner, files):
    r = runner.invoke(main, ["build", EXAM, "--out", "o", "--roster", "roster.csv", "--seating", "seating.csv"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "Built o: 2 versions, 4 student exams"

    def text(pdf):
        out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        return " ".join(out.split())

    def pages(pdf):
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
        return int(next(l.split()[1] for l in info.splitlines() if l.startswith("Pages:")))

    assert sorted(p.name for p in (files / "o" / "students").iterdir()) == ["3031", "3034", "a_b", "x"]
    assert not (files / "x").exists() and not (files / "a").exists()  # nothing outside the output folder
    cover = text(files / "o" / "students" / "x" / "exam.pdf")
    assert "Łukasz, Zoë" in cover and "../x" in cover
    assert "Bob $\\input{x}$ #1" in text(files / "o" / "students" / "a_b" / "exam.pdf")
    chart = text(files / "o" / "seating-chart.pdf")
    assert "FRONT OF ROOM" in chart and "3031" in chart
    assert pages(files / "o" / "print-all.pdf") == 4 * pages(files / "o" / "A" / "exam.pdf")
    assert pages(files / "o" / "grader-summary.pdf") == 2


def test_per_student_gives_everyone_a_version_of_their_own(runner, files):
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--roster", "roster.csv", "--per-student"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "Built o: 4 versions, 4 students assigned a version (LaTeX only, --no-pdf)"
    rows = list(csv.DictReader((files / "o" / "assignments.csv").open()))
    assert [x["version"] for x in rows] == ["A", "B", "C", "D"]
    bad = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "p", "--per-student", "-n", "2",
                               "--roster", "roster.csv"])
    assert bad.exit_code == 2
    assert bad.stderr == "qbank: --per-student sets the number of versions itself (one per student): drop --versions\n"
    bad = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "p", "--per-student"])  # no -n: "drop" misled
    assert bad.exit_code == 2 and bad.stderr == "qbank: --per-student needs --roster (a version for each student)\n"


def test_one_student_and_one_version_are_counted_in_the_singular(runner, files):
    (files / "one.csv").write_text("name,sid\nAda,1\n")
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "-n", "1", "--out", "o", "--roster", "one.csv"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "Built o: 1 version, 1 student assigned a version (LaTeX only, --no-pdf)"


def test_labels_continue_after_zz():
    from generator.build import version_labels
    labels = version_labels(26 + 26**2 + 26**3)
    assert labels[:3] == ["A", "B", "C"] and labels[25:28] == ["Z", "AA", "AB"]
    assert labels[700:704] == ["ZY", "ZZ", "AAA", "AAB"] and labels[-1] == "ZZZ"
    assert len(set(labels)) == len(labels)


def test_per_student_builds_a_version_for_each_of_5000_students(runner, files):
    (files / "big.csv").write_text("name,sid\n" + "".join(f"Student {i},{100000 + i}\n" for i in range(5000)))
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--roster", "big.csv", "--per-student"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "Built o: 5000 versions, 5000 students assigned a version (LaTeX only, --no-pdf)"
    rows = list(csv.DictReader((files / "o" / "assignments.csv").open()))
    assert [(x["sid"], x["version"]) for x in rows[701:703]] == [("100701", "ZZ"), ("100702", "AAA")]
    assert rows[-1]["version"] == "GJH" and len({x["version"] for x in rows}) == 5000
    assert "\\newcommand{\\qbversion}{GJH}" in (files / "o" / "GJH" / "exam.tex").read_text()
    assert json.loads((files / "o" / "GJH" / "key.json").read_text())["version"] == "GJH"


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_the_seating_chart_shows_every_name_whole(runner, files):
    """Found on a proctor's chart: names were cut at 22 characters with no sign of it ('Zoë
    Ångström-Łukasiewi'), and a name of two lines ran over its cell's border. A name is now whole,
    on one line, scaled down to its cell when it is too wide."""
    long = "Maximiliana Wilhelmina Bartholomew-Featherstonehaugh von Hohenzollern the Third"
    (files / "roster.csv").write_text(f"name,sid\nZoë Ångström-Łukasiewicz,1\n{long},2\nAl,3\nBo,4\n")
    (files / "seating.csv").write_text("sid,row,seat\n1,1,1\n2,1,2\n3,2,1\n4,2,2\n")
    r = runner.invoke(main, ["build", EXAM, "--out", "o", "--roster", "roster.csv", "--seating", "seating.csv"])
    assert r.exit_code == 0, r.output
    chart = subprocess.run(["pdftotext", "-raw", str(files / "o" / "seating-chart.pdf"), "-"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    assert "Zoë Ångström-Łukasiewicz" in chart and long in chart
