"""Generators and solve kinds: the built-in ones, and those a bank's ``generator.py`` files register.

A *kind* is one computational core of the solve contract (``docs/solve-contract.md``): a solver
that validates its parameters, and an independent check written apart from it. A *generator*
is a :class:`generator.problem.Problem` subclass.

A problem folder's ``generator.py`` is loaded by path (``importlib.util.spec_from_file_location``)
into a private module name derived from its location, the way pytest loads a ``conftest.py``:
no install step, no list to edit, and no clash with qbank's own modules. What a file registers
while it loads is recorded against that file, so two banks may be loaded in one process and a
name defined in two files is reported with both of them.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import linecache
import pkgutil
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from .errors import QbankError, shown


@dataclass(frozen=True)
class Kind:
    """A solve-contract kind: ``solve(params) -> answers`` and an independent ``check``."""

    name: str
    solve: Callable[[dict[str, Any]], dict[str, Any]]
    check: Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Registrations:
    """What one module registered: generator classes and solve kinds, by name."""

    generators: dict[str, type] = field(default_factory=dict)
    kinds: dict[str, Kind] = field(default_factory=dict)


BUILTIN = Registrations()  # the engine's own generators (generator/problems/), e.g. multiple_choice
_collecting: list[Registrations] = []  # set while a bank file is being loaded


def _target() -> Registrations:
    return _collecting[-1] if _collecting else BUILTIN


def register_kind(name: str, solve: Callable, check: Callable) -> Kind:
    """Register a solve kind; a second kind of the same name in one file is a programming error."""
    target = _target()
    if name in target.kinds:
        raise RuntimeError(f"solve kind {name!r} registered twice")
    target.kinds[name] = kind = Kind(name, solve, check)
    return kind


def register(cls: type) -> type:
    """Class decorator: register a problem generator under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not name:
        raise RuntimeError(f"{cls.__qualname__} has no generator name")
    if callable(getattr(cls, "context", None)):
        # The old hook gave the exam and the key the same variables, answers included; refuse it
        # rather than let its variables silently vanish from both renders.
        raise RuntimeError(f"{cls.__qualname__} defines context(params, answers), which qbank no longer calls: "
                           "split it into given(params) (what the exam and the key show, from the parameters) and "
                           "key_context(params, answers) (the key's only); see docs/writing-a-problem.md")
    target = _target()
    if name in target.generators:
        raise RuntimeError(f"generator {name!r} registered twice")
    target.generators[name] = cls
    return cls


def builtin_names() -> list[str]:
    """The engine's generator modules (generator/problems/*.py), each named after its module."""
    from . import problems

    return sorted(i.name for i in pkgutil.iter_modules(problems.__path__) if not i.name.startswith("_"))


def builtin_generator(name: str) -> type | None:
    """The built-in generator called ``name`` (importing only its module), or None."""
    if name not in BUILTIN.generators and name in builtin_names():
        importlib.import_module(f"{__package__}.problems.{name}")
    return BUILTIN.generators.get(name)


class GeneratorImportError(QbankError):
    """A bank's generator.py does not import: one line with its file and line."""


@dataclass(frozen=True)
class LoadedFile:
    """A bank file loaded by path, and what it registered."""

    path: Path
    module: ModuleType
    registered: Registrations


_LOADED: dict[tuple[Path, bytes], LoadedFile] = {}


def module_name(path: Path) -> str:
    """A private, stable module name for a bank file: ``qbank_bank_<hash>.<folder>``."""
    digest = hashlib.sha256(str(path.parent).encode()).hexdigest()[:12]
    return f"qbank_bank_{digest}_{path.parent.name.replace('-', '_')}"


def load_file(path: Path) -> LoadedFile:
    """Load a bank's ``generator.py`` by path (once per content) and record what it registers."""
    path = path.resolve()
    source = path.read_bytes()
    key = (path, hashlib.sha256(source).digest())
    if key in _LOADED:
        return _LOADED[key]
    name = module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    registered = Registrations()
    sys.modules[name] = module  # dataclasses, pickling and tracebacks look modules up by name
    linecache.checkcache(str(path))
    _collecting.append(registered)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:  # a generator file that exits must not end qbank silently
        sys.modules.pop(name, None)
        raise GeneratorImportError(f"{import_error_location(e, path)}: {type(e).__name__}: {e}") from e
    finally:
        _collecting.pop()
    _LOADED[key] = loaded = LoadedFile(path, module, registered)
    return loaded


def import_error_location(exc: BaseException, path: Path) -> str:
    """``file:line`` where loading ``path`` failed: the syntax error's line, or the innermost frame in it."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{shown(exc.filename)}:{exc.lineno}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    return f"{shown(path)}:{frames[-1].lineno}" if frames else shown(path)


def raised_at(exc: BaseException, code: list[Path]) -> str:
    """``file:line`` of the frame that raised ``exc``: the innermost one in the generator's own files
    (``code``: files or folders); when only qbank's own code is on the stack (it refused what the
    generator returned, a NaN say), the generator's file; else the innermost frame of all."""
    frames = traceback.extract_tb(exc.__traceback__)
    roots = [c.resolve() for c in code]
    own = [f for f in frames if any(Path(f.filename).resolve() == r or Path(f.filename).resolve().is_relative_to(r)
                                    for r in roots if r.is_dir() or r.is_file())]
    qbank = Path(__file__).resolve().parent
    files = [c for c in code if c.is_file()]
    if not own and files and all(Path(f.filename).resolve().is_relative_to(qbank) for f in frames):
        return shown(files[0])  # qbank's own line would send the author into qbank's source
    if not frames:
        return "?"
    frame = (own or frames)[-1]
    return f"{shown(frame.filename)}:{frame.lineno}"
