"""Versions of one build are equally hard and neighbours cannot copy (issue 12, part 2).

Over 200 builds of 4 versions of the midterm: every version of a build has the same workload per
problem, and no two versions share a final answer unless the space has fewer than 4 values for
it at that workload (counted here by free draws, apart from the build's own drawing).
"""
from __future__ import annotations

import collections
import json
import os

import pytest

from generator.bank import load_bank, load_exam
from generator.build import (canonical, draw_params, draw_versions, final_answers, jsonable, plan, version_labels,
                             workload)

from generator.errors import GenerationError

from .conftest import ROOT, make_course

BUILDS = 200
VERSIONS = 4
EXAM = load_exam(ROOT / "bank/exams/midterm.yaml", ROOT)
BANK = EXAM.bank


@pytest.fixture(scope="module")
def builds():
    """200 builds of 4 versions, drawn as ``plan`` draws them (rendering is not needed here)."""
    return [draw_versions(EXAM, version_labels(VERSIONS), seed) for seed in range(BUILDS)]


def _by_problem(drawn):
    """problem id -> the instances of that problem, one per version."""
    out = collections.defaultdict(list)
    for instances in drawn.values():
        for inst in instances:
            out[inst.problem_id].append(inst)
    return out


def test_every_version_of_a_build_has_the_same_workload(builds):
    seen = collections.defaultdict(set)
    for seed, drawn in enumerate(builds):
        for pid, insts in _by_problem(drawn).items():
            loads = {json.dumps(workload(BANK.problems[pid], i.params), sort_keys=True) for i in insts}
            assert len(loads) == 1, f"build {seed}: versions of {pid} differ in workload: {sorted(loads)}"
            seen[pid] |= loads
    # The workload is fixed per build, not per bank: it still varies from build to build where the
    # space varies it (T of the RNN, rows of X, images of the CNN, ...).
    varying = {pid for pid, loads in seen.items() if len(loads) > 1}
    assert varying == {"argmax-attention", "batchnorm", "cnn", "dropout-ridge", "gnn", "rnn-backprop",
                       "translation", "vanishing-gradients"}


_CENSUS: dict = {}


def _values_at(pid: str, load: dict) -> dict[str, set[str]]:
    """Final answers free draws give at this workload: 3000 draws on seeds no build uses."""
    key = (pid, json.dumps(load, sort_keys=True))
    if key not in _CENSUS:
        bp = BANK.problems[pid]
        values = collections.defaultdict(set)
        for s in range(3000):
            params = jsonable(draw_params(bp, 10**9 + s), "params")
            if workload(bp, params) == load:
                for name, v in final_answers(bp, jsonable(bp.generator.solve(params), "answers")).items():
                    values[name].add(v)
        _CENSUS[key] = values
    return _CENSUS[key]


def test_no_two_versions_share_a_final_answer_where_the_space_allows(builds):
    shared = collections.Counter()
    declared = set()
    for seed, drawn in enumerate(builds):
        for pid, insts in _by_problem(drawn).items():
            bp = BANK.problems[pid]
            finals = [final_answers(bp, i.answers) for i in insts]
            for name in finals[0]:
                declared.add((pid, name))
                values = [f[name] for f in finals]
                if len(set(values)) == len(values):
                    continue
                shared[pid, name] += 1
                available = _values_at(pid, workload(bp, insts[0].params))[name]
                assert len(available) < VERSIONS, (
                    f"build {seed}: versions of {pid} share {name} = {values} although the space has "
                    f"{len(available)} values for it at this workload")
    # Every problem with a computed answer declares final answers, and most of them are never shared.
    assert {pid for pid, _ in declared} == set(BANK.problems) - {"honor-code"}
    assert len(declared) >= 25 and len(shared) <= len(declared) // 3, shared
    # Shared because the space cannot do otherwise: the orthonormal-decoder answer is Yes in every
    # version. (|gamma| had two values, so batchnorm's a.std was shared in every build, and the
    # translation space one pair of some lengths: both spaces were widened.)
    assert shared["linear-autoencoder", "b"] == BUILDS
    assert shared["batchnorm", "a.std"] <= BUILDS // 20 and shared["translation", "b"] == 0, shared


def test_plan_draws_each_version_as_draw_versions_does_and_is_deterministic():
    drawn = draw_versions(EXAM, version_labels(VERSIONS), 11)
    p1, p2 = plan(EXAM, VERSIONS, seed=11, jobs=1), plan(EXAM, VERSIONS, seed=11, jobs=1)
    assert {r.version: [i.params for i in r.instances] for r in p1.rendered} == \
        {label: [i.params for i in insts] for label, insts in drawn.items()}
    assert _everything(p1) == _everything(p2)


def test_parallel_rendering_gives_the_same_build():
    assert _everything(plan(EXAM, 8, seed=5, jobs=2)) == _everything(plan(EXAM, 8, seed=5, jobs=1))


def test_problems_drawn_side_by_side_give_the_same_shard():
    # a shard's versions avoid the answers of the versions before it, drawn too but not kept
    labels = version_labels(14)[4:]
    parallel, serial = plan(EXAM, labels, seed=9, jobs=2), plan(EXAM, labels, seed=9, jobs=1)
    assert [r.version for r in parallel.rendered] == labels
    assert _everything(parallel) == _everything(serial)


def _everything(p) -> dict[str, str]:
    """Every text file a build of ``p`` writes, the manifest (seeds, parameters, answers) included."""
    return {**p.files(), "manifest.json": p.manifest_json()}


def test_a_parallel_build_stops_at_the_error_a_serial_one_meets_first(monkeypatch):
    def failing_at(pid: str, call: int) -> None:
        generator = BANK.problems[pid].generator
        check, calls = generator.check, [0]

        def wrong(params):
            calls[0] += 1
            answers = check(params)
            return {**answers, "rows": []} if calls[0] == call else answers
        monkeypatch.setattr(generator, "check", wrong)

    def error(jobs: int) -> str:
        monkeypatch.undo()  # fresh call counts for each build
        failing_at("cnn", 6)  # version F
        failing_at("gnn", 4)  # version D: met first
        with pytest.raises(GenerationError) as e:
            plan(EXAM, 10, seed=2, jobs=jobs)
        return e.value.message

    serial = error(1)
    assert "problem 'gnn' (version D" in serial and "check disagree" in serial
    assert error(2) == serial


def test_a_template_changed_between_two_builds_of_one_process_is_used(tmp_path):
    root = make_course(tmp_path, ["argmax-attention"])
    exam = root / "bank" / "exams" / "tiny.yaml"
    assert "edited-in-between" not in plan(load_exam(exam, root), 1).rendered[0].exam_tex
    template = root / "bank" / "problems" / "argmax-attention" / "template.tex.j2"
    template.write_text(template.read_text() + "% edited-in-between\n")
    os.utime(template, (template.stat().st_atime, template.stat().st_mtime + 5))
    assert "edited-in-between" in plan(load_exam(exam, root), 1).rendered[0].exam_tex


def test_a_version_does_not_depend_on_how_many_follow_it():
    two, four = draw_versions(EXAM, version_labels(2), 3), draw_versions(EXAM, version_labels(4), 3)
    assert {k: [i.params for i in v] for k, v in two.items()} == {k: [i.params for i in four[k]] for k in two}


def test_canonical_final_answers_compare_numbers_by_value():
    assert canonical([2.0, 0.1 + 0.2]) == canonical([2, 0.3])
    assert canonical({"x": 1.5}) != canonical({"x": 1.25})


# -- trivial draws are rejected (pinned instances, like the original exam's, still build) --------

def _draws(pid: str, n: int = 400) -> list[dict]:
    bp = BANK.problems[pid]
    return [jsonable(draw_params(bp, 7_000_000 + s), "params") for s in range(n)]


def test_batchnorm_never_draws_a_unit_scale():
    gammas = {p["gamma"] for p in _draws("batchnorm")}
    assert gammas and not gammas & {1, -1}, gammas


def test_argmax_query_always_mixes_at_least_two_coordinates():
    for p in _draws("argmax-attention"):
        assert sum(1 for q in p["query"] if q) >= 2, p["query"]


def test_cnn_given_cells_never_give_away_another_cell():
    for p in _draws("cnn"):
        for i, what in p["given"]:
            layer = p["layers"][i]
            assert not (layer == "FLATTEN" and what == "shape"), p["given"]  # its product shows the last POOL's shape
            assert not (layer.startswith("FC") and what == "params"), p["given"]  # (F + 1) x classes shows F


def test_pinned_original_instances_still_validate():
    exam = load_exam(ROOT / "bank/exams/midterm-original.yaml", ROOT)
    for _, entry in exam.spec.entries():
        if entry.params is not None:
            exam.bank.problems[entry.problem].generator.validate(dict(entry.params))


# -- qbank check: what cannot be kept apart, and the fairness report --------------------------

def _argmax_spec(bank_root):
    return bank_root / "bank" / "problems" / "argmax-attention" / "problem.yaml"


def test_check_says_which_final_answers_the_space_cannot_keep_apart(runner, tmp_bank):
    from generator.cli import main
    r = runner.invoke(main, ["check", "--seeds", "5", "--no-pdf"])
    assert r.exit_code == 0, r.output
    assert "none: every problem kept every final answer apart" in r.stdout
    spec = _argmax_spec(tmp_bank)
    spec.write_text(spec.read_text().replace("value_range: [-1, 4]", "value_range: [1, 1]"))  # one output only
    r = runner.invoke(main, ["check", "--seeds", "5", "--no-pdf", "--versions", "3"])
    assert r.exit_code == 0, r.output
    assert ("argmax-attention: final answer a.output: two of 3 versions share it in 20 of 20 trial builds "
            "(no draw of its space kept them apart)") in r.stdout
    assert "a.winner" not in r.stdout  # the winning key still differs between versions


def test_check_report_writes_plots_and_build_tables(runner, tmp_bank):
    from generator.cli import main
    r = runner.invoke(main, ["check", "--seeds", "40", "--no-pdf", "--report", "rep"])
    assert r.exit_code == 0, r.output
    assert "Wrote the fairness report rep" in r.stdout
    png = (tmp_bank / "rep" / "argmax-attention.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[16:20], "big") > 500  # width in pixels
    report = (tmp_bank / "rep" / "report.md").read_text()
    assert "![argmax-attention](argmax-attention.png)" in report
    row = next(line for line in report.splitlines() if line.startswith("| argmax-attention |"))
    assert '"keys": 4' in row and "| yes |" in row and row.endswith("| none |")
    # Run again: the earlier report is replaced; a folder that is no report is never touched.
    assert runner.invoke(main, ["check", "--seeds", "5", "--no-pdf", "--report", "rep"]).exit_code == 0
    (tmp_bank / "notes").mkdir()
    (tmp_bank / "notes" / "mine.txt").write_text("keep")
    r = runner.invoke(main, ["check", "--seeds", "5", "--no-pdf", "--report", "notes"])
    assert r.exit_code == 2 and "notes exists and is not a qbank report" in r.output
    assert (tmp_bank / "notes" / "mine.txt").read_text() == "keep"


def test_check_fails_when_a_build_cannot_redraw_its_workload(runner, tmp_bank):
    from generator.cli import main
    gen = tmp_bank / "bank" / "problems" / "argmax-attention" / "generator.py"
    text = gen.read_text()
    old = 'return {"keys": len(params["keys"]), "terms": sum(1 for q in params["query"] if q)}'
    assert old in text
    gen.write_text(text.replace(old, 'return {"keys": params["keys"]}'))  # almost never drawn twice
    r = runner.invoke(main, ["check", "--seeds", "3", "--no-pdf"])
    assert r.exit_code == 1, r.output
    assert "FAIL argmax-attention: trial build 1 of 4 versions: problem 'argmax-attention'" in r.stdout
    assert "drew a workload other than this build's {\"keys\": [[" in r.stdout


def test_verify_redraws_versions_as_the_build_drew_them(tmp_path):
    from generator import api
    out = api.build(ROOT / "bank/exams/midterm.yaml", versions=4, pdf=False, out=tmp_path / "o").out
    manifest = json.loads((out / "manifest.json").read_text())
    # Some stored draws are not the free draw of their seed (a held workload, an answer avoided) ...
    differ = [p["id"] for v in manifest["versions"] for p in v["problems"] if p["seed"] is not None
              and jsonable(draw_params(BANK.problems[p["id"]], p["seed"]), "params") != p["params"]]
    assert len(differ) >= 3, differ
    # ... and verify redraws them the build's way.
    report = api.verify(out)
    assert report.versions == 4 and not report.failures


def test_report_on_the_shipped_bank_covers_its_pinned_original(runner, in_root, tmp_path):
    """The shipped bank's exams include the pinned original (symbolic instances): the report's
    per-build table says pinned instead of weighing them (it raised a TypeError before)."""
    from generator.cli import main

    r = runner.invoke(main, ["check", "--report", str(tmp_path / "report"), "--problem", "argmax-attention",
                             "--seeds", "20", "--no-pdf"])
    assert r.exit_code == 0, r.output
    table = (tmp_path / "report" / "report.md").read_text()
    assert "| dropout-ridge | pinned | yes | pinned: the same instance in every version |" in table
    assert (tmp_path / "report" / "argmax-attention.png").stat().st_size > 0
