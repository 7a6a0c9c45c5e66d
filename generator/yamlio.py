"""Safe YAML loading that remembers where every value came from.

Only ``yaml.SafeLoader`` is used (no Python tags), duplicate keys are errors, floats follow
YAML 1.2 (``1e-3`` is a number), and every value's line is kept so that schema errors can name
``file:line: key.path``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from .errors import SpecError

Loc = tuple[Any, ...]

# YAML 1.1 wants a dot in floats; YAML 1.2 (and every instructor) reads 1e-3 as a number.
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and reads YAML 1.2 floats."""


# Dates stay strings (an exam's "date: 2026-10-15" is text), and floats are re-resolved below.
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in ("tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


def _construct_float(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    text = loader.construct_scalar(node)
    if re.fullmatch(r"[-+]?[0-9][0-9_]*", text):  # a plain integer: keep it an int
        return int(text.replace("_", ""))
    return yaml.SafeLoader.construct_yaml_float(loader, node)


_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def format_loc(loc: Loc) -> str:
    """``('problems', 2, 'points')`` → ``problems[2].points``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


class Located:
    """Parsed YAML data plus the line of every key path in it."""

    def __init__(self, path: Path, data: Any, lines: dict[Loc, int]):
        self.path = path
        self.data = data
        self.lines = lines

    def line(self, loc: Loc) -> int:
        """The line of ``loc`` or of its nearest enclosing value that has one."""
        loc = tuple(loc)
        while loc and loc not in self.lines:
            loc = loc[:-1]
        return self.lines.get(loc, 1)

    def error(self, loc: Loc, message: str) -> str:
        """One error line: ``file:line: key.path: message``."""
        return f"{self.path}:{self.line(loc)}: {format_loc(loc)}: {message}"


_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def _walk(loader: _Loader, node: yaml.Node, loc: Loc, lines: dict, errors: list, path: Path) -> Any:
    lines[loc] = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark
        )
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            if not isinstance(key, (str, int, float, bool)) or key is None:
                errors.append(f"{path}:{knode.start_mark.line + 1}: {format_loc(loc)}: keys must be plain scalars")
                continue
            if key in out:
                errors.append(
                    f"{path}:{knode.start_mark.line + 1}: {format_loc(loc + (key,))}: duplicate key "
                    f"(first given on line {lines[loc + (key,)]})"
                )
                continue
            lines[loc + (key,)] = knode.start_mark.line + 1
            out[key] = _walk(loader, vnode, loc + (key,), lines, errors, path)
            lines[loc + (key,)] = knode.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, v, loc + (i,), lines, errors, path) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: str | Path, text: str | None = None) -> Located:
    """Load one YAML document safely, or raise :class:`SpecError` with every problem found."""
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise SpecError([f"{path}: no such file"]) from None
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError([f"{path}: cannot read: {e}"]) from e
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError([f"{path}:1: (top level): the file is empty; expected a mapping of keys"])
        lines: dict[Loc, int] = {}
        errors: list[str] = []
        data = _walk(loader, node, (), lines, errors, path)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        what = (e.problem or e.context or "invalid YAML").strip()
        if "could not determine a constructor" in what:
            tag = re.search(r"'([^']*)'", what)
            what = f"tag {tag.group(1) if tag else ''} is not allowed (plain YAML only; nothing is run)"
        raise SpecError([f"{path}:{line}: (top level): invalid YAML: {what}"]) from None
    except yaml.YAMLError as e:
        raise SpecError([f"{path}:1: (top level): invalid YAML: {e}"]) from None
    finally:
        loader.dispose()
    if errors:
        raise SpecError(errors)
    if not isinstance(data, dict):
        raise SpecError([f"{path}:1: (top level): expected a mapping of keys, got {type(data).__name__}"])
    return Located(path, data, lines)
