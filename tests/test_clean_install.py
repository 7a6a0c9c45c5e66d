"""A course the way it is really made: qbank installed with a plain `pip install` of its wheel into a
fresh virtual environment (not editable, not from the source folder), used from an empty folder
outside qbank's source tree. Then init, new, build with PDFs, verify, check, export, the course's
own pytest, and the CI workflow's steps as `init` wrote them."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("clean-install")]


def run(cmd: list[str] | str, cwd: Path, env: dict, shell: bool = False) -> subprocess.CompletedProcess:
    """Run a command; a workflow step (``shell``) the way GitHub Actions runs ``run:`` on Linux."""
    if shell:
        cmd = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", cmd]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding qbank installed from its wheel; an environment that sees nothing else."""
    work = tmp_path_factory.mktemp("install")
    # Build from a copy of the source: setuptools writes build/ inside the tree it builds, and two
    # builds of one tree at once (another test run, a developer's pip) would trip over each other.
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv", "build", "output", "*.egg-info",
                                                               "__pycache__", ".pytest_cache", ".qbank"))
    wheel = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(work / "dist"), str(src)], work,
                dict(os.environ))
    assert wheel.returncode == 0, wheel.stderr
    # Nothing of the project's making: no setuptools notices about the package layout.
    assert not re.search(r"would be ignored|SetuptoolsDeprecationWarning|qbank.*warning", wheel.stdout + wheel.stderr,
                         re.I), wheel.stdout + wheel.stderr
    venv = work / "venv"
    assert run([sys.executable, "-m", "venv", str(venv)], work, dict(os.environ)).returncode == 0
    whl = next((work / "dist").glob("qbank-*.whl"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin"
    pip = run([str(venv / "bin" / "pip"), "install", "-q", str(whl), "pytest"], work, env)
    assert pip.returncode == 0, pip.stderr
    return {"venv": venv, "env": env, "wheel": whl, "work": work}


def test_a_course_from_a_plain_install(installed):
    venv, env, work = installed["venv"], installed["env"], installed["work"]
    site = run([str(venv / "bin" / "python"), "-c", "import generator, sys; print(generator.__file__)"], work, env)
    assert site.stdout.strip().startswith(str(venv)), "qbank must come from the fresh venv, not the source tree"

    empty = work / "empty"
    empty.mkdir()
    steps = [
        (empty, ["qbank", "init", "course"]),
        (empty / "course", ["qbank", "new", "softmax-temperature"]),
        (empty / "course", ["qbank", "new", "which-activation", "--multiple-choice"]),
        (empty / "course", ["qbank", "template", "exam"]),  # qbank's cover, from site-packages, to edit
    ]
    for cwd, cmd in steps:
        r = run(cmd, cwd, env)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    course = empty / "course"
    # init left the course a .venv running this qbank: no pip step, qbank not on PATH
    bare = {**env, "PATH": "/usr/local/bin:/usr/bin:/bin"}
    own = run([".venv/bin/qbank", "list"], course, bare)
    assert own.returncode == 0 and "softmax-temperature" in own.stdout, (own.stdout, own.stderr)
    cover = course / "templates" / "exam.tex.j2"
    cover.write_text(cover.read_text().replace("Do not turn this page", "Keep this page closed"))
    header = (course / "bank" / "exams" / "example.yaml").read_text().split("\nproblems:")[0]
    (course / "bank" / "exams" / "quiz.yaml").write_text(
        header.replace("id: example", "id: quiz") + "\nproblems:\n  - problem: softmax-temperature\n"
        "  - problem: which-activation\n  - problem: argmax-attention\n")
    for cmd in (["qbank", "build", "bank/exams/quiz.yaml", "--versions", "2"],
                ["qbank", "verify", "output/quiz"],
                ["qbank", "check", "--seeds", "100"],
                ["qbank", "export", "output/quiz", "--latex"],
                ["python", "-m", "pytest", "-q"]):
        r = run(cmd, course, env)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    for label in "AB":
        assert (course / "output" / "quiz" / label / "exam.pdf").stat().st_size > 0
        assert (course / "output" / "quiz" / label / "key.pdf").stat().st_size > 0
    assert (course / "output" / "quiz-latex" / "A" / "exam.tex").is_file()
    assert "Keep this page closed" in (course / "output" / "quiz" / "A" / "exam.tex").read_text()
    # The course's generator is a file of the course, and nowhere in qbank's installed package.
    assert (course / "bank" / "problems" / "softmax-temperature" / "generator.py").is_file()
    site_packages = next((venv / "lib").glob("python*/site-packages"))
    hits = run(["grep", "-rl", "class SoftmaxTemperature", str(site_packages)], work, env)
    assert hits.stdout == "", hits.stdout
    assert not list(site_packages.rglob("softmax-temperature"))


def test_the_workflow_init_wrote_runs_as_written(installed):
    """Its steps run as written (the GitHub expression for the qbank requirement becomes the wheel);
    they pass on a fresh course with a committed build and fail when a key is tampered with."""
    venv, env, work = installed["venv"], installed["env"], installed["work"]
    r = run(["qbank", "init", "wf"], work, env)
    assert r.returncode == 0, r.stderr
    course = work / "wf"
    workflow = yaml.safe_load((course / ".github" / "workflows" / "qbank.yml").read_text())
    step = {s["name"]: s for s in workflow["jobs"]["verify-keys"]["steps"] if "name" in s}
    steps = {name: s["run"] for name, s in step.items()}
    version = run(["qbank", "--version"], work, env).stdout.split()[-1]
    tex = set(steps["Install TeX Live and poppler"].split()) & {"texlive-latex-extra", "texlive-pictures", "lmodern"}
    assert len(tex) == 3
    # The repository variable reaches the step through its env (GitHub fills in the expression).
    assert step["Install qbank"]["env"] == {"QBANK_SOURCE": "${{ vars.QBANK_SOURCE }}"}
    # Unset, the step fails saying what to set: it fell back to `pip install qbank==…` from PyPI,
    # where qbank is not (and a package of that name from someone else would have been installed).
    r = run(steps["Install qbank"], course, {**env, "QBANK_SOURCE": ""}, shell=True)
    assert r.returncode == 1 and "PyPI" not in steps["Install qbank"].replace("not on PyPI", "")
    assert f"Set the repository variable QBANK_SOURCE to a pip requirement for qbank {version}" in r.stdout
    assert run(steps["Install qbank"], course, {**env, "QBANK_SOURCE": str(installed["wheel"])}, shell=True).returncode == 0
    assert run(["qbank", "build", "--no-pdf"], course, env).returncode == 0  # a committed build
    for name in ("Check every spec and generator", "Run the problems' own tests", "Verify every committed build"):
        r = run(steps[name], course, env, shell=True)
        assert r.returncode == 0, (name, r.stdout, r.stderr)
    assert run(["qbank", "build", "--no-pdf", "--out", "output/retake", "--seed", "9"], course, env).returncode == 0
    r = run(steps["Verify every committed build"], course, env, shell=True)
    assert r.stdout.count("verified output/") == 2
    key = course / "output" / "example" / "B" / "key.json"
    data = json.loads(key.read_text())
    neuron = next(p for p in data["problems"] if p["id"] == "example-neuron")
    neuron["answers"]["z"] += 1
    key.write_text(json.dumps(data))
    r = run(steps["Verify every committed build"], course, env, shell=True)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "version B" in r.stderr and "answers.z" in r.stderr
    assert "verified output/retake" in r.stdout  # a failing build does not stop the others being verified


def test_the_readme_course_steps_run_as_written(installed, tmp_path):
    """The README's "For a course" block, line by line in bash, with QBANK the wheel: it installed
    `qbank` from PyPI, where there is none, so `.venv/bin/qbank` never existed."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## For a course\n\n```sh\n(.*?)```", readme, re.S).group(1)
    lines = [line for line in block.splitlines() if not line.startswith("QBANK=")]
    env = {k: v for k, v in installed["env"].items() if k != "PATH"}
    env.update(QBANK=str(installed["wheel"]), PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin")
    r = run("\n".join(lines), tmp_path, env, shell=True)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    course = tmp_path / "cs4780-exams"
    assert (course / "bank" / "problems" / "softmax-temperature" / "generator.py").is_file()
    assert "verified output/example" in r.stdout
    assert (course / "output" / "example" / "A" / "key.pdf").stat().st_size > 0


def test_a_course_init_wrote_sets_itself_up_as_its_readme_says(installed, tmp_path):
    """`qbank init` from a plain install, then the course README's set-up block as written, in the new
    course: its own `.venv/bin/qbank check` and pytest pass. (The block said `pip install
    /path/to/qbank`, a placeholder, so `.venv/bin/qbank` never existed.)"""
    assert run(["qbank", "init", "course"], tmp_path, installed["env"]).returncode == 0
    course = tmp_path / "course"
    block = re.search(r"## Set up \(once per machine\)\n.*?```sh\n(.*?)```", (course / "README.md").read_text(),
                      re.S).group(1)
    assert str(installed["wheel"]) in block  # where this qbank was installed from
    env = {k: v for k, v in installed["env"].items() if k != "PATH"}
    env["PATH"] = f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin"  # no qbank on it
    r = run(block, course, env, shell=True)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-2000:])
    for cmd in ("timeout 600 .venv/bin/qbank check --seeds 50", ".venv/bin/pytest -q"):
        r = run(cmd, course, env, shell=True)
        assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-2000:])
