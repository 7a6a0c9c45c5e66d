"""The GitHub Actions workflow shipped for course repositories: its steps run as written."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from generator.cli import main

from .conftest import ROOT

WORKFLOW = yaml.safe_load((ROOT / "ci" / "course-repo-workflow.yml").read_text())
STEPS = {s["name"]: s for s in WORKFLOW["jobs"]["verify-keys"]["steps"] if "name" in s}


def run_step(name: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run(["bash", "-e", "-c", STEPS[name]["run"]], cwd=cwd, env=env, capture_output=True, text=True)


def test_it_installs_tex_and_qbank_and_runs_check_and_verify():
    assert "texlive-latex-extra" in STEPS["Install TeX Live and poppler"]["run"]
    assert "pip install" in STEPS["Install qbank"]["run"]
    assert STEPS["Check every spec and generator"]["run"].startswith("qbank check")


def test_verify_step_passes_on_good_builds_and_fails_on_a_tampered_one(runner, tmp_bank):
    for out in ("output/tiny", "output/tiny-retake"):
        assert runner.invoke(main, ["build", "bank/exams/tiny.yaml", "--no-pdf", "--out", out]).exit_code == 0
    ok = run_step("Verify every committed build", tmp_bank)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.count("verified output/tiny") == 2
    key = tmp_bank / "output" / "tiny-retake" / "B" / "key.json"
    key.write_text(key.read_text().replace('"argmax":', '"argmax":7', 1))
    bad = run_step("Verify every committed build", tmp_bank)
    assert bad.returncode == 1
    assert "version B: key.json differs from the recomputed key" in bad.stderr
