"""Dropout on the inputs of linear regression is, in expectation, ridge regression on normalised features.

Each entry of X is kept with probability p (no rescaling while training). The expected loss is
``||y - p X w̌||² + p(1-p) ||Γ̌ w̌||²`` with ``Γ̌ = diag(column norms of X)``. Substituting
``w = p w̌`` gives Tikhonov regression with ``Γ = Γ̌`` and ``λ = (1-p)/p``; substituting
``X̃ = X Γ⁻¹, w̃ = Γ w`` gives plain ridge on a matrix whose columns all have norm 1.

The numeric part gives a small integer X whose column norms are integers (Pythagorean columns)
and asks for Γ̌, λ and X̃ (fractions). No solve-contract kind: the rest is conceptual.

Two forms of the Tikhonov problem (``penalty``): ``lambda`` (the default) writes it
``||y - Xw||² + λ||Γw||²`` with Γ = Γ̌ fixed, so λ = (1-p)/p; ``gamma``, as in the original exam,
writes ``||y - Xw||² + ||Γw||²`` with no separate λ, so Γ = sqrt((1-p)/p) Γ̌, and the ridge
problem of (b) then has λ = 1 and X̃ has columns of norm sqrt(p/(1-p)). With ``X`` and ``p``
null (the original) every answer is a formula; ``check`` confirms the formulas numerically.
"""
from __future__ import annotations

import functools
import itertools
import math
from fractions import Fraction

import numpy as np
import sympy

from generator.params import tidy, decimals_at_most
from generator.problem import Problem, Reject, Space, choice
from generator.registry import register
from generator.texify import Tex, fmt_num


class DropoutSpace(Space):
    """Shape of X, the range of its entries and norms, and the keep probabilities offered."""

    rows: list[int] = [3, 4]
    """Number of samples n (rows of X), drawn from this list."""
    cols: int = 2
    """Number of features d (columns of X)."""
    entry_max: int = 8
    """Largest absolute value of an entry of X."""
    norm_max: int = 10
    """Largest column norm."""
    min_nonzero: int = 2
    """Every column has at least this many non-zero entries (so normalising it is real work)."""
    negative_prob: float = 0.25
    """Chance that a non-zero entry is drawn negative."""
    p_choices: list[float] = [0.2, 0.4, 0.5, 0.8]
    """Keep probabilities; (1-p)/p must be a short decimal."""


@functools.lru_cache(maxsize=None)
def _pythagorean_columns(n: int, entry_max: int, norm_max: int, min_nonzero: int) -> tuple:
    """Every non-negative integer vector of length n with an integer norm within the bounds."""
    out = []
    for v in itertools.product(range(entry_max + 1), repeat=n):
        sq = sum(x * x for x in v)
        r = math.isqrt(sq)
        if r * r == sq and 0 < r <= norm_max and sum(1 for x in v if x) >= min_nonzero:
            out.append(v)
    return tuple(out)


@register
class DropoutRidge(Problem):
    """Dropout as Tikhonov and ridge regularisation, with a small numeric X."""

    name = "dropout_ridge"
    Space = DropoutSpace
    unmarked_parts = {"c": "an explanation (dropout normalizes the columns)"}

    def draw(self, rng: np.random.Generator) -> dict:
        s = self.space
        n = int(rng.choice(s.rows))
        pool = _pythagorean_columns(n, s.entry_max, s.norm_max, s.min_nonzero)
        if not pool:
            raise Reject(f"no integer column of length {n} has an integer norm within the space")
        columns = []
        for _ in range(s.cols):
            v = choice(rng, pool)
            columns.append([-x if x and rng.random() < s.negative_prob else x for x in v])
        X = [[columns[j][i] for j in range(s.cols)] for i in range(n)]
        return {"X": X, "p": float(rng.choice(s.p_choices))}

    def validate(self, params: dict) -> None:
        X, p = params.get("X"), params.get("p")
        if params.get("penalty", "lambda") not in ("lambda", "gamma"):
            raise Reject("penalty must be 'lambda' (Tikhonov with a separate lambda) or 'gamma' (none)")
        if X is None and p is None:
            return  # symbolic: nothing to compute by hand
        if params.get("penalty") == "gamma" and isinstance(p, (int, float)) and 0 < p < 1 \
                and not decimals_at_most(math.sqrt((1 - p) / p), 2):
            raise Reject(f"p = {p} gives a factor sqrt((1-p)/p) that is not a short decimal")
        if (not isinstance(X, list) or not X or not all(isinstance(r, list) and r for r in X)
                or len({len(r) for r in X}) != 1
                or not all(isinstance(x, int) and not isinstance(x, bool) for r in X for x in r)):
            raise Reject("X must be a non-empty matrix of integers")
        n, d = len(X), len(X[0])
        if d < 2 or n < 2:
            raise Reject("X needs at least two rows and two columns")
        if n * d > 12:
            raise Reject("X is too large for hand work")
        if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0 < p < 1:
            raise Reject("the keep probability p must lie strictly between 0 and 1")
        if not decimals_at_most(p, 2) or not decimals_at_most((1 - p) / p, 2):
            raise Reject(f"p = {p} gives a lambda = (1-p)/p that is not a short decimal")
        norms = []
        for j in range(d):
            col = [X[i][j] for i in range(n)]
            sq = sum(x * x for x in col)
            r = math.isqrt(sq)
            if r * r != sq or r == 0:
                raise Reject(f"column {j + 1} of X has no integer norm")
            if sum(1 for x in col if x) < self.space.min_nonzero:
                raise Reject(f"column {j + 1} of X has too few non-zero entries")
            norms.append(r)
        if len(set(norms)) < d:
            raise Reject("two columns of X have the same norm; the normalisation would not show")
        if any(not any(row) for row in X):
            raise Reject("a row of X is all zeros (a sample with no features)")
        if np.linalg.matrix_rank(np.asarray(X, dtype=float)) < d:
            raise Reject("the columns of X are linearly dependent")

    def solve(self, params: dict) -> dict:
        gform = params.get("penalty") == "gamma"
        if params.get("X") is None:
            return dict(_FORMULAS["gamma" if gform else "lambda"])
        # Exact arithmetic straight from the formulas: Γ̌ = column norms, λ = (1-p)/p, X̃ = X Γ̌⁻¹
        # (gamma form: Γ = sqrt((1-p)/p) Γ̌, ridge λ = 1, X̃ = X Γ⁻¹).
        X = params["X"]
        n, d = len(X), len(X[0])
        p = Fraction(str(params["p"]))
        gamma = [math.isqrt(sum(X[i][j] ** 2 for i in range(n))) for j in range(d)]
        factor = Fraction(math.sqrt((1 - p) / p)).limit_denominator(100) if gform else Fraction(1)
        x_tilde = [[Fraction(X[i][j]) / (factor * gamma[j]) for j in range(d)] for i in range(n)]
        col_sq = [sum(x_tilde[i][j] ** 2 for i in range(n)) for j in range(d)]
        out = {
            "gamma": gamma,
            "lam": 1 if gform else tidy(float((1 - p) / p)),
            "dropout_coeff": tidy(float(p * (1 - p))),
            "x_tilde": [[tidy(float(v)) for v in row] for row in x_tilde],
            "x_tilde_norms": [tidy(math.sqrt(float(c))) for c in col_sq],
        }
        if gform:
            out["gamma_t"] = [tidy(float(factor * g)) for g in gamma]
        return out

    def check(self, params: dict) -> dict:
        """Everything from the definition of dropout: exact expectations over all 2^(nd) masks.

        Γ̌ comes from the variance the masks add for a unit weight vector; λ from the minimiser of
        the exactly enumerated expected loss, read off the Tikhonov normal equations; then the
        ridge problem on (X̃, λ), mapped back, must reproduce that minimiser.
        """
        gform = params.get("penalty") == "gamma"
        if params.get("X") is None:
            return _confirmed_formulas("gamma" if gform else "lambda")
        X = np.asarray(params["X"], dtype=float)
        p = float(params["p"])
        n, d = X.shape
        bits = (np.arange(2 ** (n * d))[:, None] >> np.arange(n * d)) & 1
        masks = bits.reshape(-1, n, d).astype(float)
        prob = np.prod(np.where(masks == 1, p, 1 - p), axis=(1, 2))
        dropped = masks * X  # every possible dropped-out data matrix
        # The identities hold for every target and weight vector. A target in the column space of
        # X (X has full column rank) keeps the minimiser away from 0, so λ can be read off it.
        w_generic = np.array([0.7 * (-1) ** j * (j + 1) for j in range(d)])
        y = X @ np.array([(-1) ** j * (j + 1.0) for j in range(d)])

        def expected_loss(w: np.ndarray) -> float:
            return float(prob @ np.sum((y - dropped @ w) ** 2, axis=1))

        coeff = sum(q * (m - p) ** 2 for m, q in ((0, 1 - p), (1, p)))  # variance of one mask entry
        gamma = np.array([math.sqrt((expected_loss(e) - np.sum((y - p * X @ e) ** 2)) / coeff)
                          for e in np.eye(d)])
        stated = np.sum((y - p * X @ w_generic) ** 2) + coeff * np.sum((gamma * w_generic) ** 2)
        if not math.isclose(expected_loss(w_generic), stated, rel_tol=1e-9):
            raise AssertionError("the expected dropout loss does not match the stated decomposition")

        # Minimiser of the expected loss from its exact quadratic form E[D^T D] w = E[D^T y].
        A = np.einsum("k,kni,knj->ij", prob, dropped, dropped)
        b = np.einsum("k,kni,n->i", prob, dropped, y)
        w_check = np.linalg.solve(A, b)
        w = p * w_check
        g2w = gamma ** 2 * w
        lam = float((X.T @ y - X.T @ X @ w) @ g2w / (g2w @ g2w))  # (X^T X + λΓ²) w = X^T y

        # Gamma form: the whole penalty sits in Γ = sqrt(λ) Γ̌, and the ridge problem has λ = 1.
        big_gamma, ridge_lam = (math.sqrt(lam) * gamma, 1.0) if gform else (gamma, lam)
        x_tilde = X / big_gamma
        # np.allclose's tests, written out (allclose costs ten times as much on arrays this small)
        if not np.all(np.abs(x_tilde * big_gamma - X) <= 1e-8 + 1e-5 * np.abs(X)):
            raise AssertionError("X̃ Γ does not give back X")
        w_ridge = np.linalg.solve(x_tilde.T @ x_tilde + ridge_lam * np.eye(d), x_tilde.T @ y)
        if not np.all(np.abs(w_ridge / big_gamma - w) <= 1e-12 + 1e-9 * np.abs(w)):
            raise AssertionError("ridge on (X̃, λ) mapped back differs from the dropout minimiser")
        out = {
            "gamma": gamma.tolist(),
            "lam": ridge_lam,
            "dropout_coeff": coeff,
            "x_tilde": x_tilde.tolist(),
            "x_tilde_norms": np.linalg.norm(x_tilde, axis=0).tolist(),
        }
        if gform:
            out["gamma_t"] = big_gamma.tolist()
        return out

    def workload(self, params: dict) -> dict:
        """The size of X: every entry is rescaled by hand."""
        return {"rows": len(params["X"]), "cols": len(params["X"][0])}

    def final_answers(self, answers: dict) -> dict:
        return {"a.gamma": answers["gamma"], "a.lambda": answers["lam"], "b": answers["x_tilde"]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        if params.get("X") is None:
            return {k: Tex(v) for k, v in _SYMBOLIC_SUMMARY[params.get("penalty", "lambda")].items()}
        gform = params.get("penalty") == "gamma"
        if gform:
            gt = ", ".join(fmt_num(g) for g in answers["gamma_t"])
            norms = ", ".join(fmt_num(v) for v in answers["x_tilde_norms"])
            rows = r" \\ ".join(" & ".join(_slash_frac(v) for v in row) for row in answers["x_tilde"])
            return {
                "a": Tex(f"$w = p\\,\\check w$; $\\Gamma = \\sqrt{{(1-p)/p}}\\,\\check\\Gamma = \\operatorname{{diag}}({gt})$"),
                "b": Tex(f"$\\tilde w = \\Gamma w$, $\\tilde X = X\\Gamma^{{-1}} = "
                         f"\\left[\\begin{{smallmatrix}}{rows}\\end{{smallmatrix}}\\right]$, $\\lambda = 1$; "
                         f"$w = \\Gamma^{{-1}}\\tilde w$"),
                "c": Tex(f"column norms all equal, $\\sqrt{{p/(1-p)}}$ (${norms}$); implicit feature normalization"),
            }
        gamma = ", ".join(fmt_num(g) for g in answers["gamma"])
        rows = r" \\ ".join(" & ".join(_slash_frac(v) for v in row) for row in answers["x_tilde"])
        norms = ", ".join(fmt_num(v) for v in answers["x_tilde_norms"])
        return {
            "a": Tex(f"$w = p\\,\\check w$; $\\check\\Gamma = \\operatorname{{diag}}({gamma})$, "
                     f"$\\lambda = (1-p)/p = {fmt_num(answers['lam'])}$"),
            "b": Tex(f"$\\tilde w = \\Gamma w$, $\\tilde X = X\\Gamma^{{-1}} = "
                     f"\\left[\\begin{{smallmatrix}}{rows}\\end{{smallmatrix}}\\right]$; $w = \\Gamma^{{-1}}\\tilde w$"),
            "c": Tex(f"column norms all 1 (${norms}$); implicit feature normalization, like batch norm, "
                     "then weight decay"),
        }

    def given(self, params: dict) -> dict:
        """The form flags, and X by its columns when numeric."""
        flags = {"numeric": params.get("X") is not None, "gform": params.get("penalty") == "gamma"}
        if not flags["numeric"]:
            return flags
        # X is printed by its columns: one line whatever the number of samples (one page layout).
        return {**flags, "columns": [list(c) for c in zip(*params["X"])]}

    def key_context(self, params: dict, answers: dict) -> dict:
        """The key's formula answers (the same in every instance of a form); X̃ written with
        fractions, as a student would (3/5 rather than 0.6)."""
        tex = {"w": Tex(r"p\,\check w"), "gamma": Tex(r"\sqrt{\tfrac{1-p}{p}}\;\check\Gamma"),
               "lam": Tex(r"\frac{1-p}{p}"), "w_tilde": Tex(r"\Gamma w"), "x_tilde": Tex(r"X\Gamma^{-1}")}
        if params.get("X") is None:
            return {"tex": tex}
        rows = [" & ".join(_frac_tex(v) for v in row) for row in answers["x_tilde"]]
        return {"tex": tex, "x_tilde_tex": Tex(r"\begin{bmatrix}" + r" \\ ".join(rows) + r"\end{bmatrix}")}


# The symbolic answers (the original exam gives no numbers), as sympy strings in p and Gc = Γ̌.
_FORMULAS = {
    "lambda": {"w_scale": "p", "gamma": "Gc", "lam": "(1 - p)/p", "x_tilde_norm": "1"},
    "gamma": {"w_scale": "p", "gamma": "Gc*sqrt((1 - p)/p)", "lam": "1", "x_tilde_norm": "sqrt(p/(1 - p))"},
}
_SYMBOLIC_SUMMARY = {
    "lambda": {"a": r"$w = p\,\check w$; $\Gamma = \check\Gamma$, $\lambda = (1-p)/p$",
               "b": r"$\tilde w = \Gamma w$, $\tilde X = X\Gamma^{-1}$; $w = \Gamma^{-1}\tilde w$",
               "c": "column norms all 1; implicit feature normalization, like batch norm, then weight decay"},
    "gamma": {"a": r"$w = p\,\check w$; $\Gamma = \sqrt{(1-p)/p}\,\check\Gamma$",
              "b": r"$\tilde w = \Gamma w$, $\tilde X = X\Gamma^{-1}$, $\lambda = 1$; $w = \Gamma^{-1}\tilde w$",
              "c": r"column norms all equal ($\sqrt{p/(1-p)}$); implicit feature normalization, like batch norm"},
}


@functools.lru_cache(maxsize=None)
def _confirmed_formulas(form: str) -> dict:
    """The symbolic answers, each confirmed against the exact-expectation check on sample instances.

    For two data matrices and three keep probabilities, the numeric check (mask enumeration) gives
    Γ̌, Γ, the ridge λ and the column norms of X̃; every formula must reproduce them.
    """
    formulas = _FORMULAS[form]
    p_, gc = sympy.symbols("p Gc")
    parsed = {k: sympy.sympify(v, locals={"p": p_, "Gc": gc}) for k, v in formulas.items()}
    checker = DropoutRidge.__new__(DropoutRidge)  # check() needs no space
    for X in ([[3, 1], [4, 2], [0, 2]], [[2, 6], [3, 0], [6, 8]]):
        for p in (0.2, 0.5, 0.8):
            got = checker.check({"X": X, "p": p, "penalty": form})
            gamma_t = got.get("gamma_t", got["gamma"])
            at = lambda key, g=1.0: float(parsed[key].subs({p_: p, gc: g}))
            ok = (all(math.isclose(at("gamma", g), t, rel_tol=1e-9) for g, t in zip(got["gamma"], gamma_t))
                  and math.isclose(at("lam"), got["lam"], rel_tol=1e-9)
                  and all(math.isclose(at("x_tilde_norm"), v, rel_tol=1e-9) for v in got["x_tilde_norms"]))
            if not ok:
                raise AssertionError(f"a symbolic answer of the {form} form disagrees with the check at X={X}, p={p}")
    # w = p w̌ is what makes the Tikhonov objective equal the dropout one; check() relies on it.
    return dict(formulas)


@functools.lru_cache(maxsize=4096)
def _simple_fraction(v: float) -> Fraction:
    """``v`` as a fraction of denominator at most 1000, which it must equal. Remembered: the key and
    the grader's summary both print X̃, and versions repeat its entries (a pure function of ``v``)."""
    f = Fraction(v).limit_denominator(1000)
    if abs(float(f) - v) > 1e-9:
        raise ValueError(f"{v} is not a simple fraction")
    return f


def _slash_frac(v: float) -> str:
    """``3/5``, ``-1/3``, ``0``: a fraction that stays legible inside a small matrix."""
    f = _simple_fraction(v)
    return str(f.numerator) if f.denominator == 1 else f"{f.numerator}/{f.denominator}"


def _frac_tex(v: float) -> str:
    """``\\frac{3}{5}``, ``-\\frac{1}{3}``, ``0`` — exact for the small denominators drawn here."""
    f = _simple_fraction(v)
    if f.denominator == 1:
        return str(f.numerator)
    sign = "-" if f < 0 else ""
    return rf"{sign}\frac{{{abs(f.numerator)}}}{{{f.denominator}}}"
