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


def make_course(root: Path, problems: list[str]) -> Path:
    """A course at ``root`` holding copies of shipped ``problems`` and an exam ``tiny`` of them.

    It does not use the shipped library, so its copies can be edited freely."""
    (root / "bank" / "problems").mkdir(parents=True)
    (root / "bank" / "exams").mkdir()
    (root / "bank" / "qbank.yaml").write_text("library: false\n")
    for pid in problems:
        shutil.copytree(ROOT / "bank" / "problems" / pid, root / "bank" / "problems" / pid,
                        ignore=shutil.ignore_patterns("__pycache__", "test_*.py"))
    (root / "bank" / "exams" / "tiny.yaml").write_text(
        EXAM_HEADER + "problems:\n" + "".join(f"  - problem: {pid}\n" for pid in problems))
    return root


@pytest.fixture
def tmp_bank(tmp_path, monkeypatch):
    """A small course in a temporary folder (the current one) with argmax-attention and a tiny exam."""
    make_course(tmp_path, ["argmax-attention"])
    monkeypatch.chdir(tmp_path)
    return tmp_path

