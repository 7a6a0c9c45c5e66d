"""The importable library entry points; the CLI is a thin layer over these."""
from __future__ import annotations

import os
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from .bank import DEFAULT_EXAM, load_exam
from .build import plan
from .latex import clean_aux, compile_pdf, make_format, require_tex
from .output import locked, recover, refuse_existing, staged, write_atomic
from .check import stress, validate_bank
from .export import export_latex  # noqa: F401  (part of the API)
from .errors import OutputError, UnknownNameError
from .registry import get_kind
from .verify import Report, verify as verify_build

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def default_out(exam_id: str) -> Path:
    return Path("output") / exam_id


def build(exam_path: str | Path = DEFAULT_EXAM, *, versions: int | None = None, seed: int | None = None,
          out: str | Path | None = None, pdf: bool = True, force: bool = False, jobs: int | None = None,
          progress: Progress | None = None) -> Path:
    """Build every version of an exam into ``out`` (exam/key .tex, .pdf, key.json; manifest.json)."""
    if pdf:
        require_tex()
    exam = load_exam(exam_path)
    n = versions if versions is not None else exam.spec.versions
    out = Path(out) if out is not None else default_out(exam.spec.id)
    try:
        with locked(out):
            recover(out)
            refuse_existing(out, force)  # before the slow part, not after it
            built = plan(exam, n, seed, progress=_ticker(progress, "drawing and rendering", n))
            with staged(out, force) as stage:
                for rel, text in built.files().items():
                    write_atomic(stage / rel, text)
                if pdf:
                    texs = [stage / r.version / f"{doc}.tex" for r in built.rendered for doc in ("exam", "key")]
                    compile_all(texs, jobs, _ticker(progress, "compiling PDFs", len(texs)))
    except OSError as e:  # disk full, permissions: the previous build is untouched
        raise OutputError(f"cannot write {e.filename or out}: {e.strerror or e}") from e
    return out


def _ticker(progress: Progress | None, stage: str, total: int) -> Callable[..., None]:
    """A callback that reports one more step of ``stage`` done."""
    done = 0
    lock = threading.Lock()  # compile threads tick concurrently

    def tick(*_: Any) -> None:
        nonlocal done
        with lock:
            done += 1
            if progress:
                progress(stage, done, total)
    return tick


def compile_all(texs: list[Path], jobs: int | None, tick: Callable[[], None]) -> None:
    """Compile many .tex files concurrently, in as few pdflatex passes as possible.

    The preamble is precompiled once; the first document of each kind (exam.tex, key.tex) is
    compiled from scratch, and every later one starts from that sibling's .aux (same layout), so
    it usually needs a single pass. The first failure is raised.
    """
    jobs = max(1, jobs or os.cpu_count() or 1)
    stage = texs[0].resolve().parent.parent
    format_dir = make_format(texs[0], stage / ".format")
    firsts = {t.name: t for t in reversed(texs)}  # the first document of each kind
    seeds: dict[str, bytes] = {}

    def one(tex: Path) -> None:
        compile_pdf(tex, format_dir=format_dir, aux_seed=seeds.get(tex.name))
        tick()

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for future in [pool.submit(one, t) for t in firsts.values()]:
            future.result()
        for name, tex in firsts.items():
            seeds[name] = tex.with_suffix(".aux").read_bytes()
        for future in [pool.submit(one, t) for t in texs if t not in firsts.values()]:
            future.result()
    for tex in texs:
        clean_aux(tex)
    shutil.rmtree(stage / ".format", ignore_errors=True)


def solve(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Answers of one solve-contract kind for ``params`` (raises ParamError when invalid)."""
    return get_kind(kind).solve(params)


def verify(build_dir: str | Path, exam_path: str | Path | None = None) -> Report:
    """Verify a build folder (see :mod:`generator.verify`); raises VerifyFailure on any difference."""
    return verify_build(build_dir, exam_path)


def check(root: str | Path = ".", *, seeds: int = 500, only: list[str] | None = None,
          echo: Callable[[str], None] = print) -> bool:
    """Validate a bank's specs and stress its generators; print a table; True when all is well."""
    root = Path(root)
    bank, errors = validate_bank(root)
    for e in errors:
        echo(e)
    if bank is None:
        echo(f"check: the bank at {root} has spec errors; generators not stressed")
        return False
    ids = only or sorted(bank.problems)
    unknown = [i for i in ids if i not in bank.problems]
    if unknown:
        raise UnknownNameError("problem", unknown[0], list(bank.problems))
    echo(f"{'PROBLEM':<24} {'SEEDS':>6} {'FAILED':>6} {'DISTINCT':>8} {'TIME':>7}")
    failed = bool(errors)
    for pid in ids:
        r = stress(bank.problems[pid], seeds)
        echo(f"{pid:<24} {r.seeds:>6} {len(r.failures):>6} {r.distinct:>8} {r.seconds:>6.1f}s")
        for msg in r.failures[:5]:
            echo(f"  FAIL {pid}: {msg}")
        if len(r.failures) > 5:
            echo(f"  … and {len(r.failures) - 5} more failures of {pid}")
        failed |= bool(r.failures)
    echo("check: FAILED" if failed else f"check: specs valid; all {len(ids)} problems passed {seeds} seeds each")
    return not failed
