"""Tampering with any file of a 2-version roster build with PDFs makes `qbank verify` fail, naming
the version (or student), the file and the field; a fresh build passes; verify never tracebacks."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from generator.cli import main
from generator.latex import compile_pdf

from .conftest import make_course

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("pdf")]

ROSTER = "name,sid\nAda Lovelace,3031\nBob Baker,3032\nCy Chen,3033\nDee Diaz,3034\n"
SEATING = "sid,row,seat\n3031,1,1\n3032,1,2\n3033,2,1\n3034,2,2\n"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One roster build with PDFs (argmax-attention and a multiple-choice problem), made once."""
    root = make_course(tmp_path_factory.mktemp("course"), ["argmax-attention", "activation-functions"])
    (root / "roster.csv").write_text(ROSTER)
    (root / "seating.csv").write_text(SEATING)
    old = os.getcwd()
    os.chdir(root)
    try:
        r = CliRunner().invoke(main, ["build", "bank/exams/tiny.yaml", "--out", "o", "--roster", "roster.csv",
                                      "--seating", "seating.csv", "-j", "2"])
    finally:
        os.chdir(old)
    assert r.exit_code == 0, r.output
    return root


@pytest.fixture
def copy(built, tmp_path):
    """A fresh copy of the build inside the course (so verify finds the bank above it)."""
    dst = built / "copies" / tmp_path.name
    shutil.copytree(built / "o", dst)
    yield dst
    shutil.rmtree(dst, ignore_errors=True)


def run_verify(folder: Path, *args: str):
    r = CliRunner().invoke(main, ["verify", str(folder), *args])
    assert "Traceback" not in r.output and not isinstance(r.exception, (AssertionError, RecursionError)), r.output
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise AssertionError(f"verify raised {type(r.exception).__name__}: {r.exception}")
    return r


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def save_manifest(folder: Path, data: dict) -> None:
    (folder / "manifest.json").write_text(json.dumps(data))


def rehash(folder: Path, *rels: str) -> None:
    """The forger's step: rewrite the manifest's hashes of these files to match them."""
    import hashlib
    data = manifest(folder)
    for rel in rels:
        data["files"][rel] = hashlib.sha256((folder / rel).read_bytes()).hexdigest()
    save_manifest(folder, data)


def forge_key(folder: Path, label: str, old: str, new: str) -> None:
    """Edit key.tex, recompile it elsewhere and copy only the PDF back (key.tex left as built)."""
    work = folder.parent / f"forge-{folder.name}"
    work.mkdir()
    tex = (folder / label / "key.tex").read_text()
    assert old in tex, old
    (work / "key.tex").write_text(tex.replace(old, new, 1))
    compile_pdf(work / "key.tex")
    shutil.copy(work / "key.pdf", folder / label / "key.pdf")
    shutil.rmtree(work)


def student(folder: Path, k: int) -> dict:
    return manifest(folder)["students"][k]


def test_a_fresh_build_passes_with_counts(built):
    r = run_verify(built / "o")
    assert r.exit_code == 0, r.output
    line = r.output.strip().splitlines()[-1]
    m = re.search(r"(\d+) problems' answers re-derived .* (\d+) marked answers found in key PDFs, (\d+) files hashed, "
                  r"(\d+) students checked", line)
    assert m, line
    problems, marks, files, students = map(int, m.groups())
    assert (problems, students) == (4, 4)
    assert marks >= 6  # argmax: argmax and output; multiple choice: the letters; in both versions
    assert files == len(manifest(built / "o")["files"]) and files >= 18


def _mc_answer(folder: Path, label: str) -> str:
    tex = (folder / label / "key.tex").read_text()
    return re.search(r"qbans\{2:all:correct\}\{([^}]*)\}", tex).group(1)


def forged_vector(folder):
    tex = (folder / "A" / "key.tex").read_text()
    shown = re.search(r"qbans\{1:a:output\}\{\(([^)]*)\)\}", tex).group(1)
    forge_key(folder, "A", f"{{1:a:output}}{{({shown})}}", "{1:a:output}{(1, 1, 1)}")


def forged_letter(folder):
    letters = _mc_answer(folder, "B")
    other = "A" if letters != "A" else "B"
    forge_key(folder, "B", f"{{2:all:correct}}{{{letters}}}", f"{{2:all:correct}}{{{other}}}")


def swap(folder, a, b):
    tmp = folder / "swap.tmp"
    os.replace(folder / a, tmp)
    os.replace(folder / b, folder / a)
    os.replace(tmp, folder / b)


def swap_rehashed(folder, a, b):
    swap(folder, a, b)
    rehash(folder, a, b)


def set_manifest(path, value):
    def mutate(folder):
        data = manifest(folder)
        target = data
        for k in path[:-1]:
            target = target[k]
        target[path[-1]] = value(target[path[-1]]) if callable(value) else value
        save_manifest(folder, data)
    return mutate


def write(rel, text):
    def mutate(folder):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return mutate


def student_pdf_of_another(folder):
    students = manifest(folder)["students"]
    a, b = next((a, b) for a in students for b in students if a is not b and a["version"] == b["version"])
    shutil.copy(folder / "students" / b["folder"] / "exam.pdf", folder / "students" / a["folder"] / "exam.pdf")
    rehash(folder, f"students/{a['folder']}/exam.pdf")


def copy_with_key_pages(folder):
    """A student's copy: its own stamped cover, then the key's pages (each labelled with the right version)."""
    import pikepdf
    s = student(folder, 0)
    rel = f"students/{s['folder']}/exam.pdf"
    with pikepdf.open(folder / rel) as pdf, pikepdf.open(folder / s["version"] / "key.pdf") as key:
        del pdf.pages[1:]
        pdf.pages.extend(key.pages[1:])
        pdf.save(folder / "forged.pdf")
    os.replace(folder / "forged.pdf", folder / rel)
    rehash(folder, rel)


def print_all_of_versions(folder):
    """print-all.pdf made of the versions' unstamped exams, hash rewritten: no student's name on any."""
    import pikepdf
    with pikepdf.new() as out:
        for s in manifest(folder)["students"]:
            with pikepdf.open(folder / s["version"] / "exam.pdf") as pdf:
                out.pages.extend(pdf.pages)
                if len(pdf.pages) % 2:
                    out.add_blank_page()
        out.save(folder / "print-all.pdf")
    rehash(folder, "print-all.pdf")


def print_all_single_sided(folder):
    """print-all.pdf of a --duplex build made again without its blank backs, hash rewritten."""
    import pikepdf
    with pikepdf.open(folder / "print-all.pdf") as pdf:
        before = len(pdf.pages)
        for i in reversed(range(len(pdf.pages))):
            if not pdf.pages[i].get("/Contents"):  # a blank back
                del pdf.pages[i]
        assert len(pdf.pages) < before, "the build has no blank backs to remove: make its exams odd-length"
        pdf.save(folder / "single.pdf")
    os.replace(folder / "single.pdf", folder / "print-all.pdf")
    rehash(folder, "print-all.pdf")


def copy_and_its_entry_deleted(folder):
    """A student's folder deleted and dropped from the manifest's files: that student gets no exam."""
    shutil.rmtree(folder / "students" / "3031")
    data = manifest(folder)
    data["files"] = {rel: h for rel, h in data["files"].items() if not rel.startswith("students/3031/")}
    save_manifest(folder, data)


def key_json_edit(folder):
    data = json.loads((folder / "A" / "key.json").read_text())
    data["problems"][0]["answers"]["output"][0] += 1
    (folder / "A" / "key.json").write_text(json.dumps(data))


def deep_key_json(folder):
    (folder / "A" / "key.json").write_text("[" * 100_000 + "]" * 100_000)


def assignments_version(folder):
    p = folder / "assignments.csv"
    p.write_text(p.read_text().replace(",1,1,A\n", ",1,1,B\n", 1))


def key_symlink(folder):
    (folder / "A" / "key.pdf").unlink()
    (folder / "A" / "key.pdf").symlink_to(folder / "B" / "key.pdf")


def key_fifo(folder):
    (folder / "A" / "key.pdf").unlink()
    os.mkfifo(folder / "A" / "key.pdf")


def marks_edit(folder):
    data = manifest(folder)
    data["versions"][0]["problems"][0]["marks"][-1][1] = "(9, 9, 9)"
    save_manifest(folder, data)


def answers_and_items(folder):
    data = manifest(folder)
    data["versions"][1]["problems"][0]["items"][0]["answers"] = {"tampered": 1}
    save_manifest(folder, data)


def swap_versions_in_manifest(folder):
    data = manifest(folder)
    data["versions"][0]["label"], data["versions"][1]["label"] = "B", "A"
    save_manifest(folder, data)


def student_version(folder):
    data = manifest(folder)
    s = data["students"][0]
    s["version"] = "B" if s["version"] == "A" else "A"
    save_manifest(folder, data)


def drop_pdfs(*rels):
    def mutate(folder):
        for rel in rels:
            (folder / rel).unlink()
    return mutate


def every_pdf(folder):
    for p in folder.rglob("*.pdf"):
        p.unlink()


def pinned_flag(folder):
    data = manifest(folder)
    data["versions"][0]["problems"][0]["pinned"] = True
    save_manifest(folder, data)


def param_edit(folder):
    data = manifest(folder)
    q = data["versions"][0]["problems"][0]["params"]["query"]
    q[0] = q[0] + 1
    save_manifest(folder, data)


def padding_junk(folder):
    data = manifest(folder)
    data["versions"][0]["padding"] = {"x": 1}
    save_manifest(folder, data)


def garbage_pdf(folder):
    (folder / "B" / "key.pdf").write_bytes(b"%PDF-1.5 not really")
    rehash(folder, "B/key.pdf")


def forged_exam_with_answer(folder):
    """exam.tex as built, exam.pdf recompiled with the multiple-choice answer printed, hash rewritten."""
    label = next(v for v in "AB" if "," in _mc_answer(folder, v))
    work = folder.parent / f"forge-{folder.name}"
    work.mkdir()
    tex = (folder / label / "exam.tex").read_text()
    (work / "exam.tex").write_text(tex.replace("\\end{questions}", f"Hint: {_mc_answer(folder, label)}\n\\end{{questions}}"))
    compile_pdf(work / "exam.tex")
    shutil.copy(work / "exam.pdf", folder / label / "exam.pdf")
    shutil.rmtree(work)
    rehash(folder, f"{label}/exam.pdf")


def forged_exam_with_a_given_answer(folder):
    """The attention output is one of the value vectors the exam gives; exam.pdf recompiled with it
    once more (as a hint), hash rewritten: the value is in exam.tex, but not twice."""
    tex = (folder / "A" / "key.tex").read_text()
    output = re.search(r"qbans\{1:a:output\}\{(\([^)]*\))\}", tex).group(1)
    exam = (folder / "A" / "exam.tex").read_text()
    assert exam.count(f"${output}$") == 1  # given in the table of values
    work = folder.parent / f"forge-{folder.name}"
    work.mkdir()
    (work / "exam.tex").write_text(exam.replace("Compute the score", f"(Hint: the output is ${output}$.) Compute the score", 1))
    compile_pdf(work / "exam.tex")
    shutil.copy(work / "exam.pdf", folder / "A" / "exam.pdf")
    shutil.rmtree(work)
    rehash(folder, "A/exam.pdf")


def exam_pdf_with_another_query(folder):
    """exam.pdf recompiled with a different given query vector (as a build of another seed gives it),
    exam.tex as built, hash rewritten: the exam students sit no longer matches the key."""
    exam = (folder / "A" / "exam.tex").read_text()
    query = re.search(r"query \$q = (\([^)]*\))", exam).group(1)
    work = folder.parent / f"forge-{folder.name}"
    work.mkdir()
    (work / "exam.tex").write_text(exam.replace(f"$q = {query}", "$q = (9, 8, 7)", 1))
    compile_pdf(work / "exam.tex")
    shutil.copy(work / "exam.pdf", folder / "A" / "exam.pdf")
    shutil.rmtree(work)
    rehash(folder, "A/exam.pdf")


def forged_rehashed(folder):
    forged_vector(folder)
    rehash(folder, "A/key.pdf")


MUTATIONS = {
    "forged key.pdf vector": (forged_vector, "version A, file key.pdf, problem 1 part a field output"),
    "forged key.pdf vector, hash rewritten": (forged_rehashed, "version A, file key.pdf, problem 1 part a field output"),
    "forged key.pdf multiple-choice letter": (forged_letter, "version B, file key.pdf, problem 2 part all field correct"),
    "exam.pdf of A and B swapped": (lambda f: swap(f, "A/exam.pdf", "B/exam.pdf"), "version A, file exam.pdf"),
    "exam.pdf swapped, hashes rewritten": (lambda f: swap_rehashed(f, "A/exam.pdf", "B/exam.pdf"),
                                           "version A, file exam.pdf: page 1 says version B"),
    "key.pdf swapped, hashes rewritten": (lambda f: swap_rehashed(f, "A/key.pdf", "B/key.pdf"),
                                          "version A, file key.pdf: page 1 says version B"),
    "exam.pdf recompiled with an answer, rehashed": (forged_exam_with_answer,
                                                     "file exam.pdf: shows the key's answer to problem 2 part all field correct"),
    "exam.pdf recompiled with a given value's second copy, rehashed": (
        forged_exam_with_a_given_answer, "version A, file exam.pdf: shows the key's answer to problem 1 part a field output"),
    "exam.pdf recompiled with another given vector, rehashed": (
        exam_pdf_with_another_query, "version A, file exam.pdf: shows (9, 8, 7), which its exam.tex does not print"),
    "grader summary over exam.pdf": (lambda f: shutil.copy(f / "grader-summary.pdf", f / "A/exam.pdf"),
                                     "version A, file exam.pdf: SHA-256"),
    "key.pdf copied over exam.pdf, rehashed": (lambda f: (shutil.copy(f / "A/key.pdf", f / "A/exam.pdf"),
                                                          rehash(f, "A/exam.pdf")),
                                               "version A, file exam.pdf: shows answer-key text"),
    "another student's exam.pdf, rehashed": (student_pdf_of_another, "/exam.pdf: field name"),
    "a version's two PDFs deleted": (drop_pdfs("B/exam.pdf", "B/key.pdf"), "version B, file exam.pdf: missing"),
    "every PDF deleted": (every_pdf, "version A, file key.pdf: missing"),
    "grader-summary.pdf deleted": (drop_pdfs("grader-summary.pdf"), "file grader-summary.pdf: missing"),
    "extra C folder": (write("C/exam.tex", "x"), "version C, file exam.tex: extra file"),
    "students deleted from manifest": (set_manifest(["students"], []), "file students/3031/exam.pdf: belongs to no student"),
    "a version changed in assignments.csv": (assignments_version, "student 3031 (version A), file assignments.csv: field version 'B'"),
    "assignments.csv changed, hash rewritten": (lambda f: (assignments_version(f), rehash(f, "assignments.csv")),
                                                "student 3031 (version A), file assignments.csv: field version"),
    "a student's exam.tex overwritten": (write("students/3032/exam.tex", "\\documentclass{article}"),
                                         "file students/3032/exam.tex"),
    "seating chart edited": (lambda f: (f / "seating-chart.tex").write_text("x"), "file seating-chart.tex"),
    "exam seed 999": (set_manifest(["seed"], 999), "field seed is"),
    "exam seed 'x'": (set_manifest(["seed"], "x"), "manifest.json: field seed is 'x'"),
    "one problem's seed": (set_manifest(["versions", 1, "problems", 0, "seed"], lambda s: s + 1),
                           "version B, problem 1 'argmax-attention': manifest.json field seed"),
    "a drawn problem marked pinned": (pinned_flag, "version A, problem 1 'argmax-attention': manifest.json fields seed and pinned"),
    "a parameter changed": (param_edit, "version A, problem 1 'argmax-attention': manifest.json field params differs from a redraw"),
    "an answer changed in the manifest": (set_manifest(["versions", 0, "problems", 0, "answers", "argmax"], lambda a: a + 1),
                                          "version A, problem 1 'argmax-attention': manifest.json field answers"),
    "a solve item changed": (answers_and_items, "version B, problem 1 'argmax-attention': manifest.json field items"),
    "a mark changed in the manifest": (marks_edit, "version A, file manifest.json: field marks"),
    "key.json answer changed": (key_json_edit, "version A, file key.json: problems"),
    "key.json deleted": (drop_pdfs("A/key.json"), "version A, file key.json"),
    "key.json 100k deep": (deep_key_json, "version A, file key.json: nested"),
    "key.tex edited": (lambda f: (f / "B/key.tex").write_text((f / "B/key.tex").read_text().replace("Scores", "Score", 1)),
                       "version B, file key.tex"),
    "key.pdf a symlink": (key_symlink, "version A, file key.pdf"),
    "key.pdf a FIFO": (key_fifo, "version A, file key.pdf: not a regular file"),
    "key.pdf not a PDF, rehashed": (garbage_pdf, "version B, file key.pdf: not a readable PDF"),
    "versions' labels swapped in the manifest": (swap_versions_in_manifest, "version B"),
    "a student's version in the manifest": (student_version, "file students/3031/exam.pdf: page 1 says version A"),
    "a student's copy with the key's pages, rehashed": (copy_with_key_pages,
                                                        "file students/3031/exam.pdf: page 2 reads differently"),
    "a student's copy deleted, and from the manifest": (
        copy_and_its_entry_deleted, "student 3031 (version A), file students/3031/exam.pdf: not listed in the manifest"),
    "print-all.pdf replaced, rehashed": (lambda f: (shutil.copy(f / "A/exam.pdf", f / "print-all.pdf"),
                                                    rehash(f, "print-all.pdf")), "file print-all.pdf: "),
    "print-all.pdf of unstamped exams, rehashed": (print_all_of_versions,
                                                   "file print-all.pdf: student 3031's exam (pages 1-"),
    "print-all.pdf replaced": (lambda f: shutil.copy(f / "A/exam.pdf", f / "print-all.pdf"), "file print-all.pdf: SHA-256"),
    "print-all.pdf of a --duplex build without its blank backs, rehashed": (
        print_all_single_sided, "file print-all.pdf: page "),
    "duplex in the manifest not a boolean": (set_manifest(["duplex"], "yes"),
                                             "file manifest.json: field duplex is 'yes', not true or false"),
    "padding with a junk key": (padding_junk, "version A, file manifest.json: field padding"),
    "a file outside the build listed": (set_manifest(["files", "../../../etc/hostname"], "0" * 64),
                                        "manifest.json: field files names '../../../etc/hostname'"),
    "a version label that is a path": (set_manifest(["versions", 1, "label"], "../B"),
                                       "manifest.json: field versions[1].label is '../B'"),
    "file hash rewritten": (set_manifest(["files", "A/key.tex"], "0" * 64), "version A, file key.tex: SHA-256"),
}


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_tampering_fails_naming_version_file_and_field(copy, name):
    mutate, expect = MUTATIONS[name]
    mutate(copy)
    r = run_verify(copy)
    assert r.exit_code == 1, r.output
    fails = [line for line in r.output.splitlines() if line.startswith("FAIL ")]
    assert any(expect in line for line in fails), r.output


def test_at_least_thirty_distinct_tamperings():
    assert len(MUTATIONS) >= 30


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"format": 2, "versions": [', "", '"x"',
                                  '{"format": 2, "exam": 5, "seed": 1, "versions": [], "files": {}}'])
def test_hostile_manifests_give_one_line(copy, text):
    (copy / "manifest.json").write_text(text)
    r = run_verify(copy)
    assert r.exit_code in (1, 2), r.output
    assert len(r.output.strip().splitlines()) == 1 and r.output.startswith(("qbank: ", "FAIL ")), r.output


def test_a_fifo_manifest_does_not_hang(copy):
    (copy / "manifest.json").unlink()
    os.mkfifo(copy / "manifest.json")
    r = run_verify(copy)
    assert r.exit_code == 2 and "not a regular file" in r.output, r.output


def test_an_exam_path_that_is_a_fifo_does_not_hang(built, copy):
    os.mkfifo(copy / "spec.yaml")
    data = manifest(copy)
    data["exam"]["path"] = str((copy / "spec.yaml").relative_to(built))
    save_manifest(copy, data)
    r = run_verify(copy)
    assert r.exit_code == 2 and r.output.startswith("qbank: exam spec ") and "not found" in r.output, r.output


def test_an_archived_build_stays_verifiable_after_a_template_edit(built, copy):
    template = built / "bank" / "problems" / "argmax-attention" / "template.tex.j2"
    spec = built / "bank" / "problems" / "activation-functions" / "problem.yaml"
    before = template.read_text(), spec.read_text()
    try:
        template.write_text(before[0].replace("Compute the score", "Now compute the score"))
        spec.write_text(before[1].replace("its range is $(-1, 1)$.", "it ranges over $(-1, 1)$."))
        r = run_verify(copy)
        assert r.exit_code == 0, r.output
        notes = [line for line in r.output.splitlines() if line.startswith("note: ")]
        assert len(notes) == 1 and "LaTeX not re-rendered" in notes[0], r.output
        assert re.search(r"[1-9]\d* marked answers found in key PDFs", r.output)
        strict = run_verify(copy, "--strict")
        assert strict.exit_code == 1 and "FAIL" in strict.output and "changed since the build" in strict.output
        spec.write_text(before[1].replace("- text: $\\tanh$", "- text: the hyperbolic tangent $\\tanh$"))
        reworded = run_verify(copy)  # an option reworded: today's spec cannot solve the stored options
        assert reworded.exit_code == 0, reworded.output
        assert "note: problem 'activation-functions': its changed sources cannot solve the stored parameters" in reworded.output
        assert "2 problems' answers re-derived (2 solve items), 2 not (their sources changed)" in reworded.output
        forge_key(copy, "A", "{1:a:output}{(", "{1:a:output}{(7, ")  # still caught from the stored marks
        assert run_verify(copy).exit_code == 1
    finally:
        template.write_text(before[0])
        spec.write_text(before[1])


def test_parameters_that_no_longer_solve_fail_that_problem_alone(copy):
    """One problem's stored parameters that cannot be solved are that problem's failure; the key's
    other marked answers are still compared, not each reported as one "the key does not have"."""
    data = manifest(copy)
    data["versions"][0]["problems"][0]["params"]["query"] = "abc"
    save_manifest(copy, data)
    r = run_verify(copy)
    assert r.exit_code == 1, r.output
    fails = [line for line in r.output.splitlines() if line.startswith("FAIL ")]
    assert any("problem 1 'argmax-attention'" in line and "field params" in line for line in fails), r.output
    assert not any("that the key does not have" in line for line in fails), r.output


def test_a_cut_short_pdf_is_one_fail_line(copy):
    """pdftotext's several error lines came out inside one FAIL, breaking the one-line-per-failure report."""
    key = copy / "A" / "key.pdf"
    key.write_bytes(key.read_bytes()[:100])
    r = run_verify(copy)
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert all(line.startswith("FAIL ") for line in lines[:-1]) and "cannot be trusted" in lines[-1], r.output
    assert any(line.startswith("FAIL version A, file key.pdf: not a readable PDF (") for line in lines), r.output
