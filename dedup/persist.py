"""A persistent index of documents already deduplicated, so that each new crawl is checked
against everything seen before without running the history again (`dedup run --index`), and
read-only checks against evaluation sets (`--against`, decontamination).

An index is a folder of immutable segments and a manifest:

    IDX/manifest.json        format, version, the options that made it, the segments in order
    IDX/.lock                held (fcntl) by the one process that writes
    IDX/seg-000001/          one segment per run that added documents; files in NumPy's .npy
                             format (an open format, memory-mapped for look-ups):
        meta.json            documents, sources (the input names), sampled shingles
        keys.npy             uint32 (bands, n): each LSH band's key of every document, sorted
        order.npy            uint32 (bands, n): the document each sorted key belongs to
        sets.npy, offsets.npy  uint32 sampled shingle sets back to back; int64 (n + 1) bounds
        sizes.npy            int64 (n): full shingle-set sizes
        ids.npy, id_offsets.npy  UTF-8 bytes of the ids back to back; int64 (n + 1) bounds
        source_of.npy        int32 (n): each document's source, an index into meta.json's list
        repeats.npy          uint32: repeated-shingle slots (repeats.py) the run found

What matching needs is kept, and nothing else: the band keys (truncated to 32 bits: a chance
collision is one more candidate, which verification rejects) and, for verification, a sample
of each shingle set: the hashes whose top `sample_bits` bits are zero (one in 4 by default), a
sample both sides of a comparison share, so the Jaccard similarity and containment of the
samples estimate those of the whole sets (`sample_bits=0` keeps whole sets: exact, about four
times larger). Of the corpus-frequency statistics only the slots found repeated are kept
(counts of every slot would cost 32 MiB a segment); a run sets aside the union of them.

A segment is written in a temporary folder, renamed into place, and only then listed in a new
manifest written to a temporary file and renamed over the old one: a writer killed at any
point leaves the index as the last manifest says (and its leftovers are removed by the next
writer). Readers take no lock; segments never change once listed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from .config import Config
from .errors import ConfigError, DedupError, shown
from .lsh import band_keys, resolve_params
from .sign import sign_texts

FORMAT = "dedup-index"
VERSION = 1
MANIFEST = "manifest.json"
LOCK = ".lock"
_TMP = ".tmp-"
SAMPLE_BITS = 2  # one shingle in 4 kept for verification (sample_bits)
_PROBE = "同一篇文章的内容，用來檢查索引是否由相同的程式建立。Probe 123"


class IndexStoreError(DedupError):
    """An index that cannot be used: missing, damaged, held by another writer, or made with
    other options; names the index."""


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


def _probe(config: Config) -> dict[str, Any]:
    """A fixed text's signature and band keys: an index made by code that signs or bands
    otherwise (another version) is told apart from one this code can query."""
    cfg = config
    signed = sign_texts([_PROBE], cfg.normalize, cfg.shingle, cfg.signature)
    bands, rows = resolve_params(cfg.lsh, cfg.signature.num_perm)
    keys = [int(_key32(band_keys(signed.sigs, b, rows))[0]) for b in range(bands)]
    return {"signature": signed.sigs[0, :8].tolist(), "keys": keys[:8]}


def _key32(keys: np.ndarray) -> np.ndarray:
    return (keys ^ (keys >> np.uint64(32))).astype(np.uint32)


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


# --- documents as the index needs them ---------------------------------------------------


@dataclass(frozen=True)
class Entries:
    """Documents as an index holds them: band keys (n, bands) uint32, sampled shingle sets
    (`sets[offsets[k]:offsets[k + 1]]`), full set sizes, ids and sources."""

    keys: np.ndarray
    sets: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    ids: list[str]
    sources: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    def resample(self, bits: int, have: int) -> Entries:
        """These entries (sampled with `have` bits) sampled with `bits` >= `have`: a sample
        of the sample, the same as sampling the whole sets with `bits`."""
        if bits == have:
            return self
        data, counts = sample(self.sets, self.offsets[:-1], self.offsets[1:], bits)
        offsets = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        return Entries(self.keys, data, offsets, self.sizes, self.ids, self.sources)

    def take(self, rows: np.ndarray, spill: Path | None = None) -> Entries:
        """The documents `rows` (ascending), in that order; with `spill` (a new file), their
        sets are copied there a few thousand rows at a time and memory-mapped."""
        rows = np.asarray(rows, dtype=np.int64)
        lo, hi = self.offsets[rows], self.offsets[rows + 1]
        offsets = np.zeros(rows.size + 1, dtype=np.int64)
        np.cumsum(hi - lo, out=offsets[1:])
        chunks = (
            np.asarray(self.sets[_picks(lo[a:b], hi[a:b])], dtype=np.uint32)
            for a, b in _spans(rows.size, _ROWS)
        )
        return Entries(
            np.ascontiguousarray(self.keys[rows]),
            _gather(chunks, spill),
            offsets,
            np.asarray(self.sizes[rows], dtype=np.int64),
            [self.ids[k] for k in rows.tolist()],
            [self.sources[k] for k in rows.tolist()],
        )


_ROWS = 2000  # documents handled at a time when sets are copied or sampled


def _spans(n: int, step: int) -> Iterator[tuple[int, int]]:
    return ((a, min(n, a + step)) for a in range(0, n, step))


def _picks(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The element positions of ranges [lo[k], hi[k]) back to back."""
    count = hi - lo
    dest = np.zeros(count.size, dtype=np.int64)
    np.cumsum(count[:-1], out=dest[1:])
    return np.repeat(lo - dest, count) + np.arange(int(count.sum()))


def _gather(chunks: Iterator[np.ndarray], spill: Path | None) -> np.ndarray:
    """uint32 chunks back to back: in memory, or written to the new file `spill` and
    memory-mapped (a run's own documents then cost no memory however many they are)."""
    if spill is None:
        parts = list(chunks)
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint32)
    total = 0
    with open(spill, "xb") as f:
        for chunk in chunks:
            np.ascontiguousarray(chunk, dtype=np.uint32).tofile(f)
            total += chunk.size
    if total == 0:
        return np.empty(0, dtype=np.uint32)
    return np.memmap(spill, dtype=np.uint32, mode="r", shape=(total,))


def keys_of(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint32: each document's key in each LSH band (lsh.band_keys, truncated)."""
    out = np.empty((sigs.shape[0], bands), dtype=np.uint32)
    for b in range(bands):
        out[:, b] = _key32(band_keys(sigs, b, rows))
    return out


@njit(cache=True)
def _sample(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    out = np.empty(data.size, dtype=data.dtype)  # pages past the sample are never touched
    counts = np.empty(starts.size, dtype=np.int64)
    pos = 0
    for k in range(starts.size):
        first = pos
        for i in range(starts[k], ends[k]):
            v = data[i]
            if v < limit:
                out[pos] = v
                pos += 1
        counts[k] = pos - first
    return out[:pos], counts


def sample(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """The sampled sets of sets data[starts[k]:ends[k]] (in any order in `data`): the hashes
    whose top `bits` bits are zero, back to back in the order of k, as (data, counts)."""
    data = np.ascontiguousarray(data, dtype=np.uint32)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    kept, counts = _sample(data, starts, ends, 1 << (32 - bits))
    return kept.copy(), counts


def entries(
    sigs: np.ndarray,
    fetch: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]],
    ids: Sequence[Any],
    sources: Sequence[str],
    options: dict[str, Any],
    spill: Path | None = None,
) -> Entries:
    """The entries of n signed documents: `sigs` their signature rows, `fetch(docs)` their
    full shingle sets as (data, starts, ends) (ShingleStore.fetch). With `spill` (a new
    file) the sampled sets go there and are memory-mapped."""
    lsh = options["lsh"]
    n = sigs.shape[0]
    keys = keys_of(sigs, lsh["bands"], lsh["rows"])
    counts = np.zeros(n, dtype=np.int64)
    sizes = np.empty(n, dtype=np.int64)

    def sampled() -> Iterator[np.ndarray]:
        for lo, hi in _spans(n, _ROWS):
            data, starts, ends = fetch(np.arange(lo, hi))
            sizes[lo:hi] = ends - starts
            kept, counts[lo:hi] = sample(data, starts, ends, options["sample_bits"])
            yield kept

    sets = _gather(sampled(), spill)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return Entries(keys, sets, offsets, sizes, [str(i) for i in ids], list(sources))


# --- segments -----------------------------------------------------------------------------


class Segment:
    """One segment of an index, its arrays memory-mapped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
        self.documents: int = meta["documents"]
        self.source_names: list[str] = meta["sources"]

        def load(name: str) -> np.ndarray:
            return np.load(path / name, mmap_mode="r")

        self.keys = load("keys.npy")
        self.order = load("order.npy")
        self.sets = load("sets.npy")
        self.offsets = load("offsets.npy")
        self.sizes = load("sizes.npy")
        self._ids = load("ids.npy")
        self._id_offsets = load("id_offsets.npy")
        self.source_of = load("source_of.npy")
        self.repeats = load("repeats.npy")

    def doc_id(self, k: int) -> str:
        lo, hi = int(self._id_offsets[k]), int(self._id_offsets[k + 1])
        return bytes(self._ids[lo:hi]).decode("utf-8", "surrogatepass")

    def source(self, k: int) -> str:
        return self.source_names[int(self.source_of[k])]

    def entries(self, lo: int, hi: int) -> Entries:
        """Documents lo..hi-1 as Entries (for compaction)."""
        order = np.asarray(self.order)
        keys = np.empty((hi - lo, self.keys.shape[0]), dtype=np.uint32)
        for b in range(self.keys.shape[0]):
            # keys[b] is sorted; put each key back at its document's row.
            pos = order[b]
            sel = (pos >= lo) & (pos < hi)
            keys[pos[sel] - lo, b] = self.keys[b][sel]
        a, z = int(self.offsets[lo]), int(self.offsets[hi])
        return Entries(
            keys,
            np.asarray(self.sets[a:z]),
            np.asarray(self.offsets[lo : hi + 1]) - a,
            np.asarray(self.sizes[lo:hi]),
            [self.doc_id(k) for k in range(lo, hi)],
            [self.source(k) for k in range(lo, hi)],
        )


def _save(path: Path, name: str, array: np.ndarray) -> None:
    with open(path / name, "wb") as f:
        np.save(f, array, allow_pickle=False)
        f.flush()
        os.fsync(f.fileno())


def write_segment(path: Path, batch: Entries, repeats: np.ndarray) -> int:
    """Write `batch` as a segment in the (new) folder `path`; returns its bytes on disk."""
    path.mkdir()
    n = len(batch)
    bands = batch.keys.shape[1]
    keys = np.empty((bands, n), dtype=np.uint32)
    order = np.empty((bands, n), dtype=np.uint32)
    for b in range(bands):
        o = np.argsort(batch.keys[:, b], kind="stable")  # equal keys stay in document order
        order[b] = o
        keys[b] = batch.keys[o, b]
    names = list(dict.fromkeys(batch.sources))
    number = {s: k for k, s in enumerate(names)}
    encoded = [i.encode("utf-8", "surrogatepass") for i in batch.ids]
    id_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=id_offsets[1:])
    arrays: dict[str, np.ndarray] = {
        "keys.npy": keys,
        "order.npy": order,
        "sets.npy": np.asarray(batch.sets, dtype=np.uint32),
        "offsets.npy": np.asarray(batch.offsets, dtype=np.int64),
        "sizes.npy": np.asarray(batch.sizes, dtype=np.int64),
        "ids.npy": np.frombuffer(b"".join(encoded), dtype=np.uint8),
        "id_offsets.npy": id_offsets,
        "source_of.npy": np.array([number[s] for s in batch.sources], dtype=np.int32),
        "repeats.npy": np.unique(np.asarray(repeats, dtype=np.uint32)),
    }
    for name, array in arrays.items():
        _save(path, name, array)
    meta = {"documents": n, "sampled_shingles": int(batch.sets.size), "sources": names}
    _write_json(path / "meta.json", meta)
    return sum(f.stat().st_size for f in path.iterdir())


def _write_json(path: Path, obj: Any) -> None:
    """Write JSON to a temporary file, flushed to disk, then renamed over `path`."""
    tmp = path.with_name(f"{_TMP}{os.getpid()}-{path.name}")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _sync_dir(path.parent)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- the index ----------------------------------------------------------------------------


class Index:
    """A persistent index opened to read (`write=False`: any number of readers) or to add
    segments (one writer: an fcntl lock on IDX/.lock, held until `close`).

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
        self.path = Path(path)
        self._lock: int | None = None
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
                return [Segment(self.path / name) for name in self.segment_names]
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
        try:
            data = (self.path / MANIFEST).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except NotADirectoryError as e:
            raise IndexStoreError(f"index {shown(str(self.path))} is not a folder") from e
        try:
            doc = json.loads(data)
            if doc.get("format") != FORMAT:
                raise ValueError
        except (ValueError, AttributeError) as e:
            raise IndexStoreError(
                f"index {shown(str(self.path))}: {MANIFEST} is not a dedup index manifest"
            ) from e
        if doc.get("version") != VERSION:
            raise IndexStoreError(
                f"index {shown(str(self.path))} has format version {doc.get('version')}; "
                f"this dedup reads version {VERSION}"
            )
        return dict(doc)

    def _take_lock(self) -> None:
        self._made = not self.path.exists()
        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise IndexStoreError(
                f"index {shown(str(self.path))} is being written by another run; "
                "wait for it to finish"
            ) from None
        self._lock = fd
        # Another writer may have committed between reading the manifest and the lock.
        manifest = self._read_manifest()
        if manifest is not None:
            self.segment_names = list(manifest["segments"])
            self.next = manifest["next"]

    def _clear_leftovers(self) -> None:
        listed = set(self.segment_names)
        for p in self.path.iterdir():
            if (p.name.startswith("seg-") and p.name not in listed) or p.name.startswith(_TMP):
                shutil.rmtree(p) if p.is_dir() else p.unlink()

    def repeats(self) -> np.ndarray:
        """The repeated-shingle slots found by the runs that made the index (ascending)."""
        parts = [np.asarray(s.repeats) for s in self.segments]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=np.uint32)

    def describe(self, s: int, k: int) -> tuple[str, str, str]:
        """(id, source, segment name) of document k of segment s."""
        seg = self.segments[s]
        return seg.doc_id(k), seg.source(k), seg.name

    def add(self, batch: Entries, repeats: np.ndarray | None = None) -> str | None:
        """Commit `batch` as a new segment (nothing for an empty batch); its name."""
        if self._lock is None:
            raise IndexStoreError(f"index {shown(str(self.path))} is open read-only")
        if len(batch) == 0 and self.segment_names:
            return None
        name = f"seg-{self.next:06d}"
        tmp = self.path / f"{_TMP}{os.getpid()}-{name}"
        reps = np.empty(0, np.uint32) if repeats is None else repeats
        write_segment(tmp, batch, reps)
        os.rename(tmp, self.path / name)
        _sync_dir(self.path)
        self._commit([*self.segment_names, name], self.next + 1)
        self.segments.append(Segment(self.path / name))
        return name

    def _commit(self, names: list[str], next_number: int) -> None:
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "options": self.options,
            "probe": self.probe,
            "segments": names,
            "next": next_number,
        }
        _write_json(self.path / MANIFEST, manifest)
        self.segment_names, self.next = names, next_number

    def compact(self) -> None:
        """Merge every segment into one (same documents, same order); the old ones go once
        the new manifest is committed."""
        if self._lock is None:
            raise IndexStoreError(f"index {shown(str(self.path))} is open read-only")
        if len(self.segments) <= 1:
            return
        old = self.segments
        parts = [s.entries(0, s.documents) for s in old]
        merged = Entries(
            np.concatenate([p.keys for p in parts]),
            np.concatenate([p.sets for p in parts]),
            np.concatenate(
                [[0], *(p.offsets[1:] + b for p, b in zip(parts, _bases(parts), strict=True))]
            ).astype(np.int64),
            np.concatenate([p.sizes for p in parts]),
            [i for p in parts for i in p.ids],
            [x for p in parts for x in p.sources],
        )
        del parts
        name = f"seg-{self.next:06d}"
        tmp = self.path / f"{_TMP}{os.getpid()}-{name}"
        write_segment(tmp, merged, self.repeats())
        os.rename(tmp, self.path / name)
        _sync_dir(self.path)
        self._commit([name], self.next + 1)
        self.segments = [Segment(self.path / name)]
        for s in old:
            shutil.rmtree(s.path)

    def info(self) -> dict[str, Any]:
        """Documents, segments, options and size on disk."""
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
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
        if self._lock is not None:
            if self._made and not self.segment_names:
                shutil.rmtree(self.path, ignore_errors=True)
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            os.close(self._lock)
            self._lock = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bases(parts: list[Entries]) -> Iterator[int]:
    base = 0
    for p in parts:
        yield base
        base += int(p.offsets[-1])


def read_info(path: str | Path) -> dict[str, Any]:
    """`Index.info` of the index at `path`, opened read-only with its own options."""
    return Index(path, None).info()


def compact(path: str | Path) -> tuple[int, int]:
    """Merge the segments of the index at `path` into one; (segments before, after)."""
    with Index(path, None, write=True, create=False) as index:
        before = len(index.segments)
        index.compact()
        return before, len(index.segments)
