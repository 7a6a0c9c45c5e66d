"""Faults from the reliability checklist: failing generators, templates, locks, interrupts, kills."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from generator import build as build_module
from generator.cli import main
from generator.output import locked
from generator.testing import load_problem


@pytest.fixture
def argmax_cls(tmp_bank):
    """The generator class of the temporary bank's argmax-attention (the one its builds load)."""
    return load_problem(tmp_bank / "bank" / "problems" / "argmax-attention").module.ArgmaxAttention

EXAM = "bank/exams/tiny.yaml"
PROBLEM = "bank/problems/argmax-attention/problem.yaml"


def snapshot(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def built(runner, tmp_bank):
    """A previous good build in ./o that every failure below must leave untouched."""
    assert runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"]).exit_code == 0
    return snapshot(tmp_bank / "o")


def rebuild(runner):
    return runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--force", "--seed", "77"])


def untouched(tmp_bank, before):
    assert snapshot(tmp_bank / "o") == before
    assert not [p.name for p in tmp_bank.iterdir() if p.name.startswith(".o.staging") or p.name.startswith(".o.old")]


def test_generator_that_raises_names_problem_and_seed(argmax_cls, runner, tmp_bank, built, monkeypatch):
    monkeypatch.setattr(argmax_cls, "solve", lambda self, p: 1 / 0)
    r = rebuild(runner)
    assert r.exit_code == 2
    line = r.stderr.strip()
    # the raising frame first (here the patched-in lambda, in this file), then the problem and seed
    assert line.startswith(f"qbank: {__file__}:") and ": problem 'argmax-attention' (version A, seed " in line
    assert line.endswith("): generator raised ZeroDivisionError: division by zero")
    untouched(tmp_bank, built)


def test_generator_that_loops_is_stopped(argmax_cls, runner, tmp_bank, built, monkeypatch):
    def forever(self, rng):
        while True:
            pass
    monkeypatch.setattr(argmax_cls, "draw", forever)
    monkeypatch.setattr(build_module, "GENERATE_TIMEOUT_S", 1)
    r = rebuild(runner)
    assert r.exit_code == 2
    assert "problem 'argmax-attention' (version A, seed" in r.stderr and "generator ran past 1 s" in r.stderr
    untouched(tmp_bank, built)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), np.float64("-inf")])
def test_non_finite_answers_are_refused(argmax_cls, runner, tmp_bank, built, monkeypatch, bad):
    monkeypatch.setattr(argmax_cls, "solve", lambda self, p: {"scores": [bad]})
    r = rebuild(runner)
    assert r.exit_code == 2
    assert "answers.scores[0] is " in r.stderr and "must be finite numbers" in r.stderr
    untouched(tmp_bank, built)


def test_numpy_scalars_become_plain_json(argmax_cls, runner, tmp_bank, monkeypatch):
    original = argmax_cls.solve
    monkeypatch.setattr(argmax_cls, "solve",
                        lambda self, p: {k: (np.array(v) if isinstance(v, list) else np.int64(v))
                                         for k, v in original(self, p).items()})
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    assert r.exit_code == 0, r.output
    key = json.loads((tmp_bank / "o/A/key.json").read_text())
    assert isinstance(key["problems"][0]["answers"]["argmax"], int)


@pytest.mark.parametrize("body,message", [
    ("Hello << nope >>", f"{PROBLEM} (body):1: undefined template variable: 'nope' is undefined"),
    ("<% if %>x<% endif %>", f"{PROBLEM} (body):1: template syntax error: Expected an expression, got 'end of statement block'"),
])
def test_template_errors_name_file_and_line(runner, tmp_bank, built, body, message):
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text() + f"body: '{body}'\n")
    r = rebuild(runner)
    assert r.exit_code == 2
    assert r.stderr.strip() == f"qbank: {message}"
    untouched(tmp_bank, built)


def test_missing_template_says_where_it_looked(runner, tmp_bank, built):
    p = tmp_bank / PROBLEM
    p.write_text(p.read_text() + "template: missing.tex.j2\n")
    r = rebuild(runner)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"qbank: {PROBLEM}:13: template: no template bank/problems/argmax-attention/missing.tex.j2 "
                               "(a problem's template is a file in its own folder")
    assert r.stderr.strip().endswith("; the folder holds template.tex.j2")
    p.write_text(p.read_text().replace("template: missing.tex.j2", "template: templat.tex.j2"))
    r = rebuild(runner)
    assert r.stderr.strip().endswith("; did you mean 'template.tex.j2'?")
    untouched(tmp_bank, built)


def test_second_build_into_a_locked_folder_refuses_naming_the_holder(runner, tmp_bank, built):
    with locked(tmp_bank / "o"):
        r = rebuild(runner)
    assert r.exit_code == 2
    assert r.stderr.strip() == f"qbank: o is being built by qbank pid {os.getpid()}; wait for it to finish"
    untouched(tmp_bank, built)


def test_disk_full_leaves_the_previous_build(runner, tmp_bank, built, monkeypatch):
    from generator import api

    calls = []

    def full(base, rel, data):
        calls.append(rel)
        if len(calls) > 2:
            raise OSError(28, "No space left on device", str(base / rel))
        return original(base, rel, data)
    original = api.write_file
    monkeypatch.setattr(api, "write_file", full)
    r = rebuild(runner)
    assert r.exit_code == 2
    assert "cannot write" in r.stderr and "No space left on device" in r.stderr
    untouched(tmp_bank, built)


def test_interrupt_leaves_the_previous_build(runner, tmp_bank, built, monkeypatch):
    from generator import api

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(api, "write_file", interrupted)
    r = rebuild(runner)
    assert r.exit_code != 0
    untouched(tmp_bank, built)


def test_sigkill_mid_build_leaves_the_previous_build(tmp_bank, built):
    """Kill -9 a real build at several moments; the old build stays whole every time."""
    qbank = [sys.executable, "-m", "generator.cli"]
    for delay in (0.3, 0.6, 0.9, 1.2):
        proc = subprocess.Popen(qbank + ["build", EXAM, "--no-pdf", "--out", "o", "--force", "-n", "200",
                                         "--seed", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = snapshot(tmp_bank / "o")
        assert after == built or len(after) == 200 * 3 + 2, f"partial build visible after kill at {delay}s"
        if after != built:  # the kill came after the swap: the new build is whole; start again
            break
    # the next build cleans whatever the killed one left beside the output folder
    assert subprocess.run(qbank + ["build", EXAM, "--no-pdf", "--out", "o", "--force"]).returncode == 0
    assert not [p.name for p in tmp_bank.iterdir() if p.name.startswith(".o.")] or \
        [p.name for p in tmp_bank.iterdir() if p.name.startswith(".o.")] == [".o.lock"]


def test_errors_in_worker_processes_reach_the_user_intact(argmax_cls, runner, tmp_bank, built, monkeypatch):
    monkeypatch.setattr(argmax_cls, "solve", lambda self, p: 1 / 0)
    r = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o", "--force", "-n", "12", "-j", "2"])
    assert r.exit_code == 2
    assert "problem 'argmax-attention' (version " in r.stderr
    assert "generator raised ZeroDivisionError: division by zero" in r.stderr
    untouched(tmp_bank, built)


def test_a_parameter_shown_rounded_is_caught_by_check_and_verify(argmax_cls, runner, tmp_bank, monkeypatch):
    """A generator that prints 1.2346 to students but keys the answer from 1.23456789."""
    original = argmax_cls.draw

    def unrounded(self, rng):
        params = original(self, rng)
        params["query"][0] += 0.23456789
        return params
    monkeypatch.setattr(argmax_cls, "draw", unrounded)
    b = runner.invoke(main, ["build", EXAM, "--no-pdf", "--out", "o"])
    assert b.exit_code == 0, b.output
    r = runner.invoke(main, ["verify", "o"])
    assert r.exit_code == 1
    assert "params.query[0] is " in r.stderr and "the key would not match what students see" in r.stderr
    c = runner.invoke(main, ["check", "--seeds", "3"])
    assert c.exit_code == 1 and "but prints as" in c.stdout


def test_nothing_is_written_outside_the_output_folder(tmp_path):
    from generator.errors import OutputError
    from generator.output import write_file

    for rel in ("../escape.tex", "/etc/x", "A/../../escape.tex"):
        with pytest.raises(OutputError, match="outside the output folder"):
            write_file(tmp_path / "stage", rel, "x")
    assert not (tmp_path / "escape.tex").exists()
    write_file(tmp_path / "stage", "A/exam.tex", "ok")
    assert (tmp_path / "stage" / "A" / "exam.tex").read_text() == "ok"


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
def test_sigkill_while_compiling_leaves_the_previous_build(tmp_bank, built):
    qbank = [sys.executable, "-m", "generator.cli"]
    proc = subprocess.Popen(qbank + ["build", EXAM, "--out", "o", "--force", "-n", "6", "--seed", "4"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_bank.glob(".o.staging-*/A/*.aux")):
        time.sleep(0.05)  # wait until pdflatex is at work
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert snapshot(tmp_bank / "o") == built
    assert subprocess.run(qbank + ["build", EXAM, "--no-pdf", "--out", "o", "--force"]).returncode == 0
    assert not list(tmp_bank.glob(".o.staging-*"))


@pytest.mark.pdf
@pytest.mark.xdist_group("pdf")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_a_killed_build_leaves_no_tex_running(tmp_path):
    """The midterm's passes take most of a second each: long enough to catch an orphan."""
    from .conftest import ROOT

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "generator.cli", "build", str(ROOT / "bank/exams/midterm.yaml"),
                             "--out", str(out), "-n", "2"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(tmp_path.glob(".out.staging-*/A/*.aux")):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def works_here(pid: str) -> bool:
        """Running (not dead, not a zombie waiting to be reaped) in this test's folders."""
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
            return state not in ("Z", "X", "x") and str(tmp_path) in os.readlink(f"/proc/{pid}/cwd")
        except (OSError, IndexError):  # gone
            return False

    # The kernel kills pdflatex with its parent at once; tearing it down can take a moment under load.
    # An orphan would keep compiling for most of a second, longer than this wait.
    for _ in range(5):
        running = subprocess.run(["pgrep", "-f", f"pdflatex.*{tmp_path.name}|pdflatex.*(exam|key)\\.tex"],
                                 capture_output=True, text=True).stdout
        alive = [pid for pid in running.split() if works_here(pid)]
        if not alive:
            break
        time.sleep(0.1)
    assert alive == [], "pdflatex outlived the killed build"
    assert not out.exists()


@pytest.mark.parametrize("rel", ["", ".", "..", "../x", "/etc/passwd", "a/../../x", "a\\\\b", "a\0b"])
def test_safe_child_refuses_anything_outside(tmp_path, rel):
    from generator.errors import OutputError
    from generator.output import safe_child

    with pytest.raises(OutputError, match="outside the output folder"):
        safe_child(tmp_path / "stage", rel)
