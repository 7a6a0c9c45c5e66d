"""Every final answer of a key is marked (invisibly) so verify can read it back from key.pdf; the
exam is rendered without answers; check refuses a key part that marks nothing."""
from __future__ import annotations

import json
import subprocess

import pytest

from generator.cli import main
from generator.latex import compile_pdf
from generator.texify import unmark
from generator.verify import plain, read_marks

from .conftest import ROOT

EXAM = "bank/exams/tiny.yaml"
TEMPLATE = "bank/problems/argmax-attention/template.tex.j2"


def test_a_key_part_that_marks_no_answer_fails_check(runner, tmp_bank):
    path = tmp_bank / TEMPLATE
    text = path.read_text()
    marked = "$v_<< (answers.argmax + 1)|answer('a', 'key_number') >> = \\boxed{<< answers.output|vec|answer('a', 'output') >>}$."
    assert marked in text
    path.write_text(text.replace(marked, "$\\boxed{\\text{(see lecture)}}$."))
    r = runner.invoke(main, ["check", "--seeds", "3"])
    assert r.exit_code == 1
    assert "FAIL argmax-attention: seed" in r.output and "the key marks no answer of part a" in r.output


def test_an_exam_template_reaching_for_answers_fails_at_render_time(runner, tmp_bank):
    path = tmp_bank / TEMPLATE
    path.write_text(path.read_text().replace("Compute the score", "(hint: $<< answers.output|vec >>$) Compute the score"))
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"qbank: {TEMPLATE}:19: undefined template variable: 'answers' is the key's only: the "
                                "exam is rendered without answers, items and key_context() (print it inside "
                                "<% if key %>, or give what the exam shows from the parameters in given())")
    assert not (tmp_bank / "o").exists()


def test_the_answer_filter_is_refused_outside_the_key(runner, tmp_bank):
    path = tmp_bank / TEMPLATE
    path.write_text(path.read_text().replace("Compute the score", "<< params.query|vec|answer('a', 'q') >> Compute"))
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    assert r.exit_code == 2 and "answer mark a:q outside the key: the exam must not print answers" in r.stderr


def test_marks_name_a_part_of_the_problem(runner, tmp_bank):
    path = tmp_bank / TEMPLATE
    path.write_text(path.read_text().replace("answer('a', 'output')", "answer('z', 'output')"))
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    assert r.exit_code == 2 and "answer mark: part 'z' is not one of this problem's parts (a, b)" in r.stderr


def test_the_manifest_records_marks_and_pinned_instances(runner, tmp_bank):
    exam = tmp_bank / EXAM
    exam.write_text(exam.read_text() + "    params: {query: [1, 1], keys: [[1, 0], [3, 0], [0, 0], [0, 1]], "
                                       "values: [[1], [2], [3], [4]]}\n")
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"]).exit_code == 0
    data = json.loads((tmp_bank / "o" / "manifest.json").read_text())
    stored = data["versions"][0]["problems"][0]
    assert stored["pinned"] is True and stored["seed"] is None
    assert stored["marks"] == [["1:a:key_number", "2"], ["1:a:output", "(2)"]]
    assert runner.invoke(main, ["verify", "o"]).exit_code == 0
    stored["params"]["values"][0] = [9]  # no longer the pinned parameters
    (tmp_bank / "o" / "manifest.json").write_text(json.dumps(data))
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 1
    assert "version A, problem 1 'argmax-attention': manifest.json field params differs from the parameters the exam spec pins" in r.stderr


def test_an_older_manifest_format_is_one_line(runner, tmp_bank):
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"]).exit_code == 0
    path = tmp_bank / "o" / "manifest.json"
    path.write_text(path.read_text().replace('"format":2', '"format":1', 1))
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 2 and r.stderr == "qbank: o/manifest.json: format 1, expected 2; rebuild it with this qbank\n"


def test_ticked_and_empty_boxes_compare_as_different_answers():
    ticked, empty = plain(r"{\Large\qbchecked}"), plain(r"{\Large\qbbox}")
    assert ticked != empty and ticked and empty
    # what pdftotext gives for amssymb's boxtimes and square
    assert read_marks("@@qb:3:all:vanishing.0@@\n\u22a0@@/qb@@ @@qb:3:all:exploding.0@@\n\u25a1@@/qb@@") == \
        [("3:all:vanishing.0", ticked), ("3:all:exploding.0", empty)]
    assert plain("-3") != plain("3") and plain(r"(-1, 4.5, 0)") == read_marks("@@qb:1:a:x@@(\u22121, 4.5, 0)@@/qb@@")[0][1]


def _gray_pages(pdf, folder):
    subprocess.run(["pdftoppm", "-gray", "-r", "100", str(pdf), str(folder / "p")], check=True)
    pages = []
    for page in sorted(folder.glob("p-*.pgm")):
        header, body = page.read_bytes().split(b"\n255\n", 1)
        pages.append(body)
    return pages


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_marking_does_not_change_how_the_key_looks(runner, tmp_path):
    """The shipped midterm's key, with and without its marks: same pages, same pixels (up to rounding)."""
    out = tmp_path / "o"
    assert runner.invoke(main, ["build", "--bank", str(ROOT), "--no-pdf", "-n", "1", "--out", str(out)]).exit_code == 0
    marked = (out / "A" / "key.tex").read_text()
    (tmp_path / "m").mkdir()
    (tmp_path / "u").mkdir()
    (tmp_path / "m" / "key.tex").write_text(marked)
    (tmp_path / "u" / "key.tex").write_text(unmark(marked))
    for d in ("m", "u"):
        compile_pdf(tmp_path / d / "key.tex")
    a, b = _gray_pages(tmp_path / "m" / "key.pdf", tmp_path / "m"), _gray_pages(tmp_path / "u" / "key.pdf", tmp_path / "u")
    assert len(a) == len(b) > 10
    for n, (x, y) in enumerate(zip(a, b), 1):
        differ = sum(p != q for p, q in zip(x, y))
        # the invisible tags move nothing: only PDF coordinate rounding (< 0.01 pt) touches a few edge pixels
        assert len(x) == len(y) and differ < len(x) * 2e-4, f"page {n}: {differ} pixels differ"
    text = subprocess.run(["pdftotext", "-raw", str(tmp_path / "m" / "key.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    manifest = json.loads((out / "manifest.json").read_text())
    expected = [(tag, plain(latex)) for p in manifest["versions"][0]["problems"] for tag, latex in p["marks"]]
    assert read_marks(text) == expected and len(expected) > 50
