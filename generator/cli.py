"""The ``qbank`` command line: parses options and calls :mod:`generator.api`. No logic lives here."""
from __future__ import annotations

import json
import shlex
import shutil
import sys
import traceback
from pathlib import Path

import click

from . import api
from . import scaffold
from .bank import all_kinds, find_root, load_bank, shown
from .errors import QbankError, SpecError
from .schema import MAX_VERSIONS
from .yamlio import load_yaml


class _Progress:
    """A progress bar per build stage on standard error (hidden when not a terminal)."""

    def __init__(self) -> None:
        self.bar = None
        self.stage = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage = stage
            self.bar = click.progressbar(length=total, label=stage[0].upper() + stage[1:], file=sys.stderr,
                                         show_eta=True, show_pos=True)
            self.bar.__enter__()
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


class _OneLineErrors(click.Group):
    """Usage errors (bad options, missing files) as one ``qbank: …`` line with exit 2, like all others."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as e:
            raise _usage(e) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            raise _usage(e) from None
        except QbankError as e:
            if ctx.params.get("debug"):  # the whole story, then the usual one line
                traceback.print_exception(e, file=sys.stderr)
            raise


def _usage(e: click.UsageError) -> QbankError:
    command = e.ctx.command_path if e.ctx else "qbank"
    return QbankError(f"{e.format_message()} (see '{command} --help')")


def _bank_root(ctx, param, value: Path | None) -> Path | None:
    """``--bank DIR``: the course folder holding ``bank/`` (or that ``bank/`` folder itself)."""
    if value is None:
        return None
    if (value / "bank").is_dir():
        return value
    if value.name == "bank" and (value / "problems").is_dir():
        return value.parent
    raise click.BadParameter(f"{value} holds no bank/ folder", ctx=ctx, param=param)


bank_option = click.option(
    "--bank", "bank", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
    callback=_bank_root, help="The course folder holding bank/; default: the nearest such folder at or above here.")


@click.group(name="qbank", cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qbank")
@click.option("--debug", is_flag=True, help="On an error, print the whole Python traceback (a generator's, say).")
def main(debug: bool) -> None:
    """qbank: exams and answer keys from a bank of parametrized YAML problems."""


@main.command()
@click.argument("exam", type=click.Path(dir_okay=False, path_type=Path), required=False)
@bank_option
@click.option("--versions", "-n", type=click.IntRange(1, MAX_VERSIONS), default=None,
              help="Number of versions (A, B, …, Z, AA, …, ZZ, AAA, …); default: the exam spec's 'versions'.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
              help="Exam seed; default: the exam spec's 'seed'.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder; default output/<exam-id>.")
@click.option("--no-pdf", is_flag=True, help="Write the LaTeX and keys only; do not compile.")
@click.option("--force", is_flag=True, help="Replace an existing build in the output folder.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="PDFs compiled at once; default: the number of cores.")
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV with columns name, sid: one exam per student, name and SID on the cover.")
@click.option("--seating", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV with columns sid, row, seat: neighbours get different versions; adds a seating chart.")
@click.option("--per-student", is_flag=True, help="With --roster: a version of its own for every student.")
@click.option("--duplex/--no-duplex", default=True, show_default=True,
              help="In print-all.pdf, a blank page after each exam with an odd page count, so that printed "
                   "double-sided every exam starts on a new sheet.")
@click.option("--shard", type=str, default=None, metavar="I/N",
              help="Build only the I-th of N equal blocks of the versions (and their students); "
                   "'qbank merge' puts the N shards together.")
def build(exam, bank, versions, seed, out, no_pdf, force, jobs, roster, seating, per_student, duplex, shard):
    """Build exam and answer-key PDFs for every version of EXAM (default: the bank's default exam)."""
    if shard is not None:
        parts = shard.split("/")
        if len(parts) != 2 or not all(p.isdigit() for p in parts) or int(parts[1]) < 1:
            raise QbankError(f"--shard {shard}: write I/N, e.g. --shard 1/2 (see 'qbank build --help')")
        shard = (int(parts[0]), int(parts[1]))
    progress = _Progress()
    try:
        result = api.build(exam, bank=bank, versions=versions, seed=seed, out=out, pdf=not no_pdf, force=force,
                           jobs=jobs, roster=roster, seating=seating, per_student=per_student, duplex=duplex,
                           shard=shard, progress=progress)
    finally:
        progress.close()
    for warning in result.warnings:
        click.echo(f"qbank: warning: {warning}", err=True)
    what = f"{result.versions} version{'s' * (result.versions != 1)}" + (f" (shard {shard[0]}/{shard[1]})" if shard else "")
    what += _students(result)
    click.echo(f"Built {result.out}: {what}" + (" (LaTeX only, --no-pdf)" if no_pdf else ""))


def _students(result) -> str:
    """', 3 student exams' for a roster build; without PDFs no copy is written, so only the assignment."""
    n = result.students
    if not n:
        return ""
    if not result.pdf:
        return f", {n} student{'s' * (n != 1)} assigned a version"
    return f", {n} student exam{'s' * (n != 1)}"


@main.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Where to write the whole build.")
@click.option("--force", is_flag=True, help="Replace an existing build in the output folder.")
@click.option("--exam", "exam_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Exam spec; default: the path stored in the shards' manifests.")
def merge(shards, out, force, exam_path):
    """Put the SHARDS of one build (qbank build --shard 1/N … N/N) together into one build."""
    result = api.merge(list(shards), out, force=force, exam_path=exam_path)
    what = f"{result.versions} version{'s' * (result.versions != 1)}" + _students(result)
    click.echo(f"Merged {len(shards)} shards into {result.out}: {what}")


@main.command()
@click.argument("kind")
@click.option("--params", "params_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="YAML or JSON file holding one mapping of parameters.")
@bank_option
def solve(kind, params_file, bank):
    """Print the answers of solve-contract KIND for a parameter file, as JSON.

    The kinds are the shipped library's and, inside a course folder, those its problems register."""
    kinds = all_kinds(bank)
    if kind not in kinds:
        raise QbankError(f"unknown kind '{kind}'; valid: {', '.join(sorted(kinds))}")
    try:
        params = load_yaml(params_file).data  # JSON is YAML
    except SpecError as e:
        raise QbankError(e.messages[0]) from None
    answers = api.solve(kind, params, bank)
    click.echo(json.dumps(answers, allow_nan=False))


@main.command(name="list")
@bank_option
def list_(bank):
    """List the problems available to the course (its own, further banks', the shipped library's)."""
    bank = load_bank(bank)
    rows = [(pid, bp.spec.title, str(bp.spec.total), "qbank" if bp.shipped else bp.origin.rsplit("/", 1)[0],
             ", ".join(bp.spec.topics)) for pid, bp in sorted(bank.problems.items())]
    head = ("ID", "TITLE", "POINTS", "FROM", "TOPICS")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]
    for r in [head] + rows:
        click.echo(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]}".rstrip())


@main.command()
@click.argument("build_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--exam", "exam_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Exam spec; default: the path stored in the build's manifest.")
@bank_option
@click.option("--strict", is_flag=True, help="Fail when a spec, generator or template changed since the build.")
def verify(build_dir, exam_path, bank, strict):
    """Re-derive every answer of BUILD_DIR, audit every file it wrote; exit 1 on any difference."""
    report = api.verify(build_dir, exam_path, bank=bank, strict=strict)
    for note in report.notes:
        click.echo(note)
    click.echo(report.summary(build_dir))


@main.command()
@bank_option
@click.option("--seeds", type=click.IntRange(1, 100000), default=500, show_default=True,
              help="Seeds to stress each generator with.")
@click.option("--problem", "only", multiple=True, help="Check only this problem id (repeatable; exam specs are skipped).")
@click.option("--no-pdf", is_flag=True, help="Render every problem and exam, but compile nothing.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=None,
              help="PDFs compiled at once; default: the number of cores.")
@click.option("--versions", type=click.IntRange(2, 702), default=4, show_default=True,
              help="Versions per trial build when listing the final answers versions cannot keep apart.")
@click.option("--report", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write the fairness report (plots per problem, a table per exam's build) to this folder.")
def check(bank, seeds, only, no_pdf, jobs, versions, report):
    """Catch what a build would, without building: validate every problem and exam spec of the
    course, stress every generator over many seeds, render every problem (exam and key, a few
    seeds) and every exam's version A, and compile (one pdflatex pass each) every problem's key
    and every exam's version A. Also list the final answers versions cannot keep apart."""
    ok = api.check(bank, seeds=seeds, only=list(only), pdf=not no_pdf, jobs=jobs, echo=click.echo,
                   versions=versions, report=report)
    if not ok:
        raise click.exceptions.Exit(1)


@main.command()
@click.argument("target", metavar="PROBLEM|EXAM.yaml")
@bank_option
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=None,
              help="Draw the problem at this seed (the seeds `qbank check` reports); default 0. For an exam: its seed.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="YAML or JSON file holding the problem's parameters, instead of a draw.")
@click.option("--version", "version", default=None, help="The version of an exam spec to show; default A.")
@click.option("--watch", is_flag=True, help="Preview again on every save of the problem's files or the templates.")
@click.option("--png", is_flag=True, help="Also write an image of every page (page-1.png, …).")
def preview(target, bank, seed, params_file, version, watch, png):
    """One problem (id or folder) or one version of an exam: a small PDF with the exam pages, then
    the key pages, in <course>/.qbank/preview/ (never a build). Prints its path."""
    from . import preview as pv

    params = None
    if params_file is not None:
        try:
            params = load_yaml(params_file).data
        except SpecError as e:
            raise QbankError(e.messages[0]) from None
        if not isinstance(params, dict):
            raise QbankError(f"{params_file}: expected a mapping of parameters")
    options = dict(root=bank, seed=seed, params=params, version=version, png=png)

    def show(result) -> None:
        click.echo(result.pdf)
        for image in result.pngs:
            click.echo(image)

    if not watch:
        show(pv.preview(target, **options))
        return
    click.echo("qbank: watching for changes; Ctrl-C stops", err=True)
    try:
        pv.watch(target, on_result=show, on_error=lambda e: click.echo(f"qbank: {e.format_message()}", err=True),
                 **options)
    except KeyboardInterrupt:
        pass


@main.command()
@click.argument("build_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--latex", "latex", is_flag=True, required=True, help="Export the LaTeX sources (the only format so far).")
@click.option("--zip", "as_zip", is_flag=True, help="One zip per version instead of one folder per version.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write; default: BUILD_DIR-latex next to the build.")
@click.option("--force", is_flag=True, help="Replace an existing export.")
def export(build_dir, latex, as_zip, out, force):
    """Export each version of BUILD_DIR as standalone LaTeX that compiles with plain pdflatex."""
    path = api.export_latex(build_dir, out, as_zip=as_zip, force=force)
    click.echo(f"Exported {path}")


@main.command()
@click.argument("directory", type=click.Path(file_okay=True, path_type=Path))
@click.option("--course", default=None, help="The course's name, for the README and the example exam.")
def init(directory, course):
    """Create a course repository in DIRECTORY: a bank with two example problems, an example exam,
    a README for course staff, a .gitignore, a CI workflow, and a .venv that runs this qbank."""
    path = scaffold.init_course(directory, course)
    q = ".venv/bin/qbank" if (Path(path) / ".venv" / "bin" / "qbank").exists() else _this_qbank()
    steps = f"{q} check && {q} build && {q} verify output/example"
    if Path(path).resolve() == Path.cwd().resolve():
        click.echo(f"Created a course in the current folder. Next: {steps}")
    else:
        click.echo(f"Created {path}. Next: cd {shlex.quote(str(path))} && {steps}")


def _this_qbank() -> str:
    """How to run this qbank from any folder: ``qbank`` when that is on PATH, else its full path
    (a relative ``.venv/bin/qbank`` stops working after ``cd`` into the new course)."""
    me = Path(sys.argv[0]).resolve()
    on_path = shutil.which("qbank")
    if me.name == "qbank" and (on_path is None or Path(on_path).resolve() != me):
        return shlex.quote(str(me))
    return "qbank"


@main.command()
@click.argument("problem_id")
@click.option("--multiple-choice", is_flag=True, help="A multiple-choice question written only in YAML.")
@bank_option
def new(problem_id, multiple_choice, bank):
    """Create bank/problems/PROBLEM_ID/: a small working problem (spec, generator, template, test) to edit."""
    folder = scaffold.new_problem(problem_id, bank, multiple_choice)
    files = ", ".join(sorted(p.name for p in folder.iterdir()))
    click.echo(f"Created {shown(folder)}/: {files}")


@main.command()
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Replace the course's own copy of NAME with qbank's.")
@bank_option
def template(name, force, bank):
    """Copy qbank's document template NAME (exam, summary, seating, …) into the course's templates/ to
    edit; builds use the course's copy from then on. Without NAME: list them, and which the course has."""
    root = bank or find_root()
    if name:
        target = scaffold.copy_template(name, root, force)
        click.echo(f"Copied qbank's {target.name} to {shown(target)}: edit it there; builds and previews use it now")
        return
    click.echo("Document templates (a copy in the course's templates/ is used instead of qbank's):")
    for file, src, own in scaffold.document_templates(root):
        where = f"the course's: {shown(own)}" if own else f"qbank's: {src}"
        click.echo(f"  {file.removesuffix('.tex.j2'):16s} {where}")
    click.echo("Copy one to edit: qbank template NAME")


if __name__ == "__main__":  # pragma: no cover
    main()
