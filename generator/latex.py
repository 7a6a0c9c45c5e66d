"""The one place that compiles LaTeX: pdflatex, sandboxed, time-limited, with as few passes as it takes.

Speed comes from levers measured on 2-core machines (see bench/): a format with the preamble
precompiled (mylatexformat), and seeding each document's ``.aux`` from one that shares its layout
(a sibling of this build, or the same document of an earlier build, kept in the cache), so most
documents settle in one pass. Correctness never depends on either: passes repeat until the
``.aux`` stops changing. (A third, a key placing the pictures its exam's compile kept, is in
figures.py; compile_pdf only compiles the text it is given.)
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
import re
import resource
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

import pikepdf

from . import cache
from .errors import LatexError
from .texify import read_map

TIMEOUT_S = 120
MAX_PASSES = 4
MAX_PDF_BYTES = 64 * 1024 * 1024
INSTALL_HINT = ("install TeX Live with `make setup` (Debian: apt-get install texlive-latex-base "
                "texlive-latex-recommended texlive-latex-extra texlive-pictures latexmk lmodern), "
                "or build without PDFs using --no-pdf")
MARKER = "%% qbank-source: "
FORMAT_NAME = "qbank-preamble"
# pdflatex flags: no shell escape, stop at the first error, errors as file:line.
FLAGS = ["-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]


def require_tex() -> None:
    """Fail before any work when pdflatex is missing."""
    if shutil.which("pdflatex") is None:
        raise LatexError(f"pdflatex not found; {INSTALL_HINT}")


def _env(format_dir: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # TeX Live lets a document read any file by default; keep reads and writes to this folder.
    env.update(openin_any="p", openout_any="p", shell_escape="f", TEXMFOUTPUT="")
    # Unwrapped log lines (TeX wraps at 79 by default), so an error message is read whole.
    env.update(max_print_line="10000", error_line="254", half_error_line="238")
    # The same .tex gives the same PDF bytes: pdfTeX otherwise writes the time of the compile (and an
    # /ID made from it) into every PDF, so a rebuild changed every PDF and the manifest hashing them.
    # The date only: \today and the like still read the clock unless FORCE_SOURCE_DATE is set.
    env.setdefault("SOURCE_DATE_EPOCH", "0")
    if format_dir is not None:
        env["TEXFORMATS"] = f"{format_dir}:"  # trailing colon: then the default search path
    return env


# util-linux's setpriv makes the kernel kill pdflatex if qbank itself is killed (SIGKILL included),
# so an interrupted build leaves no TeX running. (The compiling threads outlive their compiles.)
_DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []

# Landlock (Linux >= 5.13): the kernel confines a compile to reading the TeX installation and its
# own scratch folder, and to writing only there. Measured with TeX Live 2022: openin_any=p (in the
# environment or by -cnf-line) does not cover pdfTeX's \pdfobj file, which reads any path, and a
# preamble that \let's it away is undone by \pdfprimitive; Landlock stops it (tests/test_hardening.py).
_SYS_CREATE, _SYS_ADD_RULE, _SYS_RESTRICT = 444, 445, 446
_READ = 1 | 4 | 8  # EXECUTE | READ_FILE | READ_DIR
_FILE_RIGHTS = 1 | 2 | 4  # EXECUTE | WRITE_FILE | READ_FILE
_SYSTEM_READ = ("/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc/texmf", "/etc/ld.so.cache",
                "/var/lib/texmf")


class _PathBeneath(ctypes.Structure):
    """struct landlock_path_beneath_attr"""
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@functools.lru_cache(maxsize=1)
def _tex_trees() -> tuple[str, ...]:
    """Where this TeX installation keeps its files (kpathsea's own answer), plus its binaries."""
    dirs = set()
    binary = shutil.which("pdflatex")
    if binary:
        dirs.add(str(Path(binary).resolve().parent))
    for var in ("$TEXMF", "$TEXMFCNF", "$TEXFORMATS"):
        try:
            out = subprocess.run(["kpsewhich", f"-expand-path={var}"], capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        dirs.update(d for d in out.strip().split(os.pathsep) if d.startswith("/") and d != "/")
    return tuple(sorted(dirs))


@functools.lru_cache(maxsize=1)
def _font_caches() -> tuple[str, ...]:
    """Where TeX's mktexpk/mktextfm store fonts they generate (TEXMFVAR, VARTEXFONTS): writable.

    A document cannot write there itself (openout_any=p refuses absolute paths). The user's
    TEXMFVAR is made if missing, as mktexpk would (a sandboxed compile could not make it).
    """
    dirs = []
    for var in ("TEXMFVAR", "VARTEXFONTS"):
        try:
            value = subprocess.run(["kpsewhich", f"-var-value={var}"], capture_output=True, text=True,
                                   stdin=subprocess.DEVNULL, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if value.startswith("/") and value != "/":
            if var == "TEXMFVAR":
                with contextlib.suppress(OSError):
                    os.makedirs(value, exist_ok=True)
            dirs.append(value)
    return tuple(dirs)


def _landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 where Landlock is missing or disabled."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(_SYS_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    except (OSError, AttributeError):
        return 0
    return max(abi, 0)


LANDLOCK_ABI = _landlock_abi() if os.uname().sysname == "Linux" else 0


def _ruleset(writable: Path, readable: tuple[Path, ...]) -> int | None:
    """A Landlock ruleset fd: read the TeX trees and ``readable``, read and write ``writable``."""
    if not LANDLOCK_ABI:
        return None
    handled = (1 << 13) - 1  # ABI 1: every file-system right
    if LANDLOCK_ABI >= 2:
        handled |= 1 << 13  # REFER
    if LANDLOCK_ABI >= 3:
        handled |= 1 << 14  # TRUNCATE
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.c_uint64(handled)
    fd = libc.syscall(_SYS_CREATE, ctypes.byref(attr), ctypes.c_size_t(8), ctypes.c_uint32(0))
    if fd < 0:
        return None
    rules = [(p, _READ) for p in (*_SYSTEM_READ, *_tex_trees(), *map(str, readable))]
    rules += [(p, handled) for p in (*_font_caches(), "/dev/null")]  # mktexpk & co. need /dev/null
    rules.append((str(writable), handled))
    for path, access in rules:
        try:
            pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue  # not on this system
        try:
            if not stat.S_ISDIR(os.fstat(pfd).st_mode):  # a file takes only file rights
                access &= _FILE_RIGHTS | (1 << 14)  # | TRUNCATE (ABI 3)
            rule = _PathBeneath(access, pfd)
            if libc.syscall(_SYS_ADD_RULE, fd, 1, ctypes.byref(rule), ctypes.c_uint32(0)) != 0 and path == str(writable):
                os.close(fd)
                return None  # the scratch folder must stay writable; no half-built ruleset
        finally:
            os.close(pfd)
    return fd


def _confine(ruleset: int | None, max_bytes: int):
    """The child's last steps before exec: die with qbank, a file-size limit, then the Landlock ruleset."""
    libc = ctypes.CDLL(None, use_errno=True)  # looked up before fork
    prctl, syscall = libc.prctl, libc.syscall
    parent = os.getpid()

    def apply() -> None:
        # PR_SET_PDEATHSIG here, before exec: set later (by setpriv), a qbank killed in between
        # would leave an orphan pdflatex running; the getppid test closes the remaining window.
        prctl(1, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
        if ruleset is not None:
            if prctl(38, 1, 0, 0, 0) != 0 or syscall(_SYS_RESTRICT, ruleset, 0) != 0:  # PR_SET_NO_NEW_PRIVS
                os._exit(126)
    return apply


def _wait(proc: subprocess.Popen, timeout: float) -> int:
    """``proc.wait(timeout)``, woken the moment the process ends: Popen.wait polls with sleeps of up
    to 50 ms when given a timeout (about 25 ms lost per pdflatex pass); a pidfd (Linux 5.3+) is
    waited on instead where there is one."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux, or an older kernel
        return proc.wait(timeout=timeout)
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()


def _run(cmd: list[str], cwd: Path, env: dict[str, str], deadline: float, name: str, limit: float,
         readable: tuple[Path, ...] = (), stderr: Path | None = None) -> int:
    """Run one TeX process in its own process group; kill the whole group at the deadline.

    The process may write only inside ``cwd`` (files of at most MAX_PDF_BYTES each, enforced by
    the kernel while it runs) and read only the TeX installation, ``cwd`` and ``readable``.
    """
    ruleset = _ruleset(cwd, readable)
    err = open(stderr, "wb") if stderr else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(_DIE_WITH_PARENT + cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                preexec_fn=_confine(ruleset, MAX_PDF_BYTES),
                                pass_fds=(ruleset,) if ruleset is not None else ())
    finally:
        if ruleset is not None:
            os.close(ruleset)
        if stderr:
            err.close()
    try:
        code = _wait(proc, max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise LatexError(f"{name}: compile killed after {limit:.0f} s (a runaway loop in the document?)") from None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if code == -signal.SIGXFSZ:
        raise LatexError(f"{name}: stopped while compiling: a file it wrote reached the "
                         f"{MAX_PDF_BYTES // 2**20} MiB limit (a runaway loop in the document?)")
    return code


def source_of(tex_lines: list[str], line: int) -> str | None:
    """The problem/template marker in force at ``line`` (1-based) of a generated .tex file."""
    for text in reversed(tex_lines[: max(line, 0)]):
        if text.startswith(MARKER):
            return text[len(MARKER):].strip()
    return None


def place(tex_lines: list[str], line: int) -> tuple[str | None, str | None]:
    """``(template file:line, problem)`` that wrote line ``line`` of a generated .tex file.

    The file:line comes from the document's line map (see texify.with_map); the problem is named
    when the line comes from that problem's template or spec (not the document's own template)."""
    where = read_map(tex_lines).get(line)
    marker = source_of(tex_lines, line) or ""
    problem, _, template = marker.partition(", template ")
    if where is None:
        return None, marker or None
    file = where.rsplit(":", 1)[0]
    ours = file == template or not file.startswith("templates/")  # not the document's own template
    return where, problem if template and ours else None


_SCANNING = re.compile(r"(?:File ended while scanning use of|Paragraph ended before) (\\[A-Za-z@]+|\\.)")
_INPUT_LINE = re.compile(r"on input line (\d+)")


def _unclosed(text: str, macro: str, before: int | None) -> int | None:
    """The line of the ``macro`` whose brace argument never closes (before line ``before``: the last
    use of ``macro`` there), or None. Comments and escaped braces are skipped."""
    lines = [re.sub(r"(?<!\\)%.*", "", row) for row in text.split("\n")]
    uses = [(i, m.end()) for i, row in enumerate(lines, 1)
            for m in re.finditer(re.escape(macro) + r"(?![A-Za-z@])", row)]
    if before is not None:
        earlier = [i for i, _ in uses if i <= before]
        return earlier[-1] if earlier else None
    body = "\n".join(lines)
    offsets = [0]
    for row in lines:
        offsets.append(offsets[-1] + len(row) + 1)
    for i, col in uses:
        pos, depth, opened = offsets[i - 1] + col, 0, False
        while pos < len(body):
            ch = body[pos]
            if ch == "\\":
                pos += 2
                continue
            if ch == "{":
                depth, opened = depth + 1, True
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    break
            elif not opened and not ch.isspace() and ch != "[":
                break  # an argument without braces
            pos += 1
        else:
            if opened:
                return i
    return None


def _open_math(tex_lines: list[str], line: int) -> int | None:
    """For "Missing $ inserted" at ``line``: the line in the same paragraph that opened a ``$`` that
    never closed (TeX notices only where the paragraph or environment ends), or None."""
    start = line - 1
    while start > 0 and tex_lines[start - 1].strip() and not tex_lines[start - 1].startswith("%"):
        start -= 1
    opened = None
    for j in range(start, line - 1):
        if len(re.findall(r"(?<!\\)\$", re.sub(r"(?<!\\)%.*", "", tex_lines[j]))) % 2:
            opened = None if opened else j + 1
    return opened


def _runaway_start(log: str, tex_lines: list[str], before: int | None) -> int | None:
    """The line where a runaway argument starts, from the text TeX shows of it ("Runaway
    argument?" then its first words; the macro TeX names may be an internal one, \\text@command)."""
    m = re.search(r"^Runaway \w+\?\n(\S+)", log, re.M)
    start = m.group(1).split("\\")[0] if m else ""
    if len(start) < 3:
        return None
    last = len(tex_lines) if before is None else min(before, len(tex_lines))
    return next((i for i in range(last, 0, -1) if start in tex_lines[i - 1]), None)


def first_error(log: str, tex_lines: list[str], tex_name: str) -> str:
    """The first LaTeX error in a log, placed at the template line (and problem) that wrote it.

    Errors TeX reports without a usable line (a runaway argument: "File ended while scanning use
    of \\textbf") are placed at the use of the macro whose argument never closes."""
    m = re.search(rf"^\S*{re.escape(Path(tex_name).name)}:(\d+): (.*)$", log, re.M)
    bang = re.search(r"^! (.*)$", log, re.M)
    if m and (not bang or m.start() < bang.start()):
        line, msg = int(m.group(1)), m.group(2).strip()
    elif bang:  # "! LaTeX Error: File … not found." then "./doc.tex:3: Emergency stop.": the message, that line
        line, msg = (int(m.group(1)) if m else None), bang.group(1).strip()
    else:
        return f"{tex_name}: LaTeX failed without an error line"
    scanning = _SCANNING.search(msg)
    if scanning:
        text = "\n".join(tex_lines)
        end = text.find("\\end{document}")
        found = _unclosed(text[:end] if end >= 0 else text, scanning.group(1),
                          line if "Paragraph ended" in msg else None)
        line = found or _runaway_start(log, tex_lines, line) or line
    if line is not None and msg.startswith("Missing $ inserted"):
        line = _open_math(tex_lines, line) or line
    if line is None:
        return f"{tex_name}: {msg}"
    where, problem = place(tex_lines, line)
    also = _INPUT_LINE.search(msg)  # "\\begin{parts} on input line 51 ended by …": place line 51 too
    if also and where:
        other, _ = place(tex_lines, int(also.group(1)))
        if other:
            msg = msg.replace(also.group(0), f"{also.group(0)} ({other})")
    if where is None:
        return f"{tex_name}:{line}: {msg}" + (f" (from {problem})" if problem else "")
    return f"{where}: {msg} ({problem + ', ' if problem else ''}{tex_name}:{line})"


def make_format(sample_tex: Path, timeout: float = TIMEOUT_S) -> Path | None:
    """The folder of a precompiled format of ``sample_tex``'s preamble (up to ``\\endofdump``).

    Formats are cached across runs (see :mod:`generator.cache`), keyed by the preamble and the TeX
    version, so builds and previews share them. None when mylatexformat is unavailable or fails:
    documents then compile without it, only slower.
    """
    text = preamble(sample_tex)
    if text is None:
        return None

    def make(folder: Path) -> bool:
        shutil.copyfile(sample_tex, folder / "preamble.tex")
        cmd = ["pdflatex", "-ini", f"-jobname={FORMAT_NAME}", *FLAGS, "&pdflatex", "mylatexformat.ltx", "preamble.tex"]
        try:
            code = _run(cmd, folder, _env(), time.monotonic() + timeout, "preamble.tex", timeout)
        except LatexError:
            return False
        return code == 0 and (folder / f"{FORMAT_NAME}.fmt").is_file()

    return cache.publish("formats", cache.format_key(text), make)


INERT_AUX = {b"\\qbpos{": b"\\newcommand{\\qbpos}[5]{}"}
"""``.aux`` lines that are no-ops when TeX reads them back, if the document defines their macro so
(``\\qbpos``, where a cover field sits, is read by qbank only): they hold this pass's positions and
cannot change the next pass, so they never call for one."""


def _settled(before: bytes | None, after: bytes | None, inert: tuple[bytes, ...] = ()) -> bool:
    """True when another pass would read the same definitions from the .aux.

    Sibling documents write the same definitions in a slightly different order (the exam class
    records points per page as pages fill), so the lines are compared as a set; that is exact
    unless a macro is defined twice, which is then compared in order. Lines starting with one of
    ``inert`` (see INERT_AUX) are left out.
    """
    if before is None or after is None or before == after:
        return before == after
    a = [line for line in before.splitlines() if not line.startswith(inert)]
    b = [line for line in after.splitlines() if not line.startswith(inert)]
    names = [line.split(b"{", 1)[0] for line in b if line.startswith(b"\\gdef")]
    return sorted(a) == sorted(b) and len(names) == len(set(names))


DUMP_MARK = "\\csname endofdump\\endcsname"


def preamble(tex: Path) -> str | None:
    """The part of a document a precompiled format replaces (up to ``\\endofdump``), if marked."""
    text = tex.read_text(encoding="utf-8", errors="replace")
    end = text.find(DUMP_MARK)
    return text[:end] if end >= 0 else None


def compile_pdf(tex: Path, timeout: float = TIMEOUT_S, *, format_dir: Path | None = None,
                aux_seed: bytes | None = None, passes_for_errors: bool = False, text: bytes | None = None,
                inputs: tuple[Path, ...] = (), also: tuple[str, ...] = ()) -> int:
    """Compile ``tex`` into a PDF beside it; return the number of passes. Raise LatexError on failure.

    Passes repeat until the ``.aux`` file is the same before and after one (at most MAX_PASSES);
    ``aux_seed`` (a sibling's final .aux) usually makes the first pass the last. Each compile runs
    in a private scratch folder holding only the .tex (and .aux); only the PDF and .aux come back.
    ``passes_for_errors``: one pass only, to find errors (``qbank check``); page references may be unsettled.
    ``text``: compile this text in place of the file's (see figures.py); ``inputs``: files it reads,
    copied beside it; ``also``: suffixes of more files to bring back beside ``tex``.
    """
    tex = tex.resolve()
    scratch = Path(tempfile.mkdtemp(prefix=".tex-", dir=tex.parent))
    try:
        for extra in inputs:
            shutil.copyfile(extra, scratch / extra.name)
        try:
            passes = _compile_in(scratch, tex, timeout, format_dir, aux_seed, passes_for_errors, text)
        except LatexError:
            tex.with_suffix(".pdf").unlink(missing_ok=True)
            raise
        for suffix in (".pdf", ".aux", *also):
            made = scratch / tex.with_suffix(suffix).name
            if made.is_file() and not made.is_symlink():
                os.replace(made, tex.with_suffix(suffix))
        return passes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _compile_in(scratch: Path, source: Path, timeout: float, format_dir: Path | None, aux_seed: bytes | None,
                passes_for_errors: bool = False, text: bytes | None = None) -> int:
    tex = scratch / source.name
    tex.write_bytes(source.read_bytes() if text is None else text)
    aux, pdf, log_path = tex.with_suffix(".aux"), tex.with_suffix(".pdf"), tex.with_suffix(".log")
    stderr = scratch / ".stderr"
    if aux_seed is not None:
        aux.write_bytes(aux_seed)
    cmd = ["pdflatex", *FLAGS, *([f"-fmt={FORMAT_NAME}"] if format_dir else []), tex.name]
    env = {**_env(format_dir), "TMPDIR": str(scratch)}  # where mktexpk & co. put temporary files
    deadline = time.monotonic() + timeout
    # As the build names it: A/key.tex, or grader-summary.tex, not the staging folder it is compiled in
    where = source.name if ".staging-" in source.parent.name else f"{source.parent.name}/{source.name}"
    text = tex.read_bytes()  # what is compiled (the file's, or the text given)
    inert = tuple(start for start, definition in INERT_AUX.items() if definition in text)
    for passes in range(1, MAX_PASSES + 1):
        before = aux.read_bytes() if aux.exists() else None
        code = _run(cmd, scratch, env, deadline, where, timeout, (format_dir,) if format_dir else (), stderr)
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        if code != 0 or not pdf.exists() or pdf.stat().st_size == 0:
            lines = tex.read_text(errors="replace").splitlines()
            denied = re.search(r"^pdflatex: (.*): Permission denied$", stderr.read_text(errors="replace"), re.M)
            if denied:  # the sandbox stopped a read: TeX stops at once, without an error line
                raise LatexError(f"LaTeX failed on {where}: the document tried to read {denied.group(1)}; a "
                                 "compile may read only the TeX installation and its own files")
            kept = cache.keep_failure([tex, log_path], where.removesuffix(".tex").replace("/", "-"))
            raise LatexError(first_error(log, lines, where)
                             + (f"; the failing .tex and .log are kept in {kept}" if kept else ""))
        if pdf.stat().st_size > MAX_PDF_BYTES:
            raise LatexError(f"{tex.name}: PDF larger than {MAX_PDF_BYTES // 2**20} MiB; refused")
        after = aux.read_bytes() if aux.exists() else None
        if passes_for_errors or _settled(before, after, inert) and "Rerun to get" not in log:
            return passes
    raise LatexError(f"{where}: cross-references still changing after {MAX_PASSES} passes")


def aux_keys(tex: Path) -> list[str]:
    """Cache keys of the settled ``.aux`` of ``tex`` (see :func:`cache.read_aux`), best first: this very
    text, then its layout (the TeX version, the file's name, its preamble and which problems it holds
    in which order: an exam drawn again with another seed usually ends with the same page references)."""
    text = tex.read_text(encoding="utf-8", errors="replace")
    head = text.split("\\begin{document}", 1)[0]
    markers = "\n".join(line for line in text.splitlines() if line.startswith(MARKER))
    digest = lambda *parts: hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]  # noqa: E731
    version = cache.tex_version()
    return [f"text-{digest(version, text)}", f"layout-{digest(version, tex.name, head, markers)}"]


def page_layout(aux: Path) -> dict:
    """Where each question and part starts (exam class ``\\PgInfo``) and the page count, from an .aux."""
    text = aux.read_text(errors="replace") if aux.exists() else ""
    starts = re.findall(r"\\PgInfo\{((?:question|part)@[\d@]+)\}\{(\d+)\}", text)
    pages = re.search(r"\\gdef\\exam@lastpage\{(\d+)\}", text)
    return {"starts": starts, "pages": int(pages.group(1)) if pages else None}


def save_pdf(pdf: pikepdf.Pdf, target: Path) -> None:
    """Write a PDF compactly (object streams) and reproducibly (no random file ID)."""
    pdf.save(target, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate,
             deterministic_id=True)


MAX_PRINT_ALL_BYTES = 4 * 2**30  # a joined print file: 5,000 merged-shard copies stay well under it


def unite_pdfs(pdfs: list[Path], target: Path, *, duplex: bool = False,
               decorate: Callable[[pikepdf.Pdf, int, list[pikepdf.Object]], None] | None = None,
               max_bytes: int = MAX_PRINT_ALL_BYTES, ranges: list[range] | None = None) -> None:
    """Concatenate PDFs into one print file (at most ``max_bytes``; LatexError past it).

    With ``duplex``, a blank page follows every PDF with an odd page count, so each one starts on a
    new sheet when printed double-sided. A PDF listed many times (one version, many students) is read
    once and its copies share its fonts and page contents, so the file grows by page objects, not
    by whole exams. ``decorate(out, i, pages)`` may draw on the ``i``-th PDF's page objects.
    ``ranges[i]``: the pages (0-based) that the ``i``-th PDF contributes; all of them without ``ranges``.
    """
    opened: dict[Path, pikepdf.Pdf] = {}
    imported: dict[Path, list[pikepdf.Object]] = {}  # each PDF's pages, copied into the print file once
    try:
        with pikepdf.new() as out:
            tree = out.Root.Pages
            for path in dict.fromkeys(pdfs):
                opened[path] = pikepdf.open(path)
                first = len(out.pages)
                out.pages.extend(opened[path].pages)
                imported[path] = [p.obj for p in out.pages[first:]]
            # The page tree is written at once: adding pages one by one (pages.extend per copy) costs
            # time quadratic in the page count, 8 s for 1,000 copies of a 17-page exam.
            kids = []
            for i, path in enumerate(pdfs):
                chosen = imported[path] if ranges is None else [imported[path][k] for k in ranges[i]]
                pages = [out.make_indirect(pikepdf.Dictionary(dict(page.items()))) for page in chosen]
                if decorate is not None:
                    decorate(out, i, pages)
                kids += pages
                if duplex and len(pages) % 2:
                    kids.append(out.make_indirect(pikepdf.Dictionary(
                        Type=pikepdf.Name.Page, Parent=tree, MediaBox=pikepdf.Array(pages[-1].MediaBox),
                        Resources=pikepdf.Dictionary())))
            tree.Kids = pikepdf.Array(kids)
            tree.Count = len(kids)
            # Its inputs are capped compiles, but there may be thousands: bound the joined file too.
            if sum(p.stat().st_size for p in opened) > max_bytes:
                raise LatexError(f"{target.name}: its PDFs add up to more than {max_bytes // 2**20} MiB; refused")
            save_pdf(out, target)
        if target.stat().st_size > max_bytes:
            target.unlink()
            raise LatexError(f"{target.name}: larger than {max_bytes // 2**20} MiB; refused")
    finally:
        for pdf in opened.values():
            pdf.close()


def clean_aux(tex: Path) -> None:
    """Remove LaTeX's by-products next to ``tex``, keeping the .tex and .pdf."""
    for suffix in (".aux", ".log", ".out"):
        tex.with_suffix(suffix).unlink(missing_ok=True)
