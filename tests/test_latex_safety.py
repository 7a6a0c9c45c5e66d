"""The one LaTeX compiler: sandboxed, time-limited, and clear about failures."""
from __future__ import annotations

import subprocess
import time

import pytest

from generator.errors import LatexError
from generator.latex import compile_pdf, first_error

pytestmark = [pytest.mark.pdf, pytest.mark.xdist_group("pdf")]

DOC = "\\documentclass{article}\n\\begin{document}\n%s\n\\end{document}\n"


def write(tmp_path, body: str):
    tex = tmp_path / "doc.tex"
    tex.write_text(DOC % body)
    return tex


def test_runaway_document_is_killed_with_its_whole_process_group(tmp_path):
    tex = write(tmp_path, r"\def\x{\x}\x")
    start = time.monotonic()
    with pytest.raises(LatexError, match=r"doc.tex: compile killed after 3 s"):
        compile_pdf(tex, timeout=3)
    assert time.monotonic() - start < 15
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout
    assert left == "", "no pdflatex left running"


def test_shell_escape_is_off(tmp_path):
    tex = write(tmp_path, r"\immediate\write18{touch PWNED}hello")
    compile_pdf(tex)
    assert not (tmp_path / "PWNED").exists()


def test_reading_files_outside_the_folder_is_refused(tmp_path):
    tex = write(tmp_path, r"\input{/etc/passwd}")
    with pytest.raises(LatexError) as e:
        compile_pdf(tex)
    assert "doc.tex:3:" in e.value.message  # the failing line of the document
    assert not (tmp_path / "doc.pdf").exists()


def test_first_error_names_line_and_problem():
    lines = ["\\begin{document}", "%% qbank-source: problem 2 'cnn', template problems/cnn.tex.j2", "x", "\\bad"]
    log = "stuff\n./exam.tex:4: Undefined control sequence.\nmore"
    assert first_error(log, lines, "exam.tex") == \
        "exam.tex:4: Undefined control sequence. (from problem 2 'cnn', template problems/cnn.tex.j2)"


def test_a_compile_is_noticed_the_moment_it_ends_and_stopped_at_its_deadline(monkeypatch):
    """Popen.wait(timeout=…) polls with growing sleeps (up to 50 ms after pdflatex has ended, about
    25 ms lost per pass); the wait is on the process itself, and the deadline still holds."""
    from generator import latex

    def polling(self, timeout=None):
        if timeout is not None:
            raise AssertionError("Popen.wait polled with a timeout")
        return original(self)
    original = subprocess.Popen.wait
    monkeypatch.setattr(subprocess.Popen, "wait", polling)
    assert latex._wait(subprocess.Popen(["sh", "-c", "exit 3"]), 10) == 3
    slow = subprocess.Popen(["sleep", "30"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            latex._wait(slow, 0.2)
    finally:
        slow.kill()
        original(slow)
