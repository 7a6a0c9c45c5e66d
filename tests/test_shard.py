"""--shard i/n builds a slice of the versions; qbank merge puts the slices together into the whole build."""
from __future__ import annotations

import filecmp
import json
from pathlib import Path

import pytest

from generator.cli import main

EXAM = "bank/exams/tiny.yaml"


@pytest.fixture
def roster(tmp_bank):
    (tmp_bank / "roster.csv").write_text("name,sid\n" + "".join(f"Student {i},{1000 + i}\n" for i in range(11)))
    return tmp_bank


def run(runner, *args):
    r = runner.invoke(main, list(args))
    assert r.exit_code == 0, r.output
    return r


def text_files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*"))
            if p.suffix in (".tex", ".json", ".csv")}


def test_two_shards_merge_into_the_unsharded_build(runner, roster):
    common = [EXAM, "--no-pdf", "-n", "5", "--roster", "roster.csv"]
    run(runner, "build", *common, "--out", "whole")
    r1 = run(runner, "build", *common, "--out", "s1", "--shard", "1/2")
    r2 = run(runner, "build", *common, "--out", "s2", "--shard", "2/2")
    assert "2 versions (shard 1/2)" in r1.stdout and "3 versions (shard 2/2)" in r2.stdout
    assert sorted(p.name for p in (roster / "s1").iterdir() if p.is_dir()) == ["A", "B"]
    assert sorted(p.name for p in (roster / "s2").iterdir() if p.is_dir()) == ["C", "D", "E"]
    for shard in ("s1", "s2"):  # each shard verifies on its own
        assert runner.invoke(main, ["verify", shard]).exit_code == 0
    r = run(runner, "merge", "s2", "s1", "--out", "merged")  # in any order
    assert r.stdout.strip() == "Merged 2 shards into merged: 5 versions, 11 students assigned a version"
    assert text_files(roster / "merged") == text_files(roster / "whole")
    assert len(text_files(roster / "whole")) == 5 * 3 + 3  # exam, key, key.json per version; csv, summary, manifest
    v = runner.invoke(main, ["verify", "merged"])
    assert v.exit_code == 0, v.output


@pytest.mark.parametrize("args,message", [
    (["--shard", "3/2"], "--shard 3/2: the shard number must be between 1 and 2"),
    (["--shard", "1/9"], "--shard 1/9: 9 shards but only 5 versions"),
    (["--shard", "x"], "--shard x: write I/N, e.g. --shard 1/2"),
])
def test_bad_shards_are_refused(runner, roster, args, message):
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "-n", "5", "--out", "o", *args])
    assert r.exit_code == 2 and r.stderr.startswith(f"qbank: {message}")
    assert not (roster / "o").exists()


def test_more_shards_than_versions_is_counted_in_the_singular(runner, roster):
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "-n", "1", "--out", "o", "--shard", "1/2"])
    assert r.exit_code == 2 and r.stderr == "qbank: --shard 1/2: 2 shards but only 1 version\n"


def test_merge_refuses_missing_or_foreign_shards(runner, roster):
    common = [EXAM, "--no-pdf", "-n", "4"]
    run(runner, "build", *common, "--out", "s1", "--shard", "1/2")
    run(runner, "build", *common, "--out", "s2", "--shard", "2/2", "--seed", "9")
    run(runner, "build", *common, "--out", "whole")
    cases = [(["s1"], "merge needs shards 1/2 … 2/2, each once; got 1/2"),
             (["s1", "s1"], "merge needs shards 1/2 … 2/2, each once; got 1/2, 1/2"),
             (["s1", "s2"], "s2: its seed differs from s1's: shards of different builds"),
             (["s1", "whole"], "whole: not a shard (its manifest has no 'shard'; build it with --shard i/n)")]
    (roster / "s1" / "A" / "exam.pdf").write_bytes(b"%PDF-1.5\n")  # as if shard 1 alone had PDFs
    cases.append((["s1", "s2b"], "s2b was built with --no-pdf and s1 with PDFs: build every shard the same way"))
    run(runner, "build", *common, "--out", "s2b", "--shard", "2/2")
    run(runner, "build", *common, "--out", "s1c", "--shard", "1/2")
    run(runner, "build", *common, "--out", "s2c", "--shard", "2/2")
    (roster / "s2c" / "C" / "key.json").write_text("{}")
    cases.append((["s1c", "s2c"], "s2c/C/key.json: not the file the shard's manifest lists (changed since it was "
                                 "built?); run qbank verify s2c"))
    run(runner, "build", *common, "--out", "s2d", "--shard", "2/2")
    (roster / "s2d" / "D" / "key.tex").unlink()  # merged, it made a build that verify fails
    cases.append((["s1c", "s2d"], "s2d/D/key.tex: missing, but the shard's manifest lists it (deleted since it "
                                 "was built?); run qbank verify s2d"))
    for shards, message in cases:
        r = runner.invoke(main, ["merge", *shards, "--out", "m"])
        assert r.exit_code == 2 and r.stderr.strip() == f"qbank: {message}", r.output
        assert not (roster / "m").exists()


def test_merge_refuses_shards_built_from_different_problem_sources(runner, roster):
    """A generator edited between shards: their versions were drawn by different code (and shard 2's
    avoided answers that shard 1's code did not give); merged, verify only noted a changed source."""
    common = [EXAM, "--no-pdf", "-n", "4"]
    run(runner, "build", *common, "--out", "s1", "--shard", "1/2")
    generator = roster / "bank" / "problems" / "argmax-attention" / "generator.py"
    generator.write_text(generator.read_text() + "\n# a fix made between the shards' builds\n")
    run(runner, "build", *common, "--out", "s2", "--shard", "2/2")
    r = runner.invoke(main, ["merge", "s1", "s2", "--out", "m"])
    assert r.exit_code == 2 and r.stderr.strip() == (
        "qbank: s2: problem 'argmax-attention' was built from another generator than in s1: shards of different "
        "builds"), r.output
    assert not (roster / "m").exists()


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_shards_with_pdfs_and_students_merge_into_a_verified_build(runner, roster):
    common = [EXAM, "-n", "3", "--roster", "roster.csv"]
    run(runner, "build", *common, "--out", "whole")
    run(runner, "build", *common, "--out", "s1", "--shard", "1/2")
    run(runner, "build", *common, "--out", "s2", "--shard", "2/2")
    for shard in ("s1", "s2"):
        assert runner.invoke(main, ["verify", shard]).exit_code == 0, shard
    run(runner, "merge", "s1", "s2", "--out", "merged")
    merged, whole = text_files(roster / "merged"), text_files(roster / "whole")
    manifests = [json.loads(m.pop("manifest.json")) for m in (merged, whole)]
    assert merged == whole
    # the same manifest but for the hashes of PDFs of shard 2's first version, B (compiled as a
    # build's first is); the others' PDFs are the same bytes (no compile time recorded in them)
    assert [{k: v for k, v in m.items() if k != "files"} for m in manifests[:1]] == \
        [{k: v for k, v in manifests[1].items() if k != "files"}]
    assert sorted(manifests[0]["files"]) == sorted(manifests[1]["files"])
    for f in ("A/exam.pdf", "A/key.pdf", "C/exam.pdf", "C/key.pdf", "grader-summary.pdf"):
        assert manifests[0]["files"][f] == manifests[1]["files"][f], f
    students = json.loads((roster / "whole" / "manifest.json").read_text())["students"]
    for s in students:
        assert (roster / "merged" / "students" / s["folder"] / "exam.pdf").is_file()
    for name in ("print-all.pdf", "grader-summary.pdf"):
        assert (roster / "merged" / name).is_file()
    # print-all.pdf shares each version's pages and fonts, as the unsharded one does. Joined from the 11
    # copies it was 3.8 times as large; a 1,000-student midterm's copies take 417 MB (README), past the
    # 256 MB that verify reads of a PDF
    size = lambda p: (roster / p).stat().st_size
    copies = sum(size(f"merged/students/{s['folder']}/exam.pdf") for s in students)
    assert size("merged/print-all.pdf") < 1.2 * size("whole/print-all.pdf") < copies / 2
    v = runner.invoke(main, ["verify", "merged"])
    assert v.exit_code == 0, v.output
    assert filecmp.cmp(roster / "s1" / "A" / "exam.tex", roster / "merged" / "A" / "exam.tex", shallow=False)
    (roster / "s2" / "print-all.pdf").write_bytes((roster / "s1" / "print-all.pdf").read_bytes())
    r = runner.invoke(main, ["merge", "s1", "s2", "--out", "m2"])
    assert r.exit_code == 2 and r.stderr.strip() == ("qbank: s2/print-all.pdf: not the file the shard's manifest lists "
                                                     "(changed since it was built?); run qbank verify s2"), r.output


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_a_shard_whose_versions_no_student_sits_merges(runner, tmp_bank):
    """Shard 2/2 holds versions C and D, which neither of two students sits: its print-all.pdf holds
    the versions' exams, and none of its pages belong in the merged roster's print file."""
    (tmp_bank / "two.csv").write_text("name,sid\nAda,1\nBo,2\n")
    common = [EXAM, "-n", "4", "--roster", "two.csv"]
    run(runner, "build", *common, "--out", "s1", "--shard", "1/2")
    run(runner, "build", *common, "--out", "s2", "--shard", "2/2")
    for shard in ("s1", "s2"):
        assert runner.invoke(main, ["verify", shard]).exit_code == 0, shard
    run(runner, "merge", "s1", "s2", "--out", "merged")
    v = runner.invoke(main, ["verify", "merged"])
    assert v.exit_code == 0, v.output
    assert "2 students checked" in v.output
