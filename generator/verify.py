"""``qbank verify``: re-derive every answer of a build, audit every file it wrote; any difference fails.

What it compares (docs/verify.md says what that proves and what it does not):
- each stored problem: seed re-derived and parameters redrawn, answers against the solver and the
  independent check, solve items against their kinds' checks, key.json against the recomputation;
- every file against the SHA-256 the manifest recorded, and no file missing or extra;
- each key.pdf's marked answers (see :func:`generator.texify.answer`), read back in place, against
  the recomputed ones; each PDF's own version label, and each student copy's name and SID;
- while the sources are unchanged, every .tex and .csv against a fresh render, byte for byte.
"""
from __future__ import annotations

import collections
import csv
import decimal
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bank import find_root, load_exam, sha256, shown
from .build import (MANIFEST_FORMAT, BuildPlan, Instance, VersionDraws, cover_values, derive_seed, jsonable, key_json,
                    label_number,
                    manifest_hashes, render_version, solve_params, template_hash, version_entries, version_labels)
from .check import first_difference, rounded_params
from .errors import QbankError, VerifyFailure
from .problem import close
from .roster import spreadsheet_cell

MAX_JSON_BYTES = 64 << 20
MAX_PDF_BYTES = 256 << 20
MAX_DEPTH = 64  # manifests and keys nest a few levels; anything deeper is not ours


@dataclass
class Report:
    """The outcome of verifying one build: what was counted, what failed, what was skipped."""

    versions: int = 0
    problems: int = 0
    """Problems whose answers were re-derived from the stored parameters."""
    underived: int = 0
    """Problems whose changed spec or generator no longer solves the stored parameters."""
    unsolvable: dict[str, str] = field(default_factory=dict)
    """Problem id -> why its changed sources cannot solve the stored parameters."""
    items: int = 0
    marks_found: int = 0
    files_hashed: int = 0
    students: int = 0
    pdfs: bool = False
    """Whether the build has PDFs to read (a --no-pdf build has none)."""
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self, where: Path) -> str:
        skipped = f", {self.underived} not (their sources changed)" if self.underived else ""
        return (f"verified {where}: {self.problems} problems' answers re-derived ({self.items} solve items){skipped}, "
                + (f"{self.marks_found} marked answers found in key PDFs, " if self.pdfs else
                   "no PDFs to read (built with --no-pdf), ")
                + f"{self.files_hashed} files hashed, "
                f"{self.students} students checked")


# -- reading a build's files: bounded, regular files only ------------------------------------------------

def _why(e: QbankError, path: Path) -> str:
    """An error's message without the path it starts with (the caller names the file)."""
    return e.message.removeprefix(f"{shown(path)}: ")


def read_bytes(path: Path, limit: int) -> bytes:
    """A regular file's bytes (no FIFO, device or symlink), refused past ``limit`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as e:
        raise QbankError(f"{shown(path)}: cannot read: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise QbankError(f"{shown(path)}: not a regular file")
        if st.st_size > limit:
            raise QbankError(f"{shown(path)}: {st.st_size} bytes, more than the {limit} a build file may have")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)[:limit]
    finally:
        os.close(fd)


def _depth(value: Any) -> int:
    stack, deepest = [(value, 1)], 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if d > MAX_DEPTH:
            return d
        if isinstance(v, dict):
            stack += [(x, d + 1) for x in v.values()]
        elif isinstance(v, list):
            stack += [(x, d + 1) for x in v]
    return deepest


def read_build_json(path: Path) -> Any:
    """A build's JSON file (manifest, key): bounded in size and depth, one clear error otherwise."""
    if not path.exists() and not path.is_symlink():
        raise QbankError(f"{shown(path)}: missing; is this a qbank build folder?")
    data = read_bytes(path, MAX_JSON_BYTES)
    try:
        value = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise QbankError(f"{shown(path)}: not valid JSON: {e}") from None
    except RecursionError:
        raise QbankError(f"{shown(path)}: nested too deeply; not a qbank file") from None
    if _depth(value) > MAX_DEPTH:
        raise QbankError(f"{shown(path)}: nested more than {MAX_DEPTH} levels deep; not a qbank file")
    return value


def pdf_text(pdf: Path, raw: bool = True) -> str:
    """The text of a PDF in content-stream order (pdftotext -raw); pages are separated by form feeds."""
    if shutil.which("pdftotext") is None:
        raise QbankError("pdftotext not found; install poppler-utils (make setup does)")
    data = read_bytes(pdf, MAX_PDF_BYTES)
    try:
        proc = subprocess.run(["pdftotext", "-raw" if raw else "-layout", "-", "-"], input=data, capture_output=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        raise QbankError(f"{shown(pdf)}: pdftotext took more than 60 s") from None
    if proc.returncode != 0:
        why = (proc.stderr.decode(errors="replace").strip().splitlines() or ["pdftotext failed"])[0]
        raise QbankError(f"{shown(pdf)}: not a readable PDF ({why[:120]})")  # one line: the first error
    return proc.stdout.decode("utf-8", errors="replace")


# -- marked answers ---------------------------------------------------------------------------------------

_MARK = re.compile(r"@@qb:([^@\n]{1,120})@@(.*?)@@/qb@@", re.S)
_SYMBOLS = {"\\qbchecked": "\x01", "\\qbbox": "\x02", "\u22a0": "\x01", "\u25a1": "\x02"}  # ticked / empty box


def _normal(text: str) -> str:
    """What comparing a mark looks at: letters, digits, '.', ',', ticked boxes and a minus before a digit."""
    text = unicodedata.normalize("NFKC", text)
    for k, v in _SYMBOLS.items():
        text = text.replace(k, v)
    text = re.sub(r"-\s*\n", "", text)  # a word hyphenated at a line end (math minus is U+2212, kept)
    text = re.sub(r"[^A-Za-z0-9.,\x01\x02\u2212-]", "", text.replace("\u2212", "-"))
    return re.sub(r"-(?!\d)", "", text)


# LaTeX's and amsmath's operators, printed as their names.
_OPERATORS = re.compile(r"\\(arccos|arcsin|arctan|arg|cosh|cos|coth|cot|csc|deg|det|dim|exp|gcd|hom|inf|ker|lg|"
                        r"liminf|limsup|lim|ln|log|max|min|Pr|sec|sinh|sin|sup|tanh|tan)(?![A-Za-z])")


def _latex_text(latex: str) -> str:
    """What a piece of LaTeX prints, near enough: boxes and × as their symbols, operators (\\ln) as
    their names, other commands and environment names dropped."""
    for k, v in {**_SYMBOLS, "\\times": "\u00d7"}.items():
        latex = latex.replace(k, f" {v} ")
    latex = re.sub(r"\\(?:begin|end)\{[^}]*\}", " ", latex)
    latex = _OPERATORS.sub(r" \1 ", latex)  # \ln prints "ln": keep the name's letters
    return re.sub(r"\\[A-Za-z@]+\*?|\\.", " ", latex)


def plain(latex: str) -> str:
    """The comparable text of a mark's LaTeX (see :func:`_latex_text` and :func:`_normal`)."""
    return _normal(_latex_text(latex))


def read_marks(text: str) -> list[tuple[str, str]]:
    """``(tag, comparable text)`` of every marked answer in a PDF's text, in order.

    A tag never holds a space (parts are ``[a-z0-9]``, fields ``[A-Za-z0-9._-]``); a space read in
    one is an underscore that the font encoding draws as a rule, not a glyph (OT1, LaTeX's default
    when a course's exam.tex.j2 drops ``\\usepackage[T1]{fontenc}``)."""
    return [(re.sub(r"\s+", "_", tag), _normal(body)) for tag, body in _MARK.findall(text)]


_LABEL = re.compile(r"[A-Z]{1,4}")
_VERSION = re.compile(r"Version ([A-Z]{1,4})\b")
# The word a course's exam.tex.j2 prints before the version label (Version A, Form A, Exam: A).
_LABEL_WORD = re.compile(r"(?<![\\A-Za-z])([A-Za-z]+):?(?:\s|~|\\[,;: ])*\\qbversion(?![A-Za-z])")


def _tex_text(path: Path) -> str | None:
    """A build's .tex as text, or None when it cannot be read (reported with the files)."""
    try:
        return read_bytes(path, MAX_JSON_BYTES).decode("utf-8", errors="replace")
    except QbankError:
        return None


def _label_pattern(build_dir: Path, labels: list[str]) -> re.Pattern:
    """How the build's PDFs print a version label: "Version A", or as its exam.tex and key.tex print
    ``\\qbversion`` after another word ("Form A")."""
    words = set()
    for label in labels:
        for name in ("exam.tex", "key.tex"):
            words |= set(_LABEL_WORD.findall(_tex_text(build_dir / label / name) or ""))
    if not words - {"Version"}:
        return _VERSION
    return re.compile(rf"\b(?:{'|'.join(sorted(map(re.escape, words | {'Version'})))}):? ([A-Z]{{1,4}})\b")


# -- verification -----------------------------------------------------------------------------------------

def verify(build_dir: str | Path, exam_path: str | Path | None = None, root: str | Path | None = None,
           strict: bool = False) -> Report:
    """Verify a build folder; raise :class:`VerifyFailure` (exit 1) listing every disagreement.

    The course root is ``root``, else the nearest folder holding ``bank/`` above the build (a
    committed build lives in its course's repository), else above the current folder. With
    ``strict``, a source changed since the build is a failure instead of a note.
    """
    build_dir = Path(build_dir)
    manifest = read_build_json(build_dir / "manifest.json")
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else None
        raise QbankError(f"{shown(build_dir / 'manifest.json')}: format {got!r}, expected {MANIFEST_FORMAT}; "
                         "rebuild it with this qbank")
    if root is None:
        try:
            root = find_root(build_dir)
        except QbankError:
            root = find_root()
    try:
        report = _verify(build_dir, manifest, exam_path, Path(root), strict)
    except (KeyError, TypeError, IndexError, AttributeError, ValueError) as e:
        # A manifest edited by hand or cut short: say so instead of a traceback.
        raise QbankError(f"{shown(build_dir / 'manifest.json')} is malformed ({type(e).__name__}: {e}); restore it "
                         "from version control or rebuild") from e
    if report.failures:
        raise VerifyFailure("\n".join([*report.notes, *[f"FAIL {m}" for m in report.failures],
                                       f"{build_dir}: {len(report.failures)} problem(s) found; the build cannot be trusted"]))
    return report


def _verify(build_dir: Path, manifest: dict, exam_path: str | Path | None, root: Path, strict: bool) -> Report:
    exam_path = Path(exam_path) if exam_path else root / str(manifest["exam"]["path"])
    if not exam_path.is_file():
        raise QbankError(f"exam spec {shown(exam_path)} (from {build_dir}/manifest.json) not found (or not a regular file); pass the "
                         "course folder with --bank, or the spec with --exam")
    exam = load_exam(exam_path, root)
    report = Report()
    fail = report.failures.append
    seed = manifest["seed"]
    if type(seed) is not int or seed < 0:
        fail(f"manifest.json: field seed is {seed!r}, not an exam seed")
        return report
    if manifest["exam"]["id"] != exam.spec.id:
        fail(f"manifest.json: field exam.id is {manifest['exam']['id']!r}, the exam spec's id is {exam.spec.id!r}")
    changed: list[str] = []  # sources that differ from the build's: no byte-for-byte re-render
    if sha256(exam.path) != manifest["exam"]["sha256"]:
        changed.append(f"exam spec {shown(exam.path)}")
    if template_hash(exam, "exam.tex.j2") != manifest["exam"].get("template_sha256"):
        changed.append("templates/exam.tex.j2")
    versions = manifest["versions"]
    labels = [v["label"] for v in versions]
    rendered, expected_marks = [], {}
    draws = VersionDraws(seed)  # redraws replay the build's, version after version
    _replay_before(exam, seed, labels, draws)
    for version in versions:
        label = version["label"]
        report.versions += 1
        if not isinstance(label, str) or not _LABEL.fullmatch(label):
            fail(f"manifest.json: field versions[{report.versions - 1}].label is {label!r}, not a version label")
            continue
        entries = {e.problem: e for e in version_entries(exam, label, seed)}
        if [p["id"] for p in version["problems"]] != list(entries):
            fail(f"version {label}: manifest.json field problems differs from what the exam spec and seed give")
        instances = []
        for stored in version["problems"]:
            inst = _verify_problem(exam, label, seed, stored, entries.get(stored["id"]), report, changed, draws)
            if inst is not None:
                instances.append(inst)
        # the key PDF's marks are still read against the recorded ones: a problem that fails here
        # must not make every other mark of the version look foreign to the key
        marks = [m for p in version["problems"] for m in p.get("marks", ())]
        if all(isinstance(m, list) and len(m) == 2 and all(isinstance(x, str) for x in m) for m in marks):
            expected_marks[label] = marks
        else:
            fail(f"version {label}, file manifest.json: field marks is not a list of [tag, answer] pairs")
        if len(instances) != len(version["problems"]):
            continue
        key_path = build_dir / label / "key.json"
        try:
            on_disk = read_build_json(key_path)
            expected = key_json(exam, label, instances)
            if not close(on_disk, expected):
                fail(f"version {label}, file key.json: {first_difference(on_disk, expected)} (on disk vs recomputed)")
        except QbankError as e:
            fail(f"version {label}, file key.json: {_why(e, key_path)}")
        try:
            padding = {int(n): int(pages) for n, pages in version.get("padding", {}).items()}
        except (ValueError, TypeError, AttributeError):
            fail(f"version {label}, file manifest.json: field padding is not problem number to blank pages")
            continue
        if not changed:
            try:
                rendered.append((render_version(exam, label, instances, padding), padding))
            except Exception as e:  # parameters a generator's given(), key_context() or a template cannot take
                why = e.message if isinstance(e, QbankError) else f"{type(e).__name__}: {e}"
                fail(f"version {label}: the stored parameters do not render: {why}")
    students = manifest.get("students", [])
    if changed:
        what = (f"{len(set(changed))} source(s) changed since the build ({', '.join(sorted(set(changed))[:3])}"
                f"{', …' if len(set(changed)) > 3 else ''})")
        if strict:
            fail(f"{what}; --strict")
        else:
            report.notes.append(f"note: {what}: LaTeX not re-rendered; answers audited from the stored parameters "
                                "and key marks")
    elif len(rendered) == len(versions):
        _compare_render(exam, build_dir, seed, rendered, students, expected_marks, report)
    report.notes += [f"note: problem '{pid}': its changed sources cannot solve the stored parameters ({why}); "
                     "its stored answers are not re-derived"
                     for pid, why in report.unsolvable.items()]
    _check_files(build_dir, manifest, report)
    _check_assignments(build_dir, students, report)
    _check_pdfs(build_dir, manifest, labels, expected_marks, students, report)
    return report


def _replay_before(exam, seed: int, labels: list, draws: VersionDraws) -> None:
    """Draw the versions before the first stored one (a shard's build drew them too: its versions
    avoid their final answers), so that redraws continue from where the build's did."""
    numbers = [label_number(label) for label in labels if isinstance(label, str) and _LABEL.fullmatch(label)]
    for label in version_labels(min(numbers, default=1) - 1):
        for entry in version_entries(exam, label, seed):
            if entry.params is None:
                try:
                    draws.draw(exam.bank.problems[entry.problem], derive_seed(seed, label, entry.problem))
                except QbankError:  # changed sources: the redraws that need this one say so
                    pass


def _verify_problem(exam, label: str, exam_seed: int, stored: dict, entry, report: Report,
                    changed: list[str], draws: VersionDraws) -> Instance | None:
    """Check one stored problem: its seed and draw, its answers against the independent checks.

    ``entry`` is the exam spec's entry of the problem in this version (None when it has none)."""
    fail = report.failures.append
    pid, where = stored["id"], f"version {label}, problem {stored['number']} '{stored['id']}'"
    bp = exam.bank.problems.get(pid)
    if bp is None:
        fail(f"{where}: no such problem in the bank any more")
        return None
    now = manifest_hashes(exam, pid)
    same = {part: now[part] == stored["hashes"][part] for part in ("spec", "generator", "template")}
    changed += [f"problem '{pid}' {part}" for part, ok in same.items() if not ok]
    params = stored["params"]
    if not isinstance(params, dict):
        fail(f"{where}: manifest.json field params is not a mapping")
        return None
    if stored.get("pinned") is not (stored["seed"] is None):
        fail(f"{where}: manifest.json fields seed and pinned disagree")
    elif stored["seed"] is None:
        if entry is not None and entry.params is not None and not close(dict(entry.params), params):
            fail(f"{where}: manifest.json field params differs from the parameters the exam spec pins")
        elif entry is not None and entry.params is None:
            fail(f"{where}: manifest.json says pinned but the exam spec pins no parameters")
    else:
        expected_seed = derive_seed(exam_seed, label, pid)
        if stored["seed"] != expected_seed:
            fail(f"{where}: manifest.json field seed is {stored['seed']!r}, the exam seed gives {expected_seed}")
        elif same["spec"] and same["generator"]:
            try:
                redrawn = jsonable(draws.draw(bp, expected_seed)[0], "params")
            except QbankError as e:
                redrawn = {"error": e.message}
            if not close(redrawn, params):
                fail(f"{where}: manifest.json field params differs from a redraw with seed {expected_seed}: "
                     f"{first_difference(params, redrawn)} (manifest vs redraw)")
    for msg in rounded_params(params):
        fail(f"{where}: {msg}")
    try:
        answers, items = solve_params(bp, params)
        independent = jsonable(bp.generator.check(params), "check")
    except Exception as e:  # tampered parameters, or sources that changed since the build
        why = e.message if isinstance(e, QbankError) else f"{type(e).__name__} {e}".strip()
        if same["spec"] and same["generator"]:
            fail(f"{where}: manifest.json field params no longer solve: {why}")
            return None
        # An archived build: a reworded option is not in today's spec. Its stored answers are still
        # held to its key's marks, hashes and labels; the summary counts it as not re-derived.
        report.underived += 1
        report.unsolvable.setdefault(pid, why)
        return Instance(stored["number"], pid, stored["seed"], stored["points"], params, stored["answers"],
                        stored["items"])
    report.problems += 1
    # A reworded spec or generator may change the answers' wording, never their values.
    text_too = same["spec"] and same["generator"]
    for name, value in (("independent check", independent), ("solver", answers)):
        if not same_answers(stored["answers"], value, text_too):
            fail(f"{where}: manifest.json field answers differs from the {name}: "
                 f"{first_difference(stored['answers'], value)} (manifest vs {name})")
    if [(i["kind"], i["params"]) for i in stored["items"]] != [(i["kind"], i["params"]) for i in items]:
        fail(f"{where}: manifest.json field items: parameters differ from the problem's parameters")
    stored_answers = [i.get("answers") for i in stored["items"]]
    if not same_answers(stored_answers, [i["answers"] for i in items], text_too):
        fail(f"{where}: manifest.json field items: answers differ from the solve kinds' "
             f"({first_difference(stored_answers, [i['answers'] for i in items])})")
    for it in items:
        report.items += 1
        again = jsonable(bp.kind(it["kind"]).check(it["params"]), "kind check")
        if not close(it["answers"], again):
            fail(f"{where}: {it['kind']} answer differs from its independent check: "
                 f"{first_difference(it['answers'], again)} (solver vs check)")
    points = stored["points"]
    if not isinstance(points, dict) or not all(type(v) is int for v in points.values()):
        fail(f"{where}: manifest.json field points is not a mapping of part to points")
        return None
    # key.json is compared with what the build stored once the values agree (wording may have moved on)
    return Instance(stored["number"], pid, stored["seed"], points, params,
                    answers if text_too else stored["answers"], items if text_too else stored["items"])


def _untexted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untexted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untexted(v) for v in value]
    return "" if isinstance(value, str) else value


def same_answers(a: Any, b: Any, text_too: bool = True) -> bool:
    """Answers agree (within the contract's tolerance); without ``text_too``, wording is not compared."""
    return close(a, b) if text_too else close(_untexted(a), _untexted(b))


def _compare_render(exam, build_dir: Path, seed: int, rendered: list, students: list, expected_marks: dict,
                    report: Report) -> None:
    """Sources unchanged: every LaTeX and CSV file and every key mark must match a fresh render."""
    fail = report.failures.append
    for r, _ in rendered:
        fresh = [m for per_problem in r.marks for m in per_problem]
        if fresh != expected_marks[r.version]:
            fail(f"version {r.version}, file manifest.json: field marks differs from the key's fresh render")
            expected_marks[r.version] = fresh
    plan = BuildPlan(exam, seed, [r for r, _ in rendered], students, {r.version: p for r, p in rendered if p})
    try:
        files = plan.files()
    except (KeyError, TypeError) as e:
        fail(f"manifest.json: field students is malformed ({type(e).__name__}: {e})")
        return
    for rel, text in files.items():
        if rel.endswith((".tex", ".csv")):
            path = build_dir / rel
            try:
                disk = read_bytes(path, MAX_JSON_BYTES).decode("utf-8", errors="replace")
            except QbankError as e:
                fail(f"{_where(rel)}: {_why(e, path)}")
                continue
            if disk != text:
                fail(f"{_where(rel)} differs from a fresh render: {_first_tex_difference(disk, text)}")


def _where(rel: str) -> str:
    """``version A, file key.tex`` for a version's file, else ``file students/x/exam.tex``."""
    top, _, rest = rel.partition("/")
    return f"version {top}, file {rest}" if re.fullmatch(r"[A-Z]{1,3}", top) and rest else f"file {rel}"


def _first_tex_difference(disk: str, fresh: str) -> str:
    a, b = disk.splitlines(), fresh.splitlines()
    for i, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            return f"line {i}: on disk {x.strip()[:80]!r}, expected {y.strip()[:80]!r}"
    return f"length differs ({len(a)} lines on disk, {len(b)} expected)"


def _check_files(build_dir: Path, manifest: dict, report: Report) -> None:
    """Every file the manifest lists, by hash; none missing, none extra."""
    fail = report.failures.append
    listed = manifest["files"]
    if not isinstance(listed, dict):
        fail("manifest.json: field files is not a mapping of path to SHA-256")
        return
    present = {p.relative_to(build_dir).as_posix() for p in build_dir.rglob("*")
               if (p.is_file() or p.is_symlink() or not p.is_dir())}
    present.discard("manifest.json")
    for rel, digest in sorted(listed.items()):
        path = build_dir / rel
        if not _inside(rel):
            fail(f"manifest.json: field files names {rel!r}, not a path inside the build")
            continue
        if rel not in present:
            fail(f"{_where(rel)}: missing (the manifest lists it)")
            continue
        try:
            actual = hashlib.sha256(read_bytes(path, MAX_PDF_BYTES)).hexdigest()
        except QbankError as e:
            fail(f"{_where(rel)}: {_why(e, path)}")
            continue
        report.files_hashed += 1
        if actual != digest:
            fail(f"{_where(rel)}: SHA-256 differs from the manifest's")
    for rel in sorted(present - set(listed)):
        fail(f"{_where(rel)}: extra file (not written by the build)")


def _check_pdfs(build_dir: Path, manifest: dict, labels: list[str], expected_marks: dict, students: list,
                report: Report) -> None:
    """Each PDF's own labels and the key's marked answers, read from the PDFs' text."""
    fail = report.failures.append
    listed = manifest["files"] if isinstance(manifest["files"], dict) else {}
    pdfs = {rel for rel in listed if rel.endswith(".pdf")}
    report.pdfs = bool(pdfs)
    exams: dict[str, list[str]] = {}  # each version's exam.pdf, page by page, as read
    shown_as = _label_pattern(build_dir, labels)
    for label in labels:
        for name in ("exam.pdf", "key.pdf"):
            rel = f"{label}/{name}"
            if rel not in pdfs:
                if any(p.endswith(".pdf") for p in pdfs):  # a build with PDFs has them all
                    fail(f"version {label}, file {name}: not listed in the manifest")
                continue
            if not (build_dir / rel).exists():
                continue  # reported as missing
            try:
                text = pdf_text(build_dir / rel)
            except QbankError as e:
                fail(f"version {label}, file {name}: {_why(e, build_dir / rel)}")
                continue
            _check_label(text, label, f"version {label}, file {name}", report, shown_as,
                         _prose_labels(build_dir / label / name.replace(".pdf", ".tex"), shown_as))
            if name == "key.pdf":
                _check_marks(text, label, expected_marks.get(label, []), report)
            else:
                exams[label] = text.split("\f")
                if "@@qb:" in text or "ANSWER KEY" in text or "Solution:" in text:
                    fail(f"version {label}, file exam.pdf: shows answer-key text (marks, 'ANSWER KEY' or 'Solution:')")
                _check_exam_leaks(text, build_dir / label / "exam.tex", label, expected_marks.get(label, []),
                                  _total_points(manifest, label), report)
                _check_exam_source(text, build_dir / label / "exam.tex", label, _total_points(manifest, label), report)
    folders = set()
    copies: list[tuple[dict, str]] = []  # (student, their copy's text) in roster order
    stamped: dict[str, set[str] | None] = {}  # per version: the cover fields its exam.tex marks for stamping
    prose: dict[str, set[str]] = {}  # per version: labels its exam.tex writes in its text
    for s in students:
        if manifest.get("shard") and s["version"] not in labels:
            continue  # (issue 13) a shard lists the whole roster; it holds its own versions' students only
        report.students += 1
        where = f"student {s['sid']}"
        folders.add(s["folder"])
        if s["version"] not in labels:
            fail(f"{where}: manifest.json field version is {s['version']!r}, not a version of this build")
        rel = f"students/{s['folder']}/exam.pdf"
        if rel not in pdfs and labels and all(f"{label}/exam.pdf" in pdfs for label in labels):
            fail(f"{where} (version {s['version']}), file {rel}: not listed in the manifest (a build with PDFs has "
                 "every student's copy)")
        if rel not in pdfs or not _inside(rel) or not (build_dir / rel).exists():
            continue
        try:
            text = pdf_text(build_dir / rel)
        except QbankError as e:
            fail(f"{where}, file {rel}: {_why(e, build_dir / rel)}")
            continue
        if s["version"] not in prose:
            prose[s["version"]] = _prose_labels(build_dir / s["version"] / "exam.tex", shown_as)
        _check_label(text, s["version"], f"{where} (version {s['version']}), file {rel}", report, shown_as,
                     prose[s["version"]])
        cover = _normal(text.split("\f", 1)[0])
        if s["version"] not in stamped:
            stamped[s["version"]] = _stamped_fields(build_dir / s["version"] / "exam.tex")
        fields = stamped[s["version"]]
        for fld in ("name", "sid") if fields is None else [f for f in ("name", "sid") if f in fields]:
            if _normal(str(s[fld])) not in cover:
                fail(f"{where} (version {s['version']}), file {rel}: field {fld} {s[fld]!r} is not on its cover")
        if s["version"] in exams:
            _check_copy(text.split("\f"), exams[s["version"]], s, f"{where} (version {s['version']}), file {rel}", report,
                        fields)
        copies.append((s, text))
    for rel in listed:
        if rel.startswith("students/") and rel.split("/")[1] not in folders:
            fail(f"file {rel}: belongs to no student of manifest.json field students")
    if "print-all.pdf" in pdfs and (build_dir / "print-all.pdf").exists():
        if report.students:  # (a shard whose versions no student sits prints its versions' exams)
            parts = [(f"student {s['sid']}'s exam", text) for s, text in copies]
            whole = len(copies) == report.students
        else:
            parts = [(f"version {label}'s exam", "\f".join(exams[label])) for label in labels if label in exams]
            whole = len(parts) == len(labels)
        duplex = manifest.get("duplex")
        if duplex is not None and not isinstance(duplex, bool):
            fail(f"file manifest.json: field duplex is {duplex!r}, not true or false")
        elif whole:  # a copy that cannot be read is reported already
            _check_print_file(build_dir, parts, report, duplex)


def _words(text: str) -> collections.Counter:
    return collections.Counter(unicodedata.normalize("NFKC", text).split())


def _stamped_fields(exam_tex: Path) -> set[str] | None:
    """The fields a version's copies get stamped: those its exam.tex marks (``\\qbmark{seat}``; an exam
    whose cover_fields leave out "Row and seat" has no seat stamped), or None when it cannot be read."""
    tex = _tex_text(exam_tex)
    return None if tex is None else set(re.findall(r"\\qbmark\{([\w-]+)\}", tex))


def _check_copy(copy: list[str], exam: list[str], student: dict, where: str, report: Report,
                fields: set[str] | None = None) -> None:
    """A student's copy reads, page by page, as its version's exam.pdf plus the stamped fields: the
    name, SID and seat on page 1 (as whole words, so "Ann" is not found in "Anne"), the SID on later pages;
    with ``fields``, only those of them that the exam marks for stamping."""
    fail = report.failures.append
    if len(copy) != len(exam):
        fail(f"{where}: {len(copy) - 1} pages, version {student['version']}'s exam.pdf has {len(exam) - 1}")
        return
    values = {k: v for k, v in cover_values(student).items() if fields is None or k in fields}
    sid = _words(str(student["sid"]))
    for n, (c, e) in enumerate(zip(copy, exam), 1):
        added, removed = _words(c) - _words(e), _words(e) - _words(c)
        if n == 1:
            stamped = _words(" ".join(str(values[k]) for k in ("name", "sid", "seat") if values.get(k)))
            what = "the student's name, SID and seat"
        else:  # a page without the footer (a blank one) has no SID
            stamped = sid if not sid - added else collections.Counter()
            what = "the student's SID"
        if added != stamped or removed:
            show = lambda words: " ".join(sorted(words.elements()))[:80]
            fail(f"{where}: page {n} reads differently from version {student['version']}'s exam.pdf with {what} "
                 f"stamped (extra words: {show(added - stamped)!r}, missing: {show(removed + (stamped - added))!r})")
            return


def _check_print_file(build_dir: Path, parts: list[tuple[str, str]], report: Report,
                      duplex: bool | None = None) -> None:
    """print-all.pdf holds every copy (students' in roster order, else the versions'), each as read on its
    own, each followed by a blank page when its page count is odd (--duplex) or none after any (--no-duplex).
    ``duplex``: as the manifest records it (builds before it did: None, read from the page count)."""
    fail = report.failures.append
    try:
        pages = pdf_text(build_dir / "print-all.pdf").split("\f")
    except QbankError as e:
        fail(f"file print-all.pdf: {_why(e, build_dir / 'print-all.pdf')}")
        return
    if pages and pages[-1] == "":
        pages.pop()  # pdftotext ends every page with a form feed
    split = [(name, text.split("\f")[:-1] if text.endswith("\f") else text.split("\f")) for name, text in parts]
    if duplex is None:
        duplex = sum(len(p) + len(p) % 2 for _, p in split) == len(pages)
    at = 0
    for name, own in split:
        got = pages[at:at + len(own)]
        if got != own:
            fail(f"file print-all.pdf: {name} (pages {at + 1}-{at + len(own)}) is not as in its own PDF")
            return
        at += len(own)
        if duplex and len(own) % 2:
            if at >= len(pages) or pages[at].strip():
                fail(f"file print-all.pdf: page {at + 1} should be blank (the back of {name}'s last sheet)")
                return
            at += 1
    if at != len(pages):
        fail(f"file print-all.pdf: {len(pages)} pages, its copies (and blank backs) make {at}")


def _inside(rel: str) -> bool:
    """A relative path of the build's own (no '..', not absolute)."""
    parts = rel.split("/")
    return bool(rel) and not rel.startswith("/") and "\\" not in rel and all(p not in ("", ".", "..") for p in parts)


def _check_assignments(build_dir: Path, students: list, report: Report) -> None:
    """assignments.csv gives every student of the manifest, in order, the same version."""
    path = build_dir / "assignments.csv"
    if not students or not path.exists():
        return  # a missing file is reported with the files
    try:
        rows = list(csv.DictReader(io.StringIO(read_bytes(path, MAX_JSON_BYTES).decode("utf-8", errors="replace"))))
    except (QbankError, csv.Error) as e:
        report.failures.append(f"file assignments.csv: {_why(e, path) if isinstance(e, QbankError) else e}")
        return
    listed = [(r.get("sid"), r.get("version")) for r in rows]
    for k, s in enumerate(students):
        got = listed[k] if k < len(listed) else None
        if got != (spreadsheet_cell(str(s["sid"])), s["version"]):  # the CSV writes formula-like SIDs with a '
            report.failures.append(f"student {s['sid']} (version {s['version']}), file assignments.csv: field version "
                                   f"{'missing' if got is None else repr(got[1]) + ' for sid ' + repr(got[0])}")
            return
    if len(listed) != len(students):
        report.failures.append(f"file assignments.csv: {len(listed)} students, the manifest has {len(students)}")


LEAK_MIN = 3  # shorter marked answers (a digit, "A") are everywhere in an exam
# (A run of three or more numbers joined by dots, a date 30.11.2026 or a version 1.2.3, is one token, not a decimal.)
_TOKEN = re.compile(r"[A-Za-z]+|\d+(?:\.\d+){2,}|(?:(?<![A-Za-z0-9.])-)?\d+(?:\.\d+)?|[\x01\x02(),\u00d7+=&]")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_COORDINATES = re.compile(r"\((?:axis cs:)?\s*-?[\d.]+\s*,\s*-?[\d.]+\s*\)")


def _total_points(manifest: dict, label: str) -> int:
    """A version's points in all, as the manifest records them (0 when it cannot say)."""
    try:
        version = next(v for v in manifest["versions"] if v["label"] == label)
        return sum(int(x) for p in version["problems"] for x in p["points"].values())
    except (StopIteration, KeyError, TypeError, ValueError, AttributeError):
        return 0


def _tokens(text: str) -> list[str]:
    """A text's words, numbers (with a minus only where it is a sign), ticked and empty boxes,
    brackets, commas, ×, + and = (so that 6×7×8 is not 6 7 8), in order; everything else separates
    them. (A table's & never reaches a PDF's text: a mark spanning cells is never found there.)"""
    text = unicodedata.normalize("NFKC", text).replace("\u2212", "-")
    for k, v in _SYMBOLS.items():
        text = text.replace(k, f" {v} ")
    return _TOKEN.findall(text)


def _latex_tokens(latex: str) -> list[str]:
    """The tokens of what a piece of LaTeX prints (see :func:`_latex_text`), braces dropped; ``--``
    and ``---`` print dashes (0.15--0.35 is a range, not a minus before 0.35)."""
    return _tokens(re.sub(r"-{2,3}", " \u2013 ", _latex_text(latex).replace("{", "").replace("}", "")))


def _joined(tokens: list[str]) -> str:
    """Tokens as one string in which a run of whole tokens is a substring (a regex does the search)."""
    return "\0" + "\0".join(tokens) + "\0"


def _printed(tex: str, total_points: int, whole_pictures: bool = False) -> str:
    """The tokens an exam.tex prints, near enough (joined): its body without comments (the line
    map), its TikZ pictures without their options and numeric coordinates outside math (which print
    nothing; with ``whole_pictures``, whole: a node's label ``(0.5, -1)`` is written as a coordinate is),
    and the total that the exam class counts for ``\\numpoints``."""
    body = re.sub(r"(?<!\\)%.*", "", tex.split("\\begin{document}", 1)[-1])
    body = re.sub(r"\\numpoints(?![A-Za-z])", f" {total_points} ", body)
    if whole_pictures:
        return _joined(_latex_tokens(body))
    first, *pictures = body.split("\\begin{tikzpicture}")
    for picture in pictures:  # (split, not one regex: linear time on any file)
        inside, _, after = picture.partition("\\end{tikzpicture}")
        # Math ($x = (2, 3)$, a node's label) is printed; coordinates and options are never in math.
        pieces = re.split(r"(?<!\\)\$", inside)
        pieces[::2] = [re.sub(r"\[[^\[\]]*\]", " ", _COORDINATES.sub(" ", p)) for p in pieces[::2]]
        first += " " + " ".join(pieces) + " " + after
    return _joined(_latex_tokens(first))


def _pdf_lines(text: str) -> str:
    """The tokens of each line of a PDF's text (joined, a line per line), but for lines that the
    .tex does not write as such: lines that recur, digits aside, on two or more pages (running
    headers and footers, written once) and lines of numbers alone (axis tick labels, which the
    plotting package computes; rows of a matrix)."""
    text = re.sub(r"([A-Za-z])-\n([a-z])", r"\1\2", text)  # a word hyphenated at a line end
    pages = [page.splitlines() for page in text.split("\f")]
    shape = lambda line: re.sub(r"\d+", "#", line)
    recurring = collections.Counter(s for page in pages for s in {shape(line) for line in page})
    lines = [_tokens(line) for page in pages for line in page if recurring[shape(line)] < 2]
    return "\n".join(_joined(t) for t in lines if not all(_NUMBER.fullmatch(x) for x in t))


def _check_exam_leaks(text: str, exam_tex: Path, label: str, marks: list[list[str]], total_points: int,
                      report: Report) -> None:
    """No marked answer of the key is shown in exam.pdf more often than its exam.tex prints it.

    An exam legitimately gives some answers' values (the features of the image a shifted one is
    a copy of, every sequence of a beam-search tree, a parameter that equals an answer); the same
    value printed once more is a leak. Counted in tokens, within lines of the PDF's text."""
    tex = _tex_text(exam_tex)
    if tex is None:
        return
    source = _printed(tex, total_points)
    lines = _pdf_lines(text)
    for tag, latex in marks:
        tokens = _latex_tokens(latex)
        if len(plain(latex)) < LEAK_MIN or not tokens:
            continue
        needle = re.compile(f"(?={re.escape(_joined(tokens))})")  # overlapping: adjacent copies share a separator
        shown_n, printed = len(needle.findall(lines)), len(needle.findall(source))
        if shown_n > printed:
            number, part, name = tag.split(":", 2)
            report.failures.append(f"version {label}, file exam.pdf: shows the key's answer to problem {number} "
                                   f"part {part} field {name} ({plain(latex)!r}) {shown_n} time(s), its exam.tex "
                                   f"prints it {printed} time(s)")


_TUPLE = re.compile(r"\0\((?:\0-?\d+(?:\.\d+)?\0,)+\0-?\d+(?:\.\d+)?\0\)\0")
# Commands with which TeX prints a number that exam.tex does not write out: it computes it
# (\fpeval, \pgfmathparse then \pgfmathresult, \the\numexpr) or formats what another command computed.
_TEX_NUMBER = re.compile(r"\\(?:pgfmathprintnumber|pgfmathresult|pgfmathsetmacro|pgfmathtruncatemacro|fpeval|inteval|"
                         r"numprint|np|num|SI|qty|tablenum|FPprint|(?:the|number)\s*\\numexpr)(?![A-Za-z])")
# A number written out but formatted by TeX: \pgfmathprintnumber rounds (2 digits unless told) and
# groups digits (12,345.5), numprint and siunitx group digits and may print a decimal comma (-7,25).
_FORMATTED = re.compile(r"\\(?:pgfmathprintnumber|numprint|np|num|SI|qty|tablenum)\s*(?:\[[^\]\[]*\])?\{\s*(-?\d+(?:\.\d+)?)\s*\}")


# A course's template that numbers with two counters (\thequestion.\arabic{partno}, \numberwithin)
# prints labels 2.1 at a line's start and equation numbers (2.1) at its end.
_COUNTERS = re.compile(r"\\(?:the[A-Za-z]+|arabic\{[A-Za-z]+\})\s*\.\s*\\(?:the[A-Za-z]+|arabic\{[A-Za-z]+\})|"
                       r"\\numberwithin(?![A-Za-z])")
_COUNTER_LABEL = re.compile(r"^\0[1-9]\d*\.[1-9]\d*\0|\0\(\0[1-9]\d*\.[1-9]\d*\0\)\0$")


def _formatted_forms(number: str) -> set[str]:
    """The numbers that pdftotext may read in a literal ``number`` formatted by TeX (see :data:`_FORMATTED`)."""
    sign, whole, _, fraction = re.fullmatch(r"(-?)(\d+)(\.?)(\d*)", number).groups()
    forms = {sign + whole, sign + whole[:len(whole) % 3 or 3]}  # before a decimal comma; the first digit group
    if fraction:
        forms.add(f"{whole[-3:]}.{fraction}")  # the last digit group and the fraction
    for digits in range(5):
        rounded = decimal.Decimal(number).quantize(decimal.Decimal(1).scaleb(-digits), decimal.ROUND_HALF_UP)
        forms |= {str(rounded), str(rounded).rstrip("0").rstrip(".") if "." in str(rounded) else str(rounded)}
    return forms


def _tex_numbers(tex: str) -> tuple[set[str], int]:
    """What exam.tex has TeX print besides the numbers it writes: the forms of numbers it formats, and
    how many numbers it computes (each command that prints one counted once)."""
    tex = re.sub(r"(?<!\\)%.*", "", tex)
    forms: set[str] = set()
    for m in _FORMATTED.finditer(tex):
        forms |= _formatted_forms(m.group(1))
    tex = _FORMATTED.sub(" ", tex)
    tex = re.sub(r"(\\pgfmathprintnumber\s*(?:\[[^\]\[]*\])?\{)\s*\\pgfmathresult", r"\1", tex)  # one number, once
    return forms, len(_TEX_NUMBER.findall(tex))


def _check_exam_source(text: str, exam_tex: Path, label: str, total_points: int, report: Report) -> None:
    """exam.pdf prints only numbers and tuples that its exam.tex prints: a PDF compiled from another
    exam.tex (another seed's, a given value edited) does not match the key.

    Looked at: the lines :func:`_pdf_lines` keeps (no running headers, no lines of numbers alone such
    as axis ticks). Each decimal or negative number must be a number of exam.tex, each tuple
    ``(2, 1, 1)`` a run of its tokens. Whole numbers alone are not looked at: LaTeX counts some
    (pages, \\numquestions, \\today's date in a course's own template). A number that exam.tex has
    TeX format may be read as :func:`_formatted_forms` says; where it has TeX compute numbers
    (:data:`_TEX_NUMBER`), as many numbers as it has such commands may be foreign, and a tuple
    holding one of them. Where it numbers with two counters (:data:`_COUNTERS`), a line's first
    number 2.1 and its last (2.1) are labels."""
    tex = _tex_text(exam_tex)
    if tex is None:
        return
    source = _printed(tex, total_points, whole_pictures=True)  # (a picture's coordinates are this exam.tex's too)
    forms, computed_n = _tex_numbers(tex)
    numbers = {t for t in source.split("\0") if _NUMBER.fullmatch(t)} | forms
    foreign: list[str] = []  # tuples and numbers, in reading order
    counters = bool(_COUNTERS.search(re.sub(r"(?<!\\)%.*", "", tex)))
    for line in _pdf_lines(text).split("\n"):
        if counters:
            line = _COUNTER_LABEL.sub("\0", line)
        foreign += [m.group(1) for m in re.finditer(f"(?=({_TUPLE.pattern}))", line) if m.group(1) not in source]
        foreign += [t for t in line.split("\0") if _NUMBER.fullmatch(t) and not t.isdigit() and t not in numbers]
    numbers_shown = {t for t in foreign if "\0" not in t}
    if sum("\0" not in t for t in foreign) <= computed_n:
        foreign = [t for t in foreign if "\0" in t and not set(t.split("\0")) & numbers_shown]  # each may be TeX's
    if foreign:
        shown_text = re.sub(r" (?=[,)])|(?<=\() ", "", " ".join(t for t in foreign[0].split("\0") if t))
        report.failures.append(f"version {label}, file exam.pdf: shows {shown_text}, which its exam.tex does not "
                               "print (compiled from another exam.tex?)")


def _prose_labels(tex: Path, shown_as: re.Pattern) -> set[str]:
    """Labels a version's .tex writes out in its text ("Version B of this layer"): prose, not its label
    (which it prints as ``\\qbversion``)."""
    return set(shown_as.findall((_tex_text(tex) or "").replace("~", " ")))


def _check_label(text: str, label: str, where: str, report: Report, shown_as: re.Pattern = _VERSION,
                 prose: set[str] = frozenset()) -> None:
    """Every page shows this version's label and no other, but for labels its .tex writes in prose."""
    pages = [p for p in text.split("\f") if p.strip()]
    for n, page in enumerate(pages, 1):
        shown_labels = set(shown_as.findall(page)) - (prose - {label})
        if shown_labels and shown_labels != {label}:
            report.failures.append(f"{where}: page {n} says version {', '.join(sorted(shown_labels))}, expected {label}")
            return
    if not any(label in shown_as.findall(p) for p in pages):
        report.failures.append(f"{where}: no version label found in its text")


def _check_marks(text: str, label: str, expected: list[list[str]], report: Report) -> None:
    """The key's marked answers, in order, each under its own problem, part and field."""
    found = read_marks(text)
    report.marks_found += len(found)
    want = [(tag, plain(latex)) for tag, latex in expected]
    if found == want:
        return
    got = {}
    for tag, body in found:
        got.setdefault(tag, []).append(body)
    need = {}
    for tag, body in want:
        need.setdefault(tag, []).append(body)
    for tag in need:
        number, part, name = tag.split(":", 2)
        where = f"version {label}, file key.pdf, problem {number} part {part} field {name}"
        if tag not in got:
            report.failures.append(f"{where}: marked answer not found")
        elif got[tag] != need[tag]:
            report.failures.append(f"{where}: shows {got[tag][0]!r}, the recomputed answer is {need[tag][0]!r}"
                                   if len(got[tag]) == len(need[tag]) == 1 else f"{where}: shows {got[tag]}, expected {need[tag]}")
    for tag in [t for t in got if t not in need]:  # in the key's order, so the report is reproducible
        report.failures.append(f"version {label}, file key.pdf: marked answer {tag} that the key does not have")
    if got == need:
        report.failures.append(f"version {label}, file key.pdf: marked answers are out of order")
