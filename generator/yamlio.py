"""Safe YAML loading that remembers where every value came from.

Only ``yaml.SafeLoader`` is used (no Python tags), duplicate keys are errors, floats follow
YAML 1.2 (``1e-3`` is a number), and every value's line is kept so that schema errors can name
``file:line: key.path``. Hostile files are refused with a line number, never a crash: limits on
size, nesting, aliases and the size after expanding them (the "billion laughs").
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


MAX_BYTES = 1024 * 1024  # a spec or parameter file; real ones are a few kilobytes
MAX_DEPTH = 50  # nesting of lists and mappings
MAX_ALIASES = 100  # *alias uses per file
MAX_VALUES = 100_000  # values after expanding aliases
MAX_NUMBER_CHARS = 100  # digits of one number (int() of 4,301+ digits raises)
_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}


def _refuse(message: str, node_or_mark: Any) -> yaml.MarkedYAMLError:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return yaml.constructor.ConstructorError(None, None, message, mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, reads YAML 1.2 floats and limits nesting and aliases.

    Limits are checked while composing, so a refusal names the line of the alias or bracket
    that crosses them: each alias adds the size of the value it repeats to the values counted.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._values = 0
        self._open: set[str] = set()  # anchors whose value is still being read
        self._sizes: dict[int, int] = {}

    def _size(self, node: yaml.Node) -> int:
        """Values in ``node`` with its aliases expanded (memoised: a finished node never changes)."""
        if id(node) not in self._sizes:
            children = node.value if isinstance(node, yaml.SequenceNode) else \
                [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
            self._sizes[id(node)] = 1 + sum(self._size(c) for c in children)
        return self._sizes[id(node)]

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _refuse(f"more than {MAX_ALIASES} aliases (*name); write the values out", event.start_mark)
            if event.anchor in self._open:
                raise _refuse("an alias refers to a value that contains it (a recursive alias)", event.start_mark)
            node = super().compose_node(parent, index)
            self._values += self._size(node)
        else:
            self._depth += 1
            self._values += 1
            if self._depth > MAX_DEPTH:
                raise _refuse(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
            anchor = getattr(event, "anchor", None)
            if anchor:
                self._open.add(anchor)
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
                self._open.discard(anchor)
        if self._values > MAX_VALUES:
            raise _refuse(f"more than {MAX_VALUES:,} values once aliases are expanded", event.start_mark)
        return node


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


def _walk(loader: _Loader, node: yaml.Node, loc: Loc, lines: dict, errors: list, path: Path,
          seen: list[int] | None = None, open_nodes: frozenset = frozenset()) -> Any:
    seen = seen if seen is not None else [0]
    seen[0] += 1
    if seen[0] > MAX_VALUES:
        raise _refuse(f"more than {MAX_VALUES:,} values once aliases are expanded", node)
    if id(node) in open_nodes:
        raise _refuse("an alias refers to a value that contains it (a recursive alias)", node)
    lines[loc] = node.start_mark.line + 1
    if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {node.tag!r}", node.start_mark
        )
    inner = open_nodes | {id(node)}
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict = {}
        for knode, vnode in node.value:
            key = _walk(loader, knode, loc, {}, errors, path, seen, inner) if isinstance(knode, yaml.ScalarNode) else None
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
            out[key] = _walk(loader, vnode, loc + (key,), lines, errors, path, seen, inner)
            lines[loc + (key,)] = knode.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(loader, v, loc + (i,), lines, errors, path, seen, inner) for i, v in enumerate(node.value)]
    if node.tag not in _SCALAR_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise _refuse(f"tag {tag} is not allowed (plain values only: text, numbers, true/false, null)", node)
    if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float") and len(node.value) > MAX_NUMBER_CHARS:
        raise _refuse(f"a number of {len(node.value)} characters; at most {MAX_NUMBER_CHARS}", node)
    if node.style == '"' and (eaten := _eaten_command(node)):
        escape, name, command = eaten
        errors.append(f"{path}:{node.start_mark.line + 1}: {format_loc(loc)}: in double quotes YAML reads \\{escape} "
                      f"as {name}, so \\{command} loses its backslash; write LaTeX in single quotes ('…') or double "
                      f"the backslash (\\\\{command})")
    return loader.construct_object(node, deep=True)


# YAML escapes that start LaTeX commands (\tanh, \nabla, \frac, \beta, \alpha, \vec, \emph, \rho).
_ESCAPES = {"t": "a tab", "n": "a line break", "r": "a carriage return", "f": "a form feed", "b": "a backspace",
            "a": "a bell character", "v": "a vertical tab", "e": "an escape character"}
_EATEN = re.compile(r"\\(?:\\|([" + "".join(_ESCAPES) + r"])([A-Za-z]+))")


def _eaten_command(node: yaml.ScalarNode) -> tuple[str, str, str] | None:
    r"""In a double-quoted scalar's source, the first escape that takes the backslash of a LaTeX
    command (``\tanh`` read as a tab and ``anh``): (escape letter, what YAML reads, command)."""
    source = node.start_mark.buffer[node.start_mark.index:node.end_mark.index] if node.start_mark.buffer else ""
    for m in _EATEN.finditer(source):  # an escaped backslash (\\tanh) is matched whole and skipped
        if m.group(1):
            return m.group(1), _ESCAPES[m.group(1)], m.group(1) + m.group(2)
    return None


def _yaml_message(e: yaml.MarkedYAMLError) -> tuple[int, str]:
    """Line and text of a PyYAML error; where a construct was left open, its line as well."""
    mark = e.problem_mark or e.context_mark
    if e.context and "simple key" in e.context and e.context_mark:  # a key without its ':' is on the line
        mark = e.context_mark                                       # the scan started, not where it gave up
    line = mark.line + 1 if mark else 1
    what = (e.problem or e.context or "invalid YAML").strip()
    if "could not determine a constructor" in what:
        tag = re.search(r"'([^']*)'", what)
        what = f"tag {tag.group(1) if tag else ''} is not allowed (plain YAML only; nothing is run)"
    elif e.context and e.problem and e.context_mark:
        what += f" ({e.context.strip()} started on line {e.context_mark.line + 1})"
    return line, what


def load_yaml(path: str | Path, text: str | None = None) -> Located:
    """Load one YAML document safely, or raise :class:`SpecError` with every problem found."""
    path = Path(path)
    if text is None:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_BYTES + 1)
            text = data.decode("utf-8-sig")
        except FileNotFoundError:
            raise SpecError([f"{path}: no such file"]) from None
        except (OSError, UnicodeDecodeError) as e:
            raise SpecError([f"{path}: cannot read: {e}"]) from e
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise SpecError([f"{path}:1: (top level): larger than {MAX_BYTES // 1024} KiB; a spec or parameter "
                         "file is at most that"])
    loader = None
    try:
        loader = _Loader(text)  # the reader refuses control characters here
        node = loader.get_single_node()
        if node is None:
            raise SpecError([f"{path}:1: (top level): the file is empty; expected a mapping of keys"])
        lines: dict[Loc, int] = {}
        errors: list[str] = []
        data = _walk(loader, node, (), lines, errors, path)
    except yaml.reader.ReaderError as e:
        line = text.count("\n", 0, e.position) + 1
        char = e.character if isinstance(e.character, int) else ord(e.character)
        raise SpecError([f"{path}:{line}: (top level): invalid YAML: control character U+{char:04X} "
                         "is not allowed"]) from None
    except yaml.MarkedYAMLError as e:
        line, what = _yaml_message(e)
        raise SpecError([f"{path}:{line}: (top level): invalid YAML: {what}"]) from None
    except yaml.YAMLError as e:
        raise SpecError([f"{path}:1: (top level): invalid YAML: {e}"]) from None
    except RecursionError:  # a last resort: MAX_DEPTH stops nesting well before this
        raise SpecError([f"{path}:1: (top level): invalid YAML: nested too deeply"]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if errors:
        raise SpecError(errors)
    if not isinstance(data, dict):
        raise SpecError([f"{path}:1: (top level): expected a mapping of keys, got {type(data).__name__}"])
    return Located(path, data, lines)
