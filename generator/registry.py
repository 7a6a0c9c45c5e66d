"""The registries of solve kinds and problem generators, filled by importing ``generator.problems``.

A *kind* is one computational core of the solve contract (``docs/solve-contract.md``): a solver
that validates its parameters, and an independent check written apart from it. A *generator*
is a :class:`generator.problem.Problem` subclass. Both registries refuse duplicate names.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

from .errors import UnknownNameError


@dataclass(frozen=True)
class Kind:
    """A solve-contract kind: ``solve(params) -> answers`` and an independent ``check``."""

    name: str
    solve: Callable[[dict[str, Any]], dict[str, Any]]
    check: Callable[[dict[str, Any]], dict[str, Any]]


KINDS: dict[str, Kind] = {}
GENERATORS: dict[str, type] = {}


def register_kind(name: str, solve: Callable, check: Callable) -> Kind:
    """Register a solve kind; a second kind of the same name is a programming error."""
    if name in KINDS:
        raise RuntimeError(f"solve kind {name!r} registered twice")
    KINDS[name] = kind = Kind(name, solve, check)
    return kind


def register(cls: type) -> type:
    """Class decorator: register a problem generator under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not name:
        raise RuntimeError(f"{cls.__qualname__} has no generator name")
    if name in GENERATORS:
        raise RuntimeError(f"generator {name!r} registered twice")
    GENERATORS[name] = cls
    return cls


@functools.cache
def load_all() -> None:
    """Import every module of ``generator.problems`` so each registers itself (once)."""
    for name in generator_names():
        importlib.import_module(f"{__package__}.problems.{name}")


def get_kind(name: str) -> Kind:
    """The kind called ``name``, or an error listing the valid kinds."""
    load_all()
    if name not in KINDS:
        raise UnknownNameError("solve kind", name, list(KINDS))
    return KINDS[name]


def generator_names() -> list[str]:
    """Every generator module's name (a generator is named after its module)."""
    from . import problems

    return sorted(i.name for i in pkgutil.iter_modules(problems.__path__) if not i.name.startswith("_"))


def get_generator(name: str) -> type:
    """The generator class called ``name`` (importing only its module), or an error listing the valid ones."""
    if name not in GENERATORS:
        if name not in generator_names():
            raise UnknownNameError("generator", name, generator_names())
        importlib.import_module(f"{__package__}.problems.{name}")
    if name not in GENERATORS:
        raise RuntimeError(f"module generator/problems/{name}.py registers no generator named {name!r}")
    return GENERATORS[name]
