"""``qbank preview``: one problem (or one version of an exam) as a small PDF, exam pages then key pages.

Previews go to ``<root>/.qbank/preview/<name>/`` (a folder that ignores itself in git) and never
touch a build. A preview starts each compile from its previous run's ``.aux`` and compiles with
the cached preamble format (:mod:`generator.cache`), so an unchanged layout settles in one
pdflatex pass.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .bank import Bank, Exam, bank_dirs, did_you_mean, find_root, load_bank, load_exam, problem_folders
from .build import (GENERATE_TIMEOUT_S, confirm, Instance, _render_one, draw_params, generator_error, jsonable,
                    render_exam, solve_params, time_limit)
from .errors import QbankError, Reject, SpecError
from .latex import TIMEOUT_S, compile_pdf, make_format, require_tex, unite_pdfs
from .schema import ExamSpec, validate

PREVIEW_DIR = Path(".qbank") / "preview"
DEFAULT_SEED = 0


@dataclass
class Preview:
    """What one preview wrote."""

    pdf: Path
    """exam pages then key pages (or the two PDFs' folder when pdfunite is missing)"""
    folder: Path
    pngs: list[Path]


def problem_exam(bank: Bank, pid: str, drawn: str = "") -> Exam:
    """A one-problem exam around ``pid``, with a cover that names the problem and its draw (not a real exam)."""
    bp = bank.problems[pid]
    spec = validate(ExamSpec, {
        "id": "preview", "course": "qbank preview", "term": pid, "title": bp.spec.title,
        "instructor": drawn or "-", "date": bp.origin, "room": "not an exam", "duration": "preview",
        "cover_fields": [], "problems": [{"problem": pid, "newpage": False}]})
    return Exam(spec, bp.path, bp.located, bank)


def problem_instance(bank: Bank, pid: str, seed: int, params: dict[str, Any] | None = None) -> Instance:
    """Problem ``pid`` drawn at ``seed`` (the seed ``qbank check`` reports), or with ``params``, solved."""
    bp = bank.problems[pid]
    where = f"problem '{pid}' (seed {seed})" if params is None else f"problem '{pid}' (given parameters)"
    try:
        with time_limit(GENERATE_TIMEOUT_S, f"{where}: generator ran past {GENERATE_TIMEOUT_S} s"):
            if params is not None:
                try:
                    bp.generator.validate(params)
                except Reject as e:
                    raise QbankError(f"{where}: the parameters are degenerate: {e}") from None
            drawn = jsonable(draw_params(bp, seed) if params is None else params, "params")
            answers, items = solve_params(bp, drawn)
            confirm(bp, drawn, answers, items, where)
    except QbankError:
        raise
    except Exception as e:  # a generator bug
        raise generator_error(e, bp, where) from e
    return Instance(1, pid, seed if params is None else None, dict(bp.spec.points), drawn, answers, items)


def render_problem(bank: Bank, pid: str, seed: int, params: dict[str, Any] | None = None) -> dict[str, str]:
    """The exam and key LaTeX of one problem instance: ``{"exam.tex": …, "key.tex": …}``."""
    exam = problem_exam(bank, pid, f"seed {seed}" if params is None else "given parameters")
    inst = problem_instance(bank, pid, seed, params)
    return {"exam.tex": render_exam(exam, "A", [inst], False), "key.tex": render_exam(exam, "A", [inst], True)}


def is_exam(target: str) -> bool:
    return target.endswith((".yaml", ".yml"))


def render_target(target: str, root: Path | None, seed: int | None, params: dict | None,
                  version: str | None) -> tuple[Path, str, dict[str, str]]:
    """``(course root, preview name, {file: LaTeX})`` for a problem id or folder, or an exam spec."""
    if is_exam(target):
        if params is not None:
            raise QbankError("--params previews one problem; for an exam, pin params: in the exam spec")
        label = version or "A"
        if not re.fullmatch(r"[A-Z]{1,2}", label):
            raise QbankError(f"--version: expected a version label (A, B, …, ZZ), got '{label}'")
        exam = load_exam(target, root)
        r = _render_one(exam, label, exam.spec.seed if seed is None else seed)
        return exam.bank.root, f"{exam.spec.id}-{label}", {"exam.tex": r.exam_tex, "key.tex": r.key_tex}
    if version is not None:
        raise QbankError("--version chooses a version of an exam spec (qbank preview EXAM.yaml --version B)")
    pid = Path(target).name if (Path(target) / "problem.yaml").is_file() else target
    root = find_root(Path(target) if Path(target).is_dir() else None) if root is None else root
    bank = load_bank(root, only=[pid])
    if pid not in bank.problems:
        raise QbankError(f"unknown problem '{pid}'" + did_you_mean(pid, list(problem_folders(bank_dirs(root)))))
    return root, pid, render_problem(bank, pid, DEFAULT_SEED if seed is None else seed, params)


def preview_folder(root: Path, name: str) -> Path:
    """``<root>/.qbank/preview/<name>``; ``.qbank`` ignores itself in git."""
    base = root / PREVIEW_DIR.parent
    base.mkdir(exist_ok=True)
    ignore = base / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# qbank's previews and scratch files\n*\n")
    folder = base / PREVIEW_DIR.name / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def preview(target: str, *, root: Path | None = None, seed: int | None = None, params: dict | None = None,
            version: str | None = None, png: bool = False) -> Preview:
    """Render and compile a preview; return where it is. Raises QbankError (one line) on any failure."""
    require_tex()
    root, name, docs = render_target(target, root, seed, params, version)
    folder = preview_folder(root, name)
    texs = []
    for file, text in docs.items():
        tex = folder / file
        if not tex.is_file() or tex.read_text(encoding="utf-8") != text:
            tex.write_text(text, encoding="utf-8")
        texs.append(tex)
    fmt = make_format(texs[0])
    # Each compile starts from the previous run's .aux (kept beside its .tex): an unchanged layout
    # settles in one pass.
    with ThreadPoolExecutor(len(texs)) as pool:
        for done in [pool.submit(compile_pdf, t, format_dir=fmt, aux_seed=_previous_aux(t)) for t in texs]:
            done.result()
    pdf = folder / "preview.pdf"
    partial = folder / ".preview.pdf"
    unite_pdfs([t.with_suffix(".pdf") for t in texs], partial)  # pikepdf: no tool that may be missing
    os.replace(partial, pdf)
    return Preview(pdf, folder, page_images(pdf) if png else [])


def _previous_aux(tex: Path) -> bytes | None:
    aux = tex.with_suffix(".aux")
    return aux.read_bytes() if aux.is_file() else None


def page_images(pdf: Path, dpi: int = 80) -> list[Path]:
    """PNG images of the preview's pages (poppler's pdftoppm), replacing the previous ones."""
    if shutil.which("pdftoppm") is None or not pdf.is_file():
        raise QbankError("--png needs pdftoppm (Debian: apt-get install poppler-utils)")
    for old in pdf.parent.glob("page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(pdf.parent / "page")], check=True,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=TIMEOUT_S)
    return sorted(pdf.parent.glob("page-*.png"))


def watched_paths(target: str, root: Path | None) -> list[Path]:
    """What a watched preview depends on: the banks' problem folders, the document templates, the exam."""
    root = find_root(Path(target) if Path(target).is_dir() else None) if root is None else root
    paths = [root / "bank"]
    try:
        bank = load_exam(target, root).bank if is_exam(target) else load_bank(root, only=[Path(target).name])
        paths += [bp.folder for bp in bank.problems.values()] + bank.template_dirs
    except QbankError:
        pass  # watch the bank and try again on the next save
    if is_exam(target):
        paths.append(Path(target).parent)
    out: list[Path] = []
    for p in dict.fromkeys(p.resolve() for p in paths if p.exists()):
        if not any(p.is_relative_to(q) for q in out):
            out = [q for q in out if not q.is_relative_to(p)] + [p]
    return out


def _relevant(change, path: str) -> bool:
    parts = Path(path).parts
    return not any(p in ("__pycache__", ".qbank", ".git") for p in parts) and not path.endswith((".pyc", "~", ".swp"))


def watch(target: str, *, on_result: Callable[[Preview], None], on_error: Callable[[QbankError], None],
          stop: threading.Event | None = None, **options: Any) -> None:
    """Preview now and again on every save of a file the preview depends on, until ``stop`` is set;
    errors are handed to ``on_error`` and watching goes on."""
    import watchfiles

    def once() -> None:
        try:
            on_result(preview(target, **options))
        except SpecError as e:
            on_error(QbankError(e.messages[0]) if len(e.messages) == 1 else e)
        except QbankError as e:
            on_error(e)

    once()
    for _ in watchfiles.watch(*watched_paths(target, options.get("root")), watch_filter=_relevant,
                              stop_event=stop, debounce=200, step=50, rust_timeout=500, yield_on_timeout=False):
        once()
