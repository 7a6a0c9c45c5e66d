"""The grader's key summary: one short final answer per part, for every problem in the bank."""
from __future__ import annotations

import re
import subprocess
from fractions import Fraction

import pytest

from generator.bank import load_bank
from generator.build import derive_seed, draw_params, jsonable, solve_params
from generator.texify import escape, fmt_num, vec

from .conftest import ROOT

BANK = load_bank(ROOT)
IDS = sorted(BANK.problems)
N_SEEDS = 50


def instances(pid: str, n: int):
    """``n`` drawn instances of problem ``pid``: (params, answers, summary)."""
    bp = BANK.problems[pid]
    for s in range(n):
        seed = derive_seed(7, "S", pid) + s
        params = jsonable(draw_params(bp, seed), "params")
        answers, _ = solve_params(bp, params)
        yield params, answers, bp.generator.summary(params, answers)


def has_num(text: str, x, digits: int = 4) -> bool:
    """``x`` as the key prints it, not merely as part of a longer number (2 in 24, 0.5 in 0.55)."""
    return re.search(r"(?<![\d.])" + re.escape(fmt_num(x, digits)) + r"(?!\.?\d)", text) is not None


# -- one concrete assertion per problem: the key numbers (or words, or ticks) are in the summary --

def _argmax_attention(params, answers, summary):
    assert str(vec(answers["output"])) in summary["a"]
    assert all(has_num(summary["a"], s) for s in answers["scores"])


def _batchnorm(params, answers, summary):
    assert f"\\beta = {fmt_num(params['beta'])}" in summary["a"]
    assert f"|\\gamma| = {fmt_num(abs(params['gamma']))}" in summary["a"]
    assert str(vec(answers["b"]["out_mean"])) in summary["b"] and has_num(summary["b"], answers["b"]["rho"])


def _beam_search(params, answers, summary):
    for part, which in (("a", "exhaustive"), ("b", "greedy"), ("c", "beam")):
        words = escape(" ".join(answers[which]["sequence"]))
        assert f"\\textsf{{{words}}}" in summary[part], (part, which)
        assert has_num(summary[part], answers[which]["logp"])
    # The three decoders give three different answers, so each part names a different sequence.
    assert len({summary[p].split(",")[0] for p in "abc"}) == 3


def _cnn(params, answers, summary):
    fc = answers["rows"][-1]
    assert fc["layer"].startswith("FC") and has_num(summary["a"], fc["params"])
    assert all(has_num(summary["a"], r["params"]) for r in answers["rows"])
    assert all(str(vec(s["features"])) in summary["b"] for s in answers["shifted"])


def _dropout_ridge(params, answers, summary):
    assert f"\\operatorname{{diag}}({', '.join(fmt_num(g) for g in answers['gamma'])})" in summary["a"]
    assert f"\\lambda = (1-p)/p = {fmt_num(answers['lam'])}" in summary["a"]
    for row in answers["x_tilde"]:
        for v in row:
            f = Fraction(v).limit_denominator(1000)
            assert re.search(r"(?<![\d/-])" + re.escape(str(f)) + r"(?![\d/])", summary["b"]), (v, summary["b"])
    assert all(has_num(summary["c"], v) for v in answers["x_tilde_norms"])


def _gnn(params, answers, summary):
    assert f"L \\approx {fmt_num(answers['loss'], 3)}" in summary["b"]  # as the template prints it
    d, k = answers["w1_shape"]
    assert f"{d} \\times {k}" in summary["c"]
    verdicts = re.findall(r"\b(valid|invalid)\b", summary["a"])
    assert verdicts == ["valid" if c["valid"] else "invalid" for c in answers["candidates"]]


def _honor_code(params, answers, summary):
    # The warm-up gist is whole sentences of the model answer: its first one leads.
    answer = " ".join(answers["warmup_answer"].split())
    first = summary["warmup"].split(". Full credit")[0]
    assert answer.startswith(first) and len(first) > 10
    if "Full credit for" in answer and not answer.startswith("Full credit"):
        assert "Full credit for" in summary["warmup"]
    assert "statement" in summary["honor"] and "signed" in summary["honor"]


def _linear_autoencoder(params, answers, summary):
    letters = "ABCDEFGHIJ"
    found = re.findall(r"\((i+|iv|v)\) ([A-J](?:, [A-J])*)", summary["a"])
    assert [f[1] for f in found] == [", ".join(letters[i] for i in keyed) for keyed in answers["keyed"].values()]
    assert summary["b"].startswith("Yes" if answers["orthonormal"] else "No")


def _rnn_backprop(params, answers, summary):
    assert answers["dy_dw"]["latex"] in summary["b"]
    if "w" in params:
        assert summary["b"].rstrip("$").endswith(f"= {fmt_num(answers['dy_dw']['value'])}")
        assert has_num(summary["d"], answers["edge_sum"]["value"])


def _translation(params, answers, summary):
    for part, key in (("b", "train_inputs"), ("c", "eval_inputs")):
        for w in answers[key][1:]:
            assert escape(w) in summary[part], (part, w)
        assert "\\texttt{\\textless{}sos\\textgreater{}}" in summary[part]
    slip = params["predicted"][answers["error_step"] - 1]
    assert f"\\underline{{{escape(slip)}}}" in summary["c"]


def _vanishing_gradients(params, answers, summary):
    names = {(True, True): "both", (True, False): "vanishing only", (False, True): "exploding only",
             (False, False): "neither"}
    for i, pattern in enumerate(zip(answers["vanishing"], answers["exploding"]), start=1):
        assert f"({i}) {names[pattern]}" in summary["all"]


def _activation_functions(params, answers, summary):
    correct = [chr(65 + i) for i, o in enumerate(params["options"]) if o["correct"]]
    assert summary["all"].startswith(", ".join(correct))


CHECKS = {
    "activation-functions": _activation_functions,
    "argmax-attention": _argmax_attention,
    "batchnorm": _batchnorm,
    "beam-search": _beam_search,
    "cnn": _cnn,
    "dropout-ridge": _dropout_ridge,
    "gnn": _gnn,
    "honor-code": _honor_code,
    "linear-autoencoder": _linear_autoencoder,
    "rnn-backprop": _rnn_backprop,
    "translation": _translation,
    "vanishing-gradients": _vanishing_gradients,
}


@pytest.mark.parametrize("pid", IDS)
def test_summary_parts_and_answers(pid):
    """Over many seeds: one entry per part of the spec, in order, each a non-empty string that
    holds the part's key numbers."""
    parts = list(BANK.problems[pid].spec.points)
    for params, answers, summary in instances(pid, N_SEEDS):
        assert list(summary) == parts, f"{pid}: summary parts {list(summary)}, spec parts {parts}"
        for part, text in summary.items():
            assert isinstance(text, str) and text.strip(), f"{pid} part {part}: empty summary"
            assert "\n" not in text.strip(), f"{pid} part {part}: a summary is one short paragraph"
        if pid in CHECKS:
            CHECKS[pid](params, answers, summary)


def test_every_problem_has_a_concrete_check():
    assert sorted(CHECKS) == IDS


@pytest.mark.pdf
def test_summaries_compile(tmp_path):
    """Every summary is valid LaTeX: three seeds of every problem in one document through pdflatex."""
    body = []
    for pid in IDS:
        for s, (_, _, summary) in enumerate(instances(pid, 3)):
            rows = "\n".join(f"({escape(part)}) & {text} \\\\" for part, text in summary.items())
            body.append(f"\\medskip\\noindent\\textbf{{{escape(pid)}, seed {s}}}\\par\\noindent"
                        f"\\begin{{tabular}}{{@{{}}l p{{0.8\\linewidth}}@{{}}}}\n{rows}\n\\end{{tabular}}\n")
    # T1 fonts as in the exam documents: the escaper targets them (\textless, Latin Extended-A).
    doc = ("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{amsmath}\n\\usepackage{amssymb}\n"
           "\\begin{document}\n" + "\n".join(body) + "\\end{document}\n")
    (tmp_path / "summary.tex").write_text(doc, encoding="utf-8")
    r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "summary.tex"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout[-3000:]
    assert (tmp_path / "summary.pdf").stat().st_size > 0
