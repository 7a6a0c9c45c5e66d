"""The compile pipeline's decisions: when a document has settled, and when versions' layouts differ."""
from __future__ import annotations

from generator.api import layout_warnings
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
    assert layout_warnings(texs[:2], tmp_path) == []
    [warning] = layout_warnings(texs, tmp_path)
    assert warning.startswith("1 exam(s) (C) place problems on different pages than A (16 pages)")
