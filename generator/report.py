"""``qbank check --report DIR``: how fair the versions are (R/exams' stresstest is the model).

Per problem, over the seeds ``check`` stresses it with: the distribution of each final answer,
of the workload and of the digits in the final answers (a proxy for arithmetic effort), one PNG
each problem. Per exam spec of the bank, its build (seed and versions as the spec gives them,
drawn as ``qbank build`` draws them): each version's workload and the final answers versions share.
"""
from __future__ import annotations

import collections
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure  # no pyplot: no global backend state, renders with Agg

from .bank import Bank, BankProblem, exam_specs, load_exam
from .build import derive_seed, draw_params, draw_versions, final_answers, jsonable, version_labels, workload
from .errors import OutputError
from .output import staged, write_file
from .texify import fmt_num

REPORT = "report.md"
TOP = 15  # distinct values shown per plot; the rest are summed into one bar


@dataclass
class ProblemStats:
    """One problem over many seeds."""

    problem: str
    seeds: int = 0
    finals: dict[str, collections.Counter] = field(default_factory=dict)
    workloads: collections.Counter = field(default_factory=collections.Counter)
    digits: collections.Counter = field(default_factory=collections.Counter)
    """(workload, digits in the final answers) -> draws."""


def _digits(value: Any) -> int:
    """Significant digits a student writes for the numbers in ``value`` (booleans and text count 0)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return 0
    if isinstance(value, (int, float)):
        return len(re.sub(r"^0+", "", re.sub(r"[^0-9]", "", fmt_num(abs(value))))) or 1
    if isinstance(value, dict):
        return sum(_digits(v) for v in value.values())
    return sum(_digits(v) for v in value)


def _short(text: str, width: int = 28) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def problem_stats(bp: BankProblem, seeds: int, exam_seed: int = 0) -> ProblemStats:
    """Draw ``bp`` at the seeds ``qbank check`` stresses it with; tally answers, workload, digits."""
    stats = ProblemStats(bp.spec.id)
    for s in range(seeds):
        params = jsonable(draw_params(bp, derive_seed(exam_seed, f"check-{s}", bp.spec.id)), "params")
        answers = jsonable(bp.generator.solve(params), "answers")
        finals = jsonable(bp.generator.final_answers(answers), "final answers")
        for name, value in finals.items():
            stats.finals.setdefault(name, collections.Counter())[json.dumps(value, ensure_ascii=False)] += 1
        load = ", ".join(f"{k}={json.dumps(v)}" for k, v in workload(bp, params).items()) or "(none declared)"
        stats.workloads[load] += 1
        stats.digits[load, _digits(finals)] += 1
        stats.seeds += 1
    return stats


def _numbers(value: Any) -> list[float]:
    """The numbers inside a final answer (booleans are not numbers here)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, (int, float)):
        return [value]
    return [x for v in (value.values() if isinstance(value, dict) else value) for x in _numbers(v)]


def _answer_panel(ax, counter: collections.Counter, name: str, seeds: int) -> None:
    """Few distinct values: how often each comes up. Many numeric ones: a histogram of their numbers."""
    values = {k: json.loads(k) for k in counter}
    numbers = [x for k, n in counter.items() for x in _numbers(values[k]) * n]
    title = f"final answer {name}\n{len(counter)} distinct in {seeds} draws"
    if len(counter) > TOP and numbers:
        ax.hist(numbers, bins=min(30, len(set(numbers))), color="C0")
        scalar = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values.values())
        ax.set_xlabel("value" if scalar else "numbers inside the answer", fontsize=8)
        ax.set_ylabel("count", fontsize=8)
    else:
        _bars(ax, counter)
    ax.set_title(title, fontsize=9)


def _bars(ax, counter: collections.Counter) -> None:
    """Frequencies of the most common values, most common first; the rest in one bar."""
    common = counter.most_common(TOP)
    labels = [_short(k) for k, _ in common]
    heights = [n for _, n in common]
    rest = sum(counter.values()) - sum(heights)
    if rest:
        labels.append(f"{len(counter) - TOP} others")
        heights.append(rest)
    ax.bar(range(len(heights)), heights, color=["C0"] * len(common) + ["C7"] * bool(rest))
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("draws", fontsize=8)


def plot_problem(stats: ProblemStats, path: Path) -> None:
    """One PNG: a panel per final answer, the workload, and the digits of the final answers per workload."""
    n = len(stats.finals) + 2
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (name, counter) in zip(axes, stats.finals.items()):
        _answer_panel(ax, counter, name, stats.seeds)
    ax = axes[n - 2]
    _bars(ax, stats.workloads)
    ax.set_title(f"workload\n{len(stats.workloads)} distinct in {stats.seeds} draws", fontsize=9)
    ax = axes[n - 1]
    ax.set_title("digits in the final answers\n(a proxy for arithmetic effort)", fontsize=9)
    if not any(d for _, d in stats.digits):
        ax.text(0.5, 0.5, "no numbers in the final answers", ha="center", va="center", fontsize=9)
        ax.set_axis_off()
    else:
        _digit_bars(ax, stats)
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(f"{stats.problem}: {stats.seeds} seeds", fontsize=11)
    fig.savefig(path, dpi=80, metadata={"Software": None})


def _digit_bars(ax, stats: ProblemStats) -> None:
    """Draws per number of digits, stacked by workload (does one workload cost more?)."""
    xs = sorted({d for _, d in stats.digits})
    bottom = [0] * len(xs)
    for i, load in enumerate(sorted({w for w, _ in stats.digits})[:8]):
        heights = [stats.digits[load, x] for x in xs]
        ax.bar(xs, heights, bottom=bottom, color=f"C{i}", label=_short(load, 30))
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.legend(fontsize=6, title="workload", title_fontsize=6)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("significant digits written", fontsize=8)
    ax.set_ylabel("draws", fontsize=8)


def build_table(exam_path: Path, root: Path, versions: int | None) -> str:
    """Markdown: per problem of the exam's build, each version's workload and the shared final answers."""
    exam = load_exam(exam_path, root)
    n = versions or exam.spec.versions
    labels = version_labels(n)
    drawn = draw_versions(exam, labels, exam.spec.seed)
    by_problem: dict[str, dict[str, Any]] = {}
    for label, instances in drawn.items():
        for inst in instances:
            by_problem.setdefault(inst.problem_id, {})[label] = inst
    lines = [f"### {exam.spec.id}: seed {exam.spec.seed}, {n} versions", "",
             "| problem | workload | same in every version | final answers shared by versions |",
             "|---|---|---|---|"]
    for pid, insts in by_problem.items():
        bp = exam.bank.problems[pid]
        if exam.entry(pid)[1].params is not None:
            # Pinned: one instance for every version (possibly symbolic, with no numbers to weigh).
            lines.append(f"| {pid} | pinned | yes | pinned: the same instance in every version |")
            continue
        loads = {label: json.dumps(workload(bp, i.params), sort_keys=True) for label, i in insts.items()}
        same = "yes" if len(set(loads.values())) == 1 else "NO: " + "; ".join(f"{k} {v}" for k, v in loads.items())
        shared = []
        values: dict[str, dict[str, list[str]]] = {}
        for label, inst in insts.items():
            for name, v in final_answers(bp, inst.answers).items():
                values.setdefault(name, {}).setdefault(v, []).append(label)
        for name, by_value in values.items():
            shared += [f"{name} = {_short(v, 40)} ({'='.join(ls)})" for v, ls in by_value.items() if len(ls) > 1]
        if not values:
            shared = ["(declares none)"]
        first = next(iter(loads.values()))
        lines.append(f"| {pid} | {'(none declared)' if first == '{}' else first} | {same} | "
                     f"{'; '.join(shared) or 'none'} |".replace("|  |", "| |"))
    return "\n".join(lines) + "\n"


def write_report(bank: Bank, out: Path, seeds: int, ids: list[str], versions: int | None = None) -> Path:
    """Write the report folder ``out`` (replaced whole when it holds an earlier report)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / REPORT).is_file())):
        raise OutputError(f"{out} exists and is not a qbank report; choose another folder for --report")
    out.parent.mkdir(parents=True, exist_ok=True)
    with staged(out, force=True, ours=lambda folder: (folder / REPORT).is_file()) as stage:
        lines = ["# Fairness report", "",
                 f"Per problem: {seeds} draws at the seeds `qbank check` stresses it with; each final answer's "
                 "distribution, the workload's, and the significant digits of the final answers (a proxy for "
                 "arithmetic effort). Per exam: its build (the spec's seed"
                 + (f", {versions} versions" if versions else " and versions") + "), drawn as `qbank build` draws it.",
                 "", "## Problems", ""]
        for pid in ids:
            stats = problem_stats(bank.problems[pid], seeds)
            plot_problem(stats, stage / f"{pid}.png")
            lines += [f"### {pid}", "", f"![{pid}]({pid}.png)", ""]
        lines += ["## Builds", ""]
        for exam_path in exam_specs(bank.root):
            lines.append(build_table(exam_path, bank.root, versions))
        write_file(stage, REPORT, "\n".join(lines))
    return out
