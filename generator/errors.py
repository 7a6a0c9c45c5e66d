"""Every error qbank raises on purpose.

User errors (bad specs, bad arguments, bad parameters) subclass :class:`QbankError`, a
``click.ClickException`` with exit code 2, so the CLI needs no catch-all and prints one line.
"""
from __future__ import annotations

from pathlib import Path

import click


def shown(path: Path | str) -> str:
    """A path as messages show it: relative to the current folder when below it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve())) if p.is_absolute() else str(p)
    except ValueError:
        return str(p)


class QbankError(click.ClickException):
    """Base class: a problem the user can fix; exit code 2, one line, no traceback."""

    exit_code = 2

    def show(self, file=None) -> None:  # one line per error, no "Error:" decoration noise
        click.echo("\n".join(f"qbank: {line}" for line in self.format_message().split("\n")), err=True, file=file)

    def __reduce__(self):
        # Subclasses take other constructor arguments; rebuild from the message and attributes so
        # errors raised in build worker processes reach the parent intact.
        return (_restore, (type(self), self.message), self.__dict__)


def _restore(cls: type, message: str) -> "QbankError":
    err = Exception.__new__(cls)
    click.ClickException.__init__(err, message)
    return err


class SpecError(QbankError):
    """A YAML spec is malformed or invalid. Holds every error found in the file."""

    def __init__(self, messages: list[str]):
        self.messages = list(messages)
        super().__init__("\n".join(self.messages))


class ParamError(QbankError):
    """Parameters handed to a solver are missing, mis-shaped or ambiguous."""

    def __init__(self, param: str, problem: str):
        self.param = param
        self.problem = problem
        super().__init__(f"parameter '{param}': {problem}")


class UnknownNameError(QbankError):
    """A kind, generator, problem or template name that does not exist."""

    def __init__(self, what: str, name: str, valid: list[str]):
        super().__init__(f"unknown {what} '{name}'; valid: {', '.join(sorted(valid)) or '(none)'}")


class Reject(Exception):
    """Raised by a generator's draw/validate: this draw is degenerate, draw again."""


class GenerationError(QbankError):
    """A generator raised, looped, or could not find a non-degenerate draw."""


class TemplateError(QbankError):
    """A Jinja template is missing, malformed or uses an undefined variable."""


class LatexError(QbankError):
    """LaTeX is missing, failed, or ran past its limits."""


class OutputError(QbankError):
    """The output folder is in use, exists already, or cannot be written."""


class VerifyFailure(click.ClickException):
    """A build does not verify: the key disagrees with an independent derivation. Exit 1."""

    exit_code = 1

    def show(self, file=None) -> None:
        click.echo(self.format_message(), err=True, file=file)
