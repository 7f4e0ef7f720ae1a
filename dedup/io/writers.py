"""Output files, written atomically: a file appears under its name only once complete."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def json_line(record: Mapping[str, Any]) -> str:
    """One JSONL line (UTF-8 text, no ASCII escaping); lone surrogates fall back to escapes."""
    line = json.dumps(record, ensure_ascii=False)
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        line = json.dumps(record, ensure_ascii=True)
    return line + "\n"


@contextmanager
def atomic_open(path: Path) -> Iterator[IO[str]]:
    """Write to a temporary sibling, then rename over `path`; on error nothing is renamed."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, obj: Any) -> None:
    with atomic_open(path) as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")


def write_jsonl(path: Path, records: Iterator[Mapping[str, Any]]) -> int:
    n = 0
    with atomic_open(path) as f:
        for r in records:
            f.write(json_line(r))
            n += 1
    return n
