"""Shared fixtures: the project's bank, temporary banks, and the CLI runner."""
from __future__ import annotations

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
