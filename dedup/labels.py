"""Reviewers' verdicts on pairs of documents: `labels.jsonl`, one `{"a", "b", "dup"}` per line.

`dup` is true when the two documents are versions of the same article. A pair is unordered, and
the file is a log: a later line about a pair replaces the earlier verdict. `dedup serve` appends
to it as verdicts are made; `dedup eval --labels` scores a run against it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import InputError

# The file `dedup serve` writes into OUTDIR.
LABELS = "labels.jsonl"
# Longest document id a verdict may name (ids are what the run's records carry).
MAX_ID_CHARS = 4096

Pair = tuple[str, str]


@dataclass(frozen=True)
class Label:
    """One verdict: `a` and `b` are (dup) or are not versions of one article."""

    a: str
    b: str
    dup: bool

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "dup": self.dup}


def pair(a: str, b: str) -> Pair:
    """The key of an unordered pair."""
    return (a, b) if a <= b else (b, a)


def parse_label(obj: Any) -> Label:
    """A verdict from its JSON value; ValueError says what is wrong with it."""
    if not isinstance(obj, dict):
        raise ValueError('expected an object {"a": ID, "b": ID, "dup": true|false}')
    a, b, dup = obj.get("a"), obj.get("b"), obj.get("dup")
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, str) or not value:
            raise ValueError(f'"{name}" must be a document id (a non-empty string)')
        if len(value) > MAX_ID_CHARS:
            raise ValueError(f'"{name}" is longer than {MAX_ID_CHARS} characters')
        if not value.isprintable() and _unwritable(value):
            raise ValueError(f'"{name}" is not valid text (it holds a lone surrogate)')
    if not isinstance(dup, bool):
        raise ValueError('"dup" must be true or false')
    assert isinstance(a, str) and isinstance(b, str)
    if a == b:
        raise ValueError('"a" and "b" must be two different documents')
    return Label(a, b, dup)


def _unwritable(value: str) -> bool:
    """Whether a string cannot be written as UTF-8 (it holds a lone surrogate, which JSON's
    \\ud800 escapes can carry)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_labels(path: Path) -> dict[Pair, Label]:
    """The verdict on each pair in a labels file, the latest line about a pair winning.
    InputError naming the file and line of a bad one."""
    verdicts: dict[Pair, Label] = {}
    try:
        with Path(path).open(encoding="utf-8") as f:
            lines = list(enumerate(f, 1))
    except OSError as e:
        raise InputError(str(path), f"cannot read: {e.strerror or e}") from e
    for lineno, line in lines:
        if not line.strip():
            continue
        try:
            label = parse_label(json.loads(line))
        except json.JSONDecodeError as e:
            raise InputError(str(path), f"not valid JSON: {e.msg}", lineno) from e
        except ValueError as e:
            raise InputError(str(path), str(e), lineno) from e
        verdicts.pop(pair(label.a, label.b), None)  # keep the order of the latest verdicts
        verdicts[pair(label.a, label.b)] = label
    return verdicts


class LabelLog:
    """The verdicts of OUTDIR/labels.jsonl, kept in memory and appended to the file as they
    are made (each line flushed and synced before `record` returns)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._verdicts: dict[Pair, Label] = read_labels(self.path) if self.path.exists() else {}

    def record(self, *labels: Label) -> None:
        """Append verdicts to the file, synced to disk before returning."""
        data = "".join(json.dumps(x.to_dict(), ensure_ascii=False) + "\n" for x in labels)
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                view = memoryview(data.encode("utf-8"))
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            for label in labels:
                key = pair(label.a, label.b)
                self._verdicts.pop(key, None)
                self._verdicts[key] = label

    def verdict(self, a: str, b: str) -> bool | None:
        """The latest verdict on a pair, or None when it has none."""
        label = self._verdicts.get(pair(a, b))
        return None if label is None else label.dup

    def __len__(self) -> int:
        return len(self._verdicts)

    def verdicts(self) -> Mapping[Pair, Label]:
        with self._lock:
            return dict(self._verdicts)
