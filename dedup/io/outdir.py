"""The output folder's contract, written once for every engine: its file names, the columns a
run adds, every record routed to kept/removed (or annotated) in input order, clusters.jsonl,
errors.jsonl, summary.json (written last: it marks a finished run), the accounting check, and
atomic writes. A local folder (`LocalFolder`) and a Hadoop URI (`io.hadoop.HadoopDir`) sit
behind one interface, `Folder`; everything else here only talks to that interface.

Whose files are whose: a run marks OUTDIR with a manifest (`.dedup-manifest.json`, the files
it wrote) and a later run removes only those, plus leftovers under names only dedup uses
(`.dedup-*` temporary folders, `.NAME.partial` files). An OUTDIR entry named like an output
that no manifest lists is not dedup's: the run refuses to start rather than replace it. One
run at a time holds OUTDIR (`Folder.lock`), and nothing is touched before the inputs are
checked (`checked_inputs`).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from itertools import accumulate
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, NamedTuple, Protocol
from urllib.parse import urlsplit

from .. import __version__
from ..config import Config
from ..errors import AccountingError, InputError, OutputError, shown
from ..progress import Reporter
from ..types import Cluster, Counts, Member, Skip
from .parquet import ParquetSink, with_columns
from .readers import input_formats
from .writers import atomic_path, json_bytes, json_value, write_chunked

# Files of an OUTDIR; summary.json is written last and marks a finished run. A run writes
# kept + removed, or annotated (--annotate), as JSONL or Parquet; all kinds are cleared first.
# With the "parts" layout each of those is a folder of part files instead (`part_name`).
OUTPUT_FILES = (
    "clusters.jsonl",
    "kept.jsonl",
    "removed.jsonl",
    "annotated.jsonl",
    "kept.parquet",
    "removed.parquet",
    "annotated.parquet",
    "errors.jsonl",
    "index_matches.jsonl",
    "summary.json",
)
# The documents a run against persistent indexes found in them (persist.py).
INDEX_MATCHES = "index_matches.jsonl"
# Columns a run adds (name, Arrow type) to removed records, and to every annotated record.
REMOVED_COLUMNS = (("duplicate_of", "string"), ("cluster", "int64"))
ANNOTATED_COLUMNS = (
    ("dedup_cluster", "int64"),
    ("dedup_keep", "bool"),
    ("dedup_duplicate_of", "string"),
    ("dedup_via", "string"),
    ("dedup_via_jaccard", "double"),
    ("dedup_via_containment", "double"),
    ("dedup_repeated_share", "double"),
)
RESERVED = frozenset(name for name, _ in (*REMOVED_COLUMNS, *ANNOTATED_COLUMNS))
# The report's folder (written only into a local OUTDIR).
REPORT = "report"
# What marks OUTDIR as dedup's: the files a run wrote there, written before any of them.
MANIFEST = ".dedup-manifest.json"
# Held while a run writes OUTDIR; removed when it ends.
LOCK = ".dedup-lock"
# Temporary folders of a run inside OUTDIR start with this.
TEMPORARY = ".dedup-"
# Top-level names a run writes or clears: one of them that no manifest lists is not dedup's.
CLAIMED = frozenset((*OUTPUT_FILES, REPORT, *(f.split(".")[0] for f in OUTPUT_FILES[1:7])))
# summary.json's "report" when a report was asked for but OUTDIR is not a local folder.
REMOTE_REPORT = (
    "not written: OUTDIR is not a local folder; copy OUTDIR to one and run `dedup report` on it"
)

# Flags of a rendered record, one byte each: its line cannot take the run's fields by
# splicing (it has one of their names, or fell back to ASCII escapes), and it is a Parquet row.
RERENDER = 1
PARQUET_ROW = 2


class Fate(NamedTuple):
    """The fate of a document in a cluster (None stands for one in no cluster): the id of
    the document it duplicates (None for the representative), the cluster number (None for a
    duplicate of an indexed document that is in no cluster of the run), and why it is in the
    cluster (`types.Member`)."""

    duplicate_of: Any
    cluster: int | None
    via: Any = None
    via_jaccard: float | None = None
    via_containment: float | None = None
    repeated_share: float | None = None

    @classmethod
    def of(cls, member: Member, cluster: int, duplicate_of: Any) -> Fate:
        """The fate of a member of cluster number `cluster` (given its record)."""
        m = member
        return cls(duplicate_of, cluster, m.via, m.via_jaccard, m.via_containment, m.repeated_share)


Fields = list[tuple[str, Any]]


@dataclass(frozen=True)
class KeptLines:
    """Where the lines of some kept records start in kept.jsonl (byte offsets by document id),
    as a run knows them once it has written the file: a reader of a few records (the report,
    for the representatives of its pages) seeks to them instead of reading the file through.
    A reader checks the id of the line it finds there."""

    offsets: Mapping[str, int]


# How record files are laid out: one file each, or a folder of part files each.
LAYOUTS = ("single", "parts")


def part_name(name: str, part: int) -> str:
    """The name of part `part` of the record file `name`: kept.jsonl -> kept/part-00003.jsonl."""
    kind, _, fmt = name.partition(".")
    return f"{kind}/part-{part:05d}.{fmt}"


class Sink(Protocol):
    """What record files are written through (`Records`): binary files and Parquet files."""

    def binary(self, name: str) -> AbstractContextManager[BinaryIO]: ...

    def parquet(self, name: str, schema: Any, text_field: str) -> ParquetSink: ...


class Folder(Sink, Protocol):
    """Where a run's files go: a local folder or a Hadoop URI. Files are written under a
    temporary name and renamed when complete."""

    @property
    def local(self) -> Path | None:
        """The folder, when it is a local one (the report is written there)."""

    def mkdir(self) -> None:
        """Make the folder (and its parents) unless it is there."""

    def names(self) -> list[str]:
        """The names in the folder."""

    def exists(self, name: str) -> bool:
        """Whether something of this name is there."""

    def read(self, name: str) -> bytes | None:
        """A file's content, or None when there is no such file."""

    def remove(self, name: str) -> None:
        """Remove a file, or a folder that is empty; nothing when there is none, and a
        folder that still holds something is left."""

    def remove_tree(self, name: str) -> None:
        """Remove a folder with all it holds: only ever one of dedup's temporary folders."""

    def lock(self) -> AbstractContextManager[None]:
        """Hold the folder for one run; OutputError when another run holds it."""

    def rename(self, name: str, to: str) -> None:
        """Move a finished file to another name here (its folder made), replacing any."""


@dataclass(frozen=True)
class LocalFolder:
    """An OUTDIR on the local file system."""

    local: Path

    def mkdir(self) -> None:
        try:
            self.local.mkdir(parents=True, exist_ok=True)
        except FileExistsError as e:  # a file of this name, here or as a parent
            raise OutputError(f"{_where(self.local)}: not a folder (a file has this name)") from e
        except OSError as e:
            what = f"cannot make the output folder: {e.strerror or e}"
            raise OutputError(f"{_where(self.local)}: {what}") from e

    def names(self) -> list[str]:
        return sorted(p.name for p in self.local.iterdir())

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.local / name)

    def read(self, name: str) -> bytes | None:
        try:
            return (self.local / name).read_bytes()
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> None:
        path = self.local / name
        if path.is_dir() and not path.is_symlink():
            with suppress(FileNotFoundError):
                if not any(path.iterdir()):
                    path.rmdir()
        else:
            path.unlink(missing_ok=True)

    def remove_tree(self, name: str) -> None:
        shutil.rmtree(self.local / name, ignore_errors=True)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """An exclusive `flock` on OUTDIR/.dedup-lock, taken without waiting, for as long
        as the block runs; the lock file is removed on the way out. The kernel drops the
        lock of a killed run, so a left lock file never blocks the next one."""
        path = self.local / LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise OutputError(busy(str(self.local))) from None
            except BaseException:
                os.close(fd)
                raise
            # A run that was finishing may have removed the file we opened: lock the one
            # that is there now.
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            yield
        finally:
            with suppress(FileNotFoundError):
                path.unlink()  # while it is still held, so no run locks a removed file
            os.close(fd)

    @contextmanager
    def binary(self, name: str) -> Iterator[BinaryIO]:
        path = self._parent_made(name)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            yield f

    def parquet(self, name: str, schema: Any, text_field: str) -> ParquetSink:
        return ParquetSink(self._parent_made(name), schema, text_field)

    def rename(self, name: str, to: str) -> None:
        os.replace(self.local / name, self._parent_made(to))

    def _parent_made(self, name: str) -> Path:
        path = self.local / name
        if "/" in name:
            path.parent.mkdir(parents=True, exist_ok=True)
        return path


def busy(outdir: str) -> str:
    """The message of a second run into one OUTDIR."""
    return (
        f"{_where(outdir)}: another dedup run is writing to this folder; wait for it to "
        "finish or choose another output folder"
    )


def _where(path: str | Path) -> str:
    return shown(str(path))


# -- whose files: inputs, the manifest, clearing -----------------------------------------------


def checked_inputs(inputs: Sequence[str] | str, outdir: str | Path) -> list[str]:
    """The inputs as a list, once each local one exists and can be read, and none is OUTDIR,
    inside OUTDIR, or a folder OUTDIR lies in (its outputs would be read back, or an input
    replaced). Hadoop URIs are compared with each other by scheme, host and path; whether
    they exist is for the engine that reads them. Raises InputError or OutputError before
    anything is touched."""
    given = [inputs] if isinstance(inputs, str | Path) else [str(i) for i in inputs]
    for name in given:
        if name == "-" or _is_uri(name):
            continue
        if not os.path.lexists(name):
            raise InputError(name, "no such file or directory")
        if not os.access(name, os.R_OK | (os.X_OK if os.path.isdir(name) else 0)):
            raise InputError(name, f"cannot read: {os.strerror(errno.EACCES)}")
    out = _place(str(outdir))
    for name in given:
        place = _place(name)
        if out is None or place is None or out[0] != place[0]:
            continue
        (_, a), (_, b) = out, place
        how = ""
        if a == b:
            how = "is the input"
        elif a[: len(b)] == b:
            how = "lies inside the input folder"
        elif b[: len(a)] == a:
            how = "holds the input"
        if how:
            raise OutputError(
                f"{_where(outdir)}: the output folder {how} {_where(name)}; "
                "choose an output folder apart from the inputs"
            )
    return given


def _is_uri(name: str) -> bool:
    return "://" in name


def _place(name: str) -> tuple[tuple[str, str], tuple[str, ...]] | None:
    """Where a path or URI points, as (scheme and host, path parts), for comparing; local
    paths and file: URIs resolved (symbolic links followed). None for stdin."""
    if name == "-":
        return None
    if _is_uri(name):
        parts = urlsplit(name)
        if parts.scheme != "file":
            path = PurePosixPath("/" + parts.path.lstrip("/"))
            return (parts.scheme.lower(), parts.netloc.lower()), path.parts
        name = parts.path
    return ("", ""), Path(name).resolve().parts


def planned(fmt: str | None, annotate: bool, indexed: bool = False) -> list[str]:
    """The contract files a run will write (with `fmt` not known yet: those of either;
    `indexed`: against persistent indexes)."""
    records = ["annotated"] if annotate else ["kept", "removed"]
    formats = [fmt] if fmt else ["jsonl", "parquet"]
    names = (
        {f"{r}.{f}" for r in records for f in formats}
        | {
            "clusters.jsonl",
            "errors.jsonl",
            "summary.json",
        }
        | ({INDEX_MATCHES} if indexed else set())
    )
    return [n for n in OUTPUT_FILES if n in names]


@contextmanager
def open_outdir(folder: Folder, plan: Sequence[str]) -> Iterator[None]:
    """Hold OUTDIR for a run: make it, lock it, clear what an earlier run wrote (`clear`)
    and record `plan` in the manifest before anything is written."""
    folder.mkdir()
    with folder.lock():
        clear(folder)
        write_manifest(folder, plan)
        yield


def read_manifest(folder: Folder) -> list[str] | None:
    """The files the manifest lists (None without one). OutputError when it is not one
    dedup wrote: then nothing is known to be dedup's."""
    data = folder.read(MANIFEST)
    if data is None:
        return None
    try:
        files = json.loads(data.decode("utf-8"))["files"]
        if isinstance(files, list) and all(isinstance(f, str) and _safe(f) for f in files):
            return files
    except (UnicodeDecodeError, ValueError, TypeError, KeyError):
        pass
    raise OutputError(
        f"{_where(MANIFEST)} in {_where(_name(folder))} is not a manifest dedup wrote; "
        "remove it (and the files it should list) or choose another output folder"
    )


def _safe(name: str) -> bool:
    """A manifest entry names a file inside OUTDIR."""
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and ".." not in parts


def write_manifest(folder: Folder, files: Iterable[str]) -> None:
    """Record `files` (paths inside OUTDIR) as dedup's, replacing the list before."""
    doc = {
        "about": "the files dedup wrote here: a later run into this folder removes these "
        "and nothing else",
        "files": list(dict.fromkeys(files)),
    }
    write_json(folder, MANIFEST, doc)


def own(folder: Folder, files: Sequence[str]) -> list[str]:
    """Add `files` (paths inside OUTDIR) to the manifest before they are written, as the
    report does; returns the files the manifest listed before. OutputError when one of
    them is there but not dedup's."""
    listed = read_manifest(folder) or []
    known = set(listed)
    for name in files:
        if name not in known and folder.exists(name):
            raise OutputError(_not_ours(folder, name))
    write_manifest(folder, [*listed, *files])
    return listed


def disown(folder: Folder, files: Sequence[str]) -> None:
    """Drop `files`, removed, from the manifest."""
    if files:
        gone = set(files)
        write_manifest(folder, [f for f in read_manifest(folder) or [] if f not in gone])


def _name(folder: Folder) -> str:
    return str(folder.local) if folder.local is not None else str(getattr(folder, "uri", ""))


def _not_ours(folder: Folder, name: str) -> str:
    return (
        f"{_where(_name(folder).rstrip('/') + '/' + name)}: not written by dedup (no "
        f"{MANIFEST} lists it), and a run would replace it; move it away or choose another "
        "output folder"
    )


def clear(folder: Folder) -> None:
    """Remove what an earlier run wrote: the files its manifest lists (summary.json first,
    then the report's index pages, so an interrupted clearing never leaves a mix that looks
    finished), folders they leave empty, and what a killed run left behind under names
    only dedup uses (`.dedup-*` temporary folders, `.NAME.partial` files). Refuses
    (OutputError, naming it) when an entry a run would write is there but is not dedup's."""
    names = folder.names()
    listed = read_manifest(folder) or []
    owned = {f.split("/", 1)[0] for f in listed}
    for name in names:
        if name in CLAIMED and name not in owned:
            raise OutputError(_not_ours(folder, name))
    first = ["summary.json", f"{REPORT}/index.html", f"{REPORT}/index.md"]
    ordered = [f for f in first if f in listed] + [f for f in listed if f not in first]
    folders: set[str] = set()
    for name in ordered:
        head, _, tail = name.rpartition("/")
        folder.remove(name)
        folder.remove(f"{head}/.{tail}.partial" if head else f".{tail}.partial")
        while head:
            folders.add(head)
            head = head.rpartition("/")[0]
    for name in sorted(folders, key=lambda f: -f.count("/")):  # inner folders first
        folder.remove(name)
    partials = {f".{n}.partial" for n in (*OUTPUT_FILES, MANIFEST)}
    for name in names:
        if name.startswith(TEMPORARY) and name not in (MANIFEST, LOCK):
            folder.remove_tree(name)
        elif name in partials:
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


def fate_fields(fate: Fate | None, annotate: bool) -> Fields:
    """The fields a run adds to a record with this fate: none to a kept record, the removed
    columns to a removed one, the annotated columns to every record with --annotate."""
    if annotate:
        values: tuple[Any, ...] = (None, True, None, None, None, None, None)
        if fate is not None:
            values = (fate.cluster, fate.duplicate_of is None, *fate[:1], *fate[2:])
        return list(zip((name for name, _ in ANNOTATED_COLUMNS), values, strict=True))
    if fate is None or fate.duplicate_of is None:
        return []
    return [("duplicate_of", fate.duplicate_of), ("cluster", fate.cluster)]


def with_fields(line: bytes, flags: int, fields: Fields) -> bytes:
    """A record's JSON line with `fields` set, exactly as `json_bytes` writes the record with
    them: appended before the closing brace when the record has none of their names (and
    needs no ASCII escapes), else through the record."""
    if not fields:
        return line
    if not flags & RERENDER:
        try:
            tail = "".join(f', "{k}": {json_value(v)}' for k, v in fields)
            return b"%s%s}\n" % (line[:-2], tail.encode("utf-8"))
        except UnicodeEncodeError:  # a lone surrogate in an id: the line goes ASCII
            pass
    record = json.loads(line)
    record.update(fields)
    return json_bytes(record)[0]


def record_files(fmt: str, annotate: bool) -> list[str]:
    """The record files of a run: kept and removed, or annotated."""
    return [f"annotated.{fmt}"] if annotate else [f"kept.{fmt}", f"removed.{fmt}"]


class Records:
    """The record files of a run, open for writing: kept and removed (or annotated), JSONL or
    Parquet (under `schema`), or with `part` that part of each. Records arrive in input order
    with their fates; `counts` says how many went out as kept and as removed."""

    def __init__(
        self,
        folder: Sink,
        fmt: str,
        annotate: bool,
        schema: Any = None,
        text_field: str = "text",
        part: int | None = None,
    ) -> None:
        self.annotate = annotate
        self.fmt = fmt
        self.names = record_files(fmt, annotate)
        if part is not None:
            self.names = [part_name(n, part) for n in self.names]
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

    def _count(self, fate: Fate | None, n: int = 1) -> int:
        """Which file a record goes to; counted as kept or removed."""
        removed = fate is not None and fate[0] is not None
        self.counts[removed] += n
        return 0 if self.annotate else int(removed)

    def line(self, data: bytes, flags: int, fate: Fate | None) -> None:
        """A record as its rendered JSON line (JSONL output)."""
        out = self._count(fate)
        self._files[out].write(with_fields(data, flags, fate_fields(fate, self.annotate)))

    def kept_lines(self, data: bytes | memoryview, count: int) -> None:
        """`count` kept records in no cluster, as their lines back to back (JSONL output
        without --annotate: they go out unchanged)."""
        assert not self.annotate and self.fmt == "jsonl"
        write_chunked(self._files[self._count(None, count)], data)

    def split_lines(
        self,
        blob: bytes,
        sizes: Sequence[int],
        flags: Sequence[int],
        removed: Iterable[tuple[int, Fate | None]],
    ) -> None:
        """Records rendered back to back (JSONL output without --annotate), `sizes[k]` bytes
        and `flags[k]` each, of which `removed` gives the removed ones (position, fate),
        ascending: the kept records between two removed ones go out unchanged, as one slice
        of the blob; each removed record gets its fields."""
        view = memoryview(blob)
        start = run_from = 0  # byte where the current run of kept records begins; its first
        ends = list(accumulate(sizes))
        for k, fate in removed:
            a, b = ends[k] - sizes[k], ends[k]
            self.kept_lines(view[start:a], k - run_from)
            self.line(blob[a:b], flags[k], fate)
            start, run_from = b, k + 1
        self.kept_lines(view[start:], len(ends) - run_from)

    def routed(self, records: Iterable[tuple[Any, Fate]]) -> None:
        """Records with their fates, in order: (line, flags) pairs for JSONL output (as
        `record_line` renders them), else the records' values."""
        if self.fmt == "jsonl":
            for (data, flags), fate in records:
                self.line(data, flags, fate)
        else:
            for record, fate in records:
                self.record(record, fate)

    def record(self, record: dict[str, Any], fate: Fate | None) -> None:
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
    return json_bytes(cluster_record(c))[0]


def cluster_record(c: Cluster) -> dict[str, Any]:
    """What a cluster's line in clusters.jsonl holds (its values are JSON's own types)."""
    # A member's fields are flat: its own dict, in field order, is what asdict would copy
    # (about ten times slower, and the write is serial).
    members = [vars(m) for m in c.members]
    return {"cluster": c.cluster, "representative": c.representative, "members": members}


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
    report: Callable[[Path, Mapping[str, Any]], object] | None,
    reporter: Reporter,
    engine: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Finish a run: the report when one is asked for and OUTDIR is local (given `doc`, the
    summary as it will be written, since summary.json is not there yet), the manifest with
    exactly the files written, then summary.json (`doc`, a `summary` plus what the run
    adds, the report's time, and last `engine` when given): once, and last, so that it
    marks a finished run. Returns the summary as written."""
    if report is not None and folder.local is None:
        doc["report"] = REMOTE_REPORT
    if engine is not None:
        doc["engine"] = dict(engine)
    if report is not None and folder.local is not None:
        reporter.stage("report")
        t = time.perf_counter()
        report(folder.local, doc)
        # Added to what the run already spent on the report (preparing it), if anything.
        timings["report"] = round(timings.get("report", 0.0) + time.perf_counter() - t, 4)
        doc |= summary_timings(doc, timings)
    pages = [f for f in read_manifest(folder) or [] if f.startswith(f"{REPORT}/")]
    write_manifest(folder, [*doc["outputs"], *pages])
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
    """The contract files a run wrote, in contract order (summary.json always), then the part
    files of each record folder in order."""
    names = [n for n in OUTPUT_FILES if n in files or n == "summary.json"]
    return names + sorted(f for f in files if "/" in f)


def parts_manifest(files: Sequence[str]) -> dict[str, list[str]]:
    """summary.json's "parts": each record folder's part files, in order (concatenated, they
    are the single file of that name)."""
    found: dict[str, list[str]] = {}
    for name in sorted(f for f in files if "/" in f):
        found.setdefault(name.split("/", 1)[0], []).append(name)
    return found
