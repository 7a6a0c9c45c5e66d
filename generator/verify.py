"""``qbank verify``: re-derive every answer of a build and re-render it; any difference fails.

Trust comes from three independent comparisons per problem: the stored answers against the
problem's independent check and each solve kind's check; the LaTeX on disk against a fresh render
from the stored parameters; and the key PDF's text against the numeric answers.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bank import find_root, load_exam, sha256, shown
from .build import BuildPlan, read_json, manifest_hashes, template_hash, Instance, jsonable, render_version, solve_params, version_entries
from .check import first_difference, rounded_params
from .errors import QbankError, VerifyFailure
from .problem import close
from .registry import get_kind
from .texify import fmt_num


@dataclass
class Report:
    """The outcome of verifying one build."""

    versions: int = 0
    problems: int = 0
    items: int = 0
    pdf_checked: bool = False
    failures: list[str] = field(default_factory=list)

    def summary(self, where: Path) -> str:
        pdf = "key PDFs show every answer" if self.pdf_checked else "PDF checks skipped (built with --no-pdf)"
        return (f"verified {where}: {self.versions} versions, {self.problems} problems, {self.items} "
                f"solve items; all answers confirmed by independent checks, LaTeX identical, {pdf}")


def _numbers_in(text: str) -> set[str]:
    text = text.replace("\u2212", "-").replace("\u2013", "-")
    found = set(re.findall(r"-?\d+(?:\.\d+)?", text))
    return found | {t.lstrip("-") for t in found}


def _numeric_leaves(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _numeric_leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _numeric_leaves(v)]
    return []


def pdf_text(pdf: Path) -> str:
    """The text of a PDF (pdftotext), or an error saying how to get pdftotext."""
    if shutil.which("pdftotext") is None:
        raise QbankError("pdftotext not found; install poppler-utils (make setup does)")
    proc = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise QbankError(f"{pdf}: pdftotext failed: {proc.stderr.strip()}")
    return proc.stdout


def _first_tex_difference(disk: str, fresh: str) -> str:
    a, b = disk.splitlines(), fresh.splitlines()
    for i, (x, y) in enumerate(zip(a, b), 1):
        if x != y:
            return f"line {i}: on disk {x.strip()[:80]!r}, expected {y.strip()[:80]!r}"
    return f"length differs ({len(a)} lines on disk, {len(b)} expected)"


def verify(build_dir: str | Path, exam_path: str | Path | None = None, root: str | Path | None = None) -> Report:
    """Verify a build folder; raise :class:`VerifyFailure` (exit 1) listing every disagreement.

    The course root is ``root``, else the nearest folder holding ``bank/`` above the build (a
    committed build lives in its course's repository), else above the current folder.
    """
    build_dir = Path(build_dir)
    manifest = read_json(build_dir / "manifest.json")
    if root is None:
        try:
            root = find_root(build_dir)
        except QbankError:
            root = find_root()
    try:
        return _verify(build_dir, manifest, exam_path, Path(root))
    except (KeyError, TypeError, IndexError, AttributeError) as e:
        # A manifest edited by hand or cut short: say so instead of a traceback.
        raise QbankError(f"{build_dir}/manifest.json is malformed ({type(e).__name__}: {e}); restore it "
                         "from version control or rebuild") from e


def _verify(build_dir: Path, manifest: dict, exam_path: str | Path | None, root: Path) -> Report:
    exam_path = Path(exam_path) if exam_path else root / manifest["exam"]["path"]
    if not exam_path.exists():
        raise QbankError(f"exam spec {shown(exam_path)} (from {build_dir}/manifest.json) not found; pass the "
                         "course folder with --bank, or the spec with --exam")
    exam = load_exam(exam_path, root)
    report = Report()
    fail = report.failures.append
    if sha256(exam.path) != manifest["exam"]["sha256"]:
        fail(f"exam spec {exam.path} changed since the build (its hash differs from the manifest)")
    if template_hash(exam, "exam.tex.j2") != manifest["exam"].get("template_sha256"):
        fail("templates/exam.tex.j2 changed since the build: the LaTeX below cannot match")
    all_rendered = []
    all_padding: dict[str, dict[int, int]] = {}
    changed: set[tuple[str, str]] = set()  # (problem, generator|template), reported once
    for version in manifest["versions"]:
        label = version["label"]
        report.versions += 1
        expected_ids = [e.problem for e in version_entries(exam, label, manifest["seed"])]
        if [p["id"] for p in version["problems"]] != expected_ids:
            fail(f"version {label}: its problems differ from what the exam spec and seed give: "
                 f"{', '.join(p['id'] for p in version['problems'])} vs {', '.join(expected_ids)}")
        instances = []
        for stored in version["problems"]:
            report.problems += 1
            inst = _verify_problem(exam, label, stored, report, changed)
            if inst is not None:
                instances.append(inst)
        if len(instances) != len(version["problems"]):
            continue
        padding = {int(n): pages for n, pages in version.get("padding", {}).items()}
        rendered = render_version(exam, label, instances, padding)
        all_padding[label] = padding
        all_rendered.append(rendered)
        vdir = build_dir / label
        if not (vdir / "key.json").is_file():
            fail(f"version {label}: key.json is missing")
            continue
        key_on_disk = read_json(vdir / "key.json")
        expected_key = json.loads(rendered.key_json)
        if not close(key_on_disk, expected_key):
            fail(f"version {label}: key.json differs from the recomputed key: "
                 f"{first_difference(key_on_disk, expected_key)} (key.json vs recomputed)")
        _check_pdfs(vdir, label, expected_key, report)
    if len(all_rendered) == len(manifest["versions"]):
        # Every LaTeX and CSV file of the build, re-rendered from the stored parameters, byte for byte.
        fresh_files = BuildPlan(exam, manifest["seed"], all_rendered, manifest.get("students", []),
                                {k: v for k, v in all_padding.items() if v}).files()
        for rel, fresh in fresh_files.items():
            if rel.endswith((".tex", ".csv")):
                path = build_dir / rel
                disk = path.read_text(encoding="utf-8") if path.exists() else ""
                if disk != fresh:
                    top, _, rest = rel.partition("/")
                    where = f"version {top}: {rest}" if top in all_padding and rest else rel
                    fail(f"{where} differs from a fresh render: {_first_tex_difference(disk, fresh)}")
    if report.failures:
        raise VerifyFailure("\n".join([f"FAIL {m}" for m in report.failures] +
                                      [f"{build_dir}: {len(report.failures)} problem(s) found; the key cannot be trusted"]))
    return report


def _verify_problem(exam, label: str, stored: dict, report: Report, changed: set) -> Instance | None:
    """Check one stored problem against its independent checks; the instance to re-render, if it solves."""
    fail = report.failures.append
    pid, where = stored["id"], f"version {label}, problem {stored['number']} '{stored['id']}'"
    bp = exam.bank.problems.get(pid)
    if bp is None:
        fail(f"{where}: no such problem in the bank any more")
        return None
    if sha256(bp.path) != stored["hashes"]["spec"]:
        fail(f"{where}: spec {bp.path} changed since the build")
    now = manifest_hashes(exam, pid)
    for part in ("generator", "template"):
        if now[part] != stored["hashes"][part] and (pid, part) not in changed:
            changed.add((pid, part))
            fail(f"problem '{pid}': its {part} changed since the build")
    params = stored["params"]
    for msg in rounded_params(params):
        fail(f"{where}: {msg}")
    try:
        answers, items = solve_params(bp, params)
        independent = jsonable(bp.generator.check(params), "check")
    except QbankError as e:
        fail(f"{where}: stored parameters no longer solve: {e.message}")
        return None
    for name, value in (("independent check", independent), ("solver", answers)):
        if not close(stored["answers"], value):
            fail(f"{where}: key answer differs from the {name}: "
                 f"{first_difference(stored['answers'], value)} (key vs {name})")
    if [(i["kind"], i["params"]) for i in stored["items"]] != [(i["kind"], i["params"]) for i in items]:
        fail(f"{where}: solve items' parameters differ from the problem's parameters")
    for it in stored["items"]:
        report.items += 1
        again = jsonable(get_kind(it["kind"]).check(it["params"]), "kind check")
        if not close(it["answers"], again):
            fail(f"{where}: {it['kind']} answer differs from its independent check: "
                 f"{first_difference(it['answers'], again)} (key vs check)")
    return Instance(stored["number"], pid, stored["seed"], stored["points"], params, answers, items)


def _check_pdfs(vdir: Path, label: str, key: dict, report: Report) -> None:
    exam_pdf, key_pdf = vdir / "exam.pdf", vdir / "key.pdf"
    if not exam_pdf.exists() and not key_pdf.exists():
        return
    report.pdf_checked = True
    if not (exam_pdf.exists() and key_pdf.exists()):
        report.failures.append(f"version {label}: one of exam.pdf and key.pdf is missing")
        return
    numbers = _numbers_in(pdf_text(key_pdf))
    for prob in key["problems"]:
        for it in prob["items"]:
            # argmax is a 0-based index the key prints 1-based; every other number is printed as is
            shown_answers = {k: v for k, v in it["answers"].items() if k != "argmax"}
            for x in _numeric_leaves(shown_answers):
                shown = {fmt_num(x, d) for d in (4, 3, 2, 1)}
                if not shown & numbers:
                    report.failures.append(f"version {label}, problem {prob['number']} '{prob['id']}': "
                                           f"{it['kind']} answer {fmt_num(x)} does not appear in key.pdf")
    exam_text = pdf_text(exam_pdf)
    for marker in ("Solution:", "ANSWER KEY"):
        if marker in exam_text:
            report.failures.append(f"version {label}: exam.pdf shows solution text ({marker!r})")
