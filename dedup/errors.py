"""Typed errors raised by the library; the CLI maps them to messages and exit codes."""

from __future__ import annotations


class DedupError(Exception):
    """Base class of every error `dedup` raises on purpose."""

    exit_code = 1


class InputError(DedupError):
    """A document or file could not be read; names the file and, where known, the line."""

    def __init__(self, source: str, reason: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = reason
        where = f"{source}, line {line}" if line is not None else source
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
    """An output file could not be written (a Hadoop OUTDIR refused it); names the file."""
