"""A persistent index of documents already deduplicated, so that each new crawl is checked
against everything seen before without running the history again (`dedup run --index`), and
read-only checks against evaluation sets (`--against`, decontamination).

An index is a folder of immutable segments and a manifest:

    IDX/manifest.json        format, version, the options that made it, the segments in order
    IDX/.lock                held (fcntl) by the one process that writes
    IDX/seg-000001/          one segment per run that added documents: Arrow IPC files,
                             memory-mapped for look-ups (segment.py)

The folder is local, or on a file system reached through pyarrow.fs (hdfs://, s3a://), where
the manifest is numbered and the lock a claim file (indexfs.py): the segments are the same.

What matching needs is kept, and nothing else: the band keys (truncated to 32 bits: a chance
collision is one more candidate, which verification rejects) and, for verification, a sample
of each shingle set: the hashes whose top `sample_bits` bits are zero (one in 4 by default), a
sample both sides of a comparison share, so the Jaccard similarity and containment of the
samples estimate those of the whole sets (`sample_bits=0` keeps whole sets: exact, about four
times larger). Each segment also keeps its run's corpus-frequency statistics
(repeats.RepeatStats): a run adds those of the indexes it is checked against to its own.

A segment is written in a temporary folder, renamed into place, and only then listed in a new
manifest written to a temporary file and renamed over the old one (indexfs.py): a writer
killed at any point leaves the index as the last manifest says (and its leftovers are
removed by the next writer). Readers take no lock; segments never change once listed. A
Spark run's executors reopen the segments the driver listed (`Snapshot`, `Index.reopen`)
and write the new segment in parts into a `scratch` folder, which the driver merges into
one segment (`add_parts`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import Config
from .errors import ConfigError, shown
from .indexfs import MANIFEST, IndexStoreError, LocalDir, RemoteDir, is_remote, local_path, open_dir
from .lsh import band_keys, resolve_params
from .repeats import RepeatStats
from .segment import (
    Entries,
    Segment,
    key32,
    merge_segments,
    pyarrow,
    sample,
    write_segment,
)
from .sign import sign_texts

FORMAT = "dedup-index"
VERSION = 2  # 1: segments in .npy files
SAMPLE_BITS = 2  # one shingle in 4 kept for verification (sample_bits)
_PROBE = "同一篇文章的内容，用來檢查索引是否由相同的程式建立。Probe 123"


def index_options(config: Config, sample_bits: int = 2) -> dict[str, Any]:
    """The options an index is made with: a run with other values would sign or band its
    documents otherwise, so its documents could not be compared with the index's."""
    bands, rows = resolve_params(config.lsh, config.signature.num_perm)
    return {
        "normalize": asdict(config.normalize),
        "shingle": asdict(config.shingle),
        "signature": asdict(config.signature),
        "lsh": {"bands": bands, "rows": rows},
        "sample_bits": sample_bits,
        "repeat_table_bits": config.repeat.table_bits,
    }


def sample_bits(one_in: int) -> int:
    """The sample_bits of keeping one shingle in `one_in` (a power of two, 1: all)."""
    if one_in < 1 or one_in & (one_in - 1) or one_in > 1 << 16:
        raise ConfigError(f"index sample must be a power of two from 1 to 65536, got {one_in}")
    return one_in.bit_length() - 1


def index_path(given: str | Path) -> Path:
    """The local folder of the index given as `given`: a local path or a file: URI (an index
    on another URI, reached through pyarrow.fs, has none)."""
    if is_remote(given):
        raise IndexStoreError(f"index {shown(str(given))} is not in a local folder")
    return local_path(given)


def _probe(config: Config) -> dict[str, Any]:
    """A fixed text's signature and band keys: an index made by code that signs or bands
    otherwise (another version) is told apart from one this code can query."""
    cfg = config
    signed = sign_texts([_PROBE], cfg.normalize, cfg.shingle, cfg.signature)
    bands, rows = resolve_params(cfg.lsh, cfg.signature.num_perm)
    keys = [int(key32(band_keys(signed.sigs, b, rows))[0]) for b in range(bands)]
    return {"signature": signed.sigs[0, :8].tolist(), "keys": keys[:8]}


def _differences(have: dict[str, Any], want: dict[str, Any]) -> list[str]:
    out = []
    for group in sorted(set(have) | set(want)):
        a, b = have.get(group), want.get(group)
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    out.append(f"{k}={a.get(k)!r} (this run: {b.get(k)!r})")
        elif a != b:
            out.append(f"{group}={a!r} (this run: {b!r})")
    return out


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


# --- the index ----------------------------------------------------------------------------


def _read_manifest(
    folder: LocalDir | RemoteDir, versions: tuple[int, ...] = (VERSION,)
) -> dict[str, Any] | None:
    """The manifest of the index in `folder` (None: there is none), in one of `versions`."""
    path = folder.where
    try:
        data = folder.manifest()
    except NotADirectoryError as e:
        raise IndexStoreError(f"index {shown(str(path))} is not a folder") from e
    if data is None:
        return None
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError
    except (ValueError, AttributeError) as e:
        raise IndexStoreError(
            f"index {shown(str(path))}: {MANIFEST} is not a dedup index manifest"
        ) from e
    version = doc.get("version")
    if version in versions:
        return dict(doc)
    if version == 1:
        raise IndexStoreError(
            f"index {shown(str(path))} is in format version 1 (segments in .npy files), which "
            f"this dedup no longer reads: `dedup index upgrade {shown(str(path))}` rewrites "
            f"it in version {VERSION} (Arrow)"
        )
    raise IndexStoreError(
        f"index {shown(str(path))} has format version {version}; this dedup reads version {VERSION}"
    )


@dataclass(frozen=True)
class Snapshot:
    """An index as a run opened it (`Index.snapshot`): its absolute folder (or URI),
    options and segments, for opening again elsewhere (`Index.reopen`)."""

    path: str
    options: dict[str, Any]
    segments: tuple[str, ...]
    next: int


class Index:
    """A persistent index opened to read (`write=False`: any number of readers) or to add
    segments (one writer: an fcntl lock on IDX/.lock, or a claim file on a remote file
    system, held until `close`).

    `open` checks the options the index was made with against `config` and refuses others.
    A missing index opened to write is made when the first segment is committed.
    """

    def __init__(
        self,
        path: str | Path,
        config: Config | None,
        *,
        write: bool = False,
        sample_bits: int | None = None,
        create: bool = True,
    ) -> None:
        pyarrow()  # a missing extra fails before anything is done
        self.folder = open_dir(path)
        self.path: Path | str = self.folder.path  # a URI on a remote file system
        self._lock = False
        self._made = False
        manifest = self._read_manifest()
        if manifest is None and config is None:
            raise IndexStoreError(f"index {shown(str(path))}: no index there (no {MANIFEST})")
        if manifest is None:
            assert config is not None
            if not write or not create:
                raise IndexStoreError(f"index {shown(str(path))}: no index there (no {MANIFEST})")
            self.options = index_options(
                config, SAMPLE_BITS if sample_bits is None else sample_bits
            )
            self.probe = _probe(config)
            self.segment_names: list[str] = []
            self.next = 1
        else:
            self.options = manifest["options"]
            self.probe = manifest["probe"]
            self.segment_names = list(manifest["segments"])
            self.next = manifest["next"]
        if manifest is not None and config is not None:
            bits = self.options["sample_bits"] if sample_bits is None else sample_bits
            want = index_options(config, bits)
            differ = _differences(self.options, want)
            if differ:
                raise IndexStoreError(
                    f"index {shown(str(path))} was made with other options: "
                    + "; ".join(differ)
                    + ": run with the index's options, or use another index"
                )
            if _probe(config) != self.probe:
                raise IndexStoreError(
                    f"index {shown(str(path))} was made by a version of dedup that signs "
                    "documents otherwise: make a new index"
                )
        if write:
            self._take_lock()
            # A writer killed before its commit left a folder no manifest lists.
            self._clear_leftovers()
        self.segments = self._open_segments()
        self.config = config or Config()

    def _open_segments(self) -> list[Segment]:
        """Map every listed segment. A compaction may remove the segments a reader's manifest
        listed, between reading it and opening them: read the manifest again then."""
        for attempt in range(3):
            try:
                return [self.folder.segment(name) for name in self.segment_names]
            except FileNotFoundError as e:
                manifest = self._read_manifest()
                if attempt == 2 or manifest is None or manifest["segments"] == self.segment_names:
                    raise IndexStoreError(
                        f"index {shown(str(self.path))} is damaged: {shown(str(e.filename))} "
                        "is missing"
                    ) from e
                self.segment_names, self.next = list(manifest["segments"]), manifest["next"]
            except (ValueError, OSError, KeyError) as e:
                raise IndexStoreError(f"index {shown(str(self.path))} is damaged: {e}") from e
        raise AssertionError("unreachable")

    @property
    def sample_bits(self) -> int:
        return int(self.options["sample_bits"])

    def __len__(self) -> int:
        return sum(s.documents for s in self.segments)

    def _read_manifest(self) -> dict[str, Any] | None:
        return _read_manifest(self.folder)

    def _take_lock(self) -> None:
        self._made = not self.folder.exists()
        self.folder.lock()
        self._lock = True
        # Another writer may have committed between reading the manifest and the lock.
        manifest = self._read_manifest()
        if manifest is not None:
            self.segment_names = list(manifest["segments"])
            self.next = manifest["next"]

    def _clear_leftovers(self) -> None:
        self.folder.clear_leftovers(self.segment_names)

    def repeat_stats(self) -> RepeatStats:
        """The corpus-frequency statistics of the runs that made the index, added up."""
        return RepeatStats.combine([s.stats for s in self.segments])

    def describe(self, s: int, k: int) -> tuple[str, str, str]:
        """(id, source, segment name) of document k of segment s."""
        seg = self.segments[s]
        return seg.doc_id(k), seg.source(k), seg.name

    def add(self, batch: Entries, stats: RepeatStats | None = None) -> str | None:
        """Commit `batch` (with its run's corpus-frequency `stats`) as a new segment (nothing
        for an empty batch); its name."""
        if not self._lock:
            raise IndexStoreError(f"index {shown(str(self.path))} is open read-only")
        if len(batch) == 0 and self.segment_names:
            return None
        stats = RepeatStats.none() if stats is None else stats
        name = f"seg-{self.next:06d}"
        tmp = self.folder.staging(name)
        write_segment(tmp, batch, stats)
        self._install(tmp, name, [*self.segment_names, name])
        self.segments.append(self.folder.segment(name))
        return name

    def add_parts(self, parts: Sequence[str], stats: RepeatStats | None = None) -> str | None:
        """Commit the documents of the segments written at `parts` (names in the index:
        a run's parts in a `scratch` folder, in document order) as one new segment, merged
        as `compact` merges (segment.merge_segments): the same segment `add` writes of them
        all (nothing when they hold no document and the index has segments); its name."""
        if not self._lock:
            raise IndexStoreError(f"index {shown(str(self.path))} is open read-only")
        opened = [self.folder.segment(p) for p in parts]
        if not any(s.documents for s in opened) and self.segment_names:
            return None
        stats = RepeatStats.none() if stats is None else stats
        name = f"seg-{self.next:06d}"
        tmp = self.folder.staging(name)
        merge_segments(tmp, opened, stats)
        del opened
        self._install(tmp, name, [*self.segment_names, name])
        self.segments.append(self.folder.segment(name))
        return name

    def scratch(self, name: str) -> tuple[str, str]:
        """A new folder in the index for what a writer prepares before a commit (removed by
        the next writer when left behind): its location (a path or a URI) and its name in
        the index (for `add_parts` and `remove`)."""
        if not self._lock:
            raise IndexStoreError(f"index {shown(str(self.path))} is open read-only")
        return self.folder.scratch(name)

    def remove(self, name: str) -> None:
        """Remove the folder `name` of the index (a scratch folder), if it can be: what is
        left is removed by the next writer."""
        with contextlib.suppress(OSError):
            self.folder.remove(name)

    def snapshot(self) -> Snapshot:
        """What another process needs to open this index as it is now (`reopen`)."""
        return Snapshot(self.folder.absolute(), self.options, tuple(self.segment_names), self.next)

    @classmethod
    def reopen(cls, snapshot: Snapshot, config: Config) -> Index:
        """The index of `snapshot` opened to read in another process (a Spark executor): its
        segments then, mapped, with no lock and no check of options (the run that took the
        snapshot checked them) and `config` the run's."""
        index = cls.__new__(cls)
        index.folder = open_dir(snapshot.path)
        index.path = index.folder.path
        index._lock, index._made = False, False
        index.options, index.probe = snapshot.options, {}
        index.segment_names, index.next = list(snapshot.segments), snapshot.next
        try:
            index.segments = [index.folder.segment(n) for n in snapshot.segments]
        except FileNotFoundError as e:
            raise IndexStoreError(
                f"index {shown(snapshot.path)}: {shown(str(e.filename))} is missing (compacted "
                "while the run read it, or not at this path on this machine)"
            ) from e
        except (ValueError, OSError, KeyError) as e:
            raise IndexStoreError(f"index {shown(snapshot.path)} is damaged: {e}") from e
        index.config = config
        return index

    def _install(self, tmp: Path, name: str, names: list[str]) -> None:
        """Put the written segment `tmp` in place, then commit the manifest `names`."""
        self.folder.install(tmp, name)
        self._commit(names, self.next + 1)

    def _commit(self, names: list[str], next_number: int) -> None:
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "options": self.options,
            "probe": self.probe,
            "segments": names,
            "next": next_number,
        }
        self.folder.commit(_json(manifest))
        self.segment_names, self.next = names, next_number

    def compact(self) -> None:
        """Merge every segment into one (same documents, same order), streaming
        (segment.merge_segments); the old ones go once the new manifest is committed."""
        if not self._lock:
            raise IndexStoreError(f"index {shown(str(self.path))} is open read-only")
        if len(self.segments) <= 1:
            return
        old = self.segments
        name = f"seg-{self.next:06d}"
        tmp = self.folder.staging(name)
        merge_segments(tmp, old, self.repeat_stats())
        self._install(tmp, name, [name])
        self.segments = [self.folder.segment(name)]
        for s in old:
            self.folder.remove(s.name)

    def info(self) -> dict[str, Any]:
        """Documents, segments, options and size on disk."""
        size = self.folder.size()
        return {
            "path": str(self.path),
            "documents": len(self),
            "segments": [{"name": s.name, "documents": s.documents} for s in self.segments],
            "options": self.options,
            "bytes": size,
        }

    def close(self) -> None:
        """Release the writer's lock; an index this writer made and never committed to is
        removed again (a failed first run leaves nothing behind)."""
        if self._lock:
            if self._made and not self.segment_names:
                self.folder.remove_all()
            self.folder.unlock()
            self._lock = False

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_info(path: str | Path) -> dict[str, Any]:
    """`Index.info` of the index at `path`, opened read-only with its own options."""
    return Index(path, None).info()


def compact(path: str | Path) -> tuple[int, int]:
    """Merge the segments of the index at `path` into one; (segments before, after)."""
    with Index(path, None, write=True, create=False) as index:
        before = len(index.segments)
        index.compact()
        return before, len(index.segments)


def upgrade(path: str | Path) -> int:
    """Rewrite the index at `path` from format version 1 (segments in .npy files) in this
    version, segment by segment, under the writer's lock; the old segments go once the new
    manifest is committed (a run killed on the way leaves the old index). Returns the
    segments rewritten (0: the index is already in this version)."""
    path = index_path(path)  # version 1 was written in local folders only
    folder = LocalDir(path)
    if _read_manifest(folder, (1, VERSION)) is None:
        raise IndexStoreError(f"index {shown(str(path))}: no index there (no {MANIFEST})")
    folder.lock()
    try:
        doc = _read_manifest(folder, (1, VERSION))
        assert doc is not None
        if doc["version"] == VERSION:
            return 0
        old = list(doc["segments"])
        folder.clear_leftovers(old)
        number, names = doc["next"], []
        for name in old:
            batch, stats = _v1_segment(path / name, int(doc["options"]["sample_bits"]))
            new = f"seg-{number:06d}"
            tmp = folder.staging(new)
            write_segment(tmp, batch, stats)
            folder.install(tmp, new)
            names.append(new)
            number += 1
        folder.commit(_json(doc | {"version": VERSION, "segments": names, "next": number}))
        for name in old:
            shutil.rmtree(path / name)
        return len(old)
    finally:
        folder.unlock()


def unlock(path: str | Path) -> list[str]:
    """Remove the writer's lock of the index at `path` left by a writer killed hard (on a
    remote file system: a local index's flock ends with its process); who held it."""
    return open_dir(path).break_lock()


def _v1_segment(path: Path, bits: int) -> tuple[Entries, RepeatStats]:
    """A segment of format version 1 as Entries and statistics. Version 1 sampled the top
    bits of the 32-bit word, one shingle hash in 2**(bits - 1): its sets are sampled again
    as `sample` does now (`bits`). It kept only the slots its run found repeated: they are
    kept as counted in every group, so they stay repeated, as they were."""

    def load(name: str) -> np.ndarray:
        return np.load(path / f"{name}.npy", mmap_mode="r")

    meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    keys, order = load("keys"), load("order")
    per_doc = np.empty((keys.shape[1], keys.shape[0]), dtype=np.uint32)
    for b in range(keys.shape[0]):
        per_doc[np.asarray(order[b], dtype=np.int64), b] = keys[b]
    ids, bounds = np.asarray(load("ids")), load("id_offsets").tolist()
    names = meta["sources"]
    slots = np.asarray(load("repeats"), dtype=np.uint32)
    full = np.full(slots.size, np.iinfo(np.uint16).max, dtype=np.uint16)
    sets, offsets = np.asarray(load("sets")), np.asarray(load("offsets"))
    if bits:
        sets, counts = sample(sets, offsets[:-1], offsets[1:], bits)
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return (
        Entries(
            per_doc,
            sets,
            offsets,
            np.asarray(load("sizes")),
            [
                bytes(ids[a:z]).decode("utf-8", "surrogatepass")
                for a, z in zip(bounds[:-1], bounds[1:], strict=True)
            ],
            [names[k] for k in load("source_of").tolist()],
        ),
        RepeatStats.counted(slots, full, full.copy()),
    )
