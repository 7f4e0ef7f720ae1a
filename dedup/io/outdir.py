"""The output folder's contract, written once for every engine: its file names, the columns a
run adds, every record routed to kept/removed (or annotated) in input order, clusters.jsonl,
errors.jsonl, summary.json (written last: it marks a finished run), the accounting check, and
atomic writes. A local folder (`LocalFolder`) and a Hadoop URI (`io.hadoop.HadoopDir`) sit
behind one interface, `Folder`; everything else here only talks to that interface.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from .. import __version__
from ..config import Config
from ..errors import AccountingError
from ..progress import Reporter
from ..types import Cluster, Counts, Skip
from .parquet import ParquetSink, with_columns
from .readers import input_formats
from .writers import atomic_path, json_bytes, write_chunked

# Files of an OUTDIR; summary.json is written last and marks a finished run. A run writes
# kept + removed, or annotated (--annotate), as JSONL or Parquet; all kinds are cleared first.
OUTPUT_FILES = (
    "clusters.jsonl",
    "kept.jsonl",
    "removed.jsonl",
    "annotated.jsonl",
    "kept.parquet",
    "removed.parquet",
    "annotated.parquet",
    "errors.jsonl",
    "summary.json",
)
# Columns a run adds (name, Arrow type) to removed records, and to every annotated record.
REMOVED_COLUMNS = (("duplicate_of", "string"), ("cluster", "int64"))
ANNOTATED_COLUMNS = (
    ("dedup_cluster", "int64"),
    ("dedup_keep", "bool"),
    ("dedup_duplicate_of", "string"),
)
RESERVED = frozenset(name for name, _ in (*REMOVED_COLUMNS, *ANNOTATED_COLUMNS))
# summary.json's "report" when a report was asked for but OUTDIR is not a local folder.
REMOTE_REPORT = (
    "not written: OUTDIR is not a local folder; copy OUTDIR to one and run `dedup report` on it"
)

# Flags of a rendered record, one byte each: its line cannot take the run's fields by
# splicing (it has one of their names, or fell back to ASCII escapes), and it is a Parquet row.
RERENDER = 1
PARQUET_ROW = 2

# A document's fate: None when it is in no cluster, else (the id of the document it
# duplicates, or None for a cluster's representative; the cluster number).
Fate = tuple[str | None, int] | None
Fields = list[tuple[str, Any]]


class Folder(Protocol):
    """Where a run's files go: a local folder or a Hadoop URI. Files are written under a
    temporary name and renamed when complete."""

    @property
    def local(self) -> Path | None:
        """The folder, when it is a local one (the report is written there)."""

    def mkdir(self) -> None: ...

    def names(self) -> list[str]:
        """The names in the folder."""

    def remove(self, name: str) -> None:
        """Remove a file or folder (with what it holds) if it is there."""

    def binary(self, name: str) -> AbstractContextManager[BinaryIO]: ...

    def parquet(self, name: str, schema: Any, text_field: str) -> ParquetSink: ...


@dataclass(frozen=True)
class LocalFolder:
    """An OUTDIR on the local file system."""

    local: Path

    def mkdir(self) -> None:
        self.local.mkdir(parents=True, exist_ok=True)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.local.iterdir())

    def remove(self, name: str) -> None:
        path = self.local / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    @contextmanager
    def binary(self, name: str) -> Iterator[BinaryIO]:
        with atomic_path(self.local / name) as tmp, open(tmp, "wb") as f:
            yield f

    def parquet(self, name: str, schema: Any, text_field: str) -> ParquetSink:
        return ParquetSink(self.local / name, schema, text_field)


def clear(folder: Folder) -> None:
    """Make OUTDIR and remove what an earlier run left there: its output files first, so an
    interrupted run never leaves a mix that looks finished, then its report (a report with
    an index page is always this run's: build_report writes its index pages last), and what
    a killed run left behind (its temporary folder and partial files)."""
    folder.mkdir()
    for name in reversed(OUTPUT_FILES):
        folder.remove(name)
    for name in ("index.html", "index.md"):  # first, in case the removal is cut short
        folder.remove(f"report/{name}")
    folder.remove("report")
    for name in folder.names():
        if name.startswith(".dedup-") or (name.startswith(".") and name.endswith(".partial")):
            folder.remove(name)


def write_json(folder: Folder, name: str, obj: Any) -> None:
    """A JSON document, indented, as summary.json is written."""
    data = (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    with folder.binary(name) as f:
        f.write(data)


def write_lines(folder: Folder, name: str, records: Iterable[Mapping[str, Any] | bytes]) -> int:
    """A JSONL file: records rendered by `json_bytes`, or lines already rendered."""
    n = 0
    with folder.binary(name) as f:
        for r in records:
            f.write(r if isinstance(r, bytes) else json_bytes(r)[0])
            n += 1
    return n


def output_format(inputs: Sequence[str], config: Config, found: set[str] | None = None) -> str:
    """jsonl or parquet: as configured, or for "auto" Parquet when every input is Parquet
    (`found`: the formats of inputs the caller read itself, such as Hadoop URIs)."""
    if config.output.format != "auto":
        return config.output.format
    formats = input_formats(inputs, config.read) | (found or set())
    return "parquet" if formats == {"parquet"} else "jsonl"


# -- records ----------------------------------------------------------------------------


def record_line(record: Mapping[str, Any], parquet_row: bool = False) -> tuple[bytes, int]:
    """A record's JSON line as the outputs write it, and its flags."""
    data, escaped = json_bytes(record)
    rerender = escaped or not RESERVED.isdisjoint(record)
    return data, (PARQUET_ROW if parquet_row else 0) | (RERENDER if rerender else 0)


def fate_fields(fate: Fate, annotate: bool) -> Fields:
    """The fields a run adds to a record with this fate: none to a kept record, the removed
    columns to a removed one, the annotated columns to every record with --annotate."""
    dup, number = (None, None) if fate is None else fate
    if annotate:
        return [("dedup_cluster", number), ("dedup_keep", dup is None), ("dedup_duplicate_of", dup)]
    return [] if dup is None else [("duplicate_of", dup), ("cluster", number)]


def with_fields(line: bytes, flags: int, fields: Fields) -> bytes:
    """A record's JSON line with `fields` set, exactly as `json_bytes` writes the record with
    them: appended before the closing brace when the record has none of their names (and
    needs no ASCII escapes), else through the record."""
    if not fields:
        return line
    if not flags & RERENDER:
        try:
            tail = "".join(f', "{k}": {json.dumps(v, ensure_ascii=False)}' for k, v in fields)
            return b"%s%s}\n" % (line[:-2], tail.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate in an id: the line goes ASCII
            pass
    record = json.loads(line)
    record.update(fields)
    return json_bytes(record)[0]


class Records:
    """The record files of a run, open for writing: kept and removed (or annotated), JSONL or
    Parquet (under `schema`). Records arrive in input order with their fates; `counts` says
    how many went out as kept and as removed."""

    def __init__(
        self,
        folder: Folder,
        fmt: str,
        annotate: bool,
        schema: Any = None,
        text_field: str = "text",
    ) -> None:
        self.annotate = annotate
        self.fmt = fmt
        self.names = [f"annotated.{fmt}"] if annotate else [f"kept.{fmt}", f"removed.{fmt}"]
        self.counts = [0, 0]  # kept, removed
        self._stack = ExitStack()
        if fmt == "jsonl":
            self._files: list[Any] = [
                self._stack.enter_context(folder.binary(n)) for n in self.names
            ]
        else:
            added = [ANNOTATED_COLUMNS] if annotate else [(), REMOVED_COLUMNS]
            self._files = [
                self._stack.enter_context(folder.parquet(n, with_columns(schema, cols), text_field))
                for n, cols in zip(self.names, added, strict=True)
            ]

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._stack.__exit__(*exc)

    def _count(self, fate: Fate, n: int = 1) -> int:
        """Which file a record goes to; counted as kept or removed."""
        removed = fate is not None and fate[0] is not None
        self.counts[removed] += n
        return 0 if self.annotate else int(removed)

    def line(self, data: bytes, flags: int, fate: Fate) -> None:
        """A record as its rendered JSON line (JSONL output)."""
        out = self._count(fate)
        self._files[out].write(with_fields(data, flags, fate_fields(fate, self.annotate)))

    def kept_lines(self, data: bytes | memoryview, count: int) -> None:
        """`count` kept records in no cluster, as their lines back to back (JSONL output
        without --annotate: they go out unchanged)."""
        assert not self.annotate and self.fmt == "jsonl"
        write_chunked(self._files[self._count(None, count)], data)

    def record(self, record: dict[str, Any], fate: Fate) -> None:
        """A record as its values (updated in place with the run's fields)."""
        out = self._count(fate)
        record.update(fate_fields(fate, self.annotate))
        if self.fmt == "jsonl":
            self._files[out].write(json_bytes(record)[0])
        else:
            self._files[out].write(record)


# -- clusters, errors, summary ---------------------------------------------------------------


def cluster_line(c: Cluster) -> bytes:
    """A cluster's line in clusters.jsonl."""
    members = [asdict(m) for m in c.members]
    return json_bytes(
        {"cluster": c.cluster, "representative": c.representative, "members": members}
    )[0]


def check_accounting(documents: int, skipped: int, counts: Counts, written: Sequence[int]) -> None:
    """kept + removed + skipped == read, checked on what was actually written."""
    kept, removed = written
    if not (
        kept + removed == documents
        and (kept, removed) == (counts.kept, counts.removed)
        and counts.read == documents + skipped
    ):
        raise AccountingError(
            f"accounting mismatch: {documents} documents read, {kept + removed} written "
            f"({kept} as kept), {counts.kept} kept + {counts.removed} removed"
        )


def summary(
    counts: Counts,
    skipped: Sequence[Skip],
    stats: Mapping[str, Any],
    config: Config,
    timings: Mapping[str, float],
) -> dict[str, Any]:
    """The summary.json document. Only `timings` and `throughput` vary between identical runs."""
    return {
        "version": __version__,
        "documents": {
            "read": counts.read,
            "kept": counts.kept,
            "removed": counts.removed,
            "skipped": counts.skipped,
        },
        "clusters": counts.clusters,
        "skipped": [asdict(s) for s in skipped],
        "lsh": stats["lsh"],
        "candidates": stats["candidates"],
        "verified_pairs": stats["verified_pairs"],
        "repeated_shingle_slots": stats["repeated_slots"],
        "empty_documents": stats["empty"],
        "input_bytes": stats["input_bytes"],
        "config": config.to_dict(),
    } | summary_timings(
        {"documents": {"read": counts.read}, "input_bytes": stats["input_bytes"]}, timings
    )


def complete(
    folder: Folder,
    doc: dict[str, Any],
    timings: dict[str, float],
    report: Callable[[Path], object] | None,
    reporter: Reporter,
    engine: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write summary.json (`doc`, a `summary` plus what the run adds, and last `engine` when
    given), then the report when one is asked for and OUTDIR is local (its time then goes
    into summary.json, written again). Returns the summary as finally written."""
    if report is not None and folder.local is None:
        doc["report"] = REMOTE_REPORT
    if engine is not None:
        doc["engine"] = dict(engine)
    write_json(folder, "summary.json", doc)
    if report is not None and folder.local is not None:
        reporter.stage("report")
        t = time.perf_counter()
        report(folder.local)
        timings["report"] = round(time.perf_counter() - t, 4)
        doc = doc | summary_timings(doc, timings)
        write_json(folder, "summary.json", doc)
    reporter.stage("done")
    return doc


def summary_timings(doc: Mapping[str, Any], timings: Mapping[str, float]) -> dict[str, Any]:
    """The keys of a summary that change with `timings`."""
    total = sum(timings.values())
    read = doc["documents"]["read"]
    mb = doc["input_bytes"] / 1e6
    return {
        "timings": dict(timings),
        "throughput": {
            "docs_per_s": round(read / total, 1) if total else None,
            "mb_per_s": round(mb / total, 3) if total else None,
        },
    }


def outputs(files: Sequence[str]) -> list[str]:
    """The contract files a run wrote, in contract order (summary.json always)."""
    return [n for n in OUTPUT_FILES if n in files or n == "summary.json"]
