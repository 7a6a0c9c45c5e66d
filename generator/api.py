"""The importable library entry points; the CLI is a thin layer over these."""
from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pikepdf

from . import cache, figures
from .bank import all_kinds, did_you_mean, find_root, load_exam, problems_in_exams, sha256, shown
from .build import (BuildPlan, _env as template_env, common_layout_padding, file_hashes, plan, read_json,
                    rendered_from_manifest, shard_labels, version_labels)
from .check import (RENDER_SEEDS, TRIAL_BUILDS, compile_checks, distinctness, exam_checks, render_checks,
                    rounded_params, stress, unused_templates, validate_bank)
from .errors import LatexError, OutputError, QbankError, SpecError, UnknownNameError
from .export import export_latex
from .latex import aux_keys, clean_aux, compile_pdf, make_format, page_layout, preamble, require_tex, unite_pdfs
from .output import locked, safe_child, staged, write_file
from .registry import raised_at
from .roster import assign_versions, read_roster, read_seating, records
from .stamp import STAMPS_DIR, read_marks, stamp_onto, write_copies
from .verify import Report, verify as verify_build

__all__ = ["build", "BuildResult", "check", "export_latex", "merge", "solve", "verify"]

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def default_out(exam_id: str) -> Path:
    return Path("output") / exam_id


@dataclass
class BuildResult:
    """Where a build went and anything the instructor should know about it."""

    out: Path
    versions: int = 0
    students: int = 0
    warnings: list[str] = field(default_factory=list)
    pdf: bool = True  # False: --no-pdf, so no student gets a copy of their own


def _refuse_rounded_pins(exam) -> None:
    """A pinned number that prints rounded would give a key verify refuses: refuse it before building."""
    errors = [exam.located.error(loc + ("params",), msg) for loc, entry in exam.spec.entries()
              if entry.params is not None for msg in rounded_params(entry.params)]
    if errors:
        raise SpecError(errors)


def build(exam_path: str | Path | None = None, *, bank: str | Path | None = None, versions: int | None = None, seed: int | None = None,
          out: str | Path | None = None, pdf: bool = True, force: bool = False, jobs: int | None = None,
          roster: str | Path | None = None, seating: str | Path | None = None, per_student: bool = False,
          duplex: bool = True, shard: tuple[int, int] | None = None,
          progress: Progress | None = None) -> BuildResult:
    """Build every version of an exam into ``out``: exam/key .tex and .pdf, key.json per version,
    the grader's summary, print-all.pdf (each exam on new sheets when ``duplex``) and manifest.json;
    with a roster, each student's copy as well (their version's PDF, name and SID stamped on).

    ``shard=(i, n)`` builds only the i-th of n contiguous blocks of the versions (and the students
    who sit them); :func:`merge` puts the n shards together into the whole build."""
    if pdf:
        require_tex()
    if seating and not roster:
        raise QbankError("--seating needs --roster (the seating chart seats the roster's students)")
    if per_student and not roster:
        raise QbankError("--per-student needs --roster (a version for each student)")
    if per_student and versions is not None:
        raise QbankError("--per-student sets the number of versions itself (one per student): drop --versions")
    exam = load_exam(exam_path, bank)
    _refuse_rounded_pins(exam)
    roster_students = read_roster(roster) if roster else []
    n = versions if versions is not None else exam.spec.versions
    if per_student:
        n = len(roster_students)
    labels = version_labels(n)
    students = _assign(roster_students, seating, labels)
    if shard:
        labels = shard_labels(labels, *shard)
    out = Path(out) if out is not None else exam.bank.root / default_out(exam.spec.id)
    result = BuildResult(out, len(labels), sum(s["version"] in set(labels) for s in students), pdf=pdf)
    try:
        with locked(out):
            with staged(out, force) as stage, ThreadPoolExecutor(max_workers=2) as writer:
                # Each version is written while the next ones are still being drawn.
                writes = []

                def write(files: dict[str, str]) -> None:
                    writes.extend(writer.submit(write_file, stage, rel, text) for rel, text in files.items())

                built = plan(exam, labels, seed, progress=_ticker(progress, "drawing and rendering", len(labels)),
                             students=students, jobs=jobs, on_version=lambda r: write(r.files()))
                if shard:
                    built.shard = {"index": shard[0], "count": shard[1], "versions": n, "duplex": duplex}
                shared = built.shared_files()
                write(shared)
                for w in writes:
                    w.result()
                if pdf:
                    rels = [rel for r in built.rendered for rel in r.files()] + list(shared)
                    texs = [stage / rel for rel in rels if rel.endswith(".tex")]
                    layouts = compile_all(texs, jobs, _ticker(progress, "compiling PDFs", len(texs)))
                    layouts.update(_equalize_pages(built, stage, layouts, jobs, progress))
                    result.warnings += layout_warnings(layouts, stage)
                    _print_files(exam, built, stage, layouts, jobs, duplex, progress)
                    built.duplex = duplex
                # Last: the manifest binds every file written, PDFs included, by its hash.
                write_file(stage, "manifest.json", built.manifest_json(file_hashes(stage)))
    except OSError as e:  # disk full, permissions: the previous build is untouched
        raise OutputError(f"cannot write {e.filename or out}: {e.strerror or e}") from e
    return result


def _print_files(exam, built, stage: Path, layouts: dict[Path, dict], jobs: int | None, duplex: bool,
                 progress: Progress | None) -> None:
    """Students' copies (their versions' PDFs, stamped) and print-all.pdf, every exam in print order."""
    versions = [stage / r.version / "exam.pdf" for r in built.rendered]
    here = {r.version for r in built.rendered}
    students = [s for s in built.students if s["version"] in here]  # a shard stamps its own students only
    if not students:
        unite_pdfs(versions, stage / "print-all.pdf", duplex=duplex)
        return
    marks = {t.parent.name: lay["marks"] for t, lay in layouts.items() if t.resolve().parent.parent == stage.resolve()}
    plan = write_copies(template_env(exam), stage, students, marks, max(1, jobs or os.cpu_count() or 1),
                        lambda total: _ticker(progress, "stamping students' copies", total))
    # print-all: each version's pages once, every student's stamps over them
    copies = [c for chunk in plan.copies for c in chunk]
    stamps = [pikepdf.open(stage / STAMPS_DIR / f"stamps-{i}.pdf") for i in range(len(plan.copies))]
    owner = [i for i, chunk in enumerate(plan.copies) for _ in chunk]
    forms: dict[int, dict] = {}  # per stamp document: its pages copied into print-all so far
    try:
        unite_pdfs([stage / v / "exam.pdf" for _, v, _ in copies], stage / "print-all.pdf", duplex=duplex,
                   decorate=lambda out, i, pages: stamp_onto(out, pages, stamps[owner[i]], copies[i][2],
                                                               forms.setdefault(owner[i], {})))
    finally:
        for s in stamps:
            s.close()
    shutil.rmtree(stage / STAMPS_DIR)


def merge(shards: list[str | Path], out: str | Path, *, force: bool = False,
          exam_path: str | Path | None = None) -> BuildResult:
    """Put the shards of one build (``--shard 1/n`` … ``n/n``) together into the whole build in ``out``.

    The versions' and students' files are copied as the shards wrote them; the files made from all
    versions together (grader's summary, assignments, seating chart, manifest, print-all.pdf) are
    made again from the shards' manifests, as the unsharded build would have made them.
    """
    shards = [Path(d) for d in shards]
    manifests = [read_json(d / "manifest.json") for d in shards]
    for d, m in zip(shards, manifests):
        if not isinstance(m.get("shard"), dict):
            raise QbankError(f"{d}: not a shard (its manifest has no 'shard'; build it with --shard i/n)")
    first = manifests[0]
    count = first["shard"]["count"]
    if sorted(m["shard"]["index"] for m in manifests) != list(range(1, count + 1)):
        got = ", ".join(f"{m['shard']['index']}/{m['shard']['count']}" for m in manifests)
        raise QbankError(f"merge needs shards 1/{count} … {count}/{count}, each once; got {got}")
    for d, m in zip(shards, manifests):
        for key in ("exam", "seed", "libraries", "students"):
            if m.get(key) != first.get(key):
                raise QbankError(f"{d}: its {key} differs from {shards[0]}'s: shards of different builds")
        if {k: v for k, v in m["shard"].items() if k != "index"} != {k: v for k, v in first["shard"].items() if k != "index"}:
            raise QbankError(f"{d}: its shard settings differ from {shards[0]}'s: shards of different builds")
    sources: dict[str, tuple[Path, dict]] = {}  # problem id -> the first shard with it, and its hashes there
    for d, m in zip(shards, manifests):
        for problem in (p for v in m["versions"] for p in v["problems"]):
            first_seen, hashes = sources.setdefault(problem["id"], (d, problem["hashes"]))
            for part in ("spec", "generator", "template"):
                if problem["hashes"].get(part) != hashes.get(part):
                    raise QbankError(f"{d}: problem '{problem['id']}' was built from another {part} than in "
                                     f"{first_seen}: shards of different builds")
    order = sorted(range(len(shards)), key=lambda i: manifests[i]["shard"]["index"])
    versions = [v for i in order for v in manifests[i]["versions"]]
    total = first["shard"]["versions"]
    if [v["label"] for v in versions] != version_labels(total):
        raise QbankError(f"the shards hold versions {', '.join(v['label'] for v in versions[:5])}…, not the "
                         f"{total} versions A … {version_labels(total)[-1]} of the whole build")
    try:
        root = find_root(shards[0])
    except QbankError:
        root = find_root()
    exam = load_exam(exam_path or root / first["exam"]["path"], root)
    students = first.get("students", [])
    built = BuildPlan(exam, first["seed"], [rendered_from_manifest(exam, v) for v in versions], students,
                      {v["label"]: {int(n): k for n, k in v["padding"].items()} for v in versions if v.get("padding")})
    out = Path(out)
    with_pdf = [(shards[i] / manifests[i]["versions"][0]["label"] / "exam.pdf").exists() for i in order]
    if len(set(with_pdf)) > 1:
        raise QbankError(f"{shards[order[with_pdf.index(False)]]} was built with --no-pdf and "
                         f"{shards[order[with_pdf.index(True)]]} with PDFs: build every shard the same way")
    pdf = with_pdf[0]
    try:
        with locked(out), staged(out, force) as stage:
            for i in order:
                labels = {v["label"] for v in manifests[i]["versions"]}
                listed = manifests[i].get("files") or {}
                folders = sorted(labels) + [f"students/{s['folder']}" for s in students if s["version"] in labels
                                            and any(rel.startswith(f"students/{s['folder']}/") for rel in listed)]
                _same_as_listed(shards[i], manifests[i], folders)
                for folder in folders:
                    shutil.copytree(shards[i] / folder, safe_child(stage, folder))
            shared = built.shared_files()
            for rel, text in shared.items():
                write_file(stage, rel, text)
            if pdf:
                for rel in shared:
                    if rel.endswith(".tex"):
                        compile_pdf(stage / rel)
                        clean_aux(stage / rel)
                if students:
                    _merge_print_files([shards[i] for i in order], [manifests[i] for i in order], students, stage,
                                       first["shard"]["duplex"])
                else:
                    unite_pdfs([stage / v["label"] / "exam.pdf" for v in versions], stage / "print-all.pdf",
                               duplex=first["shard"]["duplex"])
                built.duplex = first["shard"]["duplex"]
            write_file(stage, "manifest.json", built.manifest_json(file_hashes(stage)))
    except OSError as e:
        raise OutputError(f"cannot write {e.filename or out}: {e.strerror or e}") from e
    return BuildResult(out, len(versions), len(students), pdf=pdf)


def _merge_print_files(shards: list[Path], manifests: list[dict], students: list[dict], stage: Path,
                       duplex: bool) -> None:
    """print-all.pdf from the shards' own: every student's pages, in roster order, taken from their shard's
    print-all.pdf, which holds each version's pages and fonts once (joined from the copies, a merged print
    file was as large as all the copies together)."""
    sources, ranges = [], []
    for shard, manifest in zip(shards, manifests):
        labels = {v["label"] for v in manifest["versions"]}
        if not any(s["version"] in labels for s in students):
            continue  # its print-all.pdf holds its versions' exams, which no student sits
        path = shard / "print-all.pdf"
        if not path.is_file() or (manifest.get("files") or {}).get("print-all.pdf") != sha256(path):
            raise QbankError(f"{path}: not the file the shard's manifest lists (changed since it was built?); "
                             f"run qbank verify {shard}")
        lengths = {}
        for label in labels:
            with pikepdf.open(stage / label / "exam.pdf") as pdf:
                lengths[label] = len(pdf.pages)
        at = 0
        for s in students:
            if s["version"] in labels:
                n = lengths[s["version"]]
                sources.append(path)
                ranges.append((s["sid"], range(at, at + n)))
                at += n + (n % 2 if duplex else 0)
        with pikepdf.open(path) as pdf:
            if len(pdf.pages) != at:
                raise QbankError(f"{path}: {len(pdf.pages)} pages, its students' copies make {at}; run qbank verify {shard}")
    order = {s["sid"]: k for k, s in enumerate(students)}
    picked = sorted(zip(sources, ranges), key=lambda x: order[x[1][0]])
    unite_pdfs([p for p, _ in picked], stage / "print-all.pdf", duplex=duplex, ranges=[r for _, (_, r) in picked])


def _same_as_listed(shard: Path, manifest: dict, folders: list[str]) -> None:
    """Every file copied from a shard is the one its manifest hashed, and every file it lists there is present
    (a shard changed since is refused)."""
    listed = manifest.get("files") or {}
    for folder in folders:
        for rel in sorted(listed):
            if rel.startswith(f"{folder}/") and not (shard / rel).is_file():
                raise QbankError(f"{shard}/{rel}: missing, but the shard's manifest lists it (deleted since it was "
                                 f"built?); run qbank verify {shard}")
        for path in sorted((shard / folder).rglob("*")):
            rel = path.relative_to(shard).as_posix()
            if path.is_file() and listed.get(rel) != sha256(path):
                raise QbankError(f"{shard}/{rel}: not the file the shard's manifest lists (changed since it was "
                                 f"built?); run qbank verify {shard}")


def _equalize_pages(built, stage: Path, layouts: dict[Path, dict], jobs: int | None,
                    progress: Progress | None) -> dict[Path, dict]:
    """Pad shorter problems with blank pages so every version's problems start on the same pages.

    Gradescope maps answer regions by page; a problem that needs one page fewer in one version
    would shift every later page. Returns the new layouts of the documents it recompiled.
    """
    by_label = {t.parent.name: lay for t, lay in layouts.items() if t.resolve().parent.parent == stage.resolve()}
    padding = common_layout_padding(by_label, {r.version: built.page_breaks(r) for r in built.rendered})
    if not padding:
        return {}
    changed = built.pad(padding)
    for rel, text in changed.items():
        write_file(stage, rel, text)
    texs = [stage / rel for rel in changed if rel.endswith(".tex")]
    return compile_all(texs, jobs, _ticker(progress, "adding blank pages", len(texs)))


def _assign(students: list, seating: str | Path | None, labels: list[str]) -> list[dict]:
    """Roster records with their versions (seating-aware); none without a roster."""
    if not students:
        return []
    seats = read_seating(seating, students) if seating else None
    return records(students, assign_versions(students, labels, seats), seats)


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


def compile_all(texs: list[Path], jobs: int | None, tick: Callable[[], None]) -> dict[Path, dict]:
    """Compile many .tex files concurrently, in as few pdflatex passes as possible.

    Returns the page layout of every exam.tex (where each question starts, how many pages).

    The exams' shared preamble is precompiled once; the first document of each name (exam.tex,
    key.tex, …) starts from the settled .aux of the same document or layout in an earlier build
    (kept in the cache), and every later one from that first sibling's .aux (same layout), so each
    usually needs a single pass. A seed that does not fit only costs passes: they repeat until the
    .aux settles. Every key but the first (which compiles beside the first exam) places the
    pictures it shares with its exam from the exam's compile (see figures.py). The first failure
    is raised.
    """
    jobs = max(1, jobs or os.cpu_count() or 1)
    stage = texs[0].resolve().parent.parent
    shared = preamble(texs[0])
    uses_format = {t: shared is not None and preamble(t) == shared for t in texs}
    firsts = {t.name: t for t in reversed(texs)}  # the first document of each name
    exams = {t.parent: t for t in texs if t.name == "exam.tex" and uses_format[t]}
    takes = {t: exams[t.parent] for t in texs if t.name == "key.tex" and uses_format[t] and t.parent in exams
             and t != firsts.get("key.tex")}  # key -> the exam it takes pictures from
    with tempfile.TemporaryDirectory(prefix=".figures-", dir=stage) as work, \
            ThreadPoolExecutor(max_workers=jobs) as pool:
        pictures = _Pictures(Path(work), takes)
        # Documents without the shared preamble need no format: they start while it is being made.
        fmt_future = pool.submit(make_format, texs[0]) if shared is not None else None
        alone = [t for t in firsts.values() if not uses_format[t]]
        leaders = {t.name: pool.submit(_lead, t, None, tick, pictures) for t in alone}
        format_dir = fmt_future.result() if fmt_future else None
        leaders.update({name: pool.submit(_lead, t, format_dir, tick, pictures)
                        for name, t in firsts.items() if t not in alone})
        seeds = {}
        for name, leader in leaders.items():
            leader.result()  # later siblings start from this document's settled .aux
            seeds[name] = firsts[name].with_suffix(".aux").read_bytes()
        # A key that takes pictures from its exam waits for it: queued one exam later, it seldom
        # waits, and the pictures exams keep do not pile up on disk before their keys use them.
        folder = {parent: i for i, parent in enumerate(dict.fromkeys(t.parent for t in texs))}
        later = sorted((t for t in texs if t != firsts[t.name]),
                       key=lambda t: (folder[t.parent] + (t in takes), t.name != "exam.tex"))
        pending = [pool.submit(_compile_one, t, format_dir if uses_format[t] else None, seeds[t.name], tick, pictures)
                   for t in later]
        for future in pending:
            future.result()
    layouts = {t: {**page_layout(t.with_suffix(".aux")), "marks": read_marks(t.with_suffix(".aux"))}
               for t in texs if t.name == "exam.tex"}
    for tex in texs:
        clean_aux(tex)
    return layouts


class _Pictures:
    """Which key takes which pictures from which exam's compile (see figures.py), and what each exam kept."""

    def __init__(self, work: Path, takes: dict[Path, Path]):
        self.work, self.takes = work, takes
        self.given = {exam: figures.shared(exam.read_text(encoding="utf-8"), key.read_text(encoding="utf-8"))
                      for key, exam in takes.items()}
        self.kept: dict[Path, dict[int, figures.Kept]] = {}
        self.ready = {exam: threading.Event() for exam in self.given}

    def compile(self, tex: Path, format_dir: Path | None, aux_seed: bytes | None) -> None:
        """Compile ``tex``: an exam keeping the pictures its key takes, a key placing them, anything
        else as it is. A compile with pictures kept or placed that fails is done again without."""
        exam = self.takes.get(tex)
        try:
            if self.given.get(tex):
                self._keep(tex, format_dir, aux_seed)
                return
            if exam is not None and self.given[exam]:
                self.ready[exam].wait()  # (the exam was queued first: see compile_all)
                if self.kept.get(exam):
                    text = figures.placing(tex.read_text(encoding="utf-8"), self.given[exam], self.kept[exam])
                    compile_pdf(tex, format_dir=format_dir, aux_seed=aux_seed, text=text.encode(),
                                inputs=(self._folder(exam) / figures.FIGURES_PDF,))
                    return
        except LatexError:
            pass
        finally:
            if tex in self.ready:
                self.ready[tex].set()  # its key waits for it, pictures kept or not
            if exam is not None:  # one key uses them (about 250 KB a version in the midterm)
                shutil.rmtree(self._folder(exam), ignore_errors=True)
        compile_pdf(tex, format_dir=format_dir, aux_seed=aux_seed)

    def _folder(self, exam: Path) -> Path:
        return self.work / exam.parent.name

    def _keep(self, exam: Path, format_dir: Path | None, aux_seed: bytes | None) -> None:
        text = figures.keeping(exam.read_text(encoding="utf-8"), self.given[exam])
        compile_pdf(exam, format_dir=format_dir, aux_seed=aux_seed, text=text.encode(), also=(figures.SIDECAR,))
        sidecar = exam.with_suffix(figures.SIDECAR)
        kept = figures.read_kept(sidecar)
        sidecar.unlink(missing_ok=True)
        if kept is None:
            raise LatexError(f"{exam}: unreadable list of kept pictures")  # compiled again without
        if kept:
            folder = self._folder(exam)
            folder.mkdir()
            figures.split_kept(exam.with_suffix(".pdf"), len(kept), folder / figures.FIGURES_PDF)
        self.kept[exam] = kept


def _lead(tex: Path, format_dir: Path | None, tick: Callable[[], None], pictures: _Pictures) -> None:
    """Compile the first document of its name from the cached .aux of an earlier build, and cache its own."""
    keys = aux_keys(tex)
    seed = cache.read_aux(keys)
    try:
        _compile_one(tex, format_dir, seed, tick, pictures)
    except LatexError:
        if seed is None:
            raise
        _compile_one(tex, format_dir, None, tick, pictures)  # a damaged cache entry must not fail the build
    cache.save_aux(keys, tex.with_suffix(".aux").read_bytes())


def _compile_one(tex: Path, format_dir: Path | None, aux_seed: bytes | None, tick: Callable[[], None],
                 pictures: _Pictures) -> None:
    pictures.compile(tex, format_dir, aux_seed)
    tick()


def layout_warnings(layouts: dict[Path, dict], stage: Path) -> list[str]:
    """Versions should share one page layout (Gradescope maps answer regions by page).

    Versions with the same parts compare where every question and part starts; versions that
    drew different problems (pools) compare where each question starts.
    """
    if not layouts:
        return []

    def shape(layout: dict) -> list[str]:
        return [name.rsplit("@", 1)[0] for name, _ in layout["starts"]]

    def same(a: dict, b: dict) -> bool:
        if shape(a) == shape(b):
            return (a["starts"], a["pages"]) == (b["starts"], b["pages"])
        questions = lambda lay: [s for s in lay["starts"] if s[0].startswith("question@")]
        return a["pages"] == b["pages"] and questions(a) == questions(b)

    exams = list(layouts)
    first = exams[0]
    differ = [t for t in exams if not same(layouts[t], layouts[first])]
    if not differ:
        return []
    names = ", ".join(str(t.parent.relative_to(stage)) for t in differ[:5])
    return [f"{len(differ)} exam(s) ({names}{', …' if len(differ) > 5 else ''}) place problems on different pages "
            f"than {first.parent.relative_to(stage)} ({layouts[first]['pages']} pages); for Gradescope, give the "
            "problems that move more answer room or newpage breaks"]


def solve(kind: str, params: dict[str, Any], root: Path | None = None) -> dict[str, Any]:
    """Answers of one solve-contract kind for ``params`` (raises ParamError when invalid): a kind of
    the course found from ``root`` (or the current folder), else of the shipped library."""
    kinds = all_kinds(root)
    if kind not in kinds:
        raise UnknownNameError("solve kind", kind, sorted(kinds))
    fn = kinds[kind].solve
    source = Path(file) if (file := inspect.getsourcefile(fn)) else None
    try:
        with contextlib.redirect_stdout(sys.stderr):  # a kind's debugging print must not corrupt the JSON
            answers = fn(params)
    except QbankError:
        raise
    except Exception as e:  # a course's kind that does not refuse bad parameters itself: one line, not a traceback
        raise QbankError(f"{raised_at(e, [source] if source else [])}: solve kind '{kind}' raised "
                         f"{type(e).__name__}: {e} (refuse bad parameters with generator.params' helpers, "
                         "which name the parameter)") from e
    try:
        json.dumps(answers, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise QbankError(f"{shown(source) if source else kind}: solve kind '{kind}' returned answers that are not "
                         f"JSON data ({e}); return plain ints, floats, strings, lists and dicts") from e
    return answers


def verify(build_dir: str | Path, exam_path: str | Path | None = None, *, bank: str | Path | None = None,
           strict: bool = False) -> Report:
    """Verify a build folder (see :mod:`generator.verify`); raises VerifyFailure on any difference.

    A source changed since the build is a note in the report (a failure with ``strict``)."""
    return verify_build(build_dir, exam_path, bank, strict)


def check(root: str | Path | None = None, *, seeds: int = 500, only: list[str] | None = None, pdf: bool = True,
          jobs: int | None = None, echo: Callable[[str], None] = print, versions: int = 4,
          report: str | Path | None = None) -> bool:
    """Everything a build would catch, for every problem and exam spec of a bank: validate the specs,
    stress the generators over ``seeds`` seeds, render each problem's exam and key at a few seeds
    and every exam spec's version A, and (``pdf``) compile, one pdflatex pass each, every problem's
    key and every exam's version A; print a table and one line per failure; True when all is well.

    Also lists the final answers that ``versions`` versions of one build cannot keep apart, and
    with ``report`` writes the fairness report there (see :mod:`generator.report`)."""
    root = find_root() if root is None else Path(root)
    if pdf:
        require_tex()
    bank, errors = validate_bank(root)
    if errors:  # bad input, as build reports it: every error, before anything is stressed
        raise SpecError(errors)
    # A course's own problems, and the shipped ones its exams use (qbank's own tests cover the rest).
    used = problems_in_exams(root)
    ids = only or [pid for pid, bp in sorted(bank.problems.items()) if not bp.shipped or pid in used]
    for i in ids:
        if i not in bank.problems:
            raise QbankError(f"--problem: unknown problem '{i}'" + did_you_mean(i, list(bank.problems)))
    for warning in unused_templates(bank, ids):
        echo(f"check: warning: {warning}")
    echo(f"{'PROBLEM':<24} {'SEEDS':>6} {'FAILED':>6} {'DISTINCT':>8} {'TIME':>7}")
    failed = False
    stressed: set[tuple[str, str]] = set()
    failing: set[str] = set()  # problems whose draws fail: no trial builds of them
    for pid in ids:
        r = stress(bank.problems[pid], seeds, bank=bank)
        stressed.update((pid, msg) for msg in r.failures)
        echo(f"{pid:<24} {r.seeds:>6} {len(r.failures):>6} {r.distinct:>8} {r.seconds:>6.1f}s")
        for msg in r.failures[:5]:
            echo(f"  FAIL {pid}: {msg}")
        if len(r.failures) > 5:
            echo(f"  … and {len(r.failures) - 5} more failures of {pid}")
        failed |= bool(r.failures)
        if r.failures:
            failing.add(pid)
    failures, docs = render_checks(bank, ids)
    failures = [f for f in failures if f not in stressed]  # a render failure stress already showed
    if not only:
        exam_failures, exam_docs = exam_checks(root)
        failures += exam_failures
        docs.update(exam_docs)
    if pdf:
        failures += compile_checks(docs, jobs)
    for name, msg in failures:
        echo(f"  FAIL {name}: {msg}")
    failed |= bool(failures)
    echo(f"Final answers versions cannot keep apart ({TRIAL_BUILDS} trial builds of {versions} versions per problem):")
    trials = [distinctness(bank.problems[pid], versions) for pid in ids if pid not in failing]
    for line in [line for t in trials for line in t.lines()] or ["none: every problem kept every final answer apart"]:
        echo(f"  {line}")
    failed |= any(t.failure for t in trials)
    if report is not None and not failed:
        from .report import write_report  # matplotlib loads only for a report
        echo(f"Wrote the fairness report {write_report(bank, Path(report), seeds, ids)}")
    elif report is not None:
        echo(f"The fairness report {report} was not written: the check failed")
    what = (f"rendered at {RENDER_SEEDS} seeds" + (f", {len(docs)} document{'s' * (len(docs) != 1)} compiled" if pdf
                                                   else " (no PDFs, --no-pdf)"))
    passed = "the 1 problem passed" if len(ids) == 1 else f"all {len(ids)} problems passed"
    echo("check: FAILED" if failed else f"check: specs valid; {passed} {seeds} seeds each; {what}")
    return not failed
