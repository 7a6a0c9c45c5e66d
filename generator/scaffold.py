"""``qbank init`` and ``qbank new``: a ready course repository, and a new problem folder in a bank.

What they write lives in ``generator/scaffold/`` as plain files with ``__ID__``-style
placeholders, so the example a course starts from is the same text a reader of qbank sees.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import tempfile
import urllib.parse
from importlib import metadata
from pathlib import Path

from .bank import GENERATOR, SPEC, TEMPLATE, find_root, problem_folders, bank_dirs, shown
from .errors import QbankError

SCAFFOLD = Path(__file__).resolve().parent / "scaffold"
ID_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def qbank_version() -> str:
    try:
        return metadata.version("qbank")
    except metadata.PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0"


def install_source() -> str:
    """What ``pip install`` takes to install this qbank again, shell-quoted: the wheel or folder it was
    installed from (pip records it: PEP 610), else the source tree it runs from, else a placeholder."""
    try:
        recorded = json.loads(metadata.distribution("qbank").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        recorded = {}
    url = urllib.parse.urlparse(recorded.get("url", ""))
    if url.scheme == "file":
        return shlex.quote(urllib.parse.unquote(url.path))
    tree = Path(__file__).resolve().parent.parent
    if (tree / "pyproject.toml").is_file():
        return shlex.quote(str(tree))
    return "/path/to/qbank"


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"__{key}__", value)
    return text


def _names(pid: str) -> dict[str, str]:
    """``softmax-temperature`` → generator ``softmax_temperature``, class ``SoftmaxTemperature``."""
    return {"ID": pid, "NAME": pid.replace("-", "_"), "CLASS": "".join(p.capitalize() for p in pid.split("-")),
            "TITLE": pid.replace("-", " ").capitalize()}


# What a course folder may already hold when init writes into it: its git checkout and its own
# environment (where `.venv/bin/qbank init .` runs from). Both are left as they are.
KEPT = frozenset({".git", ".venv"})


def _write_tree(target: Path, files: dict[str, str]) -> None:
    """Create the folder ``target`` holding ``files`` (relative path → text), all or nothing.

    The files are written into a fresh sibling folder that is then renamed into place, so an
    error leaves nothing behind and an existing folder's entries are never touched. A folder that
    holds only :data:`KEPT` entries gets the new top-level entries moved in, one rename each.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    try:
        # mkdtemp makes the folder private (0700); a course or problem folder is shared with the course
        # staff, so it gets the mode a plain mkdir would give (or the empty folder's it replaces)
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.is_dir() else 0o777 & ~_umask())
        for rel, text in files.items():
            path = tmp / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if target.is_dir() and any(target.iterdir()):
            _move_into(tmp, target)
            tmp.rmdir()
            return
        if target.is_dir():
            target.rmdir()  # an empty folder made for the course: take its place
        os.rename(tmp, target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise QbankError(f"cannot create {target}: {e.strerror or e}") from e


def _move_into(tmp: Path, target: Path) -> None:
    """Move ``tmp``'s entries into ``target`` (none of them there yet); undo the moves on an error."""
    moved: list[Path] = []
    try:
        for entry in sorted(tmp.iterdir()):
            os.rename(entry, target / entry.name)
            moved.append(entry)
    except OSError:
        for entry in moved:
            os.rename(target / entry.name, entry)
        raise


def problem_files(pid: str, multiple_choice: bool, prefix: str = "") -> dict[str, str]:
    """The files of a new problem folder (paths under ``prefix``): a small working example to edit."""
    values = _names(pid)
    if multiple_choice:
        return {prefix + SPEC: _fill((SCAFFOLD / "choice" / SPEC).read_text(), values)}
    src = SCAFFOLD / "problem"
    return {prefix + SPEC: _fill((src / SPEC).read_text(), values),
            prefix + GENERATOR: _fill((src / GENERATOR).read_text(), values),
            prefix + TEMPLATE: _fill((src / TEMPLATE).read_text(), values),
            prefix + f"test_{pid}.py": _fill((src / "test.py").read_text(), values)}


def check_new_id(pid: str, root: Path) -> Path:
    """The folder for a new problem ``pid`` in the course at ``root``; refuse a bad or taken id."""
    if not ID_PATTERN.match(pid) or len(pid) > 64:
        raise QbankError(f"'{pid}' is not a problem id: use lowercase letters, digits and single dashes, "
                         "starting with a letter (e.g. softmax-temperature)")
    taken = problem_folders(bank_dirs(root))
    if pid in taken:
        raise QbankError(f"problem '{pid}' exists already: {shown(taken[pid] / SPEC)}")
    folder = root / "bank" / "problems" / pid
    if folder.exists():
        raise QbankError(f"{shown(folder)} exists already (without a {SPEC}); remove it or choose another id")
    name = pid.replace("-", "_")
    clash = [p for p, f in taken.items() if p.replace("-", "_") == name and (f / GENERATOR).is_file()]
    if clash:
        raise QbankError(f"problem '{pid}' would register generator '{name}', as '{clash[0]}' does")
    return root / "bank" / "problems" / pid


def new_problem(pid: str, root: Path | None = None, multiple_choice: bool = False) -> Path:
    """Write ``bank/problems/<pid>/`` in the course at ``root`` (default: found from here)."""
    root = find_root() if root is None else root
    folder = check_new_id(pid, root)
    _write_tree(folder, problem_files(pid, multiple_choice))
    return folder


def init_course(target: Path, course: str | None = None) -> Path:
    """Create a course repository at ``target``: a bank with two example problems, an example exam,
    a README for course staff, a .gitignore, a pytest.ini and a CI workflow pinned to this qbank."""
    if target.exists() and (not target.is_dir() or any(p.name not in KEPT for p in target.iterdir())):
        raise QbankError(f"{target} exists and holds more than {' and '.join(sorted(KEPT))}; "
                         "choose a new or empty folder")
    version = qbank_version()
    values = {"COURSE": course or target.resolve().name, "VERSION": version, "SOURCE": install_source()}
    src = SCAFFOLD / "course"
    files = {
        "README.md": _fill((src / "README.md").read_text(), values),
        ".gitignore": (src / "gitignore").read_text(),
        "pytest.ini": (src / "pytest.ini").read_text(),
        ".github/workflows/qbank.yml": _fill((src / "workflow.yml").read_text(), values),
        "bank/qbank.yaml": (src / "qbank.yaml").read_text(),
        "bank/exams/example.yaml": _fill((src / "exam.yaml").read_text(), values),
        "output/.gitkeep": "",
        **problem_files("example-neuron", False, "bank/problems/example-neuron/"),
        **problem_files("example-choice", True, "bank/problems/example-choice/"),
    }
    _write_tree(target, files)
    if not (target / ".venv").exists():  # (a .venv the course made itself, qbank installed in it, is kept)
        link_environment(target / ".venv")
    return target


def link_environment(venv: Path) -> None:
    """A virtual environment at ``venv`` that runs this qbank: its ``bin/qbank`` and ``bin/pytest`` use
    the packages of the environment qbank runs in (linked by a ``.pth`` file, not copied), so a new
    course runs ``.venv/bin/qbank check`` at once, with no pip step (no download). Installing qbank into it (the course
    README's set-up line) replaces the link with a copy of its own."""
    import importlib.util
    import site
    import sys
    import sysconfig
    import venv as venvs
    venv = venv.absolute()  # the scripts' #! line must hold wherever they are run from
    venvs.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(venv)
    own = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    linked = [*site.getsitepackages(), *([site.getusersitepackages()] if site.ENABLE_USER_SITE else [])]
    # addsitedir, not a plain path: the linked folders' own .pth files (editable installs) must run too
    (own / "qbank-link.pth").write_text("".join(f"import site; site.addsitedir({d!r})\n" for d in linked))
    scripts = {"qbank": "from generator.cli import main"}
    if importlib.util.find_spec("pytest") is not None:
        scripts["pytest"] = "from pytest import console_main as main"
    bindir = Path(sysconfig.get_path("scripts", vars={"base": str(venv), "platbase": str(venv)}))
    for name, line in scripts.items():
        (bindir / name).write_text(f"#!{bindir / 'python'}\nimport sys\n{line}\nsys.exit(main())\n")
        (bindir / name).chmod(0o755)


def document_templates(root: Path) -> list[tuple[str, Path, Path | None]]:
    """qbank's document templates: (name, qbank's file, the course's own copy in ``templates/`` or None)."""
    from .bank import PACKAGE_TEMPLATES

    def own(src: Path) -> Path | None:  # (qbank's own source tree is a course whose templates/ are qbank's)
        copy = root / "templates" / src.name
        return copy if copy.is_file() and copy.resolve() != src.resolve() else None
    return [(src.name, src, own(src)) for src in sorted(PACKAGE_TEMPLATES.glob("*.tex.j2"))]


def copy_template(name: str, root: Path | None = None, force: bool = False) -> Path:
    """Copy qbank's document template ``name`` (``exam`` or ``exam.tex.j2``) into the course's
    ``templates/``, where builds then find it first. An existing copy is the course's own work:
    replaced only with ``force``."""
    root = find_root() if root is None else root
    known = {n: src for n, src, _ in document_templates(root)}
    file = name if name.endswith(".tex.j2") else f"{name}.tex.j2"
    if file not in known:
        have = ", ".join(n.removesuffix(".tex.j2") for n in known)
        raise QbankError(f"qbank has no document template '{name}'; it has: {have}")
    folder = root / "templates"
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise QbankError(f"{shown(folder)} is not a folder of the course (a link or a file): not writing into it")
    target = folder / file
    if (target.exists() or target.is_symlink()) and not force:
        raise QbankError(f"{shown(target)} exists: the course's own {file}; --force replaces it with qbank's")
    folder.mkdir(exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{file}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(known[file].read_bytes())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)  # whole or not at all
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
