"""The compile pipeline's decisions: when a document has settled, and when versions' layouts differ."""
from __future__ import annotations

from generator.api import layout_warnings
from generator.build import common_layout_padding
from generator.latex import _settled, page_layout

AUX = "\\PgInfo{question@1}{1}\n\\PgInfo{part@1@1}{1}\n\\PgInfo{question@2}{%d}\n\\gdef\\exam@lastpage{%d}\n"


def test_settled_compares_definitions_not_their_order():
    a = b"\\gdef\\x{1}\n\\gdef\\y{2}\n"
    assert _settled(a, a)
    assert _settled(a, b"\\gdef\\y{2}\n\\gdef\\x{1}\n")
    assert not _settled(None, a)  # a first pass always needs another
    assert not _settled(a, b"\\gdef\\x{1}\n\\gdef\\y{3}\n")
    twice = b"\\gdef\\x{1}\n\\gdef\\x{2}\n"  # the last definition wins, so order matters here
    assert not _settled(twice, b"\\gdef\\x{2}\n\\gdef\\x{1}\n")


def test_page_layout_reads_question_starts_and_page_count(tmp_path):
    aux = tmp_path / "exam.aux"
    aux.write_text(AUX % (3, 16))
    assert page_layout(aux) == {"starts": [("question@1", "1"), ("part@1@1", "1"), ("question@2", "3")], "pages": 16}


def test_versions_with_different_layouts_are_reported(tmp_path):
    texs = []
    for version, (start, pages) in {"A": (3, 16), "B": (3, 16), "C": (4, 17)}.items():
        (tmp_path / version).mkdir()
        (tmp_path / version / "exam.aux").write_text(AUX % (start, pages))
        texs.append(tmp_path / version / "exam.tex")
    layouts = {t: page_layout(t.with_suffix(".aux")) for t in texs}
    assert layout_warnings({t: layouts[t] for t in texs[:2]}, tmp_path) == []
    [warning] = layout_warnings(layouts, tmp_path)
    assert warning.startswith("1 exam(s) (C) place problems on different pages than A (16 pages)")


def layout(*starts: int, pages: int) -> dict:
    return {"starts": [(f"question@{n}", str(p)) for n, p in enumerate(starts, 1)], "pages": pages}


def test_padding_lines_up_every_problem_start():
    # A: problem 2 takes 1 page; B: 2 pages; C: problem 3 takes 1 page where the others take 2.
    layouts = {"A": layout(1, 2, 3, pages=5), "B": layout(1, 2, 4, pages=6), "C": layout(1, 2, 4, pages=5)}
    breaks = {v: [True, True, True] for v in layouts}
    assert common_layout_padding(layouts, breaks) == {"A": {2: 1}, "C": {3: 1}}
    # no padding where a problem does not end with a page break in every version
    breaks["B"] = [True, False, True]
    assert common_layout_padding(layouts, breaks) == {"C": {3: 1}}
    assert common_layout_padding({"A": layout(1, 2, pages=3), "B": layout(1, 2, pages=3)},
                                 {"A": [True, True], "B": [True, True]}) == {}
