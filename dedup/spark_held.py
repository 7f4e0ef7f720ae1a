"""What the Spark engine holds of the signed documents between its stages: runs of
consecutive documents as one record of arrays each (`SignedRun`), and the executor-side
functions that make them from a partition's items (`SignItems`, by the local engine's
`sign_texts`), number them, and take them apart again (one record per document, for the
stages that move documents one by one).

A run is one pickle of a few arrays, not one per document: holding the runs in Spark's block
store and reading them back (the facts of the read, LSH, picking the documents in candidate
pairs) costs a few large copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .config import Config
from .parallel import batched
from .sign import sign_texts
from .types import Figures

# An item key: (input ordinal, path inside the input, record number in the file). Sorting on
# it gives the local engine's order: inputs as given, files by sorted path, records in order.
Key = tuple[int, str, int]


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


# A document as `SignedRun.items` gives it, one record per document: id, UTF-8 bytes of its
# text, (signature bytes, shingle set bytes, figures (`Figures.rows`)), or None without
# them, source, line number, whether the record is a Parquet row (the fields the id check
# and the driver use are where a DocRow has them).
LightRow = tuple[str, int, tuple[bytes, bytes, Any] | None, str, int | None, bool]


@dataclass(frozen=True)
class SignedRun:
    """A run of consecutive documents (no marker or skip between them) as they are held
    between the stages, signed by the local engine's `sign_texts`: one record of arrays, not
    one per document, so that holding them, reading them back for LSH and picking the ones
    in candidate pairs cost a few large copies rather than a pickle per document. Their
    texts and records are not kept."""

    keys: list[Key]
    ids: list[str]
    nbytes: np.ndarray  # UTF-8 size of each text
    sources: list[str]
    lines: list[int | None]
    is_row: list[bool]
    sigs: np.ndarray  # (documents, num_perm) uint32
    shingles: np.ndarray  # uint32, the sets back to back
    offsets: np.ndarray  # int64: set k is shingles[offsets[k]:offsets[k + 1]]
    figures: Figures

    def __len__(self) -> int:
        return len(self.keys)

    def empty(self) -> int:
        """Documents with no text."""
        return int((self.figures.length == 0).sum())

    def take(self, index: np.ndarray) -> SignedRun:
        """The documents at `index` (ascending), in that order."""
        at = index.tolist()
        starts, ends = self.offsets[index], self.offsets[index + 1]
        sizes = ends - starts
        offsets = np.zeros(index.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        spans = np.repeat(starts - offsets[:-1], sizes) + np.arange(int(offsets[-1]))
        return SignedRun(
            [self.keys[k] for k in at],
            [self.ids[k] for k in at],
            self.nbytes[index],
            [self.sources[k] for k in at],
            [self.lines[k] for k in at],
            [self.is_row[k] for k in at],
            self.sigs[index],
            self.shingles[spans],
            offsets,
            self.figures.take(index),
        )

    def items(self, sets: bool = True) -> Iterator[tuple[Key, LightRow]]:
        """One (key, `LightRow`) per document; without `sets`, no signature, set or
        figures."""
        bounds = self.offsets.tolist()
        figures = self.figures.rows() if sets else None
        for k, key in enumerate(self.keys):
            held = None
            if figures is not None:
                shingles = self.shingles[bounds[k] : bounds[k + 1]].tobytes()
                held = (self.sigs[k].tobytes(), shingles, figures[k])
            row = (self.ids[k], int(self.nbytes[k]), held, self.sources[k], self.lines[k])
            yield key, (*row, self.is_row[k])

    def signed(
        self, numbers: Iterable[int]
    ) -> Iterator[tuple[int, tuple[bytes, bytes, Any, str, str]]]:
        """(number, (signature bytes, shingle set bytes, figures, id, source)) of each
        document, with its `numbers` entry: what the stages after reading take of one."""
        bounds = self.offsets.tolist()
        figures = self.figures.rows()
        for k, number in enumerate(numbers):
            shingles = self.shingles[bounds[k] : bounds[k + 1]].tobytes()
            value = (self.sigs[k].tobytes(), shingles, figures[k], self.ids[k], self.sources[k])
            yield number, value

    @classmethod
    def concat(cls, runs: Sequence[SignedRun]) -> SignedRun:
        """The documents of `runs` (one or more), one run after the other."""
        sizes = np.concatenate([r.offsets[1:] - r.offsets[:-1] for r in runs])
        offsets = np.zeros(sizes.size + 1, dtype=np.int64)
        np.cumsum(sizes, out=offsets[1:])
        return cls(
            [key for r in runs for key in r.keys],
            [doc_id for r in runs for doc_id in r.ids],
            np.concatenate([r.nbytes for r in runs]),
            [source for r in runs for source in r.sources],
            [line for r in runs for line in r.lines],
            [flag for r in runs for flag in r.is_row],
            np.concatenate([r.sigs for r in runs]),
            np.concatenate([r.shingles for r in runs]),
            offsets,
            Figures.concat(r.figures for r in runs),
        )

    @classmethod
    def of(cls, items: Sequence[tuple[Key, LightRow]], num_perm: int) -> SignedRun:
        """The inverse of `items` (with sets)."""
        held = [row[2] for _, row in items]
        assert all(h is not None for h in held)
        sigs = np.frombuffer(b"".join(h[0] for h in held), dtype=np.uint32)  # type: ignore[index]
        sets = [np.frombuffer(h[1], dtype=np.uint32) for h in held]  # type: ignore[index]
        offsets = np.zeros(len(sets) + 1, dtype=np.int64)
        np.cumsum([a.size for a in sets], out=offsets[1:])
        return cls(
            [key for key, _ in items],
            [row[0] for _, row in items],
            np.array([row[1] for _, row in items], dtype=np.int64),
            [row[3] for _, row in items],
            [row[4] for _, row in items],
            [row[5] for _, row in items],
            sigs.reshape(len(items), num_perm),
            np.concatenate(sets) if sets else np.empty(0, dtype=np.uint32),
            offsets,
            Figures.from_rows([h[2] for h in held]),  # type: ignore[index]
        )


def signed_rows(part: Iterable[tuple[int, SignedRun]]) -> Iterator[tuple[int, Any]]:
    """Executor side: (number, what a stage after reading takes of it) of every document of
    a partition of numbered `SignedRun`."""
    for first, docs in part:
        yield from docs.signed(range(first, first + len(docs)))


def flat(records: Iterable[Any]) -> Iterator[tuple[Key, Any]]:
    """Executor side: a partition of `SignItems` records as one (key, item) per item."""
    for record in records:
        if isinstance(record, SignedRun):
            yield from record.items()
        else:
            yield record


@dataclass(frozen=True)
class Rebatch:
    """Executor side: `flat`'s items of a partition (in order) as `SignItems` records again."""

    size: int
    num_perm: int

    def __call__(self, items: Iterable[tuple[Key, Any]]) -> Iterator[Any]:
        run: list[tuple[Key, LightRow]] = []
        for key, item in items:
            if isinstance(item, tuple):
                run.append((key, item))
                if len(run) < self.size:
                    continue
            if run:
                yield SignedRun.of(run, self.num_perm)
                run = []
            if not isinstance(item, tuple):
                yield key, item
        if run:
            yield SignedRun.of(run, self.num_perm)


def item_keys(records: Iterable[Any]) -> Iterator[tuple[Key, None]]:
    """Executor side: (key, None) of every item of a partition of `SignItems` records."""
    for record in records:
        if isinstance(record, SignedRun):
            yield from ((key, None) for key in record.keys)
        else:
            yield record[0], None


def doc_items(records: Iterable[Any]) -> Iterator[tuple[Key, LightRow]]:
    """Executor side: (key, `LightRow` without sets) of every document of a partition of
    `SignItems` records."""
    for record in records:
        if isinstance(record, SignedRun):
            yield from record.items(sets=False)


@dataclass(frozen=True)
class Without:
    """Executor side: a partition's `SignedRun` without the documents whose keys are in `gone`
    (a Broadcast of a set of keys)."""

    gone: Any

    def __call__(self, records: Iterable[SignedRun]) -> Iterator[SignedRun]:
        gone = self.gone.value
        for docs in records:
            keep = np.array([key not in gone for key in docs.keys], dtype=bool)
            if keep.all():
                yield docs
            elif keep.any():
                yield docs.take(np.flatnonzero(keep))


@dataclass(frozen=True)
class SignItems:
    """Executor side: a partition's items with the documents signed by the local engine's
    `sign_texts`, as `SignedRun` records (runs of documents) between the other items: their
    texts and records are not kept."""

    config: Config
    cpu: tuple[Any, Any]  # accumulators: normalize and shingle + sign CPU seconds

    def __call__(self, items: Iterable[tuple[Key, Any]]) -> Iterator[Any]:
        c = self.config
        for batch in batched(items, c.batch_size):
            texts = [item[1] for _, item in batch if isinstance(item, tuple)]
            if not texts:
                yield from batch
                continue
            signed = sign_texts(texts, c.normalize, c.shingle, c.signature)
            self.cpu[0].add(signed.normalize_s)
            self.cpu[1].add(signed.sign_s)
            offsets = np.zeros(len(texts) + 1, dtype=np.int64)
            np.cumsum(signed.sizes, out=offsets[1:])
            docs = SignedRun(
                [key for key, item in batch if isinstance(item, tuple)],
                [item[0] for _, item in batch if isinstance(item, tuple)],
                np.array([_utf8_size(t) for t in texts], dtype=np.int64),
                [item[3] for _, item in batch if isinstance(item, tuple)],
                [item[4] for _, item in batch if isinstance(item, tuple)],
                [item[5] for _, item in batch if isinstance(item, tuple)],
                np.ascontiguousarray(signed.sigs, dtype=np.uint32),
                np.asarray(signed.shingles, dtype=np.uint32),
                offsets,
                signed.figures,
            )
            # Runs of documents between the other items, in order.
            done = seen = 0
            for key, item in batch:
                if isinstance(item, tuple):
                    seen += 1
                    continue
                yield from _run_of(docs, done, seen)
                done = seen
                yield key, item
            yield from _run_of(docs, done, seen)


def _run_of(docs: SignedRun, lo: int, hi: int) -> Iterator[SignedRun]:
    """Documents lo..hi-1 of `docs`, as one record (none when empty)."""
    if hi > lo:
        yield docs if (lo, hi) == (0, len(docs)) else docs.take(np.arange(lo, hi))


@dataclass(frozen=True)
class NumberedRuns:
    """Executor side: a partition's `SignedRun`, each with the number of its first document,
    numbered on from the count before the partition."""

    starts: list[int]  # first number of each partition

    def __call__(self, part: int, runs: Iterable[SignedRun]) -> Iterator[tuple[int, SignedRun]]:
        first = self.starts[part]
        for docs in runs:
            yield first, docs
            first += len(docs)


@dataclass(frozen=True)
class Picked:
    """The documents in candidate pairs that one partition holds, as one record of arrays:
    those at home there (the first ends of the pairs it verifies, the members of the
    components it settles) and those sent there as the second end of a pair whose first
    end is at home there. Each is held at home once, and sent once to each other partition
    that needs it."""

    nodes: np.ndarray  # int64 document numbers, ascending
    home: np.ndarray  # bool: at home in this partition
    docs: SignedRun  # in the order of `nodes`

    def __len__(self) -> int:
        return int(self.nodes.size)

    @classmethod
    def of(cls, chunks: Sequence[tuple[np.ndarray, np.ndarray, SignedRun]]) -> Picked:
        """The (nodes, home, documents) chunks routed to a partition, as one record."""
        nodes = np.concatenate([c[0] for c in chunks])
        order = np.argsort(nodes, kind="stable")
        docs = SignedRun.concat([c[2] for c in chunks])
        return cls(nodes[order], np.concatenate([c[1] for c in chunks])[order], docs.take(order))

    def at(self, numbers: np.ndarray) -> np.ndarray:
        """The places of documents `numbers` (all held here) in this record."""
        return np.searchsorted(self.nodes, numbers)

    def rows(self) -> Iterator[tuple[int, tuple[bytes, bytes, Any, str, str]]]:
        """(number, (signature bytes, shingle set bytes, figures, id, source)) of each
        document at home here, as `SignedRun.signed` gives them."""
        at = np.flatnonzero(self.home)
        return self.docs.take(at).signed(self.nodes[at].tolist())

    def home_sets(self) -> np.ndarray:
        """The shingle sets of the documents at home here, back to back."""
        return self.docs.take(np.flatnonzero(self.home)).shingles

    def columns(self, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The documents at home here: their numbers, their signatures' first `columns`
        values and their set sizes."""
        at = np.flatnonzero(self.home)
        sizes = (self.docs.offsets[1:] - self.docs.offsets[:-1])[at]
        sigs = np.ascontiguousarray(self.docs.sigs[at, :columns])
        return self.nodes[at], sigs, sizes
