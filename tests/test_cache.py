"""qbank's cache keeps the most recently used entries of each kind, so it does not grow without bound."""
from __future__ import annotations

import os
import time

import pytest

from generator import cache


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.ENV, str(tmp_path))
    return tmp_path


def _aged(path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def _make(folder):
    (folder / "qbank-preamble.fmt").write_bytes(b"x")
    return True


def test_a_new_format_removes_the_least_recently_used_ones_but_not_one_in_use(folder):
    formats = folder / "formats"
    for i in range(8):  # made 2 to 9 hours ago, oldest last
        (formats / f"old{i}").mkdir(parents=True)
        _aged(formats / f"old{i}", 2 + i)
    _aged(formats / "old7", 0.5)  # the oldest made, but read by a build half an hour ago
    assert cache.publish("formats", "new", _make) == formats / "new"
    kept = sorted(p.name for p in formats.iterdir())
    assert kept == ["new", "old0", "old1", "old2", "old3", "old7"], kept


def test_using_a_format_keeps_it(folder):
    formats = folder / "formats"
    for i in range(7):
        (formats / f"f{i}").mkdir(parents=True)
        _aged(formats / f"f{i}", 2 + i)
    assert cache.publish("formats", "f6", _make) == formats / "f6"  # the oldest, used again
    _aged(formats / "f6", 1.5)  # … a while ago, but after every other one
    cache.publish("formats", "g", _make)
    assert sorted(p.name for p in formats.iterdir()) == ["f0", "f1", "f2", "f3", "f6", "g"]


def test_settled_aux_files_are_capped_and_reading_one_keeps_it(folder):
    for i in range(cache.KEPT["aux"]):
        cache.save_aux([f"k{i}"], b"\\relax\n")
        _aged(folder / "aux" / f"k{i}.aux", 10 - i / 100)  # k0 the oldest
    assert cache.read_aux(["k0"]) == b"\\relax\n"  # used: now the most recent
    for i in range(5):
        cache.save_aux([f"new{i}"], b"\\relax\n")
    names = {p.stem for p in (folder / "aux").iterdir()}
    assert len(names) == cache.KEPT["aux"]
    assert {"k0", "new0", "new4"} <= names and not names & {"k1", "k2", "k3", "k4", "k5"}
    assert "k6" in names


def test_kept_failures_are_capped(folder, tmp_path):
    tex = tmp_path / "x.tex"
    for i in range(cache.KEPT["failed"] + 3):
        tex.write_text(f"broken {i}")
        kept = cache.keep_failure([tex], f"doc{i}")
        _aged(kept, 10 - i / 100)
    tex.write_text("broken last")
    last = cache.keep_failure([tex], "last")
    assert last.is_dir() and (last / "x.tex").read_text() == "broken last"
    assert len(list((folder / "failed").iterdir())) == cache.KEPT["failed"]
