"""Backpropagation through a scalar linear RNN unrolled T steps.

The recurrence h_0 = 0, h_t = w (u_t + h_{t-1}) gives y = h_T = sum_j w^(T-j+1) u_j. Unrolled, it is a
chain of alternating multiply and add nodes, and the one weight w feeds every multiplication. The
total derivative dy/dw is the sum of the contributions of the T uses of w (one per edge from w),
each the backward partial of y at that multiplication times the multiplication's other input.

Solve kind ``rnn-backprop``. The problem's key is symbolic (sympy) and, when ``w`` and ``u`` are
drawn, numeric too.

Two ways to draw the graph (``h0_node``): by default the first step is the multiplication w*u_1
(h_0 = 0 needs no addition) and the last named node is y itself; with ``h0_node: true``, as in the
original exam, the first node is the addition u_1 + h_0 and y is the final multiplication w*(last
named node), so the named nodes are the T additions and the first T - 1 multiplications.
"""
from __future__ import annotations

import copy
import functools
import math
import re
from fractions import Fraction

import numpy as np
import sympy
from pydantic import field_validator, model_validator

from generator.errors import ParamError
from generator.params import number, tidy, vector
from generator.problem import Problem, Reject, Space, choice
from generator.registry import register, register_kind
from generator.texify import Tex, fmt_num

# --------------------------------------------------------------------------------------------
# The solve kind
# --------------------------------------------------------------------------------------------


def solve_kind(params: dict) -> dict:
    """Forward states, output and dy/dw by one forward and one backward (reverse-mode) pass."""
    w = number(params, "w")
    u = vector(params, "u")
    h, adds = [], []  # adds[k] = u_k + h_{k-1}: the multiplication's other input
    prev = 0
    for ut in u:
        adds.append(ut + prev)
        prev = w * adds[-1]
        h.append(prev)
    # Backward: dy/dh_T = 1 and each step back multiplies by w (through the add node, by 1).
    grad, dy_dw = 1, 0
    for a in reversed(adds):
        dy_dw += grad * a  # the use of w at this step contributes (dy/dh_k) * a_k
        grad *= w
    if not all(math.isfinite(x) for x in (*h, dy_dw) if isinstance(x, float)):
        raise ParamError("w", "the states overflow; use smaller w or fewer inputs")
    return {"h": [tidy(x) for x in h], "y": tidy(h[-1]), "dy_dw": tidy(dy_dw)}


def _exact(x) -> Fraction:
    return Fraction(x)  # exact for ints and for binary floats


def _unroll(ws: list[Fraction], u: list[Fraction], bump: int | None = None, eps: Fraction = Fraction(0),
            h0: bool = False) -> list[Fraction]:
    """Every node value of the unrolled graph, in order [h_1, a_2, h_2, …, a_T, h_T]
    (with ``h0``: [a_1, h_1, a_2, …, a_T, h_T]); the last one is y.

    ``ws[k]`` is the weight used at step k (separate copies, so one use of w can be moved alone);
    ``bump`` adds ``eps`` to one node's value before the rest of the chain reads it.
    """
    nodes: list[Fraction] = []
    h = Fraction(0)
    for k, (wk, uk) in enumerate(zip(ws, u)):
        if k > 0 or h0:  # h_0 = 0: the first addition is a node only when the graph draws it
            a = uk + h
            if bump == len(nodes):
                a += eps
            nodes.append(a)
        else:
            a = uk
        h = wk * a
        if bump == len(nodes):
            h += eps
        nodes.append(h)
    return nodes


def _output(w: Fraction, u: list[Fraction]) -> Fraction:
    return _unroll([w] * len(u), u)[-1]


def _extrapolate_to_zero(xs: list[Fraction], ys: list[Fraction]) -> Fraction:
    """Exact Lagrange extrapolation of the points (xs, ys) to x = 0."""
    total = Fraction(0)
    for i, (xi, yi) in enumerate(zip(xs, ys)):
        term = yi
        for j, xj in enumerate(xs):
            if j != i:
                term *= (0 - xj) / (xi - xj)
        total += term
    return total


def _fd_dy_dw(w: Fraction, u: list[Fraction]) -> Fraction:
    """dy/dw by central differences, Richardson-extrapolated to step 0.

    For a polynomial y of degree T in w, (y(w+h) - y(w-h)) / 2h is a polynomial of degree
    <= (T-1)/2 in h^2, so exact extrapolation in h^2 through enough steps gives the derivative exactly.
    """
    steps = [Fraction(1, 2 + i) for i in range((len(u) - 1) // 2 + 2)]
    quotients = [(_output(w + h, u) - _output(w - h, u)) / (2 * h) for h in steps]
    return _extrapolate_to_zero([h * h for h in steps], quotients)


def _as_number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def check_kind(params: dict) -> dict:
    """Independent route: exact rational forward loop, and dy/dw by extrapolated finite differences."""
    w = _exact(params["w"])
    u = [_exact(x) for x in params["u"]]
    nodes = _unroll([w] * len(u), u)
    h = nodes[0::2]  # multiplications sit at the even positions of the chain
    return {"h": [_as_number(x) for x in h], "y": _as_number(h[-1]), "dy_dw": _as_number(_fd_dy_dw(w, u))}


register_kind("rnn-backprop", solve_kind, check_kind)

# --------------------------------------------------------------------------------------------
# The problem
# --------------------------------------------------------------------------------------------

GREEK = {"alpha", "beta", "gamma", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "phi", "chi",
         "psi", "omega", "theta", "eta", "zeta", "pi"}
# Letters the problem already uses (w, u, y, h, T) or that read as something else (d, e, l, o).
RESERVED = set("wuyhTdelo")
_LETTER = re.compile(r"[A-Za-z]")


def _name_problem(name) -> str | None:
    """Why ``name`` cannot be a node name (None when it can): one letter or one Greek command."""
    if not isinstance(name, str):
        return f"node name {name!r} is not a string"
    if _LETTER.fullmatch(name):
        return f"node name {name!r} is reserved" if name in RESERVED else None
    if name.startswith("\\") and name[1:] in GREEK:
        return None
    return f"node name {name!r} must be one letter or a Greek letter command such as \\alpha"


class RnnSpace(Space):
    """How many steps, whether numbers are drawn, their ranges, and the pools of node names."""

    steps: tuple[int, ...] = (3, 4)
    """T is drawn from these."""
    numeric: bool = True
    """Draw numbers for w and the inputs (and ask for numeric answers as well as symbolic ones)."""
    w_choices: tuple[int, ...] = (-2, -1, 2, 3)
    u_range: tuple[int, int] = (-3, 3)
    max_abs: int = 250
    """No node value, partial or dy/dw may exceed this in size (keeps the arithmetic by hand)."""
    given: int = 2
    """How many of the first forward values part (a) gives away."""
    h0_node: tuple[bool, ...] = (False,)
    """Draw the graph with the explicit first addition u_1 + h_0 (true), without it (false), or either."""
    name_sets: tuple[str, ...] = ("p q r s t v z", "a b c f g k m", r"\alpha \beta \gamma \kappa \lambda \mu \nu")
    """Space-separated node names; each set needs at least 2 max(steps) - 1 of them."""

    @field_validator("steps")
    @classmethod
    def _steps(cls, v):
        if not v or any(t < 2 or t > 6 for t in v):
            raise ValueError("steps must be a non-empty list of integers between 2 and 6")
        return v

    @field_validator("name_sets")
    @classmethod
    def _sets(cls, v):
        if not v:
            raise ValueError("name_sets must not be empty")
        for s in v:
            names = s.split()
            for n in names:
                if (why := _name_problem(n)) is not None:
                    raise ValueError(why)
            if len(set(names)) != len(names):
                raise ValueError(f"name set {s!r} repeats a name")
        return v

    @model_validator(mode="after")
    def _fits(self):
        need = 2 * max(self.steps) - 1
        for s in self.name_sets:
            if len(s.split()) < need:
                raise ValueError(f"name set {s!r} has {len(s.split())} names; T = {max(self.steps)} needs {need}")
        if not self.w_choices or any(w in (0, 1) for w in self.w_choices):
            raise ValueError("w_choices must be a non-empty list without 0 and 1")
        lo, hi = self.u_range
        if lo > hi or (lo == 0 and hi == 0):
            raise ValueError("u_range must be [low, high] with low <= high and a nonzero value inside")
        if self.given < 0:
            raise ValueError("given must be 0 or more")
        return self


def _symbols(T: int):
    return sympy.Symbol("w"), [sympy.Symbol(f"u{j}") for j in range(1, T + 1)]


def _pack(expr, value=None) -> dict:
    """A symbolic answer as JSON: LaTeX for the key, str to re-parse, and the value when numeric."""
    out = {"latex": sympy.latex(expr), "expr": str(expr)}
    if value is not None:
        out["value"] = value
    return out


def _steps(T: int) -> list[tuple[str, int]]:
    """The chain from h_0 = 0 as ("add", j) (add input j, 0-based) and ("mul", k) (k-th use of w)."""
    return [step for k in range(T) for step in (("add", k), ("mul", k))]


@functools.lru_cache(maxsize=None)
def _derivation(T: int, h0: bool = False):
    """The symbolic answers for T steps, and a fast function giving their values at (w, u1..uT).

    The expressions depend on T (and the graph's shape) alone, so sympy runs once per T instead
    of once per draw.
    """
    w, u = _symbols(T)
    steps = _steps(T)
    apply = lambda step, x: u[step[1]] + x if step[0] == "add" else w * x
    outputs, x = [], sympy.Integer(0)
    for step in steps:
        x = apply(step, x)
        outputs.append(x)
    # The named nodes: without h0 the first addition (u_1 + 0) is not drawn and y is the last
    # named node; with h0 every addition is drawn and y, the last multiplication, is not named.
    first = 0 if h0 else 1
    exprs = outputs[first:first + 2 * T - 1]
    y = outputs[-1]
    dy_dw = sympy.diff(y, w)
    # Backward: make node i a free symbol n, rebuild the chain downstream of it, differentiate.
    n = sympy.Symbol("n")
    backward = []
    for i in range(len(exprs)):
        g = n
        for step in steps[first + i + 1:]:
            g = apply(step, g)
        backward.append(sympy.diff(g, n))
    # Edges: give each multiplication its own copy w_k of the weight; dy/dw_k at w_k = w.
    wk = sympy.symbols(f"w1:{T + 1}")
    chain = wk[0] * u[0]
    for k in range(1, T):
        chain = wk[k] * (u[k] + chain)
    edges = [sympy.diff(chain, wk[k]).subs(dict(zip(wk, [w] * T))) for k in range(T)]
    edge_sum = sum(edges, sympy.Integer(0))
    answers = {"forward": exprs, "y": y, "dy_dw": dy_dw, "backward": backward, "edges": edges,
               "edge_sum": edge_sum}
    flat = [e for v in answers.values() for e in (v if isinstance(v, list) else [v])]
    symbolic = {k: [_pack(sympy.expand(e)) for e in v] if isinstance(v, list) else _pack(sympy.expand(v))
                for k, v in answers.items()}
    # Integer polynomials evaluated with Python ints: exact, like subs(), but thousands of times faster.
    return symbolic, sympy.lambdify([w, *u], flat, modules=[{}, "math"])


@register
class RnnBackprop(Problem):
    """Forward values, dy/dw, backward partials and per-edge contributions of w for a scalar RNN."""

    name = "rnn_backprop"
    Space = RnnSpace

    def draw(self, rng: np.random.Generator) -> dict:
        s = self.space
        pick = lambda xs: int(choice(rng, xs))
        T = pick(s.steps)
        names = str(choice(rng, s.name_sets)).split()[: 2 * T - 1]
        params = {"T": T, "names": names, "given": min(s.given, 2 * T - 2),
                  "h0_node": bool(choice(rng, s.h0_node))}
        if s.numeric:
            params["w"] = pick(s.w_choices)
            nonzero = [v for v in range(s.u_range[0], s.u_range[1] + 1) if v != 0]  # a 0 input hides a term
            params["u"] = [pick(nonzero) for _ in range(T)]
        return params

    def validate(self, params: dict) -> None:
        T = params.get("T")
        if not isinstance(T, int) or isinstance(T, bool) or not 2 <= T <= 6:
            raise Reject("T must be an integer between 2 and 6")
        names = params.get("names")
        if not isinstance(names, list) or len(names) != 2 * T - 1:
            raise Reject(f"names must list {2 * T - 1} node names for T = {T}")
        for n in names:
            if (why := _name_problem(n)) is not None:
                raise Reject(why)
        if len(set(names)) != len(names):
            raise Reject("two nodes share a name")
        g = params.get("given")
        if not isinstance(g, int) or isinstance(g, bool) or not 0 <= g < 2 * T - 1:
            raise Reject("given must be an integer from 0 to the number of nodes minus one")
        if not isinstance(params.get("h0_node", False), bool):
            raise Reject("h0_node must be true or false")
        if ("w" in params) != ("u" in params):
            raise Reject("give both w and u, or neither")
        if "w" not in params:
            return
        w, u = params["w"], params["u"]
        if not isinstance(w, int) or isinstance(w, bool) or not isinstance(u, list) or len(u) != T \
                or not all(isinstance(x, int) and not isinstance(x, bool) for x in u):
            raise Reject(f"w must be an integer and u a list of {T} integers")
        if w in (0, 1):
            raise Reject(f"w = {w} makes every power of w the same")
        if 0 in u:
            raise Reject("an input of 0 hides a term of y")
        # Every number the key shows, computed plainly: node values, backward partials, edges.
        h0 = params.get("h0_node", False)
        nodes, adds = [], []
        for k, uk in enumerate(u):
            adds.append(uk + nodes[-1] if k else uk)
            if k or h0:
                nodes.append(adds[-1])
            nodes.append(w * adds[-1])
        if 0 in nodes:
            raise Reject("a node value is 0; its edge from w would contribute nothing")
        edges = [w ** (T - 1 - k) * a for k, a in enumerate(adds)]
        dy_dw = sum(edges)
        if dy_dw == 0:
            raise Reject("dy/dw is 0")
        # The largest backward partial: dy/dh_1 = w^(T-1), or dy/da_1 = w^T when a_1 is drawn.
        biggest = max(abs(x) for x in [*nodes, *edges, dy_dw, w ** (T - 1 + bool(h0))])
        if biggest > self.space.max_abs:
            raise Reject(f"a number above {self.space.max_abs} to compute; too large to work by hand")

    def items(self, params: dict) -> list:
        return [("rnn-backprop", {"w": params["w"], "u": list(params["u"])})] if "w" in params else []

    def solve(self, params: dict) -> dict:
        """Symbolic derivation with sympy (once per T), then the drawn numbers substituted."""
        symbolic, evaluate = _derivation(params["T"], bool(params.get("h0_node")))
        if "w" not in params:
            return copy.deepcopy(symbolic)  # the cached answers must never be shared with a caller
        values = iter(int(v) for v in evaluate(params["w"], *params["u"]))
        return {key: [{**e, "value": next(values)} for e in entry] if isinstance(entry, list)
                else {**entry, "value": next(values)} for key, entry in symbolic.items()}

    def check(self, params: dict) -> dict:
        """Numeric route: exact rational forward loops, perturbations and finite differences.

        Every quantity is a polynomial in w and affine in the inputs; its coefficients are recovered
        by exact interpolation of numeric evaluations (once per T), so sympy only prints the result.
        """
        T, h0 = params["T"], bool(params.get("h0_node"))
        m = 2 * T - 1
        formulas = _recovered_formulas(T, h0)
        values = [None] * len(formulas)
        if "w" in params:
            values = [_as_number(v) for v in
                      _quantities(T, Fraction(params["w"]), [Fraction(x) for x in params["u"]], h0)]
        packed = [{**f, "value": v} if v is not None else dict(f) for f, v in zip(formulas, values)]
        return {"forward": packed[:m], "y": packed[m], "dy_dw": packed[m + 1],
                "backward": packed[m + 2: 2 * m + 2], "edges": packed[2 * m + 2: 2 * m + 2 + T],
                "edge_sum": packed[-1]}

    def workload(self, params: dict) -> dict:
        """T: the unrolled steps (2T - 1 nodes forward and backward, T edges)."""
        return {"T": params["T"]}

    def final_answers(self, answers: dict) -> dict:
        value = lambda packed: packed.get("value", packed["expr"])
        return {"a": [value(e) for e in answers["forward"]], "b": value(answers["dy_dw"]),
                "c": [value(e) for e in answers["backward"]], "d": [value(e) for e in answers["edges"]]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX.

        Node names are validated one-letter or Greek-command LaTeX, and the formulas come from
        sympy, so both are passed through as math.
        """
        names, numeric = params["names"], "w" in params
        last = len(names) - 1
        h0 = bool(params.get("h0_node"))

        def show(packed: dict) -> str:  # the value when numbers are drawn, else the polynomial
            return fmt_num(packed["value"]) if numeric else packed["latex"]

        asked = range(params["given"], len(names))
        forward = ",\\ ".join(f"{names[i]} = {show(answers['forward'][i])}" for i in asked)
        if numeric:
            forward += f";\\ {names[last]} = {answers['forward'][last]['latex']}"
        dy = f"dy/dw = {answers['dy_dw']['latex']}"
        if numeric:
            dy += f" = {fmt_num(answers['dy_dw']['value'])}"
        backward = ",\\ ".join(
            f"\\partial y/\\partial {names[i]} = {answers['backward'][i]['latex']}"
            + (f" = {fmt_num(answers['backward'][i]['value'])}" if numeric else "")
            for i in range(last + h0))  # without h0 the last node is y, whose partial is 1
        if numeric:  # a signed sum of numbers: 27 - 3 + 15
            values = [e["value"] for e in answers["edges"]]
            edges = fmt_num(values[0]) + "".join(
                f" - {fmt_num(-v)}" if v < 0 else f" + {fmt_num(v)}" for v in values[1:])
        else:
            edges = " + ".join(f"({e['latex']})" for e in answers["edges"])
        total = show(answers["edge_sum"])
        return {
            "a": Tex(f"${forward}$"),
            "b": Tex(f"${dy}$"),
            "c": Tex(f"${backward}$"),
            "d": Tex(f"contributions ${edges} = {total}$ $= dy/dw$"),
        }

    def given(self, params: dict) -> dict:
        """The graph figure, the node names and partials the questions use, and the forward values
        the exam gives (the first ``given`` ones, solved from the parameters)."""
        T, names = params["T"], params["names"]
        h0 = bool(params.get("h0_node"))
        return {"figure": Tex(_figure(T, names, h0)), "h0": h0,
                "y_def": Tex(f"w\\,{names[-1]}" if h0 else names[-1]),
                "numeric": "w" in params, "nodes": [Tex(n) for n in names],
                "partials": [Tex(f"\\partial y/\\partial {n}") for n in names],
                "given_forward": self.solve(params)["forward"][:params["given"]]}

    def key_context(self, params: dict, answers: dict) -> dict:
        """The chain-rule forms the key shows beside each answer."""
        T, names = params["T"], params["names"]
        h0 = bool(params.get("h0_node"))
        # Which step of the chain each named node is (the first addition is drawn only with h0).
        first = 0 if h0 else 1
        ops = [op for op, _ in _steps(T)][first:first + 2 * T - 1]
        defs, chain, edge_forms, edge_targets = [], [], [], []
        for i, op in enumerate(ops):
            prev = (r"h_{0}" if h0 else None) if i == 0 else names[i - 1]
            if op == "add":
                defs.append(f"u_{{{(i + first) // 2 + 1}}} + {prev}")
            else:
                defs.append(r"w\,u_{1}" if prev is None else f"w\\,{prev}")
        for i in range(2 * T - 1):
            if i == 2 * T - 2:
                chain.append(r"w" if h0 else "")  # with h0, y = w times the last node
            else:
                factor = r"w\cdot " if ops[i + 1] == "mul" else ""
                chain.append(f"{factor}\\partial y/\\partial {names[i + 1]}")
        muls = [i for i, op in enumerate(ops) if op == "mul"] + ([2 * T - 1] if h0 else [])
        for k, i in enumerate(muls):
            other = "u_{1}" if i == 0 else names[i - 1]
            out = names[i] if i < 2 * T - 1 else "y"
            edge_targets.append(Tex(out))
            edge_forms.append(other if out == "y" else f"(\\partial y/\\partial {out})\\cdot {other}")
        return {"defs": [Tex(d) for d in defs], "edge_targets": edge_targets,
                "chain": [Tex(c) for c in chain], "edge_forms": [Tex(e) for e in edge_forms]}


def _quantities(T: int, w: Fraction, u: list[Fraction], h0: bool = False) -> list[Fraction]:
    """Every answer's value at (w, u) by the numeric route: nodes, y, dy/dw, backward, edges, their sum."""
    eps = Fraction(1, 1000)
    nodes = _unroll([w] * T, u, h0=h0)
    named, y = nodes[:2 * T - 1], nodes[-1]
    # Backward partial of y at node i: nudge that node alone (y is affine in it, so exact).
    backward = [(_unroll([w] * T, u, bump=i, eps=eps, h0=h0)[-1] - y) / eps for i in range(2 * T - 1)]
    # Contribution of the use of w at step k: nudge that copy of the weight alone.
    edges = []
    for k in range(T):
        ws = [w] * T
        ws[k] = w + eps
        edges.append((_unroll(ws, u, h0=h0)[-1] - y) / eps)
    return [*named, y, _fd_dy_dw(w, u), *backward, *edges, sum(edges)]


@functools.lru_cache(maxsize=None)
def _recovered_formulas(T: int, h0: bool = False) -> tuple[dict, ...]:
    """The formula of every answer for T steps, recovered from numbers alone (independent of solve)."""
    # Polynomial coefficients in w of each quantity: one set for u = 0 and one per input u_j.
    degree = T + 1
    ws = [Fraction(k) for k in range(degree + 2)]  # one point more than needed, as a check
    zero = [Fraction(0)] * T
    basis = [zero] + [[Fraction(int(i == j)) for i in range(T)] for j in range(T)]
    samples = [[_quantities(T, x, b, h0) for x in ws] for b in basis]
    w_sym, u_sym = _symbols(T)
    exprs = []
    for q in range(len(samples[0][0])):
        base = _interpolate(ws, [s[q] for s in samples[0]])
        expr = sum((c * w_sym ** p for p, c in enumerate(base)), sympy.Integer(0))
        for j in range(T):
            coef = _interpolate(ws, [sj[q] - s0[q] for sj, s0 in zip(samples[j + 1], samples[0])])
            expr += sum((c * w_sym ** p for p, c in enumerate(coef)), sympy.Integer(0)) * u_sym[j]
        exprs.append(sympy.expand(expr))
    # The split into u = 0 plus one input at a time assumes each quantity is affine in u: test
    # the rebuilt expressions at a point off every sample.
    u_t = [Fraction(j + 2, 2) for j in range(T)]
    at = {w_sym: sympy.Rational(5, 3), **{s: sympy.Rational(j + 2, 2) for j, s in enumerate(u_sym)}}
    for e, v in zip(exprs, _quantities(T, Fraction(5, 3), u_t, h0)):
        if e.subs(at) != sympy.Rational(v.numerator, v.denominator):
            raise AssertionError("a quantity is not affine in the inputs")
    return tuple(_pack(e) for e in exprs)


def _interpolate(xs: list[Fraction], ys: list[Fraction]) -> list[sympy.Rational]:
    """Coefficients (lowest power first) of the polynomial through the points; the last point must fit."""
    fit_x, fit_y = xs[:-1], ys[:-1]
    coefs = [Fraction(0)] * len(fit_x)
    for i, (xi, yi) in enumerate(zip(fit_x, fit_y)):
        basis = [Fraction(1)]  # the Lagrange basis polynomial of point i, multiplied out
        denom = Fraction(1)
        for j, xj in enumerate(fit_x):
            if j != i:
                basis = [Fraction(0)] + basis
                for p in range(len(basis) - 1):
                    basis[p] -= xj * basis[p + 1]
                denom *= xi - xj
        for p, b in enumerate(basis):
            coefs[p] += yi * b / denom
    at_last = sum(c * xs[-1] ** p for p, c in enumerate(coefs))
    if at_last != ys[-1]:
        raise AssertionError("a quantity is not a polynomial of the expected degree in w")
    return [sympy.Rational(c.numerator, c.denominator) for c in coefs]


def _figure(T: int, names: list[str], h0: bool = False) -> str:
    """TikZ: the unrolled chain left to right, inputs above, the shared weight w below.

    With ``h0`` the chain starts with the addition u_1 + h_0 and ends with the multiplication that
    gives y (its arrow unnamed); otherwise it starts with w*u_1 and the last named arrow is y.
    """
    ops = [op for op, _ in _steps(T)][0 if h0 else 1:]
    dx = 1.75 if len(ops) <= 7 else 1.5  # cm between nodes: at most about 14 cm with the ends
    lines = [
        r"\begin{tikzpicture}[>={Stealth[length=2.2mm]}, thick,",
        r"  op/.style={circle, draw, minimum size=7mm, inner sep=0pt, font=\large},",
        r"  lab/.style={font=\normalsize, inner sep=1.5pt}]",
    ]
    for i, op in enumerate(ops):
        sym = r"+" if op == "add" else r"\times"
        lines.append(f"\\node[op] (n{i}) at ({i * dx:.2f},0) {{${sym}$}};")
    last = len(ops) - 1
    lines.append(f"\\node (y) at ({last * dx + 1.9:.2f},0) {{$y$}};")
    start = r"h_{0}" if h0 else r"u_{1}"
    lines.append(f"\\node (start) at (-1.5,0) {{${start}$}};")
    lines.append(r"\draw[->] (start) -- (n0);")
    adds = [i for i, op in enumerate(ops) if op == "add"]
    for k, i in enumerate(adds, start=1 if h0 else 2):
        lines.append(f"\\node (u{k}) at ({i * dx:.2f},1.25) {{$u_{{{k}}}$}};")
        lines.append(f"\\draw[->] (u{k}) -- (n{i});")
    for i in range(len(ops)):
        target = f"n{i + 1}" if i < last else "y"
        label = f" node[lab, above] {{${names[i]}$}}" if i < len(names) else ""
        lines.append(f"\\draw[->] (n{i}) --{label} ({target});")
    # The weight on a bus below the chain, one arrow up into each multiplication: no crossings.
    bus = -1.3
    muls = [i for i, op in enumerate(ops) if op == "mul"]
    lines.append(f"\\node[circle, draw, minimum size=7mm, inner sep=0pt] (w) at (-1.5,{bus}) {{$w$}};")
    lines.append(f"\\draw (w) -- ({muls[-1] * dx:.2f},{bus});")
    for i in muls:
        x = i * dx
        if i != muls[-1]:
            lines.append(f"\\fill ({x:.2f},{bus}) circle (1.6pt);")
        lines.append(f"\\draw[->] ({x:.2f},{bus}) -- (n{i});")
    lines.append(r"\end{tikzpicture}")
    return "\n".join(lines)
