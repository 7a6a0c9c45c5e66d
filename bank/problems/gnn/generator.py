"""Graph neural networks: valid node updates, the training loss of node classification, one layer.

Solve kind ``gnn-bce-loss``: the average binary cross-entropy over the nodes that are not held
out. Part (a) asks which candidate update functions are valid for a GNN (independent of the
order of the neighbours, weights shared by all nodes), from a keyed pool in the spec. Part (c)
reads the residual update s_i <- s_i + W1 * mean_j tanh(W2 m_ij) on the graph of part (b), and
asks for two nodes' updates with each message replaced by the neighbour's state (m_ij = s_j), as
the original exam does.

Nodes are numbered 1..5 and sit on a regular pentagon; ``layout`` lists them clockwise from
the top. Only non-crossing edges are drawn, so every edge is visible in the figure.
"""
from __future__ import annotations

import functools
import itertools
import math
import re

import numpy as np
import sympy
from pydantic import BaseModel, ConfigDict, model_validator

from generator.errors import ParamError
from generator.params import require, vector, decimals_at_most
from generator.problem import Problem, Reject, Space, choice
from generator.registry import register, register_kind
from generator.texify import Tex, fmt_num

N_NODES = 5
LETTERS = "abcde"

# The layer of part (c), as printed. Its design patterns are read off this text in ``check``.
UPDATE_RULE = (r"s_i \;\leftarrow\; s_i + W_1 \cdot \frac{1}{|\mathcal N(i)|}"
               r"\sum_{j \in \mathcal N(i)} \tanh\!\big(W_2\, m_{ij}\big)")
PATTERNS = {"residual": True, "batch_norm": False, "attention": False}


# --------------------------------------------------------------------------------------------
# Solve kind gnn-bce-loss
# --------------------------------------------------------------------------------------------

def _node_list(params: dict, name: str, n: int) -> list[int]:
    """A list (possibly empty) of distinct 1-based node numbers in 1..n."""
    v = require(params, name)
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise ParamError(name, f"expected a list of node numbers (integers), got {v!r}")
    bad = [x for x in v if not 1 <= x <= n]
    if bad:
        raise ParamError(name, f"node numbers must be between 1 and {n}, got {bad}")
    if len(set(v)) != len(v):
        raise ParamError(name, f"node numbers must not repeat, got {v}")
    return v


def solve_kind(params: dict) -> dict:
    """Training nodes (1-based, sorted) and their average binary cross-entropy (natural log)."""
    labels = vector(params, "labels", integer=True)
    if any(y not in (0, 1) for y in labels):
        raise ParamError("labels", f"every label must be 0 or 1, got {labels}")
    n = len(labels)
    preds = vector(params, "predictions", length=n)
    if any(not 0 <= p <= 1 for p in preds):
        raise ParamError("predictions", f"every prediction must be a probability in [0, 1], got {preds}")
    held = set(_node_list(params, "held_out", n))
    train = [i for i in range(1, n + 1) if i not in held]
    if not train:
        raise ParamError("held_out", "every node is held out; there are no training nodes")
    total = 0.0
    for i in train:
        y, p = labels[i - 1], preds[i - 1]
        q = p if y == 1 else 1 - p  # probability the model gives the true label
        if q <= 0:
            raise ParamError("predictions", f"node {i} has label {y} but prediction {p}; the loss is infinite")
        total -= math.log(q)
    return {"train_nodes": train, "loss": total / len(train)}


def check_kind(params: dict) -> dict:
    """Independent route: the vectorised cross-entropy formula over a boolean training mask."""
    y = np.asarray(params["labels"], dtype=float)
    p = np.asarray(params["predictions"], dtype=float)
    mask = np.ones(len(y), dtype=bool)
    mask[np.asarray(params["held_out"], dtype=int) - 1] = False
    if not mask.any():
        raise ParamError("held_out", "no training nodes")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -(np.where(y == 1, np.log(p), 0.0) + np.where(y == 0, np.log1p(-p), 0.0))
    if not np.all(np.isfinite(terms[mask])):
        raise ParamError("predictions", "infinite loss on a training node")
    return {"train_nodes": [int(i) for i in np.flatnonzero(mask) + 1], "loss": float(terms[mask].mean())}


register_kind("gnn-bce-loss", solve_kind, check_kind)


# --------------------------------------------------------------------------------------------
# The problem
# --------------------------------------------------------------------------------------------

class Candidate(BaseModel):
    """One candidate node update of part (a), keyed by the instructor."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    formula: str
    """The update as LaTeX math (printed in display math)."""
    valid: bool
    """Whether it is a valid GNN update."""
    reason: str
    """One line for the key: why it is (in)valid."""


class GnnSpace(Space):
    """The candidate pool, the graph's size range, the probabilities and the layer sizes."""

    pool: tuple[Candidate, ...]
    """Keyed candidate updates for part (a)."""
    n_candidates: int = 3
    """How many candidates each version asks about (at least one valid and one invalid)."""
    n_edges: tuple[int, int] = (5, 7)
    """Range of the number of edges of the 5-node graph."""
    n_held_out: tuple[int, int] = (1, 2)
    """Range of the number of held-out nodes."""
    probabilities: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9)
    """Predicted probabilities to draw from (one decimal, strictly between 0 and 1)."""
    state_dims: tuple[int, ...] = (2, 3, 4, 5, 6, 8)
    """Choices of d, the dimension of a node state s_i."""
    message_rows: tuple[int, ...] = (2, 3, 4, 5, 6)
    """Choices of k, the number of rows of W2."""

    @model_validator(mode="after")
    def _sane(self) -> "GnnSpace":
        formulas = [c.formula for c in self.pool]
        if len(set(formulas)) != len(formulas):
            raise ValueError("pool: two candidates have the same formula")
        if not (2 <= self.n_candidates <= len(self.pool)):
            raise ValueError(f"n_candidates must be between 2 and the pool size {len(self.pool)}")
        if {c.valid for c in self.pool} != {True, False}:
            raise ValueError("pool: needs at least one valid and one invalid candidate")
        lo, hi = self.n_edges
        if not 4 <= lo <= hi <= 7:
            raise ValueError("n_edges must satisfy 4 <= min <= max <= 7 (a connected, non-crossing 5-node graph)")
        lo, hi = self.n_held_out
        if not 0 <= lo <= hi <= 3:
            raise ValueError("n_held_out must satisfy 0 <= min <= max <= 3")
        if not self.probabilities or any(not 0 < p < 1 or not decimals_at_most(p) for p in self.probabilities):
            raise ValueError("probabilities must be one-decimal numbers strictly between 0 and 1")
        if any(x < 1 for x in self.state_dims + self.message_rows):
            raise ValueError("state_dims and message_rows must be positive")
        return self


def _positions(layout: list[int]) -> dict[int, int]:
    """Node number -> position 0..4 on the pentagon (clockwise from the top)."""
    return {node: p for p, node in enumerate(layout)}


def _crosses(e: list[int], f: list[int], pos: dict[int, int]) -> bool:
    """Two chords of a convex polygon cross iff their endpoints interleave around it."""
    a, b = sorted((pos[e[0]], pos[e[1]]))
    c, d = pos[f[0]], pos[f[1]]
    if len({a, b, c, d}) < 4:
        return False
    return (a < c < b) != (a < d < b)


def _neighbours(edges: list[list[int]]) -> dict[int, list[int]]:
    """Adjacency lists, each sorted by node number."""
    nb: dict[int, list[int]] = {i: [] for i in range(1, N_NODES + 1)}
    for u, v in edges:
        nb[u].append(v)
        nb[v].append(u)
    return {i: sorted(js) for i, js in nb.items()}


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@register
class Gnn(Problem):
    """Valid GNN updates; BCE training loss with held-out nodes; a residual mean-aggregation layer."""

    name = "gnn"
    Space = GnnSpace

    def draw(self, rng: np.random.Generator) -> dict:
        s = self.space
        pick = lambda xs: int(choice(rng, xs))
        picks = rng.choice(len(s.pool), size=s.n_candidates, replace=False)  # already shuffled
        layout = [int(x) + 1 for x in rng.permutation(N_NODES)]
        # Non-crossing chords of a pentagon: sides, plus at most two diagonals from one corner.
        n_diag = int(rng.integers(0, 3))
        corner = int(rng.integers(0, N_NODES))
        diagonals = [(corner, (corner + 2) % N_NODES), (corner, (corner + 3) % N_NODES)]
        diagonals = [diagonals[int(rng.integers(0, 2))]] if n_diag == 1 else diagonals[:n_diag]
        n_edges = int(rng.integers(s.n_edges[0], s.n_edges[1] + 1))
        n_sides = max(0, min(N_NODES, n_edges - len(diagonals)))
        sides = [(p, (p + 1) % N_NODES) for p in rng.choice(N_NODES, size=n_sides, replace=False)]
        edges = sorted(sorted([layout[a], layout[b]]) for a, b in sides + diagonals)
        n_held = int(rng.integers(s.n_held_out[0], s.n_held_out[1] + 1))
        deg = {i: len(js) for i, js in _neighbours(edges).items()}
        eligible = [i for i in deg if deg[i] >= 2]
        pairs = [p for p in itertools.combinations(eligible, 2) if deg[p[0]] != deg[p[1]]]
        if not pairs:
            raise Reject("no two nodes of different degrees >= 2")
        asked = list(choice(rng, pairs))
        return {
            "candidates": [s.pool[int(i)].formula for i in picks],
            "layout": layout,
            "edges": edges,
            "labels": [int(x) for x in rng.integers(0, 2, size=N_NODES)],
            "predictions": [float(s.probabilities[int(i)]) for i in rng.integers(0, len(s.probabilities), size=N_NODES)],
            "held_out": sorted(int(x) + 1 for x in rng.choice(N_NODES, size=n_held, replace=False)),
            "d": pick(s.state_dims),
            "k": pick(s.message_rows),
            "asked": asked,
        }

    def validate(self, params: dict) -> None:
        s = self.space
        for key in ("candidates", "layout", "edges", "labels", "predictions", "held_out", "d", "k", "asked"):
            if key not in params:
                raise Reject(f"parameter '{key}' is missing")
        # (a) candidates come from the keyed pool, distinct, with both answers represented.
        by_text = {c.formula: c for c in s.pool}
        cands = params["candidates"]
        if not isinstance(cands, list) or not cands or not all(isinstance(c, str) for c in cands):
            raise Reject("candidates must be a non-empty list of formulas from the pool")
        unknown = [c for c in cands if c not in by_text]
        if unknown:
            raise Reject(f"candidates not in the spec's pool: {unknown}")
        if len(set(cands)) != len(cands):
            raise Reject("a candidate is asked twice")
        if len({by_text[c].valid for c in cands}) < 2:
            raise Reject("candidates are all valid or all invalid")
        # (b) the graph: a pentagon layout, simple, connected, non-crossing.
        layout, edges = params["layout"], params["edges"]
        if not (isinstance(layout, list) and all(_is_int(x) for x in layout)
                and sorted(layout) == list(range(1, N_NODES + 1))):
            raise Reject(f"layout must list the nodes 1..{N_NODES} once each")
        if not isinstance(edges, list) or not all(
                isinstance(e, list) and len(e) == 2 and all(_is_int(x) and 1 <= x <= N_NODES for x in e)
                and e[0] != e[1] for e in edges):
            raise Reject(f"edges must be pairs of distinct node numbers 1..{N_NODES}")
        if len({frozenset(e) for e in edges}) != len(edges):
            raise Reject("an edge is listed twice")
        if not s.n_edges[0] <= len(edges) <= s.n_edges[1]:
            raise Reject(f"{len(edges)} edges, outside {list(s.n_edges)}")
        pos = _positions(layout)
        if any(_crosses(e, f, pos) for e, f in itertools.combinations(edges, 2)):
            raise Reject("two edges cross in the pentagon layout")
        nb = _neighbours(edges)
        seen, todo = {1}, [1]
        while todo:
            for j in nb[todo.pop()]:
                if j not in seen:
                    seen.add(j)
                    todo.append(j)
        if len(seen) != N_NODES:
            raise Reject("the graph is not connected")
        # (b) labels, predictions, held-out nodes: a valid kind item, hand-computable. Predictions
        # may be null: symbolic only, as in the original exam (then there is no numeric item).
        if not isinstance(params["labels"], list) or len(params["labels"]) != N_NODES:
            raise Reject(f"expected {N_NODES} labels, one per node")
        try:
            out = solve_kind(self._bce_params(params))
        except ParamError as e:
            raise Reject(e.message) from None
        if params["predictions"] is not None and any(
                not 0 < p < 1 or not decimals_at_most(p) for p in params["predictions"]):
            raise Reject("predictions must be one-decimal probabilities strictly between 0 and 1")
        if not s.n_held_out[0] <= len(params["held_out"]) <= s.n_held_out[1]:
            raise Reject("number of held-out nodes outside the space")
        if len(out["train_nodes"]) < 2 or {params["labels"][i - 1] for i in out["train_nodes"]} != {0, 1}:
            raise Reject("the training nodes should have both labels")
        # (c) sizes and the two nodes asked about.
        d, k = params["d"], params["k"]
        if not (_is_int(d) and _is_int(k) and d >= 1 and k >= 1):
            raise Reject("d and k must be positive integers")
        if d == k:
            raise Reject("d == k would not show the order of W1's dimensions")
        asked = params["asked"]
        if not isinstance(asked, list) or len(asked) != 2 or not all(_is_int(i) and 1 <= i <= N_NODES for i in asked):
            raise Reject("asked must be two node numbers")
        d1, d2 = (len(nb[i]) for i in asked)
        if min(d1, d2) < 2 or d1 == d2:
            raise Reject("the two nodes asked must have different degrees, both at least 2")

    @staticmethod
    def _bce_params(params: dict) -> dict:
        """The kind's parameters; symbolic predictions (null) stand in as 0.5 to find the training nodes."""
        preds = params["predictions"]
        return {"labels": params["labels"], "predictions": [0.5] * N_NODES if preds is None else preds,
                "held_out": params["held_out"]}

    def items(self, params: dict) -> list:
        if params["predictions"] is None:
            return []  # a symbolic loss has no numeric item
        return [("gnn-bce-loss", {k: params[k] for k in ("labels", "predictions", "held_out")})]

    def solve(self, params: dict) -> dict:
        key = {c.formula: c for c in self.space.pool}
        bce = solve_kind(self._bce_params(params))
        numeric = params["predictions"] is not None
        nb = _neighbours(params["edges"])
        q = [params["predictions"][i - 1] if params["labels"][i - 1] else 1 - params["predictions"][i - 1]
             for i in bce["train_nodes"]] if numeric else None
        # The symbolic loss's terms: ln of the prediction for label 1, of its complement for label 0.
        terms = [f"log({LETTERS[i - 1]})" if params["labels"][i - 1] else f"log(1 - {LETTERS[i - 1]})"
                 for i in bce["train_nodes"]]
        return {
            "candidates": [{"valid": key[c].valid, "reason": key[c].reason} for c in params["candidates"]],
            "train_nodes": bce["train_nodes"],
            "log_terms": terms,
            "likelihoods": [round(x, 10) for x in q] if numeric else None,
            "loss": bce["loss"] if numeric else None,
            "patterns": dict(PATTERNS),
            "w1_shape": [params["d"], params["k"]],
            "expansions": [{"node": i, "neighbours": nb[i]} for i in params["asked"]],
        }

    def check(self, params: dict) -> dict:
        # (a) look each candidate up by its text (whitespace-insensitive), demanding exactly one match.
        norm = lambda t: re.sub(r"\s+", "", t)
        pool = [(norm(c.formula), c) for c in self.space.pool]
        cands = []
        for text in params["candidates"]:
            key = norm(text)
            hits = [c for formula, c in pool if formula == key]
            if len(hits) != 1:
                raise ValueError(f"candidate {text!r} matches {len(hits)} entries of the pool")
            cands.append({"valid": hits[0].valid, "reason": hits[0].reason})
        # (b) the loss as minus the log of the product of the likelihoods of the true labels.
        train = sorted(set(range(1, N_NODES + 1)) - set(params["held_out"]))
        # Symbolically: y ln p + (1 - y) ln(1 - p) with the label substituted, by sympy.
        log_terms = [_log_term(params["labels"][i - 1], LETTERS[i - 1]) for i in train]
        lik = loss = None
        if params["predictions"] is not None:
            lik = [params["predictions"][i - 1] ** params["labels"][i - 1]
                   * (1 - params["predictions"][i - 1]) ** (1 - params["labels"][i - 1]) for i in train]
            lik = [round(x, 10) for x in lik]
            loss = -math.log(math.prod(lik)) / len(train)
        # (c) patterns read off the printed rule; W1's shape from numpy arrays that must multiply.
        rhs = UPDATE_RULE.split(r"\leftarrow", 1)[1]
        patterns = {"residual": rhs.replace(r"\;", "").strip().startswith("s_i +"),
                    "batch_norm": "BN" in rhs or "norm" in rhs.lower(),
                    "attention": r"\alpha" in rhs or "softmax" in rhs}
        d, k, p = params["d"], params["k"], 7  # p: any message size
        s_i, m_ij, W2 = np.zeros(d), np.zeros(p), np.zeros((k, p))
        h = np.tanh(W2 @ m_ij)
        W1 = np.zeros((s_i.shape[0], h.shape[0]))
        if (s_i + W1 @ h).shape != s_i.shape:  # numpy raises first if the product does not fit
            raise ValueError("W1 has the wrong shape")
        A = np.zeros((N_NODES, N_NODES), dtype=int)
        for u, v in params["edges"]:
            A[u - 1, v - 1] = A[v - 1, u - 1] = 1
        return {
            "candidates": cands,
            "train_nodes": train,
            "log_terms": log_terms,
            "likelihoods": lik,
            "loss": loss,
            "patterns": patterns,
            "w1_shape": list(W1.shape),
            "expansions": [{"node": i, "neighbours": [int(j) + 1 for j in np.flatnonzero(A[i - 1])]}
                           for i in params["asked"]],
        }

    def workload(self, params: dict) -> dict:
        """Candidates to judge, held-out nodes (the loss has a term per other node), nodes to expand."""
        return {"candidates": len(params["candidates"]), "held_out": len(params["held_out"]),
                "asked": len(params["asked"])}

    def final_answers(self, answers: dict) -> dict:
        return {"a": [c["valid"] for c in answers["candidates"]], "b": answers["loss"],
                "c": [answers["w1_shape"], answers["expansions"]]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        roman = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"]
        verdicts = [f"({roman[k] if k < len(roman) else k + 1}) {'valid' if c['valid'] else 'invalid'}"
                    for k, c in enumerate(answers["candidates"])]
        nodes = ", ".join(fmt_num(i) for i in answers["train_nodes"])
        yes = lambda flag: "yes" if flag else "no"
        p = answers["patterns"]
        d, k = answers["w1_shape"]
        sets = "; ".join(f"node {e['node']}: mean over $\\{{{', '.join(fmt_num(j) for j in e['neighbours'])}\\}}$"
                         for e in answers["expansions"])
        letters = ", ".join(LETTERS)
        loss = (f"$L \\approx {fmt_num(answers['loss'], 3)}$" if answers["loss"] is not None
                else f"$L = {self.key_context(params, answers)['loss_symbolic']}$ (predictions ${letters}$)")
        return {
            "a": Tex("; ".join(verdicts)),
            "b": Tex(f"training nodes ${nodes}$; {loss}"),
            "c": Tex(f"residual {yes(p['residual'])}, batch norm {yes(p['batch_norm'])}, "
                     f"attention {yes(p['attention'])}; $W_1 \\in \\mathbb R^{{{d} \\times {k}}}$; {sets}"),
        }

    def given(self, params: dict) -> dict:
        """The figure, the update rule, the prediction letters and the ln table, as trusted LaTeX."""
        preds = params["predictions"]
        # Logs of every prediction and its complement, so the table does not hint which are needed.
        shown = sorted({round(x, 10) for p in preds or [] for x in (p, 1 - p)})
        return {"figure": Tex(self._figure(params)), "rule": Tex(UPDATE_RULE), "letters": LETTERS,
                "ln_table": [(x, round(math.log(x), 3)) for x in shown]}

    def key_context(self, params: dict, answers: dict) -> dict:
        """The key's formulas: the loss, symbolic and numeric, and the expanded updates."""
        labels, preds = params["labels"], params["predictions"]
        train = answers["train_nodes"]
        m = len(train)
        frac = rf"\frac{{1}}{{{m}}}"
        sym, numeric = [], []
        # The symbolic loss is typeset from the answers' log terms (which check re-derives), not anew.
        for term in answers["log_terms"]:
            m = re.fullmatch(r"log\((1 - )?([a-e])\)", term)
            sym.append(rf"\ln(1-{m.group(2)})" if m.group(1) else rf"\ln {m.group(2)}")
        for i in train:
            if preds is not None:
                numeric.append(rf"\ln {fmt_num(preds[i - 1])}" if labels[i - 1]
                               else rf"\ln(1-{fmt_num(preds[i - 1])})")
        expansions = []
        for e in answers["expansions"]:
            i, js = e["node"], e["neighbours"]
            terms = " + ".join(rf"\tanh(W_2\, s_{{{j}}})" for j in js)  # m_ij = s_j
            expansions.append(Tex(rf"s_{i} \leftarrow s_{i} + W_1 \cdot \frac{{1}}{{{len(js)}}}"
                                  rf"\Bigl({terms}\Bigr)"))
        return {
            "loss_symbolic": Tex(rf"-{frac}\Bigl[{' + '.join(sym)}\Bigr]"),
            "loss_numeric": Tex(rf"-{frac}\Bigl[{' + '.join(numeric)}\Bigr]"),
            "loss_lns": Tex(rf"-{frac}\bigl({' '.join(_signed(math.log(q)) for q in answers['likelihoods'] or [])}\bigr)"),
            "expansions": expansions,
        }

    @staticmethod
    def _figure(params: dict) -> str:
        """TikZ: the nodes on a pentagon, held-out nodes dashed and grey."""
        held = set(params["held_out"])
        lines = [r"\begin{tikzpicture}[every node/.style={circle, draw, thick, minimum size=7mm, inner sep=0pt}]"]
        for p, node in enumerate(params["layout"]):
            style = "dashed, fill=black!12" if node in held else "fill=white"
            lines.append(rf"\node[{style}] (n{node}) at ({90 - 72 * p}:1.55cm) {{${node}$}};")
        for u, v in params["edges"]:
            lines.append(rf"\draw[thick] (n{u}) -- (n{v});")
        lines.append(r"\end{tikzpicture}")
        return "\n".join(lines)


@functools.lru_cache(maxsize=64)
def _log_term(y: int, letter: str) -> str:
    """The log-likelihood term y ln p + (1 - y) ln(1 - p) of a node with label ``y`` and prediction
    ``letter``, simplified by sympy. Remembered: there are only ten, and sympy takes about 0.07 ms for
    each (a pure function of its arguments)."""
    x = sympy.Symbol(letter)
    return str(y * sympy.log(x) + (1 - y) * sympy.log(1 - x))


def _signed(x: float) -> str:
    """A logarithm as a signed term of a sum, three decimals: ``-0.223``."""
    return ("-" if x < 0 else "+") + fmt_num(abs(x), 3)
