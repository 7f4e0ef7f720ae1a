"""Typed errors raised by the library; the CLI maps them to messages and exit codes."""

from __future__ import annotations


def shown(name: str) -> str:
    r"""A file name as a message prints it: as it is, or repr-style when it holds a control,
    bidi or other unprintable character, so that a name cannot move the cursor, colour the
    terminal or reorder the line around it.

    >>> print(shown("data/a.jsonl"), shown("a\x1b[31m.jsonl"))
    data/a.jsonl 'a\x1b[31m.jsonl'
    """
    return name if name.isprintable() else repr(name)


class DedupError(Exception):
    """Base class of every error `dedup` raises on purpose."""

    exit_code = 1


class InputError(DedupError):
    """A document or file could not be read; names the file and, where known, the line."""

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{shown(source)}, line {line}" if line is not None else shown(source)
        super().__init__(f"{where}: {reason}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str, int | None]]:
        # Raised in worker processes and sent back to be raised in order: pickle the
        # arguments, not the message (the default, which __init__ would not take).
        return type(self), (self.source, self.reason, self.line)


class ConfigError(DedupError):
    """Options that cannot work together or a malformed config value."""

    exit_code = 2


class AccountingError(DedupError):
    """kept + removed + skipped != read: a bug, never a data problem."""

    exit_code = 3


class OutputError(DedupError):
    """OUTDIR cannot be used: it is an input, holds files dedup did not write, another run
    holds it, or a file could not be written there; names the folder or the file."""
