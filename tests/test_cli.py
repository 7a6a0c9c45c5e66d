"""The command line as an instructor uses it: build, verify, solve, list, check."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.cli import main

EXAM = "bank/exams/tiny.yaml"


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_build_writes_every_file_and_is_deterministic(runner, tmp_bank):
    r1 = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "one", "--versions", "3"])
    r2 = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "two", "--versions", "3"])
    assert r1.exit_code == 0, r1.output
    assert r2.exit_code == 0, r2.output
    one, two = files(tmp_bank / "one"), files(tmp_bank / "two")
    assert sorted(one) == ["A/exam.tex", "A/key.json", "A/key.tex", "B/exam.tex", "B/key.json", "B/key.tex",
                           "C/exam.tex", "C/key.json", "C/key.tex", "grader-summary.tex", "manifest.json"]
    assert one == two  # byte-identical .tex, keys and manifest
    assert one["A/exam.tex"] != one["B/exam.tex"]  # versions differ


def test_default_output_folder_is_output_exam_id(runner, tmp_bank):
    r = runner.invoke(main, ["build", EXAM, "--no-pdf"])
    assert r.exit_code == 0, r.output
    assert (tmp_bank / "output" / "tiny" / "B" / "key.json").is_file()
    assert not (tmp_bank / "output" / "tiny" / "C").exists()  # the spec says 2 versions


def test_seed_changes_the_draw_and_is_recorded(runner, tmp_bank):
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "s1", "--seed", "1"])
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "s2", "--seed", "2"])
    m1 = json.loads((tmp_bank / "s1" / "manifest.json").read_text())
    m2 = json.loads((tmp_bank / "s2" / "manifest.json").read_text())
    assert m1["seed"] == 1 and m2["seed"] == 2
    assert m1["versions"][0]["problems"][0]["params"] != m2["versions"][0]["problems"][0]["params"]


def test_manifest_records_seeds_params_answers_hashes_and_libraries(runner, tmp_bank):
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    m = json.loads((tmp_bank / "o" / "manifest.json").read_text())
    assert m["exam"]["path"] == "bank/exams/tiny.yaml"
    prob = m["versions"][1]["problems"][0]
    assert prob["id"] == "argmax-attention" and isinstance(prob["seed"], int)
    assert set(prob["hashes"]) == {"spec", "generator", "template"} and all(prob["hashes"].values())
    assert {"numpy", "sympy", "jinja2"} <= set(m["libraries"])
    assert prob["items"][0]["kind"] == "argmax-attention"


def test_key_json_holds_solve_contract_items(runner, tmp_bank):
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    key = json.loads((tmp_bank / "o" / "A" / "key.json").read_text())
    item = key["problems"][0]["items"][0]
    assert set(item) == {"kind", "params", "answers"}
    assert set(item["answers"]) == {"scores", "argmax", "output"}
    scores = [sum(q * k for q, k in zip(item["params"]["query"], key_)) for key_ in item["params"]["keys"]]
    assert item["answers"]["scores"] == scores
    assert item["answers"]["output"] == item["params"]["values"][scores.index(max(scores))]


def test_existing_build_is_refused_without_force(runner, tmp_bank):
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"]).exit_code == 0
    before = files(tmp_bank / "o")
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--seed", "9"])
    assert r.exit_code == 2
    assert r.stderr.strip() == "qbank: o already exists; use --force to replace it or --out to choose another folder"
    assert files(tmp_bank / "o") == before
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--seed", "9", "--force"]).exit_code == 0
    assert files(tmp_bank / "o") != before


def test_verify_confirms_a_clean_build(runner, tmp_bank):
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "-n", "3"])
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("verified o: 3 problems' answers re-derived (3 solve items), no PDFs to read (built with --no-pdf), ")


@pytest.mark.parametrize("target,old,new,expect", [
    ("A/key.json", '"argmax":', '"argmax":9', "version A, file key.json:"),
    ("B/key.tex", "$q^\\top k_1 = ", "$q^\\top k_1 = 7", "version B, file key.tex differs from a fresh render"),
    ("B/exam.tex", "Compute the score", "Compute the", "version B, file exam.tex differs"),
    ("manifest.json", '"scores":[', '"scores":[100,', "version A, problem 1 'argmax-attention': manifest.json field answers differs"),
])
def test_verify_catches_tampering(runner, tmp_bank, target, old, new, expect):
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    path = tmp_bank / "o" / target
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 1
    assert expect in r.stderr
    assert "the build cannot be trusted" in r.stderr


def test_solve_contract_example(solve_cli):
    r = solve_cli("argmax-attention", "keys: [[1, 0], [0, 2]]\nvalues: [[5, 5], [7, 8]]\nquery: [1, 1]\n")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"scores": [1, 2], "argmax": 1, "output": [7, 8]}


@pytest.mark.parametrize("body,message", [
    ('{"keys": [[1, 0], [0, 1]], "values": [[1], [2]], "query": [1, 1]}',
     "qbank: parameter 'keys': keys [0, 1] tie for the largest score 1; the argmax is ambiguous"),
    ('{"keys": [[1, 0]], "values": [[1]]}', "qbank: parameter 'query': missing"),
    ('{"keys": [[1, 0]], "values": [[1]], "query": [1, 2, 3]}', "qbank: parameter 'query': expected 2 numbers, got 3"),
    ("[1, 2]", "qbank: {p}:1: (top level): expected a mapping of keys, got list"),
])
def test_solve_rejects_bad_params_with_one_line(body, message, solve_cli, tmp_path):
    r = solve_cli("argmax-attention", body)  # text: written as params.yaml (JSON is YAML)
    assert r.exit_code == 2
    assert r.stderr.strip() == message.format(p=tmp_path / "params.yaml")
    assert "Traceback" not in r.output


def test_solve_unknown_kind_lists_valid_kinds(solve_cli):
    r = solve_cli("nope", "a: 1\n")
    assert r.exit_code == 2
    assert r.stderr.startswith("qbank: unknown kind 'nope'; valid: ") and "argmax-attention" in r.stderr


def test_list_shows_problems(runner, tmp_bank):
    r = runner.invoke(main, ["list"])
    assert r.exit_code == 0
    assert "argmax-attention  Argmax attention      10  bank/problems  attention, transformers" in r.stdout


def test_check_passes_on_a_good_bank(runner, tmp_bank):
    r = runner.invoke(main, ["check", "--seeds", "30"])
    assert r.exit_code == 0, r.output
    assert "argmax-attention" in r.stdout and "check: specs valid; the 1 problem passed 30 seeds each" in r.stdout


def test_check_fails_naming_the_problem_when_constraints_are_impossible(runner, tmp_bank):
    spec = tmp_bank / "bank" / "problems" / "argmax-attention" / "problem.yaml"
    spec.write_text(spec.read_text().replace("key_range: [0, 5]", "key_range: [1, 1]"))
    r = runner.invoke(main, ["check", "--seeds", "3"])
    assert r.exit_code == 1
    assert "FAIL argmax-attention: seed" in r.stdout and "no acceptable draw in 1000 tries" in r.stdout


@pytest.mark.parametrize("args,message", [
    (["build", EXAM, "--versions", "0"],
     "qbank: Invalid value for '--versions' / '-n': 0 is not in the range 1<=x<=100000. (see 'qbank build --help')"),
    (["build", EXAM, "--seed", "x"],
     "qbank: Invalid value for '--seed': 'x' is not a valid integer range. (see 'qbank build --help')"),
    (["build", "missing.yaml", "--no-pdf"], "qbank: missing.yaml: no such file"),
    (["build", "tiny", "--no-pdf"], "qbank: tiny: no such file; did you mean bank/exams/tiny.yaml?"),
    (["verify", "nowhere"],
     "qbank: Invalid value for 'BUILD_DIR': Directory 'nowhere' does not exist. (see 'qbank verify --help')"),
    (["frobnicate"], "qbank: No such command 'frobnicate'. (see 'qbank --help')"),
])
def test_bad_arguments_give_one_line_and_exit_2(runner, tmp_bank, args, message):
    r = runner.invoke(main, args)
    assert r.exit_code == 2
    assert r.stderr.strip() == message
    assert not (tmp_bank / "output").exists()


def test_parallel_and_serial_builds_are_identical(runner, tmp_bank):
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "par", "-n", "12", "-j", "2"]).exit_code == 0
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "ser", "-n", "12", "-j", "1"]).exit_code == 0
    assert files(tmp_bank / "par") == files(tmp_bank / "ser")


def test_every_item_of_the_midterm_key_agrees_with_qbank_solve(runner, tmp_path, solve_cli):
    """What an outside checker does: feed each key.json item's params to `qbank solve`."""
    from generator.problem import close

    from .conftest import ROOT

    out = tmp_path / "mid"
    r = runner.invoke(main, ["build", str(ROOT / "bank/exams/midterm.yaml"), "--no-pdf", "--out", str(out), "-n", "3"])
    assert r.exit_code == 0, r.output
    kinds = set()
    for v in "ABC":
        for prob in json.loads((out / v / "key.json").read_text())["problems"]:
            for item in prob["items"]:
                s = solve_cli(item["kind"], item["params"])
                assert s.exit_code == 0, s.output
                assert close(json.loads(s.stdout), item["answers"]), (v, prob["id"], item["kind"])
                kinds.add(item["kind"])
    assert len(kinds) == 7


def test_verify_reports_missing_files_and_malformed_manifests_without_tracebacks(runner, tmp_bank):
    runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    (tmp_bank / "o" / "B" / "key.json").unlink()
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 1 and "FAIL version B, file key.json: missing" in r.stderr
    manifest = tmp_bank / "o" / "manifest.json"
    data = json.loads(manifest.read_text())
    del data["versions"][0]["problems"][0]["params"]
    manifest.write_text(json.dumps(data))
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 2
    assert r.stderr.strip() == "qbank: o/manifest.json is malformed (KeyError: 'params'); restore it from version " \
                               "control or rebuild"
    manifest.write_text("{not json")
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 2 and "o/manifest.json: not valid JSON" in r.stderr and "Traceback" not in r.output


def test_check_lists_every_spec_error_with_its_line(runner, tmp_bank):
    spec = tmp_bank / "bank" / "problems" / "argmax-attention" / "problem.yaml"
    spec.write_text(spec.read_text().replace("title: Argmax attention", "title: 7")
                    .replace("points: {a: 6, b: 4}", "points: {a: ten, b: 4}"))
    r = runner.invoke(main, ["check", "--seeds", "5"])
    assert r.exit_code == 2  # bad input, reported as build reports it; nothing is stressed
    assert r.stderr.splitlines() == [
        "qbank: bank/problems/argmax-attention/problem.yaml:2: title: expected a string, got 7",
        "qbank: bank/problems/argmax-attention/problem.yaml:5: points.a: expected an integer, got 'ten'",
    ]
    assert r.stdout == ""
