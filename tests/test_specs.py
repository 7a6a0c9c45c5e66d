"""Bad specs: exit 2, one line per error with file:line and key path, every error reported, nothing written."""
from __future__ import annotations

import pytest

from generator.cli import main

EXAM = "bank/exams/tiny.yaml"
PROBLEM = "bank/problems/argmax-attention/problem.yaml"


def build(runner, *extra):
    return runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", *extra])


def assert_refused(r, tmp_bank, *lines):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert r.stderr.splitlines() == ["qbank: " + line for line in lines]  # every error on its own line
    assert not (tmp_bank / "o").exists()
    assert not list(tmp_bank.glob(".o.staging-*"))


def test_broken_indentation(runner, tmp_bank):
    (tmp_bank / EXAM).write_text("id: tiny\n  course: x\n")
    assert_refused(build(runner), tmp_bank,
                   f"{EXAM}:2: (top level): invalid YAML: mapping values are not allowed here")


def test_duplicate_key(runner, tmp_bank):
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text() + "title: Again\n")
    assert_refused(build(runner), tmp_bank, f"{PROBLEM}:13: title: duplicate key (first given on line 2)")


def test_empty_file(runner, tmp_bank):
    (tmp_bank / EXAM).write_text("")
    assert_refused(build(runner), tmp_bank, f"{EXAM}:1: (top level): the file is empty; expected a mapping of keys")


def test_wrong_top_level_type(runner, tmp_bank):
    (tmp_bank / EXAM).write_text("- a\n- b\n")
    assert_refused(build(runner), tmp_bank, f"{EXAM}:1: (top level): expected a mapping of keys, got list")


def test_python_tag_is_rejected_and_not_run(runner, tmp_bank):
    marker = tmp_bank / "ran"
    (tmp_bank / EXAM).write_text(f"id: !!python/object/apply:os.system ['touch {marker}']\n")
    r = build(runner)
    assert_refused(r, tmp_bank, f"{EXAM}:1: (top level): invalid YAML: tag "
                   "tag:yaml.org,2002:python/object/apply:os.system is not allowed (plain YAML only; nothing is run)")
    assert not marker.exists()


def test_every_error_in_a_file_is_reported_with_line_and_key(runner, tmp_bank):
    p = tmp_bank / EXAM
    text = p.read_text().replace("title: Quiz", "title: no").replace("seed: 5", "seed: five")
    p.write_text(text + "  - problem: argmax-attention\n    points: {a: ten, b: 2}\n")
    r = build(runner)
    assert_refused(r, tmp_bank,
                   f"{EXAM}:4: title: expected a string, got boolean false (YAML reads unquoted yes/no/on/off "
                   "as booleans; quote it)",
                   f"{EXAM}:9: seed: expected an integer, got 'five'",
                   f"{EXAM}:14: problems[1].points.a: expected an integer, got 'ten'")


def test_unknown_problem_lists_valid_names(runner, tmp_bank):
    (tmp_bank / EXAM).write_text((tmp_bank / EXAM).read_text().replace("problem: argmax-attention", "problem: nope"))
    assert_refused(build(runner), tmp_bank,
                   f"{EXAM}:12: problems[0].problem: unknown problem 'nope'; valid: argmax-attention")


def test_unknown_generator_lists_valid_names(runner, tmp_bank):
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text().replace("generator: argmax_attention", "generator: nope"))
    r = build(runner)
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"qbank: {PROBLEM}:4: generator: generator 'nope' is not registered by "
                                "bank/problems/argmax-attention/generator.py: it registers 'argmax_attention'")


def test_unknown_builtin_generator_suggests_the_nearest(runner, tmp_bank):
    folder = tmp_bank / "bank" / "problems" / "argmax-attention"
    (folder / "generator.py").unlink()
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text().replace("generator: argmax_attention", "generator: multiple_choise"))
    r = build(runner)
    assert r.exit_code == 2
    assert r.stderr.strip() == (f"qbank: {PROBLEM}:4: generator: unknown generator 'multiple_choise': "
                                "bank/problems/argmax-attention has no generator.py, and qbank has no built-in "
                                "generator of that name; did you mean 'multiple_choice'?")


def test_space_errors_name_the_space_key(runner, tmp_bank):
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text().replace("n_keys: 4", "n_keys: 4.5\n  colour: red"))
    assert_refused(build(runner), tmp_bank,
                   f"{PROBLEM}:7: space.n_keys: expected an integer, got 4.5",
                   f"{PROBLEM}:8: space.colour: unknown key")


def test_a_misspelt_key_names_the_key_it_is_near(runner, tmp_bank):
    """Found by a new author: `pionts:` gave "points: missing required key" at line 1 and "pionts:
    unknown key", though qbank suggests the nearest name for a misspelt generator. Now one line
    names the key meant, in the spec's own keys and in its space (optional keys too)."""
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text().replace("points: {a: 6, b: 4}", "pionts: {a: 6, b: 4}")
                 .replace("  min_margin: 1", "  min_margn: 1"))
    assert_refused(build(runner), tmp_bank,
                   f"{PROBLEM}:5: pionts: unknown key; did you mean 'points'?",
                   f"{PROBLEM}:12: space.min_margn: unknown key; did you mean 'min_margin'?")
    p.write_text(p.read_text().replace("pionts:", "points:").replace("min_margn", "min_margin"))
    exam = tmp_bank / EXAM
    exam.write_text(exam.read_text().replace("title:", "titel:", 1))
    r = build(runner)
    assert r.exit_code == 2 and "titel: unknown key; did you mean 'title'?" in r.stderr, r.stderr
    assert "title: missing" not in r.stderr


def test_an_id_with_an_underscore_says_what_an_id_may_hold(runner, tmp_bank):
    """The message was pydantic's "string should match pattern '^[a-z0-9][a-z0-9-]*$'": a regular
    expression, where `qbank new` says in words what an id may hold."""
    exam = tmp_bank / EXAM
    exam.write_text(exam.read_text().replace("- problem: argmax-attention", "- problem: argmax_attention", 1))
    r = build(runner)
    assert r.exit_code == 2, r.output
    assert ("problems[0].problem: 'argmax_attention' is not an id: use lowercase letters, digits and dashes "
            "(e.g. softmax-temperature)") in r.stderr, r.stderr
    assert "pattern" not in r.stderr


def test_float_exponent_is_a_number(tmp_bank):
    from generator.yamlio import load_yaml

    assert load_yaml("x.yaml", "a: 1e-3\nb: -2.5E+2\nc: '1e-3'\nd: 2026-10-15\n").data == \
        {"a": 0.001, "b": -250.0, "c": "1e-3", "d": "2026-10-15"}


def test_impossible_constraints_give_an_error_naming_the_problem_not_a_hang(runner, tmp_bank):
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text().replace("min_margin: 1", "min_margin: 1000"))
    r = build(runner)
    assert r.exit_code == 2
    assert "problem 'argmax-attention' (seed" in r.stderr
    assert "no acceptable draw in 1000 tries; most common rejection: " in r.stderr
    assert not (tmp_bank / "o").exists()


def test_pinned_params_that_are_degenerate_are_refused(runner, tmp_bank):
    (tmp_bank / EXAM).write_text((tmp_bank / EXAM).read_text() + (
        "    params: {query: [1, 1], keys: [[1, 1], [2, 0], [0, 0], [0, 1]], values: [[1], [2], [3], [4]]}\n"))
    assert_refused(build(runner), tmp_bank,
                   f"{EXAM}:13: problems[0].params: parameter 'keys': keys [0, 1] tie for the largest score 2; the argmax is ambiguous")


@pytest.mark.parametrize("field", ["course", "problems"])
def test_missing_required_key(runner, tmp_bank, field):
    p = tmp_bank / EXAM
    lines = [l for l in p.read_text().splitlines() if not l.startswith(field) and not l.startswith("  - problem")]
    p.write_text("\n".join(lines) + "\n")
    r = build(runner)
    assert r.exit_code == 2
    assert f"{EXAM}:1: {field}: missing required key" in r.stderr


def test_min_above_max_is_refused_at_load(runner, tmp_bank):
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text().replace("key_range: [0, 5]", "key_range: [5, 0]"))
    assert_refused(build(runner), tmp_bank,
                   f"{PROBLEM}:6: space: key_range is [5, 0]: the low end must not exceed the high end")
