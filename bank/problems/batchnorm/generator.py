"""Batch normalisation of a Gaussian input, with a very large batch (batch statistics = the distribution's).

Solve kind ``batchnorm``: y_i = gamma_i (x_i - mean_i) / sqrt(cov_ii) + beta_i, so the output has
mean beta and covariance gamma_i gamma_j cov_ij / sqrt(cov_ii cov_jj).

(a) 1-D: a density plot of N(mu, sigma^2); the student sketches the output density N(beta, gamma^2).
(b) 2-D: the 1- and 2-standard-deviation contour ellipses of a Gaussian; with beta = 0 and gamma = 1
each coordinate is standardised, so the mean goes to the origin, the variances to 1 and the
correlation stays: the new contours are circles (zero correlation) or ellipses tilted at +-45 degrees.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from generator.errors import ParamError
from generator.params import matrix, number, tidy, vector, decimals_at_most
from generator.problem import Problem, Reject, Space, choice
from generator.registry import register, register_kind
from generator.texify import Tex, fmt_num, vec

OUT_GRID = 3
"""The blank grid of (b) spans [-3, 3]^2: the standardised 2-sigma contours always fit in it."""


@functools.lru_cache(maxsize=1024)
def _clean(x: float) -> int | float:
    """Drop float noise (0.6000000000000001 -> 0.6), then integers as ints. Remembered: a build
    cleans the same few values in every one of its many candidate draws (equal numbers, 1 and
    1.0 or 0.0 and -0.0, clean to the same value, so sharing an entry is safe)."""
    return tidy(float(f"{float(x):.12g}"))


def solve_kind(params: dict) -> dict:
    """Output mean and covariance by the elementwise formula; invalid covariances name ``cov``."""
    mean = vector(params, "mean")
    d = len(mean)
    cov = matrix(params, "cov", rows=d, cols=d)
    gamma = vector(params, "gamma", length=d)
    beta = vector(params, "beta", length=d)
    scale = max(1.0, max(abs(x) for row in cov for x in row))
    for i in range(d):
        for j in range(i + 1, d):
            if abs(cov[i][j] - cov[j][i]) > 1e-9 * scale:
                raise ParamError("cov", f"not symmetric: cov[{i}][{j}] = {cov[i][j]} but cov[{j}][{i}] = {cov[j][i]}")
    for i in range(d):
        if cov[i][i] == 0:
            raise ParamError("cov", f"the variance cov[{i}][{i}] is zero; batch norm would divide by zero")
    lowest = float(np.linalg.eigvalsh(np.asarray(cov, dtype=float)).min())
    if lowest < -1e-9 * scale:
        raise ParamError("cov", f"not positive semi-definite (smallest eigenvalue {lowest:.6g})")
    out_cov = [[_clean(gamma[i] * gamma[j] * cov[i][j] / math.sqrt(cov[i][i] * cov[j][j])) for j in range(d)]
               for i in range(d)]
    return {"out_mean": [_clean(b) for b in beta], "out_cov": out_cov}


def check_kind(params: dict) -> dict:
    """Independent route: the layer as an explicit affine map y = A x + b, pushed through with
    matrix products (mean A m + b, covariance A S A^T); validity by a Cholesky factorisation."""
    m = np.asarray(params["mean"], dtype=float)
    S = np.asarray(params["cov"], dtype=float)
    g = np.asarray(params["gamma"], dtype=float)
    beta = np.asarray(params["beta"], dtype=float)
    if S.shape != (len(m), len(m)) or g.shape != m.shape or beta.shape != m.shape:
        raise ParamError("cov", "shapes of mean, cov, gamma and beta do not agree")
    # np.allclose(S, S.T)'s test, written out: allclose costs ten times as much on a 2 x 2 matrix
    if not np.all(np.abs(S - S.T) <= 1e-8 + 1e-5 * np.abs(S.T)) or np.any(np.diag(S) <= 0):
        raise ParamError("cov", "not a symmetric covariance with positive variances")
    try:  # positive semi-definite <=> S + tiny * I has a Cholesky factor
        np.linalg.cholesky(S + 1e-9 * max(1.0, np.abs(S).max()) * np.eye(len(m)))
    except np.linalg.LinAlgError:
        raise ParamError("cov", "not positive semi-definite") from None
    A = np.diag(g) @ np.diag(1.0 / np.sqrt(np.diag(S)))
    b = beta - A @ m
    out_mean = A @ m + b
    out_cov = A @ S @ A.T
    clean = lambda x: tidy(round(float(x), 10))
    return {"out_mean": [clean(x) for x in out_mean], "out_cov": [[clean(x) for x in row] for row in out_cov]}


register_kind("batchnorm", solve_kind, check_kind)


def ellipse(center: list, cov: list) -> dict:
    """The 1-sigma contour of N(center, cov) in 2-D: semi-axes (major, minor) and the angle of the
    major axis in degrees, in (-90, 90] (0 for a circle). Eigen-decomposition of the covariance."""
    vals, vecs = np.linalg.eigh(np.asarray(cov, dtype=float))  # ascending eigenvalues
    major = vecs[:, 1]
    angle = 0.0 if math.isclose(vals[0], vals[1], rel_tol=1e-9) else math.degrees(math.atan2(major[1], major[0]))
    while angle <= -90:
        angle += 180
    while angle > 90:
        angle -= 180
    return {"center": [_clean(c) for c in center], "axes": [_clean(math.sqrt(vals[1])), _clean(math.sqrt(max(vals[0], 0.0)))],
            "angle": _clean(angle)}


def ellipse_points(ell: dict, r: float, n: int = 72) -> list[tuple[float, float]]:
    """Points of the r-sigma contour (closed: the first point is repeated at the end)."""
    cx, cy = ell["center"]
    a, b = ell["axes"]
    th = math.radians(ell["angle"])
    pts = []
    for k in range(n + 1):
        t = 2 * math.pi * k / n
        u, v = r * a * math.cos(t), r * b * math.sin(t)
        pts.append((cx + u * math.cos(th) - v * math.sin(th), cy + u * math.sin(th) + v * math.cos(th)))
    return pts


def _two_decimals(x: float) -> bool:
    return abs(x * 100 - round(x * 100)) < 1e-7


class BatchNormSpace(Space):
    """Ranges of the drawn 1-D and 2-D inputs and of the learned scale and shift of (a)."""

    mu_range: tuple[float, float] = (-1.0, 2.0)
    """(a) input mean, one decimal."""
    sigma_range: tuple[float, float] = (0.2, 1.0)
    """(a) input standard deviation, one decimal (so sigma^2 is exact)."""
    beta_range: tuple[float, float] = (-2.0, 4.0)
    beta_step: float = 0.5
    gamma_choices: tuple[float, ...] = (0.5, 0.8, 1.2, 1.5, 2.0)
    """(a) magnitudes of gamma; the sign is negative with probability negative_gamma_prob."""
    negative_gamma_prob: float = 0.3
    x_range: tuple[int, int] = (-6, 8)
    """(a) horizontal axis of both plots; both densities must fit within 3 standard deviations."""
    mean_range: tuple[int, int] = (-3, 3)
    """(b) integer coordinates of the input mean."""
    std_choices: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    rho_choices: tuple[float, ...] = (0.5, 0.6, 0.8)
    """(b) magnitudes of the correlation; the sign is random."""
    zero_rho_prob: float = 0.1
    grid: int = 5
    """(b) the input plot spans [-grid, grid]^2; both ellipses must fit in it with half a unit to spare."""
    min_axis: float = 0.4
    """(b) smallest 1-sigma semi-axis, input and output (no needle-thin ellipses)."""
    max_abs_rho: float = 0.8


@register
class BatchNorm(Problem):
    """Batch norm of a 1-D Gaussian (sketch the output density) and of a 2-D Gaussian (contours)."""

    name = "batchnorm"
    Space = BatchNormSpace

    # -- drawing and validation -------------------------------------------------------------

    def draw(self, rng: np.random.Generator) -> dict:
        s = self.space
        tenth = lambda lo_hi: int(rng.integers(round(lo_hi[0] * 10), round(lo_hi[1] * 10) + 1)) / 10
        n_beta = int(round((s.beta_range[1] - s.beta_range[0]) / s.beta_step))
        gamma = choice(rng, s.gamma_choices) * (-1 if rng.random() < s.negative_gamma_prob else 1)
        s1, s2 = (choice(rng, s.std_choices) for _ in range(2))
        rho = 0 if rng.random() < s.zero_rho_prob else choice(rng, s.rho_choices) * choice(rng, (-1, 1))
        if abs(gamma) == 1:  # (only for draws: the original exam's instance, pinned, has gamma = 1)
            raise Reject("gamma = ±1 keeps the output's spread at 1; only the shift is tested")
        return {
            "mu": tenth(s.mu_range),
            "sigma": tenth(s.sigma_range),
            "beta": _clean(s.beta_range[0] + s.beta_step * int(rng.integers(0, n_beta + 1))),
            "gamma": _clean(gamma),
            "mean": [int(x) for x in rng.integers(s.mean_range[0], s.mean_range[1] + 1, size=2)],
            "cov": [[_clean(s1 * s1), _clean(rho * s1 * s2)], [_clean(rho * s1 * s2), _clean(s2 * s2)]],
        }

    def y_max_out(self) -> float:
        """Top of the blank grid of (a): fixed by the space (never by the answer), fits the tallest output."""
        peak = 1 / (min(abs(g) for g in self.space.gamma_choices) * math.sqrt(2 * math.pi))
        return math.ceil(peak * 11) / 10

    def validate(self, params: dict) -> None:
        s = self.space
        try:
            mu, sigma = number(params, "mu"), number(params, "sigma", lo=0)
            beta, gamma = number(params, "beta"), number(params, "gamma")
            vector(params, "mean", length=2)  # (b) is two-dimensional
            matrix(params, "cov", rows=2, cols=2)
            solve_kind(self.items(params)[1][1])  # (b): shapes, symmetry, positive semi-definite
        except ParamError as e:
            raise Reject(e.message) from None
        # (a)
        if not all(decimals_at_most(x) for x in (mu, sigma, beta, gamma)):
            raise Reject("mu, sigma, beta and gamma must have at most one decimal")
        if sigma == 0 or gamma == 0:
            raise Reject("zero input or output standard deviation")
        lo, hi = s.x_range
        if mu - 3 * sigma < lo or mu + 3 * sigma > hi or beta - 3 * abs(gamma) < lo or beta + 3 * abs(gamma) > hi:
            raise Reject("a density runs off the horizontal axis")
        if 1 / (abs(gamma) * math.sqrt(2 * math.pi)) > self.y_max_out():
            raise Reject("the output density is taller than the grid")
        if abs(beta - mu) < 0.5 and abs(abs(gamma) - sigma) < 0.3:
            raise Reject("the output density looks like the input")
        # (b)
        m, S = params["mean"], params["cov"]
        if not all(decimals_at_most(x) for x in m):
            raise Reject("the mean of (b) must have at most one decimal")
        s1, s2 = math.sqrt(S[0][0]), math.sqrt(S[1][1])
        if not (decimals_at_most(s1) and decimals_at_most(s2)):
            raise Reject("the standard deviations sqrt(cov[i][i]) are not one-decimal numbers")
        if not all(_two_decimals(x) for row in S for x in row):
            raise Reject("covariance entries with more than two decimals")
        rho = S[0][1] / (s1 * s2)
        if not _two_decimals(rho) or abs(rho) > s.max_abs_rho:
            raise Reject(f"correlation {rho:.4g} is not a clean number of magnitude at most {s.max_abs_rho}")
        if m[0] == 0 and m[1] == 0:
            raise Reject("the mean is already at the origin")
        if math.isclose(s1, s2):
            raise Reject("equal variances: standardising does not change the shape")
        if any(abs(m[i]) + 2 * math.sqrt(S[i][i]) > s.grid - 0.5 for i in range(2)):
            raise Reject("the 2-sigma ellipse runs off (or touches the edge of) the grid")
        smallest = math.sqrt(max(float(np.linalg.eigvalsh(np.asarray(S, dtype=float)).min()), 0.0))
        if smallest < s.min_axis or math.sqrt(1 - abs(rho)) < s.min_axis:
            raise Reject("an ellipse is too thin to draw")

    # -- answers ----------------------------------------------------------------------------

    def items(self, params: dict) -> list:
        one = {"mean": [params["mu"]], "cov": [[_clean(params["sigma"] ** 2)]],
               "gamma": [params["gamma"]], "beta": [params["beta"]]}
        two = {"mean": params["mean"], "cov": params["cov"], "gamma": [1, 1], "beta": [0, 0]}
        return [("batchnorm", one), ("batchnorm", two)]

    def solve(self, params: dict) -> dict:
        one, two = (p for _, p in self.items(params))
        a, b = solve_kind(one), solve_kind(two)
        S = params["cov"]
        return {
            "a": {"in_var": one["cov"][0][0], "out_mean": a["out_mean"][0], "out_var": a["out_cov"][0][0],
                  "out_std": _clean(math.sqrt(a["out_cov"][0][0])),
                  "out_peak": 1 / math.sqrt(2 * math.pi * a["out_cov"][0][0])},
            "b": {"in_std": [_clean(math.sqrt(S[0][0])), _clean(math.sqrt(S[1][1]))],
                  "rho": b["out_cov"][0][1], "out_mean": b["out_mean"], "out_cov": b["out_cov"],
                  "in_ellipse": ellipse(params["mean"], S), "out_ellipse": ellipse(b["out_mean"], b["out_cov"])},
        }

    def check(self, params: dict) -> dict:
        # (a) by quadrature: push the input density through y = gamma (x - mu) / sigma + beta and
        # integrate the moments of y (the trapezoid rule is exact to rounding for a Gaussian here).
        mu, sigma, gamma, beta = (float(params[k]) for k in ("mu", "sigma", "gamma", "beta"))
        x = np.linspace(mu - 12 * sigma, mu + 12 * sigma, 4001)
        p = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
        y = gamma * (x - mu) / sigma + beta
        ey = np.trapezoid(y * p, x)
        vy = np.trapezoid((y - ey) ** 2 * p, x)
        peak = p.max() * sigma / abs(gamma)  # change of variables at the mode: p_y = p_x |dx/dy|
        # (b) by the explicit affine map, and the contour geometry by the closed form for 2x2 matrices.
        two = check_kind({"mean": params["mean"], "cov": params["cov"], "gamma": [1, 1], "beta": [0, 0]})
        S = np.asarray(params["cov"], dtype=float)
        clean = lambda v: tidy(round(float(v), 9))

        def closed_form(center, M):
            a, c, b = M[0][0], M[0][1], M[1][1]
            half = math.hypot((a - b) / 2, c)
            angle = math.degrees(0.5 * math.atan2(2 * c, a - b)) if half > 1e-12 else 0.0
            angle = angle + 180 if angle <= -90 else angle
            return {"center": [clean(v) for v in center],
                    "axes": [clean(math.sqrt((a + b) / 2 + half)), clean(math.sqrt((a + b) / 2 - half))],
                    "angle": clean(angle)}

        return {
            "a": {"in_var": clean(sigma * sigma), "out_mean": clean(ey), "out_var": clean(vy),
                  "out_std": clean(math.sqrt(vy)), "out_peak": float(peak)},
            "b": {"in_std": [clean(v) for v in np.sqrt(np.diag(S))],
                  "rho": clean(S[0, 1] / math.sqrt(S[0, 0] * S[1, 1])),
                  "out_mean": two["out_mean"], "out_cov": two["out_cov"],
                  "in_ellipse": closed_form(params["mean"], S), "out_ellipse": closed_form(two["out_mean"], two["out_cov"])},
        }

    def workload(self, params: dict) -> dict:
        """Whether (b) has a correlation to carry through (a zero one leaves axis-aligned ellipses)."""
        return {"correlated": params["cov"][0][1] != 0}

    def final_answers(self, answers: dict) -> dict:
        return {"a.mean": answers["a"]["out_mean"], "a.std": answers["a"]["out_std"], "b": answers["b"]["rho"]}

    def summary(self, params: dict, answers: dict) -> dict[str, str]:
        """Part name -> the short final answer a grader checks, as trusted LaTeX."""
        a, b = answers["a"], answers["b"]
        cov = r" \\ ".join(" & ".join(fmt_num(x) for x in row) for row in b["out_cov"])
        rho = b["rho"]
        if rho == 0:
            shape = "contours: circles of radius 1 and 2 about the origin"
        else:
            shape = (f"contours: ellipses about the origin, long axis on $y_2 = {'-' if rho < 0 else ''}y_1$ "
                     f"(${'+' if rho > 0 else '-'}45^\\circ$)")
        return {
            "a": Tex(f"$y \\sim \\mathcal N(\\beta, \\gamma^2)$: mean $\\beta = {fmt_num(a['out_mean'])}$, "
                     f"std $|\\gamma| = {fmt_num(a['out_std'])}$ (variance ${fmt_num(a['out_var'])}$)"),
            "b": Tex(f"mean ${vec(b['out_mean'])}$, covariance "
                     f"$\\left[\\begin{{smallmatrix}}{cov}\\end{{smallmatrix}}\\right]$; {shape}"),
        }

    # -- figures ----------------------------------------------------------------------------

    def given(self, params: dict) -> dict:
        """The input's variance and plots, the axes of both blank grids."""
        sigma = params["sigma"]
        in_ellipse = ellipse(params["mean"], params["cov"])
        return {
            "in_density": _density(params["mu"], sigma, "thick, black"),
            "in_var": _clean(sigma ** 2),  # the exam states the input's variance
            "x_lo": self.space.x_range[0], "x_hi": self.space.x_range[1],
            "y_max_in": math.ceil(1.15 / (sigma * math.sqrt(2 * math.pi)) * 10) / 10,
            "y_max_out": self.y_max_out(),
            "grid_in": self.space.grid, "grid_out": OUT_GRID,
            "in_contours": [_contour(in_ellipse, 1, "thick, black"), _contour(in_ellipse, 2, "thick, black, dashed")],
        }

    def key_context(self, params: dict, answers: dict) -> dict:
        """The output's density and contours, drawn on the key's grids."""
        out = answers["b"]["out_ellipse"]
        return {
            "out_density": _density(params["beta"], answers["a"]["out_std"], "very thick, blue"),
            "out_contours": [_contour(out, 1, "very thick, blue"), _contour(out, 2, "very thick, blue, dashed")],
        }


# The figures' curves are remembered (pure functions of their arguments): the versions of a build
# draw the same few densities and ellipses again and again, and printing their points was over half
# of the time this problem took to render.

def _contour(ell: dict, r: float, style: str) -> Tex:
    return _contour_tex(tuple(ell["center"]), tuple(ell["axes"]), ell["angle"], r, style)


@functools.lru_cache(maxsize=1024)
def _contour_tex(center: tuple, axes: tuple, angle: float, r: float, style: str) -> Tex:
    # 36 points with smooth curves: as round as 72 straight ones, at half the pgfplots time
    ell = {"center": list(center), "axes": list(axes), "angle": angle}
    pts = " ".join(f"({x:.3f},{y:.3f})" for x, y in ellipse_points(ell, r, n=36))
    return Tex(f"\\addplot[{style}, smooth] coordinates {{{pts}}};")


@functools.lru_cache(maxsize=1024)
def _density(mean: float, std: float, style: str, n: int = 64) -> Tex:
    # Sampled here rather than by pgfplots: evaluating exp() in TeX was most of a pass's time.
    xs = [mean + std * (8 * k / n - 4) for k in range(n + 1)]
    pts = " ".join(f"({x:.4f},{math.exp(-((x - mean) / std) ** 2 / 2) / (std * math.sqrt(2 * math.pi)):.5f})"
                   for x in xs)
    return Tex(f"\\addplot[{style}, smooth] coordinates {{{pts}}};")
