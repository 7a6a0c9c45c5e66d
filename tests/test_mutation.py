"""Tampering with any answer of any problem in a key must make `qbank verify` fail (mutation tests)."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from generator import api
from generator.errors import VerifyFailure

from .conftest import ROOT

MIDTERM = ROOT / "bank" / "exams" / "midterm.yaml"
PIDS = [e["problem"] for e in __import__("yaml").safe_load(MIDTERM.read_text())["problems"]]


@pytest.fixture(scope="module")
def clean_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("mut") / "build"
    api.build(MIDTERM, versions=1, out=out, pdf=False)
    return out


def numeric_paths(value, path=()):
    """Every path to a number (not a bool) inside JSON data."""
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in numeric_paths(v, path + (k,))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in numeric_paths(v, path + (i,))]
    return []


def string_paths(value, path=()):
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in string_paths(v, path + (k,))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in string_paths(v, path + (i,))]
    return []


def mutate(data, path, fn):
    *head, last = path
    for p in head:
        data = data[p]
    data[last] = fn(data[last])


def verify_fails(folder, expect):
    with pytest.raises(VerifyFailure) as e:
        api.verify(folder, MIDTERM)
    assert expect in e.value.message, e.value.message


@pytest.fixture
def copy(clean_build, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(clean_build, dst)
    return dst


def test_the_clean_build_verifies(clean_build):
    report = api.verify(clean_build, MIDTERM)
    assert report.problems == len(PIDS)


@pytest.mark.parametrize("pid", PIDS)
def test_every_answer_in_key_json_is_guarded(clean_build, tmp_path, pid):
    """Change each answer of the problem in key.json, one at a time: verify fails every time."""
    key = json.loads((clean_build / "A" / "key.json").read_text())
    index = next(i for i, p in enumerate(key["problems"]) if p["id"] == pid)
    answers = key["problems"][index]["answers"]
    paths = numeric_paths(answers) or string_paths(answers)
    assert paths, f"{pid} has no answers to tamper with"
    for path in paths[:: max(1, len(paths) // 8)]:  # at most ~8 mutations per problem
        dst = tmp_path / f"m{len(path)}-{abs(hash(path))}"
        shutil.copytree(clean_build, dst)
        data = json.loads((dst / "A" / "key.json").read_text())
        mutate(data["problems"][index]["answers"], path,
               lambda v: v + 1 if isinstance(v, (int, float)) else v + " (tampered)")
        (dst / "A" / "key.json").write_text(json.dumps(data))
        verify_fails(dst, "version A, file key.json:")


@pytest.mark.parametrize("pid", PIDS)
def test_stored_answers_in_the_manifest_are_guarded(copy, pid):
    """A wrong answer in the manifest disagrees with the problem's independent check."""
    m = json.loads((copy / "manifest.json").read_text())
    prob = next(p for p in m["versions"][0]["problems"] if p["id"] == pid)
    paths = numeric_paths(prob["answers"]) or string_paths(prob["answers"])
    mutate(prob["answers"], paths[0], lambda v: v + 1 if isinstance(v, (int, float)) else v + "x")
    (copy / "manifest.json").write_text(json.dumps(m))
    verify_fails(copy, f"problem {prob['number']} '{pid}': manifest.json field answers differs from the independent check")


@pytest.mark.parametrize("pid", PIDS)
def test_every_number_in_key_tex_is_guarded(copy, pid):
    """Change a number inside the problem's part of key.tex: verify fails."""
    tex = (copy / "A" / "key.tex").read_text()
    start = tex.index(f"'{pid}', template")
    end = tex.find("%% qbank-source: problem", start)
    section = tex[start:end if end > 0 else len(tex)]
    m = re.search(r"(?<![\\\w.])(\d+)(?![\w])", section[section.index("\n"):])
    assert m, f"no number in {pid}'s LaTeX"
    pos = start + section.index("\n") + m.start(1)
    tampered = tex[:pos] + str(int(m.group(1)) + 1) + tex[pos + len(m.group(1)):]
    (copy / "A" / "key.tex").write_text(tampered)
    verify_fails(copy, "version A, file key.tex differs from a fresh render")
