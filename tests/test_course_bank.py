"""A course owns its bank: problems found by path from the course folder, the shipped library by id,
names defined twice refused with both files, and `init` / `new` writing a working course."""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from generator.bank import SHIPPED_BANK, load_bank, load_exam
from generator.cli import main

from .conftest import EXAM_HEADER, ROOT


@pytest.fixture
def course(tmp_path, monkeypatch, runner):
    """A course made by `qbank init`, as the current folder."""
    r = runner.invoke(main, ["init", str(tmp_path / "course")])
    assert r.exit_code == 0, r.output
    monkeypatch.chdir(tmp_path / "course")
    return tmp_path / "course"


def test_init_writes_a_course_whose_check_build_and_verify_pass(course, runner):
    assert sorted(p.name for p in (course / "bank" / "problems").iterdir()) == ["example-choice", "example-neuron"]
    assert (course / ".github" / "workflows" / "qbank.yml").is_file()
    assert "students/" in (course / ".gitignore").read_text()
    r = runner.invoke(main, ["check", "--seeds", "30"])
    assert r.exit_code == 0, r.output
    assert "example-neuron" in r.output and "argmax-attention" in r.output  # used by the example exam
    assert "beam-search" not in r.output  # a shipped problem the course does not use: qbank's own tests cover it
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 0, r.output
    assert (course / "output" / "example" / "A" / "exam.tex").is_file()
    r = runner.invoke(main, ["verify", "output/example"])
    assert r.exit_code == 0, r.output


def test_the_course_generator_is_loaded_from_the_course_folder(course):
    exam = load_exam(course / "bank" / "exams" / "example.yaml")
    mine = exam.bank.problems["example-neuron"]
    shipped = exam.bank.problems["argmax-attention"]
    assert Path(type(mine.generator).__module__ and __import__("sys").modules[type(mine.generator).__module__].__file__) \
        == (course / "bank" / "problems" / "example-neuron" / "generator.py").resolve()
    assert shipped.folder.resolve().is_relative_to(SHIPPED_BANK) and shipped.shipped
    assert not mine.shipped


def test_commands_find_the_bank_from_a_subfolder_or_from_bank(course, runner, monkeypatch, tmp_path):
    monkeypatch.chdir(course / "bank" / "problems")
    r = runner.invoke(main, ["list"])
    assert r.exit_code == 0 and "example-neuron" in r.output
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(main, ["list"])
    assert r.exit_code == 2
    assert r.stderr.startswith("qbank: no bank found in ") and "--bank DIR" in r.stderr
    for arg in (str(course), str(course / "bank")):
        r = runner.invoke(main, ["list", "--bank", arg])
        assert r.exit_code == 0 and "example-neuron" in r.output


def test_a_course_problem_with_a_shipped_id_is_refused_naming_both(course, runner):
    shutil.copytree(course / "bank" / "problems" / "example-neuron", course / "bank" / "problems" / "argmax-attention")
    spec = course / "bank" / "problems" / "argmax-attention" / "problem.yaml"
    spec.write_text(spec.read_text().replace("id: example-neuron", "id: argmax-attention"))
    r = runner.invoke(main, ["list"])
    assert r.exit_code == 2
    assert "bank/problems/argmax-attention/problem.yaml: problem 'argmax-attention' is also in " in r.stderr
    assert "problem ids must be unique" in r.stderr


def test_a_generator_name_defined_twice_is_refused_naming_both_files(course, runner):
    folder = course / "bank" / "problems" / "example-neuron"
    for f in ("generator.py", "problem.yaml"):
        (folder / f).write_text((folder / f).read_text().replace("example_neuron", "argmax_attention"))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert "bank/problems/example-neuron/generator.py: generator 'argmax_attention' is also defined by " in r.stderr
    assert "argmax-attention/generator.py" in r.stderr


def test_a_course_solve_kind_works_with_qbank_solve_and_a_clash_is_refused(course, runner):
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    gen.write_text(gen.read_text() + '\n\nfrom generator.registry import register_kind\n'
                   'register_kind("relu-neuron", lambda p: {"y": max(p["z"], 0)}, lambda p: {"y": max(p["z"], 0)})\n')
    (course / "p.yaml").write_text("z: -3\n")
    r = runner.invoke(main, ["solve", "relu-neuron", "--params", "p.yaml"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"y": 0}
    gen.write_text(gen.read_text().replace('"relu-neuron"', '"argmax-attention"'))
    r = runner.invoke(main, ["solve", "argmax-attention", "--params", "p.yaml"])
    assert r.exit_code == 2
    assert "solve kind 'argmax-attention' is also defined by " in r.stderr


def test_a_course_kind_that_raises_or_prints_is_one_line_and_keeps_the_json_clean(course, runner):
    """A course's kind without parameter checks gave a KeyError traceback; a print() in it went into the JSON."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    gen.write_text(gen.read_text() + '\n\nfrom generator.registry import register_kind\n'
                   'def _solve(p):\n    print("debugging")\n    return {"y": max(p["z"], 0)}\n'
                   'register_kind("relu-neuron", _solve, lambda p: {"y": max(p["z"], 0)})\n'
                   'register_kind("nan-neuron", lambda p: {"y": float("nan")}, lambda p: {"y": 0})\n')
    line = len(gen.read_text().splitlines()) - 2
    (course / "p.yaml").write_text("z: -3\n")
    (course / "q.yaml").write_text("w: -3\n")
    r = runner.invoke(main, ["solve", "relu-neuron", "--params", "p.yaml"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"y": 0} and "debugging" in r.stderr
    r = runner.invoke(main, ["solve", "relu-neuron", "--params", "q.yaml"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.splitlines() == [
        "debugging", f"qbank: bank/problems/example-neuron/generator.py:{line}: solve kind 'relu-neuron' raised KeyError: 'z' "
        "(refuse bad parameters with generator.params' helpers, which name the parameter)"]
    r = runner.invoke(main, ["solve", "nan-neuron", "--params", "p.yaml"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert r.stderr.startswith("qbank: bank/problems/example-neuron/generator.py: solve kind 'nan-neuron' returned "
                               "answers that are not JSON data")


def test_a_kind_of_one_course_is_never_used_by_another_loaded_in_the_same_process(tmp_path, runner, monkeypatch):
    """Seen in CI: a course registered a kind named like a shipped one, and a later build of another
    course in the same process solved its items with that course's kind (a global lookup)."""
    a, b = tmp_path / "a", tmp_path / "b"
    for course in (a, b):
        r = runner.invoke(main, ["init", str(course)])
        assert r.exit_code == 0, r.output
    assert runner.invoke(main, ["list", "--bank", str(b)]).exit_code == 0  # the shipped files load first
    gen = a / "bank" / "problems" / "example-neuron" / "generator.py"
    gen.write_text(gen.read_text() + '\n\nfrom generator.registry import register_kind\n'
                   'register_kind("argmax-attention", lambda p: {"y": p["z"]}, lambda p: {"y": p["z"]})\n')
    r = runner.invoke(main, ["solve", "argmax-attention", "--params", str(gen), "--bank", str(a)])
    assert r.exit_code == 2 and "solve kind 'argmax-attention' is also defined by " in r.stderr
    monkeypatch.chdir(b)
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["verify", "output/example"])
    assert r.exit_code == 0, r.output


def test_a_generator_that_does_not_import_is_one_line_with_its_line(course, runner):
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    lines = gen.read_text().splitlines()
    lines[20] = "def broken(:"
    gen.write_text("\n".join(lines) + "\n")
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert "bank/problems/example-neuron/generator.py:21: SyntaxError" in r.stderr


@pytest.mark.parametrize("code, message", [
    ("\nfrom numpy import no_such_name\n", "ImportError: cannot import name 'no_such_name'"),
    ("\nraise SystemExit(3)\n", "SystemExit: 3"),
    ("\nundefined_name + 1\n", "NameError: name 'undefined_name' is not defined"),
])
def test_a_generator_that_fails_while_loading_is_one_line_with_its_line(course, runner, code, message):
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    n = len(gen.read_text().splitlines())
    gen.write_text(gen.read_text() + code)
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert r.stderr.startswith(f"qbank: bank/problems/example-neuron/generator.py:{n + 2}: {message}")
    assert r.stderr.count("\n") == 1


def test_a_generator_file_that_registers_nothing_says_so(course, runner):
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    gen.write_text(gen.read_text().replace("@register\n", ""))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert ("bank/problems/example-neuron/problem.yaml:6: generator: generator 'example_neuron' is not registered by "
            "bank/problems/example-neuron/generator.py: it registers none (decorate a Problem subclass with "
            "@register)") in r.stderr


def test_further_banks_are_searched_and_the_library_can_be_hidden(course, runner, tmp_path):
    dept = tmp_path / "dept" / "bank" / "problems"
    shutil.copytree(course / "bank" / "problems" / "example-choice", dept / "dept-choice")
    spec = dept / "dept-choice" / "problem.yaml"
    spec.write_text(spec.read_text().replace("id: example-choice", "id: dept-choice"))
    settings = course / "bank" / "qbank.yaml"
    settings.write_text("default_exam: example\nbanks: [../dept/bank]\nlibrary: false\n")
    bank = load_bank(course)
    assert "dept-choice" in bank.problems and "argmax-attention" not in bank.problems
    settings.write_text("default_exam: example\nbanks: [../nowhere]\n")
    r = runner.invoke(main, ["list"])
    assert r.exit_code == 2
    assert "further bank '../nowhere' has no problems/ folder" in r.stderr


def test_an_exam_may_name_a_further_bank(course, runner, tmp_path):
    dept = tmp_path / "dept" / "bank" / "problems"
    shutil.copytree(course / "bank" / "problems" / "example-choice", dept / "dept-choice")
    spec = dept / "dept-choice" / "problem.yaml"
    spec.write_text(spec.read_text().replace("id: example-choice", "id: dept-choice"))
    (course / "bank" / "exams" / "dept.yaml").write_text(
        EXAM_HEADER + "banks: [../dept/bank]\nproblems:\n  - problem: dept-choice\n")
    r = runner.invoke(main, ["build", "bank/exams/dept.yaml", "--no-pdf"])
    assert r.exit_code == 0, r.output


def test_new_writes_a_problem_that_checks_and_builds_and_refuses_a_taken_id(course, runner):
    r = runner.invoke(main, ["new", "softmax-temperature"])
    assert r.exit_code == 0, r.output
    folder = course / "bank" / "problems" / "softmax-temperature"
    assert sorted(p.name for p in folder.iterdir()) == ["generator.py", "problem.yaml", "template.tex.j2",
                                                        "test_softmax-temperature.py"]
    assert "name = \"softmax_temperature\"" in (folder / "generator.py").read_text()
    r = runner.invoke(main, ["new", "which-activation", "--multiple-choice"])
    assert r.exit_code == 0
    assert [p.name for p in (course / "bank" / "problems" / "which-activation").iterdir()] == ["problem.yaml"]
    r = runner.invoke(main, ["check", "--seeds", "30", "--problem", "softmax-temperature", "--problem", "which-activation"])
    assert r.exit_code == 0, r.output
    for taken, message in (("softmax-temperature", "problem 'softmax-temperature' exists already"),
                           ("argmax-attention", "problem 'argmax-attention' exists already"),
                           ("Bad_Id", "'Bad_Id' is not a problem id")):
        r = runner.invoke(main, ["new", taken])
        assert r.exit_code == 2 and message in r.stderr, r.stderr
    assert not [p for p in (course / "bank" / "problems").iterdir() if p.name.startswith(".")]


def test_init_refuses_a_folder_that_is_not_empty(tmp_path, runner):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("mine")
    r = runner.invoke(main, ["init", str(tmp_path / "c")])
    assert r.exit_code == 2 and "exists and holds more than .git and .venv" in r.stderr
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == ["notes.txt"]


def test_init_of_the_current_folder_says_so(tmp_path, runner, monkeypatch):
    """The README's `qbank init .` printed "Created .. Next: cd . && …"."""
    monkeypatch.chdir(tmp_path)
    r = runner.invoke(main, ["init", "."])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("Created a course in the current folder. Next: ") and "cd " not in r.stdout
    assert (tmp_path / "bank" / "exams" / "example.yaml").is_file()


def test_shipped_problems_stay_shipped_when_the_course_venv_is_inside_the_course(tmp_path, runner, monkeypatch):
    """The README puts the course's .venv in the course folder, so the installed library lies below it:
    its problems were taken for the course's own. The .tex named .venv/lib/python3.X/site-packages/…
    templates, and CI (qbank installed elsewhere) failed verify on every committed build."""
    import generator.bank as bank_module

    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, ["init", "."]).exit_code == 0
    lib = tmp_path / ".venv" / "lib" / "site-packages" / "qbank_bank"
    shutil.copytree(bank_module.SHIPPED_BANK, lib, ignore=shutil.ignore_patterns("__pycache__", "exams"))
    monkeypatch.setattr(bank_module, "SHIPPED_BANK", lib.resolve())
    r = runner.invoke(main, ["build", "--no-pdf", "--out", "o"])
    assert r.exit_code == 0, r.output
    tex = (tmp_path / "o" / "A" / "exam.tex").read_text()
    assert "template qbank:problems/argmax-attention/template.tex.j2" in tex and ".venv" not in tex
    listed = runner.invoke(main, ["list"]).stdout
    assert ".venv" not in listed


def test_a_course_made_in_its_own_environment_runs_from_there(tmp_path, runner, monkeypatch):
    """Found by review: the README's `.venv/bin/qbank` did not exist inside a new course, and init
    refused a folder holding the course's own .venv (or its git checkout)."""
    course = tmp_path / "c"
    (course / ".venv" / "bin").mkdir(parents=True)
    (course / ".venv" / "bin" / "qbank").write_text("#!/bin/sh\n")
    (course / ".git").mkdir()
    r = runner.invoke(main, ["init", str(course)])
    assert r.exit_code == 0, r.output
    assert (course / ".venv" / "bin" / "qbank").read_text() == "#!/bin/sh\n"  # left as it was
    assert (course / "bank" / "exams" / "example.yaml").is_file() and ".venv/" in (course / ".gitignore").read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    monkeypatch.chdir(course)
    r = runner.invoke(main, ["check", "--seeds", "5", "--no-pdf"])
    assert r.exit_code == 0, r.output


def test_adding_a_problem_to_the_shipped_bank_needs_no_edit_elsewhere(tmp_path, monkeypatch, runner):
    """A copy of qbank's own bank with one more problem: every command sees it with no list edited."""
    shutil.copytree(ROOT / "bank", tmp_path / "bank", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, ["new", "extra-problem"]).exit_code == 0
    r = runner.invoke(main, ["check", "--seeds", "20", "--problem", "extra-problem"])
    assert r.exit_code == 0, r.output
    assert "extra-problem" in runner.invoke(main, ["list"]).output


def test_a_template_that_prints_another_value_in_an_answer_slot_fails(course, runner):
    """Found by a new user: the key showed answers.y where part (a) marks answers.z, and both check
    and verify passed. The mark's field names the answer; the printed number must be that answer."""
    template = course / "bank" / "problems" / "example-neuron" / "template.tex.j2"
    text = template.read_text()
    assert "<< answers.z|answer('a', 'z') >>" in text
    template.write_text(text.replace("<< answers.z|answer('a', 'z') >>", "<< answers.y|answer('a', 'z') >>"))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert "answer mark a:z prints " in r.stderr and "a key must show the answer it names" in r.stderr
    assert not (course / "output" / "example").exists()
    r = runner.invoke(main, ["check", "--seeds", "20", "--no-pdf", "--problem", "example-neuron"])
    assert r.exit_code == 1 and "answer mark a:z prints " in r.output


def test_a_build_never_writes_a_key_its_independent_check_contradicts(course, runner):
    """Found by a new user: a solver off by one built a key silently (only verify noticed later)."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    gen.write_text(gen.read_text().replace('return {"z": z, "y": max(z, 0)', 'return {"z": z + 1, "y": max(z, 0)'))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert "problem 'example-neuron' (version A, seed " in r.stderr
    assert "solve and the independent check disagree, so no key is written: z: " in r.stderr
    assert not (course / "output" / "example").exists()
    r = runner.invoke(main, ["preview", "example-neuron", "--seed", "3"])
    assert r.exit_code == 2 and "independent check disagree" in r.stderr


@pytest.mark.pdf
def test_the_next_steps_init_prints_run_as_printed(tmp_path):
    """Found in review: run as `.venv/bin/qbank init course`, the next steps said `qbank check`, and a
    relative `.venv/bin/qbank` did not exist after `cd course`. Reported later: a fresh course could not
    run `.venv/bin/qbank check` at all. init now gives the course a .venv running this qbank, and the
    printed line, which uses it, runs as is, offline (no pip step)."""
    import subprocess
    import sys

    qbank = Path(sys.executable).parent / "qbank"
    env = {**os.environ, "PATH": "/usr/local/bin:/usr/bin:/bin"}  # qbank not on PATH
    r = subprocess.run([str(qbank), "init", "course"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    steps = r.stdout.strip().split("Next: ", 1)[1]
    assert steps == ("cd course && .venv/bin/qbank check && .venv/bin/qbank build && "
                     ".venv/bin/qbank verify output/example")
    done = subprocess.run(["bash", "-c", steps], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verified output/example" in done.stdout


def test_a_spec_with_errors_in_and_outside_its_space_shows_them_all_at_once(course, runner):
    """An author used to see the space's errors only after fixing the rest of the spec."""
    spec = course / "bank" / "problems" / "example-neuron" / "problem.yaml"
    spec.write_text(spec.read_text().replace("points: {a: 4, b: 6}", "points: {a: four, b: 6}")
                    .replace("  n: 3 ", "  n: three "))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        "qbank: bank/problems/example-neuron/problem.yaml:7: points.a: expected an integer, got 'four'",
        "qbank: bank/problems/example-neuron/problem.yaml:9: space.n: expected an integer, got 'three'"]
    assert not (course / "output" / "example").exists()


def test_empty_points_are_reported_on_their_own_line_and_key(course, runner):
    spec = course / "bank" / "problems" / "example-neuron" / "problem.yaml"
    spec.write_text(spec.read_text().replace("points: {a: 4, b: 6}", "points: {}"))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        "qbank: bank/problems/example-neuron/problem.yaml:7: points: needs at least one part, e.g. {a: 4} or {all: 4}"]


@pytest.mark.parametrize("seed", ["-1", str(2**63)])
def test_an_exam_seed_outside_the_range_of_seed_is_refused(course, runner, seed):
    """A negative seed used to build a key that verify then refused as 'not an exam seed'."""
    exam = course / "bank" / "exams" / "example.yaml"
    exam.write_text(exam.read_text().replace("seed: 1\n", f"seed: {seed}\n"))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith("qbank: bank/exams/example.yaml:13: seed: input should be ")
    assert not (course / "output" / "example").exists()


def set_entry(course, line: str) -> None:
    """Add ``line`` (e.g. ``params: {...}``) to the example exam's entry of example-neuron (at line 19)."""
    exam = course / "bank" / "exams" / "example.yaml"
    exam.write_text(exam.read_text().replace("  - problem: example-neuron\n", f"  - problem: example-neuron\n    {line}\n"))


@pytest.mark.parametrize("line, said", [
    # The build wrote $\eta = 0.1235$ for a pinned 0.123456789, a key that verify then failed.
    ("params: {w: [1, -2, 3], x: [2, 1, 1], b: -1.123456789}",
     "qbank: bank/exams/example.yaml:19: problems[1].params: params.b is -1.123456789 but prints as -1.1235; "
     "the key would not match what students see"),
    ("points: {}", "qbank: bank/exams/example.yaml:19: problems[1].points: parts must be a, b "
                   "(as in bank/problems/example-neuron/problem.yaml), got no parts"),
])
def test_a_bad_entry_of_an_exam_is_one_line_and_nothing_is_built(course, runner, line, said):
    set_entry(course, line)
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [said]
    assert not (course / "output" / "example").exists()


def test_init_and_new_make_folders_with_the_mode_mkdir_gives(tmp_path, runner, monkeypatch):
    """They were 0700 (a private temporary folder renamed into place): other course staff could not read them."""
    old = os.umask(0o022)
    try:
        monkeypatch.chdir(tmp_path)
        assert runner.invoke(main, ["init", "course"]).exit_code == 0
        (tmp_path / "empty").mkdir(mode=0o750)
        assert runner.invoke(main, ["init", "empty"]).exit_code == 0
        monkeypatch.chdir(tmp_path / "course")
        assert runner.invoke(main, ["new", "mine"]).exit_code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "course").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "course" / "bank" / "problems" / "mine").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "empty").stat().st_mode) == 0o750


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_gitignore_init_writes_keeps_output_gitkeep_and_ignores_roster_output(tmp_path, runner, monkeypatch):
    """output/.gitkeep, which init writes so that output/ exists in a clone, was ignored by 'output/.*'."""
    import subprocess
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, ["init", "course"]).exit_code == 0
    course = tmp_path / "course"
    subprocess.run(["git", "init", "-q", str(course)], check=True)

    def ignored(rel):
        return subprocess.run(["git", "check-ignore", "-q", rel], cwd=course).returncode == 0
    assert not ignored("output/.gitkeep") and not ignored("output/example/A/key.pdf")
    assert ignored("output/.example.lock") and ignored("output/example/students/1/exam.pdf")


def test_a_generator_that_returns_nan_is_named_by_its_own_file(course, runner):
    """The message named qbank's own build.py line that refused the NaN, a file the author never wrote."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    gen.write_text(gen.read_text().replace('return {"z": z, "y": max(z, 0),', 'return {"z": z, "y": float("nan"),', 1))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2 and len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith("qbank: bank/problems/example-neuron/generator.py: problem 'example-neuron' (version A, seed ")
    assert "answers.y is nan" in r.stderr


def test_a_roster_build_as_the_course_readme_says_stays_out_of_git(course, runner):
    """The course README said a roster's personal data stays out of the repository, but the
    manifest of a roster build in output/ (every name and SID) was committed."""
    import subprocess

    readme = (course / "README.md").read_text()
    assert "qbank build --roster private/class.csv --out private/midterm" in readme
    (course / "private").mkdir()
    (course / "private" / "class.csv").write_text("name,sid\nAda Lovelace,1001\nAlan Turing,1002\n")
    r = runner.invoke(main, ["build", "--no-pdf", "--roster", "private/class.csv", "--out", "private/example"])
    assert r.exit_code == 0, r.output
    assert "Ada Lovelace" in (course / "private" / "example" / "manifest.json").read_text()
    subprocess.run(["git", "init", "-q"], cwd=course, check=True)
    subprocess.run(["git", "add", "-A"], cwd=course, check=True)
    tracked = subprocess.run(["git", "ls-files"], cwd=course, check=True, capture_output=True, text=True).stdout
    assert "private/" not in tracked and "bank/exams/example.yaml" in tracked


def test_pinned_parameters_a_generator_cannot_use_name_the_exam_line_not_a_seed(course, runner):
    """A pinned instance missing a parameter was reported with a seed, though no seed is drawn."""
    set_entry(course, "params: {w: [1, 2, 3], x: [1, 1, 1]}")
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1
    assert "(version A, parameters pinned at bank/exams/example.yaml:19): generator raised KeyError: 'b'" in r.stderr
    assert "seed" not in r.stderr


@pytest.mark.pdf
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_committed_build_verifies_in_a_clone_as_in_ci(course, runner, tmp_path):
    """Found by a TA cloning a course: the README says to commit `qbank build`'s output so CI
    verifies it, but the .gitignore init writes left out its print-all.pdf (no names in it without
    a roster), so `qbank verify` failed in every clone and in CI: 'print-all.pdf: missing'."""
    import subprocess

    r = runner.invoke(main, ["build"])
    assert r.exit_code == 0, r.output
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q"], cwd=course, check=True)
    subprocess.run(["git", "add", "-A"], cwd=course, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "course"], cwd=course, check=True)
    subprocess.run(["git", "clone", "-q", str(course), str(tmp_path / "clone")], check=True)
    r = runner.invoke(main, ["verify", str(tmp_path / "clone" / "output" / "example")])
    assert r.exit_code == 0, r.output


def _replace_check(course, body: str) -> None:
    """Replace example-neuron's independent check with ``body`` (the method's lines, indented)."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    text = gen.read_text()
    start, end = text.index("    def check(self, params: dict) -> dict:"), text.index("    def given(")
    gen.write_text(text[:start] + body + "\n" + text[end:])


@pytest.mark.parametrize("body, what", [
    ("    def check(self, params: dict) -> dict:\n        return self.solve(params)\n", "check calls solve"),
    ("    def check(self, params: dict) -> dict:\n        return dict(self._again(params))\n\n"
     "    def _again(self, params):\n        return ExampleNeuron.solve(self, params)\n", "check calls solve"),
    ("    def check(self, params: dict) -> dict:\n"
     "        z = int(np.dot(params[\"w\"], params[\"x\"])) + params[\"b\"]\n"
     "        active = z > 0\n"
     "        return {\"z\": z, \"y\": max(z, 0), \"grad_w\": [x if active else 0 for x in params[\"x\"]]}\n",
     "check is a copy of solve"),
], ids=["self.solve", "through-a-helper", "solve-pasted"])
def test_a_check_that_is_solve_again_fails_qbank_check(course, runner, body, what):
    """Found by a new author: a check that returned self.solve(params), or solve's body pasted, passed
    `qbank check` on every seed, though the docs say check must not call solve; such a check agrees
    with any answer solve gives, so a wrong key would be written and verified."""
    _replace_check(course, body)
    r = runner.invoke(main, ["check", "--seeds", "20", "--no-pdf", "--problem", "example-neuron"])
    assert r.exit_code == 1, r.output
    line = next(ln for ln in r.output.splitlines() if what in ln)
    assert line.startswith("  FAIL example-neuron: bank/problems/example-neuron/generator.py:51: "), line
    assert "derive the answers another way" in line


@pytest.mark.pdf
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_ta_who_rebuilds_a_committed_build_changes_no_byte(course, runner, tmp_path, monkeypatch):
    """Found by a TA who cloned the course and rebuilt: every .tex and key.json was the same, but
    every PDF differed (pdfTeX wrote the time of the compile and an /ID from it into each), so the
    manifest, which hashes them, differed too, and git showed the whole build changed."""
    import subprocess
    import time

    assert runner.invoke(main, ["build"]).exit_code == 0
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q"], cwd=course, check=True)
    subprocess.run(["git", "add", "-A"], cwd=course, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "course"], cwd=course, check=True)
    subprocess.run(["git", "clone", "-q", str(course), str(tmp_path / "clone")], check=True)
    time.sleep(1.1)  # a later second: PDF dates are to the second
    monkeypatch.chdir(tmp_path / "clone")
    r = runner.invoke(main, ["build", "--force"])
    assert r.exit_code == 0, r.output
    changed = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    assert changed == ""


def test_a_solve_kind_whose_check_calls_its_solve_fails_qbank_check(course, runner):
    """The same rule for a course's solve kind: a check that returns its solve's answers checks nothing."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    text = gen.read_text().replace("from generator.registry import register\n",
                                   "from generator.registry import register, register_kind\n")
    text += '''

def _z(params):
    return {"z": sum(w * x for w, x in zip(params["w"], params["x"])) + params["b"]}


def _z_check(params):
    return dict(_z(params))


register_kind("neuron-z", _z, _z_check)
ExampleNeuron.items = lambda self, params: [("neuron-z", dict(params))]
'''
    gen.write_text(text)
    r = runner.invoke(main, ["check", "--seeds", "20", "--no-pdf", "--problem", "example-neuron"])
    assert r.exit_code == 1, r.output
    assert "  FAIL example-neuron: bank/problems/example-neuron/generator.py:" in r.output
    assert "the check of solve kind 'neuron-z' calls solve" in r.output


@pytest.mark.parametrize("summary, said", [
    ('return {"A": Tex(f"$z = {fmt_num(answers[\'z\'])}$"), "b": Tex("$y$")}',
     "summary() gives no answer for part a (it gives A, b; the spec's parts: a, b)"),
    ('return {"a": Tex(f"$z = {answers[\'zz\']}$"), "b": Tex("$y$")}', "summary() raised KeyError: 'zz'"),
], ids=["misnamed-part", "raises"])
def test_a_summary_that_misses_a_part_is_one_line_not_a_traceback(course, runner, summary, said):
    """Found by a new author: summary() keyed by 'A' instead of the spec's part 'a' passed `qbank
    check`, and `qbank build` ended in a Python traceback (KeyError: 'a' in qbank's build.py)."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    text = gen.read_text()
    start = text.index('        return {"a": Tex(f"$z = ')
    gen.write_text(text[:start] + "        " + summary + "\n")
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("qbank: bank/problems/example-neuron/generator.py:"), r.stderr
    assert "problem 'example-neuron' (version A, seed " in r.stderr and said in r.stderr, r.stderr
    r = runner.invoke(main, ["check", "--seeds", "20", "--no-pdf", "--problem", "example-neuron"])
    assert r.exit_code == 1 and said in r.output, r.output


@pytest.mark.parametrize("hook, said", [
    ("    def given(self, params: dict) -> dict:\n        return [params['b']]\n",
     "given() returned list, not a mapping of template variables"),
    ("    def key_context(self, params: dict, answers: dict) -> dict:\n        return {'active': answers['zz']}\n",
     "key_context() raised KeyError: 'zz'"),
], ids=["given-returns-a-list", "key-context-raises"])
def test_a_template_hook_that_fails_is_one_line_not_a_traceback(course, runner, hook, said):
    """Found by a new author: given() returning a list, or key_context() raising, ended `qbank build`
    in a Python traceback through qbank's build.py."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    text = gen.read_text()
    name = hook.split("(")[0].strip()
    start = text.index(f"    {name}(")
    end = text.index("    def ", start + 10)
    gen.write_text(text[:start] + hook + "\n" + text[end:])
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith("qbank: bank/problems/example-neuron/generator.py:"), r.stderr
    assert "problem 'example-neuron' (version A, seed " in r.stderr and said in r.stderr, r.stderr


def test_a_final_answers_that_raises_is_named_by_its_line_in_check(course, runner):
    """check said only "trial build 1 of 4 versions: KeyError: 'nope'": no file, no line."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    text = gen.read_text()
    gen.write_text(text.replace('return {"a.z": answers["z"], "b.y": answers["y"]}', 'return {"a.z": answers["nope"]}'))
    line = next(i for i, ln in enumerate(gen.read_text().splitlines(), 1) if 'answers["nope"]' in ln)
    r = runner.invoke(main, ["check", "--seeds", "5", "--no-pdf", "--problem", "example-neuron"])
    assert r.exit_code == 1
    assert (f"FAIL example-neuron: trial build 1 of 4 versions: bank/problems/example-neuron/generator.py:{line}: "
            "KeyError: 'nope'") in r.output, r.output


@pytest.mark.parametrize("use, said", [
    ("<< params.w|num >>", "num: expected a number, got list ["),
    ("<< params.b|vec >>", "vec: expected a list of numbers, got int"),
], ids=["num-of-a-list", "vec-of-a-number"])
def test_a_filter_given_the_wrong_kind_of_value_names_the_template_line(course, runner, use, said):
    """Found by a new author: `<< params.w|num >>` (a list) or `<< params.b|vec >>` (a number) in a
    template ended `qbank build` in a Python traceback through texify.py (TypeError)."""
    template = course / "bank" / "problems" / "example-neuron" / "template.tex.j2"
    text = template.read_text()
    template.write_text(text.replace("bias $b = << params.b >>$", f"bias $b = {use}$"))
    line = next(i for i, ln in enumerate(template.read_text().splitlines(), 1) if use in ln)
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stderr.startswith(f"qbank: bank/problems/example-neuron/template.tex.j2:{line}: "), r.stderr
    assert said in r.stderr, r.stderr


@pytest.mark.parametrize("latex, said", [
    ("\\frac{1}{2}", "\\f is a form feed, so \\frac loses its backslash"),
    ("\\nabla_w y", "\\n is a line break, so \\nabla loses its backslash"),
], ids=["frac", "nabla"])
def test_a_summary_whose_python_string_ate_a_backslash_names_summary(course, runner, latex, said):
    """Found by a new author: summary() returned Tex(f"$\\frac{1}{2}$") (Python reads \\f as a form
    feed). check passed; build failed with TeX's "Missing $ inserted" at qbank's own
    summary_page.tex.j2 in a staging folder that no longer existed, not at the generator's line."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    text = gen.read_text()
    old = '"b": Tex(f"$y = {fmt_num(answers[\'y\'])}$'
    assert old in text
    gen.write_text(text.replace(old, '"b": Tex(f"$' + latex + ' = {fmt_num(answers[\'y\'])}$'))
    r = runner.invoke(main, ["build", "--no-pdf"])
    assert r.exit_code == 2, r.output
    assert len(r.stderr.splitlines()) == 1 and r.stderr.startswith("qbank: bank/problems/example-neuron/generator.py:")
    assert "summary() part b: in a Python string " + said in r.stderr, r.stderr
    assert "write a raw string" in r.stderr
    r = runner.invoke(main, ["check", "--seeds", "20", "--no-pdf", "--problem", "example-neuron"])
    assert r.exit_code == 1 and "summary() part b: in a Python string" in r.output, r.output


@pytest.mark.pdf
def test_a_latex_error_in_the_graders_summary_names_the_file_of_the_build(course, runner):
    """A summary() with a `$` left open failed in TeX naming '.example.staging-x1y2/grader-summary.tex',
    a staging folder gone by the time the message is read; a version's file is named 'A/key.tex'."""
    gen = course / "bank" / "problems" / "example-neuron" / "generator.py"
    text = gen.read_text()
    old = '"b": Tex(f"$y = {fmt_num(answers[\'y\'])}$,'
    assert old in text
    gen.write_text(text.replace(old, '"b": Tex(f"$y = {fmt_num(answers[\'y\'])},'))
    r = runner.invoke(main, ["build"])
    assert r.exit_code == 2, r.output
    assert "(grader-summary.tex:" in r.stderr and "staging" not in r.stderr, r.stderr
