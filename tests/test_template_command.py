"""qbank template: a course gets qbank's document templates to edit without looking for site-packages."""
from __future__ import annotations

from generator.bank import PACKAGE_TEMPLATES
from generator.cli import main


def test_a_course_copies_the_exam_template_and_its_builds_use_the_edit(tmp_bank, runner):
    r = runner.invoke(main, ["template"])
    assert r.exit_code == 0, r.output
    assert f"exam             qbank's: {PACKAGE_TEMPLATES / 'exam.tex.j2'}" in r.output
    r = runner.invoke(main, ["template", "exam"])
    assert r.exit_code == 0, r.output
    copy = tmp_bank / "templates" / "exam.tex.j2"
    assert r.output == f"Copied qbank's exam.tex.j2 to templates/exam.tex.j2: edit it there; builds and previews use it now\n"
    assert copy.read_bytes() == (PACKAGE_TEMPLATES / "exam.tex.j2").read_bytes()
    assert "exam             the course's: templates/exam.tex.j2" in runner.invoke(main, ["template"]).output
    copy.write_text(copy.read_text().replace("Do not turn this page", "Keep this page closed"))
    r = runner.invoke(main, ["build", "bank/exams/tiny.yaml", "--no-pdf", "--versions", "1"])
    assert r.exit_code == 0, r.output
    exam = (tmp_bank / "output" / "tiny" / "A" / "exam.tex").read_text()
    assert "Keep this page closed" in exam and "Do not turn this page" not in exam


def test_the_courses_own_copy_is_replaced_only_with_force(tmp_bank, runner):
    assert runner.invoke(main, ["template", "summary.tex.j2"]).exit_code == 0
    copy = tmp_bank / "templates" / "summary.tex.j2"
    copy.write_text("the course's edits")
    r = runner.invoke(main, ["template", "summary"])
    assert r.exit_code == 2
    assert r.output == ("qbank: templates/summary.tex.j2 exists: the course's own summary.tex.j2; "
                        "--force replaces it with qbank's\n")
    assert copy.read_text() == "the course's edits"
    assert runner.invoke(main, ["template", "summary", "--force"]).exit_code == 0
    assert copy.read_bytes() == (PACKAGE_TEMPLATES / "summary.tex.j2").read_bytes()


def test_an_unknown_template_or_a_linked_templates_folder_is_refused(tmp_bank, runner, tmp_path_factory):
    r = runner.invoke(main, ["template", "cover"])
    assert r.exit_code == 2
    assert r.output == ("qbank: qbank has no document template 'cover'; it has: exam, multiple_choice, seating, "
                        "stamps, summary, summary_page\n")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (tmp_bank / "templates").symlink_to(elsewhere)
    r = runner.invoke(main, ["template", "exam"])
    assert r.exit_code == 2
    assert "templates is not a folder of the course (a link or a file): not writing into it" in r.output
    assert not list(elsewhere.iterdir())


def test_in_qbanks_own_tree_the_templates_are_listed_as_qbanks():
    """qbank's source tree is also a course whose templates/ are the package's: not a copy of its own."""
    from generator.scaffold import document_templates

    from .conftest import ROOT
    assert [own for _, _, own in document_templates(ROOT)] == [None] * 6
