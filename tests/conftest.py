"""Shared fixtures: the project's bank and temporary banks (``runner`` and ``solve_cli`` come from
qbank's pytest plugin, :mod:`generator.testing`)."""
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


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    """Tests never write to the user's cache folder; formats are shared by the tests of one session."""
    os.environ["QBANK_CACHE_DIR"] = str(tmp_path_factory.mktemp("qbank-cache"))


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
    """A small bank in a temporary folder with a copy of the argmax-attention problem and a tiny exam.

    It does not use the shipped library, so its copy of a shipped problem can be edited freely."""
    (tmp_path / "bank" / "problems").mkdir(parents=True)
    (tmp_path / "bank" / "exams").mkdir()
    (tmp_path / "bank" / "qbank.yaml").write_text("library: false\n")
    shutil.copytree(ROOT / "bank" / "problems" / "argmax-attention", tmp_path / "bank" / "problems" / "argmax-attention",
                    ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    (tmp_path / "bank" / "exams" / "tiny.yaml").write_text(
        EXAM_HEADER + "problems:\n  - problem: argmax-attention\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path

