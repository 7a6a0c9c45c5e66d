"""The one place that compiles LaTeX: latexmk + pdflatex, sandboxed and time-limited."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

from .errors import LatexError

TIMEOUT_S = 120
MAX_PDF_BYTES = 64 * 1024 * 1024
INSTALL_HINT = ("install TeX Live with `make setup` (Debian: apt-get install texlive-latex-base "
                "texlive-latex-recommended texlive-latex-extra texlive-pictures latexmk lmodern), "
                "or build without PDFs using --no-pdf")
MARKER = "%% qbank-source: "


def require_tex() -> None:
    """Fail before any work when pdflatex or latexmk is missing."""
    missing = [tool for tool in ("pdflatex", "latexmk") if shutil.which(tool) is None]
    if missing:
        raise LatexError(f"{' and '.join(missing)} not found; {INSTALL_HINT}")


def _command(tex: Path) -> list[str]:
    # -norc: a stray latexmkrc is Perl that would run. No shell escape; stop at the first error.
    return [
        "latexmk", "-norc", "-pdf", "-silent", "-interaction=nonstopmode",
        "-latexoption=-no-shell-escape", "-latexoption=-halt-on-error",
        "-latexoption=-file-line-error", "-e", "$max_repeat=4", tex.name,
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # TeX Live lets a document read any file by default; keep reads and writes to this folder.
    env.update(openin_any="p", openout_any="p", shell_escape="f", TEXMFOUTPUT="")
    return env


def source_of(tex_lines: list[str], line: int) -> str | None:
    """The problem/template marker in force at ``line`` (1-based) of a generated .tex file."""
    for text in reversed(tex_lines[: max(line, 0)]):
        if text.startswith(MARKER):
            return text[len(MARKER):].strip()
    return None


def first_error(log: str, tex_lines: list[str], tex_name: str) -> str:
    """The first LaTeX error in a log, with its line and the problem that produced it."""
    m = re.search(rf"^\S*{re.escape(tex_name)}:(\d+): (.*)$", log, re.M)
    if m:
        line, msg = int(m.group(1)), m.group(2).strip()
        src = source_of(tex_lines, line)
        return f"{tex_name}:{line}: {msg}" + (f" (from {src})" if src else "")
    m = re.search(r"^! (.*)$", log, re.M)
    if m:
        return m.group(1).strip()
    return "LaTeX failed without an error line"


def compile_pdf(tex: Path, timeout: float = TIMEOUT_S) -> Path:
    """Compile ``tex`` in its own folder into a PDF next to it; raise LatexError on any failure."""
    tex = tex.resolve()
    workdir = tex.parent
    proc = subprocess.Popen(
        _command(tex), cwd=workdir, env=_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # latexmk's child pdflatex lives on in the group unless the whole group is killed.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise LatexError(f"{tex.name}: compile killed after {timeout:.0f} s (a runaway loop in the document?)") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    pdf = tex.with_suffix(".pdf")
    log_path = tex.with_suffix(".log")
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    if proc.returncode != 0 or not pdf.exists() or pdf.stat().st_size == 0:
        lines = tex.read_text(errors="replace").splitlines()
        raise LatexError(f"LaTeX failed on {tex.parent.name}/{tex.name}: {first_error(log, lines, tex.name)}")
    if pdf.stat().st_size > MAX_PDF_BYTES:
        pdf.unlink()
        raise LatexError(f"{tex.name}: PDF larger than {MAX_PDF_BYTES // 2**20} MiB; refused")
    return pdf


def clean_aux(tex: Path) -> None:
    """Remove LaTeX's by-products next to ``tex``, keeping the .tex and .pdf."""
    for suffix in (".aux", ".log", ".fls", ".fdb_latexmk", ".out", ".synctex.gz"):
        tex.with_suffix(suffix).unlink(missing_ok=True)
