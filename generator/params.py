"""Reading solver parameters: each helper names the parameter and what is wrong with it.

Solvers of the solve contract take plain JSON/YAML data from outside checkers, so every shape
is checked here and reported as :class:`ParamError` (exit 2, one line).
"""
from __future__ import annotations

import math
from typing import Any

from .errors import ParamError


MAX_ABS = 1e12  # far beyond any exam's numbers; keeps products and powers finite


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and abs(x) <= MAX_ABS


def require(params: Any, name: str) -> Any:
    """The value of ``name``; an error when ``params`` is not a mapping or lacks it."""
    if not isinstance(params, dict):
        raise ParamError("(top level)", f"expected a mapping of parameters, got {type(params).__name__}")
    if name not in params:
        raise ParamError(name, "missing")
    return params[name]


def number(params: dict, name: str, *, integer: bool = False, lo: float | None = None,
           hi: float | None = None) -> int | float:
    """A finite number (an integer when ``integer``), optionally within ``[lo, hi]``."""
    x = require(params, name)
    if not _is_num(x) or (integer and not isinstance(x, int)):
        raise ParamError(name, f"expected {'an integer' if integer else 'a finite number'} of magnitude at most "
                               f"{MAX_ABS:g}, got {x!r}")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise ParamError(name, f"must be between {lo} and {hi}, got {x!r}")
    return x


def vector(params: dict, name: str, length: int | None = None, *, integer: bool = False,
           value: Any = None) -> list:
    """A non-empty list of finite numbers (of ``length`` when given)."""
    v = require(params, name) if value is None else value
    if not isinstance(v, list) or not v or not all(_is_num(x) for x in v):
        raise ParamError(name, f"expected a non-empty list of finite numbers (magnitude at most {MAX_ABS:g}), got {v!r}")
    if integer and not all(isinstance(x, int) for x in v):
        raise ParamError(name, f"expected a list of integers, got {v!r}")
    if length is not None and len(v) != length:
        raise ParamError(name, f"expected {length} numbers, got {len(v)}")
    return v


def matrix(params: dict, name: str, rows: int | None = None, cols: int | None = None) -> list[list]:
    """A non-empty list of equal-length lists of finite numbers."""
    m = require(params, name)
    if not isinstance(m, list) or not m or not all(isinstance(r, list) for r in m):
        raise ParamError(name, f"expected a list of vectors, got {m!r}")
    for i, r in enumerate(m):
        vector({}, f"{name}[{i}]", value=r)
    width = len(m[0])
    if any(len(r) != width for r in m):
        raise ParamError(name, f"vectors must all have the same length, got lengths {[len(r) for r in m]}")
    if rows is not None and len(m) != rows:
        raise ParamError(name, f"expected {rows} vectors, got {len(m)}")
    if cols is not None and width != cols:
        raise ParamError(name, f"expected vectors of length {cols}, got {width}")
    return m


def string_list(params: dict, name: str, *, allow_empty: bool = False) -> list[str]:
    """A list of strings."""
    v = require(params, name)
    if not isinstance(v, list) or (not v and not allow_empty) or not all(isinstance(x, str) for x in v):
        raise ParamError(name, f"expected a {'' if allow_empty else 'non-empty '}list of strings, got {v!r}")
    return v


def tidy(x: float) -> int | float:
    """An integral float as an int (the contract wants integers where the quantity is one)."""
    if isinstance(x, int):
        return x
    x = float(x)
    return int(round(x)) if abs(x - round(x)) < 1e-12 and abs(x) < 2**53 else x


def decimals_at_most(x: float, digits: int = 1) -> bool:
    """True when ``x`` has at most ``digits`` decimals (hand-computable draws)."""
    return abs(x * 10**digits - round(x * 10**digits)) < 1e-9
