"""Golden LaTeX of the pinned original midterm: any change to its output must be intended.

Regenerate with `make golden` (scripts/update-golden.sh), never by hand, and review the diff.
"""
from __future__ import annotations

import pytest

from generator import api

from .conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"


@pytest.mark.parametrize("name", ["exam.tex", "key.tex", "key.json"])
def test_original_midterm_matches_its_golden_files(tmp_path, name):
    out = api.build(ROOT / "bank/exams/midterm-original.yaml", pdf=False, out=tmp_path / "o").out
    fresh = (out / "A" / name).read_text(encoding="utf-8")
    golden = (GOLDEN / name).read_text(encoding="utf-8")
    assert fresh == golden, f"{name} changed; if that is intended, run `make golden` and review the diff"
