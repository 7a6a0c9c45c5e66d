"""Shared fixtures: the project's bank, temporary banks, and the CLI runner."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SEEDS = int(os.environ.get("QBANK_SEEDS", "200"))
HAVE_TEX = shutil.which("pdflatex") is not None and shutil.which("latexmk") is not None


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def in_root(monkeypatch):
    """Run with the project root as the current folder (the CLI's defaults are relative to it)."""
    monkeypatch.chdir(ROOT)
    return ROOT


def pytest_collection_modifyitems(config, items):
    if HAVE_TEX:
        return
    skip = pytest.mark.skip(reason="TeX Live not installed (make setup installs it)")
    for item in items:
        if "pdf" in item.keywords:
            item.add_marker(skip)


EXAM_HEADER = """\
id: tiny
course: Course 101
term: Fall 2026
title: Quiz
instructor: Prof. X
date: Today
room: Room 1
duration: 10 minutes
seed: 5
versions: 2
"""


@pytest.fixture
def tmp_bank(tmp_path, monkeypatch):
    """A small bank in a temporary folder with the argmax-attention problem and a tiny exam."""
    (tmp_path / "bank" / "problems").mkdir(parents=True)
    (tmp_path / "bank" / "exams").mkdir()
    shutil.copy(ROOT / "bank" / "problems" / "argmax-attention.yaml", tmp_path / "bank" / "problems")
    (tmp_path / "bank" / "exams" / "tiny.yaml").write_text(
        EXAM_HEADER + "problems:\n  - problem: argmax-attention\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def solve_cli(runner, tmp_path):
    """Run ``qbank solve KIND --params FILE``: params as a mapping (written as JSON) or YAML text."""
    from generator.cli import main

    def run(kind: str, params):
        f = tmp_path / ("params.yaml" if isinstance(params, str) else "params.json")
        f.write_text(params if isinstance(params, str) else json.dumps(params))
        return runner.invoke(main, ["solve", kind, "--params", str(f)])
    return run
