"""`qbank export --latex`: standalone LaTeX per version that compiles without qbank."""
from __future__ import annotations

import subprocess
import zipfile

import pytest

from generator.cli import main

EXAM = "bank/exams/tiny.yaml"


def test_export_folders_and_zips_are_complete_and_deterministic(runner, tmp_bank):
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"]).exit_code == 0
    r = runner.invoke(main, ["export", "o", "--latex"])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip() == "Exported o-latex"
    for v in "AB":
        assert sorted(p.name for p in (tmp_bank / "o-latex" / v).iterdir()) == ["README.txt", "exam.tex", "key.tex"]
        assert (tmp_bank / "o-latex" / v / "exam.tex").read_bytes() == (tmp_bank / "o" / v / "exam.tex").read_bytes()
    assert runner.invoke(main, ["export", "o", "--latex", "--zip", "--out", "z1"]).exit_code == 0
    assert runner.invoke(main, ["export", "o", "--latex", "--zip", "--out", "z2"]).exit_code == 0
    assert (tmp_bank / "z1" / "tiny-A.zip").read_bytes() == (tmp_bank / "z2" / "tiny-A.zip").read_bytes()
    with zipfile.ZipFile(tmp_bank / "z1" / "tiny-B.zip") as z:
        assert z.namelist() == ["tiny-B/README.txt", "tiny-B/exam.tex", "tiny-B/key.tex"]


def test_a_file_changed_after_the_build_is_not_exported(runner, tmp_bank):
    """An edited key.tex was exported as if it were the build's: export now holds it to the manifest's hash."""
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"]).exit_code == 0
    key = tmp_bank / "o" / "B" / "key.tex"
    key.write_text(key.read_text().replace("Argmax attention", "Argmax attentions", 1))
    r = runner.invoke(main, ["export", "o", "--latex"])
    assert r.exit_code == 2
    assert r.stderr.splitlines() == ["qbank: o: B/key.tex differs from the manifest's SHA-256 (changed after the "
                                     "build; `qbank verify` says more); nothing was exported"]
    assert not (tmp_bank / "o-latex").exists()


def test_existing_export_is_refused_without_force(runner, tmp_bank):
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    assert runner.invoke(main, ["export", "o", "--latex"]).exit_code == 0
    r = runner.invoke(main, ["export", "o", "--latex"])
    assert r.exit_code == 2
    assert "o-latex already exists; use --force" in r.stderr


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_exported_tex_compiles_with_plain_pdflatex_and_matches_the_build(runner, tmp_bank, tmp_path):
    assert runner.invoke(main, ["build", EXAM, "--out", "o", "-n", "1"]).exit_code == 0
    assert runner.invoke(main, ["export", "o", "--latex", "--zip", "--out", "z"]).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    with zipfile.ZipFile(tmp_bank / "z" / "tiny-A.zip") as z:
        z.extractall(elsewhere)
    folder = elsewhere / "tiny-A"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no qbank, no virtualenv
    for _ in range(2):
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "exam.tex"], cwd=folder,
                       env=env, check=True, stdout=subprocess.DEVNULL)

    def text(pdf):
        return subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert text(folder / "exam.pdf") == text(tmp_bank / "o" / "A" / "exam.pdf")
