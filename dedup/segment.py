"""The documents of a persistent index (persist.py) as it holds them (`Entries`), and one
segment of them on disk in Arrow IPC files (Feather v2), uncompressed so that they are
memory-mapped: every fixed-width column is read as a numpy view of the file, with no copy.

    seg-NNNNNN/docs.arrow     one row per document, in document order:
        id      large_string (large_binary if an id holds a lone surrogate)
        source  dictionary<int32, large_string>: the input the document came from
        size    uint32: the full shingle set's size
        set     large_list<uint32>: the sampled shingle set, ascending
    seg-NNNNNN/bands.arrow    one row per document and LSH band b, sorted by key in each band:
        key_b   uint32: band b's key of some document (truncated to 32 bits), ascending
        doc_b   uint32: that document's row in docs.arrow (equal keys: in document order)
    seg-NNNNNN/repeats.arrow  the corpus-frequency statistics of the run (repeats.RepeatStats):
        slot    uint32, groups uint16, own uint16
        docs    uint16, largest uint16 (weighed groups; a segment written before has none)

Each file holds one record batch. Any Arrow reader opens them
(`pyarrow.feather.read_table("docs.arrow")`, polars, DuckDB, Arrow in Java or Rust).

Writing a segment, or merging segments into one (`merge_segments`, `dedup index compact`),
streams: document columns are written segment by segment to temporary files, band columns
one at a time, and the Arrow batch is made of memory-mapped views of those files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import numpy as np
from numba import njit

from .errors import ConfigError
from .lsh import band_keys
from .repeats import RepeatStats
from .shingle import NUMBER_BIT

DOCS, BANDS, REPEATS = "docs.arrow", "bands.arrow", "repeats.arrow"
FILES = (DOCS, BANDS, REPEATS)
EXTRA = "pip install 'dedup[index]'"
_SPILL = ".spill-"


def pyarrow() -> Any:
    """The pyarrow module (with its IPC part), or a ConfigError naming the extra."""
    try:
        import pyarrow
        import pyarrow.ipc  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"a persistent index needs pyarrow: {EXTRA}") from e
    return pyarrow


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
# Shingle hashes are 31 bits (shingle.NUMBER_BIT marks a number's element): sampling looks at
# the bits below it, so that it keeps one shingle in 2**bits, not one in 2**(bits - 1).
_LOW = int(NUMBER_BIT) - 1


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
    return _spilled(spill, chunks, np.uint32)


def _spilled(path: Path, chunks: Iterator[np.ndarray], dtype: Any) -> np.ndarray:
    """Chunks of `dtype` written back to back to the new file `path`, memory-mapped."""
    total = 0
    with open(path, "xb") as f:
        for chunk in chunks:
            np.ascontiguousarray(chunk, dtype=dtype).tofile(f)
            total += len(chunk)
    if total == 0:
        return np.empty(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", shape=(total,))


def key32(keys: np.ndarray) -> np.ndarray:
    """64-bit band keys folded to the 32 bits an index keeps (a chance collision is one
    more candidate, which verification rejects)."""
    return (keys ^ (keys >> np.uint64(32))).astype(np.uint32)


def keys_of(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n, bands) uint32: each document's key in each LSH band (lsh.band_keys, truncated)."""
    out = np.empty((sigs.shape[0], bands), dtype=np.uint32)
    for b in range(bands):
        out[:, b] = key32(band_keys(sigs, b, rows))
    return out


@njit(cache=True)
def _sample(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, limit: int
) -> tuple[np.ndarray, np.ndarray]:
    out = np.empty(data.size, dtype=data.dtype)  # pages past the sample are never touched
    counts = np.empty(starts.size, dtype=np.int64)
    low = data.dtype.type(_LOW)
    pos = 0
    for k in range(starts.size):
        first = pos
        for i in range(starts[k], ends[k]):
            v = data[i]
            if v & low < limit:
                out[pos] = v
                pos += 1
        counts[k] = pos - first
    return out[:pos], counts


def sample(
    data: np.ndarray, starts: np.ndarray, ends: np.ndarray, bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """The sampled sets of sets data[starts[k]:ends[k]] (in any order in `data`): the
    elements whose top `bits` bits below shingle.NUMBER_BIT are zero (one shingle hash in
    2**bits; numbers by their place, so both sides keep the same places), back to back in
    the order of k, as (data, counts)."""
    data = np.ascontiguousarray(data, dtype=np.uint32)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    ends = np.ascontiguousarray(ends, dtype=np.int64)
    kept, counts = _sample(data, starts, ends, 1 << (31 - bits))
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


# --- Arrow columns ------------------------------------------------------------------------


def _view(array: Any) -> np.ndarray:
    """A fixed-width Arrow array without nulls as a read-only numpy view (no copy)."""
    return np.asarray(array.to_numpy(zero_copy_only=True))


def _buffer(pa: Any, array: np.ndarray) -> Any:
    return pa.py_buffer(np.ascontiguousarray(array)) if array.size else pa.py_buffer(b"")


def _texts(pa: Any, data: np.ndarray, offsets: np.ndarray, binary: bool | None = None) -> Any:
    """UTF-8 bytes (`data`, int64 `offsets`) as a large_string array, or large_binary when
    they are not valid UTF-8 (a lone surrogate, kept with surrogatepass); `binary` says
    which when it is known (else the bytes are checked)."""
    if binary is None:
        try:
            bytes(np.asarray(data[: max(0, int(offsets[-1]))])).decode("utf-8")
            binary = False
        except UnicodeDecodeError:
            binary = True
    kind = pa.large_binary() if binary else pa.large_string()
    n = offsets.size - 1
    return pa.Array.from_buffers(kind, n, [None, _buffer(pa, offsets), _buffer(pa, data)])


def _encoded(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strings as UTF-8 bytes back to back and int64 bounds."""
    encoded = [v.encode("utf-8", "surrogatepass") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets


def _text_parts(array: Any) -> tuple[np.ndarray, np.ndarray]:
    """(data, offsets) views of a large_string / large_binary array."""
    _, offsets, data = array.buffers()
    off = np.frombuffer(offsets, dtype=np.int64, count=len(array) + 1, offset=array.offset * 8)
    bytes_ = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    return bytes_, off


def _decoded(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    return [
        bytes(data[a:b]).decode("utf-8", "surrogatepass")
        for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)
    ]


def _write_table(path: Path, names: Sequence[str], arrays: Sequence[Any]) -> None:
    """One record batch to the new Arrow IPC file `path` (uncompressed), flushed to disk."""
    pa = pyarrow()
    batch = pa.RecordBatch.from_arrays(list(arrays), names=list(names))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_batch(batch)
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_table(path: Path) -> Any:
    """The one record batch of the Arrow IPC file `path`, memory-mapped."""
    pa = pyarrow()
    if not path.exists():
        raise FileNotFoundError(2, "No such file", str(path))
    return one_batch(pa.memory_map(str(path), "r"), path.name)


def one_batch(source: Any, name: str) -> Any:
    """The one record batch of the Arrow IPC file `name` opened as `source` (a memory map,
    or a buffer read from a remote file system)."""
    reader = pyarrow().ipc.open_file(source)
    if reader.num_record_batches != 1:
        raise ValueError(f"{name} holds {reader.num_record_batches} record batches, not 1")
    return reader.get_batch(0)


# --- writing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Docs:
    """A segment's document columns, as numpy arrays (in memory or memory-mapped)."""

    id_data: np.ndarray
    id_offsets: np.ndarray
    id_binary: bool | None  # None: look at the ids
    source_of: np.ndarray
    source_names: list[str]
    sizes: np.ndarray
    sets: np.ndarray
    offsets: np.ndarray


def _write_docs(path: Path, docs: _Docs) -> None:
    pa = pyarrow()
    names = _encoded(docs.source_names)
    source = pa.DictionaryArray.from_arrays(
        pa.Array.from_buffers(pa.int32(), docs.source_of.size, [None, _buffer(pa, docs.source_of)]),
        _texts(pa, *names),
    )
    n = docs.sizes.size
    values = pa.Array.from_buffers(pa.uint32(), docs.sets.size, [None, _buffer(pa, docs.sets)])
    sets = pa.Array.from_buffers(
        pa.large_list(pa.uint32()), n, [None, _buffer(pa, docs.offsets)], children=[values]
    )
    sizes = pa.Array.from_buffers(pa.uint32(), n, [None, _buffer(pa, docs.sizes)])
    _write_table(
        path / DOCS,
        ["id", "source", "size", "set"],
        [_texts(pa, docs.id_data, docs.id_offsets, docs.id_binary), source, sizes, sets],
    )


def _write_bands(path: Path, bands: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
    """bands.arrow from each band's (sorted keys, documents), arrays or memory maps."""
    pa = pyarrow()
    names, arrays = [], []
    for b, (keys, docs) in enumerate(bands):
        names += [f"key_{b}", f"doc_{b}"]
        arrays += [
            pa.Array.from_buffers(pa.uint32(), keys.size, [None, _buffer(pa, keys)]),
            pa.Array.from_buffers(pa.uint32(), docs.size, [None, _buffer(pa, docs)]),
        ]
    _write_table(path / BANDS, names, arrays)


def _write_repeats(path: Path, stats: RepeatStats) -> None:
    pa = pyarrow()
    _write_table(
        path / REPEATS,
        ["slot", "groups", "own", "docs", "largest"],
        [pa.array(stats.slots, pa.uint32())]
        + [pa.array(a, pa.uint16()) for a in (stats.groups, stats.own, stats.docs, stats.largest)],
    )


def _sorted_band(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(keys, kind="stable")  # equal keys stay in document order
    return np.ascontiguousarray(keys[order]), order.astype(np.uint32)


def write_segment(path: Path, batch: Entries, stats: RepeatStats) -> int:
    """Write `batch` as a segment in the (new) folder `path`; returns its bytes on disk."""
    path.mkdir()
    names = list(dict.fromkeys(batch.sources))
    number = {s: k for k, s in enumerate(names)}
    id_data, id_offsets = _encoded(batch.ids)
    docs = _Docs(
        id_data,
        id_offsets,
        None,
        np.array([number[s] for s in batch.sources], dtype=np.int32),
        names,
        np.asarray(batch.sizes, dtype=np.uint32),
        np.asarray(batch.sets, dtype=np.uint32),
        np.asarray(batch.offsets, dtype=np.int64),
    )
    _write_docs(path, docs)
    _write_bands(path, [_sorted_band(batch.keys[:, b]) for b in range(batch.keys.shape[1])])
    _write_repeats(path, stats)
    return sum(f.stat().st_size for f in path.iterdir())


def merge_segments(path: Path, segments: Sequence[Segment], stats: RepeatStats) -> int:
    """Write the documents of `segments`, in order, as one segment in the (new) folder `path`,
    streaming: each document column is copied segment by segment to a temporary file, each
    band is merged on its own, and the written batch is made of memory maps of those files.
    Memory holds one band at a time (about 24 bytes a document), never the whole index."""
    path.mkdir()
    bases = np.cumsum([0] + [s.documents for s in segments])
    names = list(dict.fromkeys(n for s in segments for n in s.source_names))
    number = {n: k for k, n in enumerate(names)}

    def spill(name: str, chunks: Iterator[np.ndarray], dtype: Any) -> np.ndarray:
        return _spilled(path / f"{_SPILL}{name}", chunks, dtype)

    def rebased(parts: Iterator[tuple[np.ndarray, int]]) -> Iterator[np.ndarray]:
        """Bounds (n + 1 each) of consecutive parts as one array of bounds."""
        yield np.zeros(1, dtype=np.int64)
        base = 0
        for offsets, size in parts:
            yield np.asarray(offsets[1:], dtype=np.int64) - offsets[0] + base
            base += size

    def codes(s: Segment) -> np.ndarray:
        remap = np.array([number[n] for n in s.source_names], dtype=np.int32)
        return remap[np.asarray(s.source_of)] if remap.size else np.empty(0, np.int32)

    docs = _Docs(
        spill("id-data", (s.id_data for s in segments), np.uint8),
        spill(
            "id-offsets",
            rebased((s.id_offsets, int(s.id_offsets[-1] - s.id_offsets[0])) for s in segments),
            np.int64,
        ),
        any(s.id_binary for s in segments),
        spill("source", (codes(s) for s in segments), np.int32),
        names,
        spill("size", (s.sizes for s in segments), np.uint32),
        spill("set", (s.sets for s in segments), np.uint32),
        spill(
            "offsets",
            rebased((s.offsets, int(s.offsets[-1] - s.offsets[0])) for s in segments),
            np.int64,
        ),
    )
    _write_docs(path, docs)
    del docs
    bands = []
    for b in range(segments[0].bands if segments else 0):
        keys = np.concatenate([s.keys[b] for s in segments])
        # Segments in order, each sorted with equal keys in document order: a stable sort
        # keeps equal keys in the merged document order.
        order = np.argsort(keys, kind="stable")
        docs_b = np.concatenate(
            [
                np.asarray(s.order[b], dtype=np.uint32) + np.uint32(base)
                for s, base in zip(segments, bases.tolist(), strict=False)
            ]
        )
        bands.append(
            (
                spill(f"key-{b}", iter([keys[order]]), np.uint32),
                spill(f"doc-{b}", iter([docs_b[order]]), np.uint32),
            )
        )
        del keys, order, docs_b
    _write_bands(path, bands)
    del bands
    _write_repeats(path, stats)
    for p in path.glob(f"{_SPILL}*"):
        p.unlink()
    return sum(f.stat().st_size for f in path.iterdir())


# --- reading ------------------------------------------------------------------------------


class Segment:
    """One segment of an index, its columns numpy views: of memory maps of its files (a
    local folder), or of the files read whole (`read`: file name -> its record batch, for
    a file system that cannot be mapped, such as HDFS)."""

    def __init__(self, path: PurePath, read: Callable[[str], Any] | None = None) -> None:
        self.path = path
        self.name = path.name
        table = read if read is not None else (lambda name: _read_table(Path(path) / name))
        docs = table(DOCS)
        bands = table(BANDS)
        repeats = table(REPEATS)
        self.documents: int = docs.num_rows
        self.id_data, self.id_offsets = _text_parts(docs.column("id"))
        self.id_binary: bool = docs.column("id").type == pyarrow().large_binary()
        source = docs.column("source")
        self.source_of = _view(source.indices)
        self.source_names: list[str] = _decoded(*_text_parts(source.dictionary))
        self.sizes = _view(docs.column("size"))
        sets = docs.column("set")
        self.offsets = _view(sets.offsets)
        self.sets = _view(sets.values)
        self.bands = bands.num_columns // 2
        self.keys = [_view(bands.column(f"key_{b}")) for b in range(self.bands)]
        self.order = [_view(bands.column(f"doc_{b}")) for b in range(self.bands)]
        slots, groups, own = (_view(repeats.column(n)) for n in ("slot", "groups", "own"))
        if "largest" in repeats.column_names:
            docs, largest = _view(repeats.column("docs")), _view(repeats.column("largest"))
            self.stats = RepeatStats(slots, groups, own, docs, largest)
        else:  # written before groups were weighed
            self.stats = RepeatStats.counted(slots, groups, own)

    def doc_id(self, k: int) -> str:
        lo, hi = int(self.id_offsets[k]), int(self.id_offsets[k + 1])
        return bytes(self.id_data[lo:hi]).decode("utf-8", "surrogatepass")

    def source(self, k: int) -> str:
        return self.source_names[int(self.source_of[k])]

    def entries(self, lo: int, hi: int) -> Entries:
        """Documents lo..hi-1 as Entries."""
        keys = np.empty((hi - lo, self.bands), dtype=np.uint32)
        for b in range(self.bands):
            # keys[b] is sorted; put each key back at its document's row.
            pos = self.order[b]
            sel = (pos >= lo) & (pos < hi)
            keys[pos[sel] - lo, b] = self.keys[b][sel]
        a, z = int(self.offsets[lo]), int(self.offsets[hi])
        return Entries(
            keys,
            np.asarray(self.sets[a:z]),
            np.asarray(self.offsets[lo : hi + 1]) - a,
            np.asarray(self.sizes[lo:hi], dtype=np.int64),
            [self.doc_id(k) for k in range(lo, hi)],
            [self.source(k) for k in range(lo, hi)],
        )
