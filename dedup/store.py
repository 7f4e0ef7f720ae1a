"""Disk-backed store of every document's shingle hashes, written in segments by the signers.

Verification needs the exact shingle sets of candidate pairs, but holding every set in memory
grows with the text (4 bytes per character), and so would a memory map of them all once
verification touches it. Each signing process appends its batches to its own segment file
(`write_segment`), so the sets never travel back to the main process; the main process keeps
only where each document's set is (`ShingleStore.add`) and later reads back the sets of the
documents it needs, a bounded number at a time (`ShingleStore.fetch`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from .io.writers import write_chunked

_ITEM = np.dtype(np.uint32).itemsize
# Bytes of the buffer that reads with gaps go through (`ShingleStore._read`).
_SCRATCH = 1 << 23


@dataclass(frozen=True)
class Extent:
    """Where one batch of sets went: a segment file of the store and the element offset."""

    segment: str
    start: int


def write_segment(directory: Path, data: np.ndarray) -> Extent:
    """Append a batch's concatenated sets to this process's segment file in `directory`."""
    arr = np.ascontiguousarray(data, dtype=np.uint32)
    extent = append_bytes(directory, "segment", arr.data.cast("B"), ".u32")
    return Extent(extent.segment, extent.start // _ITEM)


def append_bytes(
    directory: Path, prefix: str, data: bytes | memoryview, suffix: str = ".bin"
) -> Extent:
    """Append `data` to this process's `prefix` file in `directory`; the extent's start is
    a byte offset. One file per process means one writer per file: no locks, and the offset
    is the size before the write."""
    name = f"{prefix}-{os.getpid()}{suffix}"
    with open(directory / name, "ab") as f:
        start = os.fstat(f.fileno()).st_size
        write_chunked(f, data)
    return Extent(name, start)


def read_bytes(directory: Path, extent: Extent, size: int) -> bytes:
    """`size` bytes written by `append_bytes` at `extent`."""
    fd = os.open(directory / extent.segment, os.O_RDONLY)
    try:
        data = os.pread(fd, size, extent.start)  # one copy, where a buffer would need two
        if len(data) < size:
            buf = bytearray(size)
            buf[: len(data)] = data
            _read_into(fd, memoryview(buf)[len(data) :], extent.start + len(data))
            data = bytes(buf)
    finally:
        os.close(fd)
    return data


@njit(cache=True)
def _gather(
    buf: np.ndarray, source: np.ndarray, dest: np.ndarray, length: np.ndarray, out: np.ndarray
) -> None:
    for k in range(source.size):
        out[dest[k] : dest[k] + length[k]] = buf[source[k] : source[k] + length[k]]


def _read_into(fd: int, buf: memoryview, offset: int) -> None:
    while buf.nbytes:
        got = os.preadv(fd, [buf], offset)
        if got <= 0:
            raise OSError(f"shingle store: unexpected end of segment at byte {offset}")
        buf = buf[got:]
        offset += got


class ShingleStore:
    """Per-document locations of the sets in a directory of segment files.

    `add` records a batch written by `write_segment` (documents numbered in the order added);
    `fetch` reads the sets of some documents into one compact array.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._names: dict[str, int] = {}
        self._segment: list[np.ndarray] = []
        self._start: list[np.ndarray] = []
        self._size: list[np.ndarray] = []
        self._n = 0
        self._frozen: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return self._n

    def add(self, extent: Extent, sizes: np.ndarray) -> None:
        """Record a batch: its documents' sets lie back to back from `extent`, `sizes` long."""
        if self._frozen is not None:
            raise RuntimeError("store is frozen")
        sizes = np.asarray(sizes, dtype=np.int64)
        seg = self._names.setdefault(extent.segment, len(self._names))
        starts = np.empty(sizes.size, dtype=np.int64)
        starts[0:1] = extent.start
        np.cumsum(sizes[:-1], out=starts[1:])
        starts[1:] += extent.start
        self._segment.append(np.full(sizes.size, seg, dtype=np.int32))
        self._start.append(starts)
        self._size.append(sizes)
        self._n += sizes.size

    def append(self, shingles: np.ndarray) -> None:
        """Write and record one document's set from this process (tests, small runs)."""
        arr = np.ascontiguousarray(shingles, dtype=np.uint32)
        self.add(write_segment(self.directory, arr), np.array([arr.size]))

    def _index(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._frozen is None:

            def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
                out = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
                parts.clear()
                return out

            self._frozen = (
                cat(self._segment, np.int32),
                cat(self._start, np.int64),
                cat(self._size, np.int64),
            )
        return self._frozen

    def sizes(self) -> np.ndarray:
        """Number of shingles of every document."""
        return self._index()[2]

    def fetch(self, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The sets of `docs` (document numbers) as (data, starts, ends): set k is
        data[starts[k]:ends[k]]. Reads with pread in file order, so memory holds only these
        sets (no mapping of the whole store) and the disk is read forwards."""
        segment, start, size = self._index()
        docs = np.asarray(docs, dtype=np.int64)
        seg, off, length = segment[docs], start[docs], size[docs]
        order = np.lexsort((off, seg))
        seg, off, length = seg[order], off[order], length[order]
        # Destination of each set, in file order.
        dest = np.zeros(docs.size + 1, dtype=np.int64)
        np.cumsum(length, out=dest[1:])
        data = np.empty(int(dest[-1]), dtype=np.uint32)
        starts = np.empty(docs.size, dtype=np.int64)
        starts[order] = dest[:-1]
        ends = starts + size[docs]
        if docs.size:
            self._read(seg, off, length, dest, data)
        return data, starts, ends

    def _read(
        self,
        seg: np.ndarray,
        off: np.ndarray,
        length: np.ndarray,
        dest: np.ndarray,
        data: np.ndarray,
    ) -> None:
        """Read the sets at (seg, off, length) (in file order) to data[dest[k]:dest[k + 1]].
        Sets close together in one file are read with one call, the gap between them
        included, the smallest gaps first up to as many bytes as asked for: a call costs as
        much as reading a few thousand shingles, and a band's pairs ask for many sets a few
        apart. A read with gaps goes through a buffer of about `_SCRATCH` bytes, so memory
        stays at what was asked for."""
        gap = off[1:] - (off[:-1] + length[:-1])
        gap[(seg[1:] != seg[:-1]) | (gap < 0)] = data.size + 1
        order = np.argsort(gap, kind="stable")
        bridged = np.zeros(gap.size, dtype=np.bool_)
        bridged[order[np.cumsum(gap[order]) <= data.size]] = True
        brk = np.flatnonzero(~bridged) + 1
        first = np.concatenate(([0], brk)).tolist()
        last = np.concatenate((brk, [seg.size])).tolist()
        scratch = np.empty(0, dtype=np.uint32)
        fill = 0
        held: list[tuple[int, int]] = []  # runs in the scratch buffer: (run, its place)
        view = data.data.cast("B")
        names = list(self._names)
        fds: dict[int, int] = {}

        def flush() -> None:
            for k, place in held:
                a, b = first[k], last[k]
                source = place + off[a:b] - off[a]
                _gather(scratch, source, dest[a:b], length[a:b], data)
            held.clear()

        try:
            for k, (a, b) in enumerate(zip(first, last, strict=True)):
                s = int(seg[a])
                if s not in fds:
                    fds[s] = os.open(self.directory / names[s], os.O_RDONLY)
                span = int(off[b - 1] + length[b - 1] - off[a])
                if span == dest[b] - dest[a]:  # no gap: straight to its place
                    lo, hi = int(dest[a]) * _ITEM, int(dest[b]) * _ITEM
                    _read_into(fds[s], view[lo:hi], int(off[a]) * _ITEM)
                    continue
                if fill + span > scratch.size:
                    flush()
                    fill = 0
                    if span > scratch.size:
                        scratch = np.empty(max(span, _SCRATCH // _ITEM), dtype=np.uint32)
                into = scratch[fill : fill + span].data.cast("B")
                _read_into(fds[s], into, int(off[a]) * _ITEM)
                held.append((k, fill))
                fill += span
            flush()
        finally:
            for fd in fds.values():
                os.close(fd)

    def runs(
        self, docs: np.ndarray, budget: int, cuts: np.ndarray | None = None
    ) -> Iterator[tuple[int, int]]:
        """Consecutive runs docs[lo:hi] whose sets come to about `budget` bytes (at least
        one set), as (lo, hi); given `cuts` (ascending places in `docs`, from 0 to its
        size), a run ends only at one of them."""
        docs = np.asarray(docs, dtype=np.int64)
        cost = np.cumsum(self.sizes()[docs] * _ITEM)
        ends = np.arange(1, docs.size + 1) if cuts is None else np.asarray(cuts[1:])
        total = cost[ends - 1]
        lo = 0
        while lo < docs.size:
            base = cost[lo - 1] if lo else 0
            past = int(np.searchsorted(total, base + budget, side="right")) - 1
            hi = int(ends[max(past, int(np.searchsorted(ends, lo, side="right")))])
            yield lo, hi
            lo = hi

    def sets(self, docs: np.ndarray, budget: int) -> Iterator[np.ndarray]:
        """The set of each of `docs`, in that order, read about `budget` bytes at a time."""
        for lo, hi in self.runs(docs, budget):
            data, starts, ends = self.fetch(docs[lo:hi])
            for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
                yield data[a:b]

    def chunks(self, docs: np.ndarray, budget: int) -> Iterator[np.ndarray]:
        """The sets of `docs` back to back, about `budget` bytes of them at a time."""
        for lo, hi in self.runs(docs, budget):
            yield self.fetch(docs[lo:hi])[0]
